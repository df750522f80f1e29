"""Electronic invoices (issue 19): the sandbox's e-invoice service over real HTTP, the HTTP adapter against it
and against hostile answers, the machine's INVOICE state, and whole visits printing through a real CUPS
scheduler (a private cupsd with the cups-pdf backend): the PDF lands as a file with the invoice number in
its text, a second print is refused with the staff message, and a stopped CUPS offers the QR code."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from kiosk import visit as v
from kiosk.config import GatewayConfig, KioskConfig
from kiosk.domain import InsuredPerson
from kiosk.errands import ErrandView
from kiosk.errors import GatewayProtocolError, PrinterError
from kiosk.invoices import InvoiceRefused
from kiosk.visit_outcome import visit_errand, visit_outcome

from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
from drivers.gateway.client import HttpHospitalSystem
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.printer.cups_printer import CupsDocumentPrinter
from drivers.printer.cups_service import PrivateCups, missing_parts
from scripts.composition import Services, build_services
from scripts.selftest import check_a4_printer
from ui.i18n import CATALOG

from test_visit_integration import pump

HOLDERS = load_holders()
DEMO_PSN = "11000019560307001"  # 王秀英: two seeded invoices, the newer printable, the older printed
needs_cups = pytest.mark.skipif(bool(missing_parts()), reason=f"a private CUPS needs: {missing_parts()}")


def _person(psn_no: str = DEMO_PSN) -> InsuredPerson:
    return InsuredPerson(psn_no=psn_no, certno="C1", name="N", gender="2", birth_date="1956-03-07", age="70",
                         insutype="310", balance=None, insuplc_admdvs="110101")  # type: ignore[arg-type]


# -- the service and its HTTP adapter --------------------------------------------------------------------

def test_sandbox_service_lets_one_terminal_print_an_invoice_once(sandbox: SandboxGateway) -> None:
    listing = requests.get(sandbox.url + "/his/invoices", params={"psn_no": DEMO_PSN}, timeout=5).json()["invoices"]
    assert [(i["amount"], i["printed"], i["status"]) for i in listing] == [("86.50", False, "issued"),
                                                                          ("25.00", True, "issued")]
    number = listing[0]["invoice_no"]
    assert number.startswith("11060125") and len(number) == 18 and f"no={number}&check=" in listing[0]["phone_url"]
    pdf = requests.get(sandbox.url + "/his/invoices/pdf", params={"invoice_no": number}, timeout=5)
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    claim = {"invoice_no": number, "terminal_no": "T1"}
    assert requests.post(sandbox.url + "/his/invoices/print", json=claim, timeout=5).json()["status"] == "claimed"
    again = requests.post(sandbox.url + "/his/invoices/print", json={**claim, "terminal_no": "T2"}, timeout=5)
    assert again.status_code == 409 and again.json()["code"] == "already_printed" and again.json()["printed_by"] == "T1"
    other = requests.post(sandbox.url + "/his/invoices/release", json={**claim, "terminal_no": "T2"}, timeout=5)
    assert other.status_code == 409  # only the terminal that claimed it gives it back
    assert requests.post(sandbox.url + "/his/invoices/release", json=claim, timeout=5).status_code == 200
    assert sandbox.invoices.printed_by(number) == ""
    assert requests.post(sandbox.url + "/his/invoices/print", json=claim, timeout=5).status_code == 200
    assert requests.post(sandbox.url + "/admin/invoices/reprint", json={"invoice_no": number}, timeout=5).ok
    assert sandbox.invoices.printed_by(number) == ""  # staff allowed one more print
    unknown = requests.post(sandbox.url + "/his/invoices/print", json={"invoice_no": "0" * 18}, timeout=5)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_invoice"
    assert requests.post(sandbox.url + "/his/invoices/print", data=b"not json", timeout=5).status_code == 400


def test_adapter_reads_the_service_and_types_its_refusals(sandbox: SandboxGateway) -> None:
    his = HttpHospitalSystem(GatewayConfig(url=sandbox.service_url), "ZZJ-9")
    newer, older = his.invoices(_person())
    assert newer.printable and not older.printable and older.printed and newer.display_no.startswith("11060125 ")
    assert his.invoice_pdf(newer.invoice_no).startswith(b"%PDF-")
    his.claim_invoice_print(newer.invoice_no)
    with pytest.raises(InvoiceRefused) as refused:
        his.claim_invoice_print(newer.invoice_no)
    assert refused.value.reason == "already_printed"
    with pytest.raises(InvoiceRefused) as unknown:
        his.invoice_pdf("1" * 18)
    assert unknown.value.reason == "unknown_invoice"
    assert his.invoices(_person("nobody")) == ()


class _Hostile(BaseHTTPRequestHandler):
    """A hospital system that answers nonsense: a list that is not one, a "PDF" that is HTML, a mark in text."""

    def do_GET(self) -> None:  # noqa: N802
        body, kind = ((b'{"invoices": {"invoice_no": 1}}', "application/json") if self.path.startswith("/his/invoices?")
                      else (b"<html>login</html>", "application/pdf"))
        self._answer(200, body, kind)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(409, b"busy", "text/plain")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_adapter_refuses_hostile_answers(hostile: str) -> None:
    his = HttpHospitalSystem(GatewayConfig(url=hostile + "/fsi", his_url=hostile), "ZZJ-9")
    with pytest.raises(GatewayProtocolError, match="invoice list malformed"):
        his.invoices(_person())
    with pytest.raises(GatewayProtocolError, match="not a PDF"):
        his.invoice_pdf("1" * 18)
    with pytest.raises(GatewayProtocolError, match="not a JSON object"):
        his.claim_invoice_print("1" * 18)


# -- the machine --------------------------------------------------------------------------------------

ROWS = (("110601250000000001", "2026-11-20", "86.50", "printable", "https://x/v?no=1"),
        ("110601250000000002", "2026-10-23", "25.00", "printed", "https://x/v?no=2"))


def _on_list() -> v.VisitMachine:
    m = v.VisitMachine()
    m.state, m.visit_id, m.ctx.person = v.State.SERVICES, "v1", _person()
    assert m.handle(v.ErrandChosen("v1", errand="invoice")) == [v.ShowErrand("v1", m.ctx.person, "invoice")]
    m.handle(v.ErrandShown("v1", view=ErrandView("invoice", ROWS)))
    assert m.state == v.State.ERRAND
    return m


def test_machine_opens_prints_once_and_offers_the_phone() -> None:
    m = _on_list()
    assert m.handle(v.InvoiceChosen("v1", index=5)) == []  # no such row
    assert m.handle(v.InvoiceChosen("v1", index=0)) == [v.OpenInvoice("v1", ROWS[0][0])]
    assert m.handle(v.InvoiceChosen("v1", index=1)) == []  # one at a time
    m.handle(v.InvoiceOpened("v1", invoice_no="another", preview=None))
    assert m.state == v.State.ERRAND  # an answer for an invoice the patient has left
    m.handle(v.InvoiceOpened("v1", invoice_no=ROWS[0][0], preview="page"))
    assert m.state == v.State.INVOICE and m.ctx.invoice_preview == "page"
    assert m.handle(v.InvoicePrintRequested("v1")) == [v.PrintInvoice("v1", ROWS[0][0])]
    assert m.handle(v.InvoicePrintRequested("v1")) == []  # a second touch while printing
    m.handle(v.InvoicePrinted("v1", invoice_no=ROWS[0][0], job="kiosk-a4-7"))
    assert m.ctx.extra["invoice_hint"] == "printed" and m.ctx.errand.rows[0][3] == "printed"
    assert m.handle(v.InvoicePrintRequested("v1")) == []  # printed once: not again from the kiosk
    m.handle(v.InvoiceToPhone("v1"))
    assert m.ctx.extra["invoice_qr"] == "1"
    m.handle(v.BackToServices("v1"))
    assert m.state == v.State.ERRAND and m.ctx.invoice_preview is None and "invoice_no" not in m.ctx.extra
    assert (visit_outcome(m.ctx), visit_errand(m.ctx)) == ("printed", "invoice")
    effects = m.handle(v.Finish("v1"))
    assert v.VisitEnded("v1", "printed", "invoice") in effects and m.state == v.State.IDLE


@pytest.mark.parametrize(("reason", "qr", "state"), [("printer_unavailable", "1", "printable"),
                                                     ("already_printed", "", "printed"), ("voided", "", "voided"),
                                                     ("unreachable", "", "printable")])
def test_machine_says_why_an_invoice_was_not_printed(reason: str, qr: str, state: str) -> None:
    m = _on_list()
    m.handle(v.InvoiceChosen("v1", index=0))
    m.handle(v.InvoiceOpened("v1", invoice_no=ROWS[0][0]))
    m.handle(v.InvoicePrintRequested("v1"))
    m.handle(v.InvoiceFailed("v1", reason=reason, detail="x"))
    assert m.state == v.State.INVOICE and m.ctx.extra["invoice_hint"] == f"failed:{reason}"
    assert m.ctx.extra.get("invoice_qr", "") == qr and m.ctx.extra["invoice_state"] == state
    assert f"invoice.failed.{reason}" in CATALOG
    assert visit_outcome(m.ctx) == "served"


def test_opening_failure_is_said_on_the_list() -> None:
    m = _on_list()
    m.handle(v.InvoiceChosen("v1", index=0))
    m.handle(v.InvoiceFailed("v1", reason="unreachable"))
    assert m.state == v.State.ERRAND and m.ctx.extra["invoice_hint"] == "failed:unreachable"
    assert m.handle(v.InvoiceChosen("v1", index=0)) == [v.OpenInvoice("v1", ROWS[0][0])]  # and may try again


# -- whole visits through a real CUPS -------------------------------------------------------------------

@pytest.fixture
def cups() -> Iterator[PrivateCups]:
    if missing_parts():
        pytest.skip(f"a private CUPS needs: {missing_parts()}")
    scheduler = PrivateCups()
    scheduler.start()
    yield scheduler
    scheduler.remove()


@pytest.fixture
def a4_services(demo_config: KioskConfig, sandbox: SandboxGateway, cups: PrivateCups) -> Iterator[Services]:
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import demo_portrait
    from scripts.demo import enroll_demo_face

    cfg = dataclasses.replace(demo_config, printer=dataclasses.replace(
        demo_config.printer, a4_queue=cups.queue, cups_server=cups.server))
    built = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    enroll_demo_face(sandbox, built)
    yield built
    built.close()


def _on_invoice(services: Services) -> v.VisitMachine:
    m = v.VisitMachine()
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
    pump(m, services, v.CardInserted())
    pump(m, services, v.ConsentGiven())
    pump(m, services, v.ErrandChosen(errand="invoice"))
    assert m.state == v.State.ERRAND and [r[3] for r in m.ctx.errand.rows] == ["printable", "printed"]
    pump(m, services, v.InvoiceChosen(index=0))
    assert m.state == v.State.INVOICE, m.ctx.extra
    return m


def _wait_for(predicate, timeout_s: float = 30.0) -> None:  # noqa: ANN001 - a condition on CUPS's state
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "CUPS did not finish the job"
        time.sleep(0.1)


@pytest.mark.slow
def test_invoice_prints_through_cups_once(a4_services: Services, sandbox: SandboxGateway, cups: PrivateCups) -> None:
    import pypdfium2 as pdfium

    m = _on_invoice(a4_services)
    number = m.ctx.extra["invoice_no"]
    preview = m.ctx.invoice_preview
    assert preview.ndim == 3 and preview.shape[2] == 3 and preview.shape[1] > 300  # the first page, for the screen
    pump(m, a4_services, v.InvoicePrintRequested())
    job = m.ctx.extra["invoice_job"]
    assert m.ctx.extra["invoice_hint"] == "printed" and job.startswith(f"{cups.queue}-")
    printer = CupsDocumentPrinter(cups.queue, cups.server)
    _wait_for(lambda: printer.job_done(job) and cups.outputs())
    (output,) = cups.outputs()
    document = pdfium.PdfDocument(str(output))  # the spooler's output: PDF -> filters -> cups-pdf -> PDF
    text = document[0].get_textpage().get_text_range()
    document.close()
    assert output.read_bytes().startswith(b"%PDF-") and f"Invoice No. {number}" in text
    assert sandbox.invoices.printed_by(number) == a4_services.cfg.terminal.terminal_no
    while a4_services.outbox.drain():  # the audit stream goes out like settlements, one item per round
        pass
    printed = [e for e in sandbox.audit_events() if e["event"] == "einvoice_printed"]
    assert [(e["invoice_no"], e["job"]) for e in printed] == [(number, job)]
    # a second kiosk (or the same one racing) asks to print it again: refused, staff named
    again = a4_services.effects.run(v.PrintInvoice("v2", number))
    assert again == v.InvoiceFailed("v2", reason="already_printed", detail=again.detail)
    assert "工作人员" in CATALOG["invoice.failed.already_printed"]["zh_CN"]
    assert "staff" in CATALOG["invoice.failed.already_printed"]["en"]
    assert len(cups.outputs()) == 1
    pump(m, a4_services, v.Finish())
    a4_services.card_reader.remove()


@pytest.mark.slow
def test_cups_down_or_paused_offers_the_phone_and_keeps_the_invoice(a4_services: Services, sandbox: SandboxGateway,
                                                                   cups: PrivateCups) -> None:
    m = _on_invoice(a4_services)
    number = m.ctx.extra["invoice_no"]
    cups.pause()
    pump(m, a4_services, v.InvoicePrintRequested())
    assert m.ctx.extra["invoice_hint"] == "failed:printer_unavailable" and m.ctx.extra["invoice_qr"] == "1"
    assert sandbox.invoices.printed_by(number) == ""  # nothing claimed: it can still be printed
    cups.resume()
    cups.stop(drain_s=0)  # the print system down
    m.ctx.extra["invoice_hint"] = ""
    pump(m, a4_services, v.InvoicePrintRequested())
    assert m.ctx.extra["invoice_hint"] == "failed:printer_unavailable" and m.ctx.extra["invoice_qr"] == "1"
    assert m.ctx.extra["invoice_url"].startswith("https://") and sandbox.invoices.printed_by(number) == ""
    assert "二维码" in CATALOG["invoice.failed.printer_unavailable"]["zh_CN"]
    pump(m, a4_services, v.Finish())
    a4_services.card_reader.remove()


@pytest.mark.slow
@pytest.mark.parametrize("errand", ["invoice", "registration"])
def test_errands_needing_the_hospital_system_say_it_is_down(services: Services, demo_config: KioskConfig,
                                                          errand: str) -> None:
    """Invoices and registration need the hospital system: with it unreachable each says so on the menu, and
    the balance (the insurance gateway's) still works."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    cfg = dataclasses.replace(demo_config, gateway=dataclasses.replace(demo_config.gateway, his_url=dead),
                              terminal=dataclasses.replace(demo_config.terminal, msgid_lane="7"),
                              data_dir=demo_config.data_dir + "-his-down")
    down = build_services(cfg, camera=services.camera)
    try:
        m = v.VisitMachine()
        services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
        pump(m, services, v.CardInserted())
        pump(m, services, v.ConsentGiven())
        pump(m, down, v.ErrandChosen(errand=errand))
        assert m.state == v.State.SERVICES and m.ctx.extra["errand_hint"] == f"failed:{errand}.unreachable"
        pump(m, down, v.ErrandChosen(errand="balance"))  # answered by the insurance gateway: still works
        assert m.state == v.State.ERRAND and m.ctx.errand.errand == "balance"
    finally:
        down.close()


# -- selftest -----------------------------------------------------------------------------------------

@needs_cups
def test_selftest_checks_the_a4_queue(cups: PrivateCups) -> None:
    base = KioskConfig()
    assert check_a4_printer(base).ok and "QR" in check_a4_printer(base).detail  # none configured: says so
    cfg = dataclasses.replace(base, printer=dataclasses.replace(base.printer, a4_queue=cups.queue,
                                                                cups_server=cups.server))
    assert check_a4_printer(cfg).ok
    cups.pause()
    paused = check_a4_printer(cfg)
    assert not paused.ok and paused.fix == f"cupsenable {cups.queue}"
    cups.resume()
    cups.reject()
    assert check_a4_printer(cfg).fix == f"cupsaccept {cups.queue}"
    cups.accept()
    missing = dataclasses.replace(cfg, printer=dataclasses.replace(cfg.printer, a4_queue="no-such-queue"))
    assert not check_a4_printer(missing).ok and "lpadmin" in check_a4_printer(missing).fix
    cups.stop(drain_s=0)
    down = check_a4_printer(cfg)
    assert not down.ok and "not running" in down.detail and "systemctl start cups" in down.fix


def page_text(path: Path) -> str:
    """The text on a PDF file's pages ('' when it has none, or is not a readable PDF)."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError:
        return ""
    return "".join(page.get_textpage().get_text_range() for page in document).strip()


@needs_cups
def test_a_job_the_filters_fail_is_reported_and_cancelled(cups: PrivateCups) -> None:
    printer = CupsDocumentPrinter(cups.queue, cups.server, wait_s=30)
    with pytest.raises(PrinterError, match="the job failed"):
        printer.print_pdf(b"%PDF-1.4\nthis is no PDF body\n%%EOF\n", title="broken")
    # nothing of a document came out: on a busy machine cups-pdf's own converter may already have been handed
    # the broken stream when the filter's failure is reported, and writes an empty file or one blank page (both
    # seen in parallel runs); the kiosk has reported the job failed either way
    assert cups.pending_jobs() == 0 and all(page_text(p) == "" for p in cups.outputs())
    with pytest.raises(PrinterError, match="not a PDF"):
        printer.print_pdf(b"<html>", title="html")


@pytest.mark.slow
def test_receipt_of_a_new_settlement_carries_its_e_invoice(services: Services, sandbox: SandboxGateway) -> None:
    from test_visit_integration import visit_to_confirm

    m = v.VisitMachine()
    visit_to_confirm(m, services)
    pump(m, services, v.SettlementConfirmed(), sandbox)
    assert m.state == v.State.RECEIPT
    issued = sandbox.invoices.invoice_for_settlement(m.ctx.settlement.setl_id)
    receipt = Path(m.ctx.extra["receipt"]).read_text(encoding="utf-8")
    number = issued["invoice_no"]
    assert "电子票据 E-invoice" in receipt and f"{number[:8]} {number[8:]}" in receipt
    assert "Invoices at the counter" not in receipt


@pytest.mark.slow
def test_fees_already_known_settle_with_the_hospital_system_down(services: Services, demo_config: KioskConfig,
                                                                  sandbox: SandboxGateway) -> None:
    """The fee list came before the hospital system went away: the settlement (the insurance gateway and the
    payment platform) goes through; the receipt says invoices are at the counter (none could be fetched)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    m = v.VisitMachine()
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
    for event in (v.CardInserted(), v.ConsentGiven(), v.PayFeesChosen()):
        pump(m, services, event)
    assert m.state == v.State.FEE_REVIEW and m.ctx.fees
    cfg = dataclasses.replace(demo_config, gateway=dataclasses.replace(demo_config.gateway, his_url=dead),
                              terminal=dataclasses.replace(demo_config.terminal, msgid_lane="6"),
                              data_dir=demo_config.data_dir + "-his-gone")
    down = build_services(cfg, camera=services.camera)
    try:
        for event in (v.FeesConfirmed(), v.SettlementConfirmed()):
            pump(m, down, event, sandbox)
        assert m.state == v.State.RECEIPT and m.ctx.settlement is not None
        receipt = Path(m.ctx.extra["receipt"]).read_text(encoding="utf-8")
        assert "Invoices at the counter" in receipt and m.ctx.settlement.setl_id in receipt
    finally:
        down.close()


def test_queue_state_names_what_to_fix() -> None:
    """What lpstat reports, read into what the kiosk and selftest say (paper out needs a real printer to
    report it: cups-pdf never does, so the reading is checked here)."""
    from drivers.printer.cups_printer import QueueState

    assert QueueState(exists=True, accepting=True, enabled=True).problem == ""
    assert QueueState(exists=False).problem == "no such queue"
    paper = QueueState(exists=True, accepting=True, enabled=True, reasons=("media-empty-error",))
    assert not paper.paper and paper.problem.startswith("paper out")
    jam = QueueState(exists=True, accepting=True, enabled=True, reasons=("media-jam-warning",))
    assert not jam.paper
    offline = QueueState(exists=True, accepting=True, enabled=True, reasons=("offline-report",))
    assert offline.paper and offline.problem == "the printer reports offline-report"
    assert QueueState(exists=True, accepting=False, enabled=True).problem.startswith("the queue rejects jobs")


@needs_cups
def test_a_private_cups_drops_settings_left_by_dead_schedulers(tmp_path) -> None:  # noqa: ANN001
    from drivers.printer.cups_service import _drop_stale_configs

    dead = tmp_path / "cups-pdf-kiosk999999x1.conf"  # pid 999999: not running
    alive = tmp_path / f"cups-pdf-kiosk{os.getpid()}x1.conf"
    other = tmp_path / "cups-pdf-office.conf"  # not ours
    for path in (dead, alive, other):
        path.write_text("Out /tmp\\n", encoding="ascii")
    _drop_stale_configs(tmp_path)
    assert not dead.exists() and alive.exists() and other.exists()


@needs_cups
def test_a_private_cups_where_cups_pdf_settings_cannot_be_written_says_so(tmp_path: Path) -> None:
    """Under the kiosk unit's ProtectSystem=full /etc is read-only (tests/test_systemd_unit.py runs the demo so):
    the demo's private CUPS cannot give cups-pdf its settings and says that (the demo then offers invoices by
    QR code) instead of ending the kiosk with a traceback. Here the settings folder is one that is not there."""
    cups = PrivateCups()
    cups._pdf_conf = tmp_path / "no-such-folder" / cups._pdf_conf.name
    try:
        with pytest.raises(PrinterError, match="cannot be written"):
            cups.start()
        assert cups.process is None  # no scheduler left running
    finally:
        cups.remove()
