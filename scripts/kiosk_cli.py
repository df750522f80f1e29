"""``kiosk``: run the kiosk (``run``) or its demo (``demo``).

Exit status: 0 on success; a project error exits with its area status
(card 11, face 12, printer 13, network 14, queue 15, config 16) and prints its code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig, load_config
from kiosk.errors import KioskError
from kiosk.visit import VisitMachine

log = logging.getLogger("kiosk")


def _config(args: argparse.Namespace) -> KioskConfig:
    path = args.config or os.environ.get("KIOSK_CONFIG")
    return load_config(Path(path) if path else None, os.environ)


def _window(services: Any, *, on_demo_insert: Any = None, on_demo_scan: Any = None, on_demo_pay: Any = None) -> Any:
    from ui.bridge import TaskRunner
    from ui.controller import LANES, VisitController
    from ui.window import KioskWindow

    cfg = services.cfg
    tasks = TaskRunner(LANES)
    # visit ids unique across starts: the outbox delivers a visit's items in order, so a new visit must
    # never share its id with an item left open by an earlier run
    machine = VisitMachine(max_face_attempts=cfg.face.max_attempts, id_prefix=time.strftime("v%Y%m%d%H%M%S-"),
                           password_limit=Decimal(cfg.voucher.password_limit) if cfg.voucher.password_limit else None)
    controller = VisitController(machine, services.effects, tasks, services.card_reader)
    window = KioskWindow(controller, cfg.ui, camera=services.camera, manual_window=cfg.terminal.manual_window,
                         status_probe=services.status, demo=cfg.is_demo, on_demo_insert=on_demo_insert,
                         on_demo_scan=on_demo_scan, voice=services.voice, payment_timeout_s=cfg.payment.timeout_s,
                         on_demo_pay=on_demo_pay, treatment_area=cfg.terminal.mdtrtarea_admvs,
                         face_swipe=cfg.voucher.face_swipe,
                         errands=tuple(e.strip() for e in cfg.services.errands.split(",") if e.strip()),
                         own_share_at_counter=cfg.payment.provider == "none",
                         # the demo's file printer stands in for the thermal printer (it says what a kiosk says)
                         slips_on_paper=cfg.printer.kind != "file" or cfg.is_demo)
    services.face.on_prompt = window.note_face_prompt
    for source in services.qr_sources:
        window.attach_qr_source(source)
    _show_interrupted_visit(services, controller)
    return window, tasks


def _show_interrupted_visit(services: Any, controller: Any) -> None:
    """After a crash (or a power cut) during a visit whose settlement was committed: the patient sees how
    it ended, from the outbox, before the idle screen."""
    from kiosk import visit as v

    found = services.settlement.interrupted_visit()
    if found is not None:
        log.warning("the kiosk had stopped during visit %s (%s): showing its outcome, %s", found.visit_id,
                    found.reference, found.outcome)
        controller.post(v.InterruptedVisitFound(visit=found))


def _serve(app: Any, window: Any) -> int:
    """The window's event loop, telling systemd (a Type=notify unit) when it is on the screen and feeding
    its watchdog from the GUI thread; nothing of this when not started by systemd."""
    from drivers.service_manager import ServiceManager
    from ui.app import run_event_loop, when_on_screen

    manager = ServiceManager()
    interval = manager.ping_interval_ms()
    try:
        def ready() -> None:
            screen = window.screen().geometry() if window.screen() is not None else None
            shown = f"window {window.width()}x{window.height()}" + (
                f" on a {screen.width()}x{screen.height()} screen" if screen is not None else "")
            machine = getattr(getattr(window, "controller", None), "machine", None)
            if machine is not None:  # what the first screen is (after a crash: the interrupted visit's)
                shown += f", showing {machine.state.value}"
            log.info("%s", shown)
            manager.ready(shown)

        return run_event_loop(app, ready=lambda: when_on_screen(window, ready),
                              heartbeat=(interval, manager.ping) if interval else None)
    finally:
        manager.stopping()


def _show(window: Any, cfg: KioskConfig, windowed: bool) -> None:
    from ui.app import show_window

    show_window(window, fullscreen=cfg.ui.fullscreen and not windowed)


def cmd_run(args: argparse.Namespace) -> int:
    from scripts.composition import build_services
    from ui.app import create_app

    cfg = _config(args)
    if cfg.is_demo:
        return cmd_demo(args)
    from offline_queue.instance_lock import InstanceLock

    lock = InstanceLock.take(cfg.data_path(), who="starting another")  # one kiosk per data folder
    app = create_app()
    if cfg.terminal.role == "workstation":  # a clinician workstation: face plus position login
        from scripts.composition import build_clinician_services

        clinician = build_clinician_services(cfg)
        clinician.base.outbox.reclaim_in_flight()  # this process holds the folder: nothing else sends from it
        window, tasks = _workstation_window(clinician, demo=False)
        clinician.base.camera.start()
        log.info("workstation %s: clinician login, %s, %s", cfg.terminal.terminal_no,
                 clinician.location.description, clinician.base.camera.description)
        closer = clinician.close
    else:
        services = build_services(cfg)
        # this process holds the folder's lock: a settlement left in flight by a crash is resolved now, and the
        # interrupted visit's screen shows it being settled
        services.outbox.reclaim_in_flight()
        window, tasks = _window(services)
        services.start()
        closer = services.close
    _show(window, cfg, args.windowed)
    try:
        return _serve(app, window)
    finally:
        tasks.shutdown()
        closer()
        lock.release()


def _face_in_view(services: Any) -> bool:
    """Presence check for a clinician session (vision lane): any face in the latest frame."""
    frame = services.base.camera.latest_frame()
    return frame is not None and services.base.face_engine.analyse(frame) is not None


def _workstation_window(services: Any, *, demo: bool) -> tuple[Any, Any]:
    """The clinician login window on the workstation's services (demo or production): roster search,
    face plus position, the locks; returns (window, task runner)."""
    import datetime as dt

    from kiosk.clinician_login import ClinicianLogin
    from ui.bridge import TaskRunner
    from ui.clinician_window import CLINICIAN_LANES, ClinicianWindow, LoginController

    cfg = services.base.cfg
    tasks = TaskRunner(CLINICIAN_LANES)
    controller = LoginController(ClinicianLogin(cfg.terminal.terminal_no, dt.datetime.now), services.effects, tasks)
    window = ClinicianWindow(controller, camera=services.base.camera, search=services.roster.search,
                             language=cfg.ui.language, idle_lock_s=cfg.staff.idle_lock_s,
                             absent_lock_s=cfg.staff.absent_lock_s, demo=demo,
                             face_present=lambda: _face_in_view(services))
    services.base.face.on_prompt = window.note_face_prompt
    return window, tasks


def _clinician_window_demo(args: argparse.Namespace) -> int:
    """The clinician login window on the demo workstation (interactive)."""
    from scripts.clinician_demo import demo_workstation
    from ui.app import create_app

    if not _has_display():
        log.error("no display to show the clinician window on: run `kiosk demo --role clinician --autopilot`, "
                  "or start it on a screen (DISPLAY=:0), or set QT_QPA_PLATFORM=offscreen to run it unseen")
        return 2
    app = create_app(headless=not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))
    data_dir = getattr(args, "data_dir", None)
    with demo_workstation(_config(args), location=getattr(args, "location", "inside"),
                          camera_source=getattr(args, "camera_source", ""),
                          data_dir=Path(data_dir) if data_dir else None, live_camera=True) as (services, _):
        window, tasks = _workstation_window(services, demo=True)
        try:
            _show(window, services.base.cfg, args.windowed)
            return _serve(app, window)
        finally:
            tasks.shutdown()


def _clinician_autopilot_in_window(args: argparse.Namespace) -> dict[str, Any]:
    """The clinician autopilot through the login window (offscreen), a PNG of each screen it shows."""
    from PySide6.QtCore import QTimer

    from kiosk import clinician_login as cl
    from scripts.clinician_demo import DEMO_CLINICIAN, autopilot_result, demo_workstation
    from ui.app import create_app, run_event_loop

    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    app = create_app(headless=True)
    with demo_workstation(_config(args), location=args.location, camera_source=args.camera_source,
                          data_dir=Path(args.data_dir) if args.data_dir else None) as (services, sandbox):
        window, tasks = _workstation_window(services, demo=True)
        try:
            window.resize(1280, 800)
            window.show()
            taken: list[str] = []

            def shoot(state: cl.LoginState) -> None:
                taken.append(state.value)
                window.grab().save(str(shots / f"clinician-{len(taken):02d}-{state.value}.png"))
                if state in (cl.LoginState.SESSION, cl.LoginState.REFUSED):
                    app.quit()

            window.controller.state_changed.connect(lambda state: QTimer.singleShot(0, lambda: shoot(state)))
            QTimer.singleShot(0, lambda: shoot(window.controller.machine.state))
            QTimer.singleShot(0, lambda: window.controller.post(cl.StaffChosen(DEMO_CLINICIAN.staff_no)))
            run_event_loop(app)
            result = autopilot_result(window.controller.machine, services, sandbox)
        finally:
            window.close()
            tasks.shutdown()
    return {**result, "screenshots": [f"clinician-{i + 1:02d}-{s}.png" for i, s in enumerate(taken)]}


def cmd_clinician_demo(args: argparse.Namespace) -> int:
    from scripts.clinician_demo import run_clinician_autopilot

    if not getattr(args, "autopilot", False):  # also `kiosk run` on a demo workstation's config
        return _clinician_window_demo(args)
    if args.screenshots:
        result = _clinician_autopilot_in_window(args)
    else:
        result = run_clinician_autopilot(_config(args), location=args.location, camera_source=args.camera_source,
                                         data_dir=Path(args.data_dir) if args.data_dir else None)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["outcome"] == "logged_in" else 1


def _has_display() -> bool:
    """A screen to show a window on, or offscreen asked for explicitly."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "eglfs", "linuxfb", "vnc"))


def _demo_folder(args: argparse.Namespace, cfg: KioskConfig) -> Path | None:
    """The demo's data folder when one is named (``--data-dir``, else the config's ``data_dir``: a demo
    kiosk run by systemd keeps its outbox and sandbox ledger there across restarts); None: a new
    temporary folder."""
    named = getattr(args, "data_dir", None) or cfg.data_dir
    return Path(named).expanduser() if named else None


def _demo_role(args: argparse.Namespace) -> str:
    """Whose demo: ``--role`` when given, else the configuration's terminal role (``kiosk run`` on a demo
    config with ``terminal.role = "workstation"`` or KIOSK_TERMINAL_ROLE=workstation is the clinician's)."""
    chosen = getattr(args, "role", None)
    if chosen:
        return str(chosen)
    return "clinician" if _config(args).terminal.role == "workstation" else "patient"


def cmd_demo(args: argparse.Namespace) -> int:
    if _demo_role(args) == "clinician":
        return cmd_clinician_demo(args)
    from drivers.card.pcscd_service import isolate_this_process
    from scripts.demo import start_demo
    from ui.app import cjk_family, create_app, run_event_loop, show_window

    isolate_this_process()  # the demo's virtual card in a pcscd of its own: two demos never read each other's

    autopilot = getattr(args, "autopilot", False)
    if not autopilot and not _has_display():
        log.error("no display to show the kiosk window on: run `kiosk demo --autopilot` (headless, prints the "
                  "outcome), or start it on a screen (DISPLAY=:0), or set QT_QPA_PLATFORM=offscreen to run it unseen")
        return 2
    app = create_app(headless=autopilot or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))
    if cjk_family() is None:
        log.warning("no CJK font installed: Chinese text will not render (run scripts/setup.sh)")
    from scripts.demo import DEMO_HOLDER, NO_PHOTO, PATIENTS

    patient = getattr(args, "patient", "local")
    cfg = _config(args)
    folder = _demo_folder(args, cfg)
    result: dict[str, Any] = {}
    with contextlib.ExitStack() as started:  # from here on, whatever stops us stops what was started
        if folder is not None:  # a folder that outlives the process: one demo at a time in it
            from offline_queue.instance_lock import InstanceLock

            folder.mkdir(parents=True, exist_ok=True)
            started.callback(InstanceLock.take(folder, who="starting another demo on it").release)
        rig = start_demo(cfg, folder, holder=PATIENTS[patient], enrol=patient not in NO_PHOTO)
        started.callback(rig.close)
        # as kiosk run: a settlement left in flight by a crash is resolved now, and its visit shown first
        rig.services.outbox.reclaim_in_flight()
        log.info("demo: sandbox gateway %s, %s, %s, %s; data in %s", rig.sandbox.url,
                 rig.services.card_reader.description, rig.services.camera.description,
                 rig.services.printer.description, rig.data_dir)
        window, tasks = _window(rig.services, on_demo_insert=rig.insert_card, on_demo_scan=rig.issue_voucher,
                                on_demo_pay=rig.pay_on_phone)
        started.callback(tasks.shutdown)
        started.callback(window.close)
        rig.services.start()
        if autopilot:
            from scripts.autopilot import Autopilot

            def finished(outcome: dict[str, Any]) -> None:
                result.update(outcome)
                app.quit()

            show_window(window, fullscreen=False)
            from drivers.gateway.sandbox.voucher_platform import SANDBOX_PASSWORD

            identify = getattr(args, "identify", "card")
            # the voucher the patient shows, or (face swipe of a person with no photo) the family member's
            family = identify == "face" and patient in NO_PHOTO
            pilot = Autopilot(window, rig.insert_card, on_finished=finished,
                              screenshot_dir=Path(args.screenshots) if args.screenshots else None,
                              choose_record=-1,  # a person with several records: the last one, by touch
                              identify=identify, id_number=rig.holder_id(), pin=SANDBOX_PASSWORD,
                              show_voucher=lambda: rig.issue_voucher(DEMO_HOLDER if family else None),
                              errand=getattr(args, "errand", "pay_fees"))
            pilot.start()
            run_event_loop(app)
            registered = rig.sandbox.requests("1101")
            if registered:  # how the patient identified, as the gateway saw it
                result["mdtrt_cert_type"] = registered[-1]["data"]["mdtrt_cert_type"]
            result.update(ledger=str(rig.sandbox.ledger_path), data_dir=str(rig.data_dir),
                          card_reader=rig.services.card_reader.description, camera=rig.services.camera.description)
        else:
            _show(window, rig.services.cfg, args.windowed)
            return _serve(app, window)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result.get("outcome") in ("settled", "shown", "printed", "registered") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="Hospital self-service kiosk.")
    parser.add_argument("--config", help="TOML config file (default: $KIOSK_CONFIG, else the built-in demo set-up)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # the same two options after the subcommand too (`kiosk run --config F`); SUPPRESS keeps the value
    # given before it when they are not repeated
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file (as before the subcommand)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="run the kiosk as configured (demo mode when the config says so)")
    run.add_argument("--windowed", action="store_true", help="a 1280x800 window instead of full screen")
    run.set_defaults(func=cmd_run)
    demo = sub.add_parser("demo", parents=[common], help="run against the sandbox gateway, a virtual card, a replay camera and a file printer")
    demo.add_argument("--autopilot", action="store_true", help="run one patient visit by itself, headless, then exit")
    demo.add_argument("--json", action="store_true", help="with --autopilot: print the outcome as one JSON line")
    demo.add_argument("--data-dir", help="keep the demo's ledger, outbox and receipts here (default: a new temp folder)")
    demo.add_argument("--screenshots", help="with --autopilot: save a PNG of each screen to this folder")
    demo.add_argument("--windowed", action="store_true", help="a 1280x800 window instead of full screen")
    demo.add_argument("--patient", choices=("local", "in-province", "cross-province", "cross-province-unfiled",
                                            "paused", "two-records", "no-cross-province-outpatient", "chronic",
                                            "low-income", "no-photo"),
                      default="local", help="which seeded patient comes (where they are insured: local, another "
                      "region of this province, another province filed or not, insurance paused, two insurance "
                      "records, a region without cross-province outpatient, a chronic disease on file, low income with medical "
                      "assistance)")
    demo.add_argument("--identify", choices=("card", "voucher", "face"), default="card",
                      help="with --autopilot: how the patient identifies: the card, the voucher code, or face swipe "
                           "(types the ID number; the voucher platform identifies the face)")
    demo.add_argument("--errand", choices=("pay_fees", "registration", "records", "balance", "filings", "invoice"),
                      default="pay_fees",
                      help="with --autopilot: the services menu's errand (the JSON says \"outcome\": \"shown\" with the "
                           "counts for records, balance and filings; \"printed\" with the CUPS job id in \"job\" for "
                           "invoice; \"registered\" with \"queue_no\" for registration)")
    demo.add_argument("--role", choices=("patient", "clinician"), default=None,
                      help="patient visit or clinician login (face plus position); default: the configuration's "
                           "terminal.role (kiosk: patient, workstation: clinician)")
    demo.add_argument("--location", choices=("inside", "outside"), default="inside",
                      help="clinician: the demo workstation's site, inside or outside the institution's geofence")
    demo.add_argument("--camera-source", default="",
                      help="clinician: a picture, folder or video the replay camera shows instead of the demo portrait")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ui.app import handle_stop_signals, stop_requested

    handle_stop_signals()
    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM outside the event loop: what started was stopped
        return _ended(args, 130, {"outcome": "stopped", "reason": str(exc) or "SIGINT"}, f"stopped ({exc or 'SIGINT'})")
    except KioskError as exc:
        return _ended(args, exc.exit_status, {"outcome": "failed", "reason": str(exc), "code": exc.code}, str(exc),
                      level=logging.ERROR)
    except Exception as exc:  # noqa: BLE001 - an unexpected fault still ends with a JSON line and a status
        if stop_requested():  # the stop signal surfaced inside a Qt call, wrapped in another exception
            return _ended(args, 130, {"outcome": "stopped", "reason": "signal"},
                          f"stopped while starting ({type(exc).__name__})")
        log.exception("unexpected failure")
        return _ended(args, 1, {"outcome": "failed", "reason": f"{type(exc).__name__}: {exc}"})


def _ended(args: argparse.Namespace, status: int, outcome: dict[str, Any], message: str = "", *,
           level: int = logging.INFO) -> int:
    """How a command that did not run to its end says so: a log line, the JSON line (--json), the status."""
    if message:
        log.log(level, "%s", message)
    if getattr(args, "json", False):
        print(json.dumps(outcome, ensure_ascii=False))
    return status

if __name__ == "__main__":
    sys.exit(main())
