"""A private CUPS scheduler with a ``cups-pdf`` queue: the A4 printer of the demo and the tests, printed to
through the real spooler (``lp`` -> cupsd -> pdftopdf/pdftops filters -> the cups-pdf backend -> a PDF file).

The scheduler's configuration, spool and socket live in a folder of ours; it never touches the system's
CUPS. cups-pdf reads its per-queue settings only from ``/etc/cups/cups-pdf-<name>.conf``: that one file is
written at start (with a name unique to this scheduler) and removed at stop. Needs root (cupsd runs its
filters as ``lp``) and Debian's ``cups`` and ``printer-driver-cups-pdf``.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from kiosk.errors import PrinterError

CUPSD = Path("/usr/sbin/cupsd")
CUPS_PDF_BACKEND = Path("/usr/lib/cups/backend/cups-pdf")
CUPS_PDF_PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
QUEUE = "kiosk-a4"


def missing_parts() -> str:
    """Empty when a private CUPS with cups-pdf can run here, else what is missing."""
    missing = [name for name, ok in (("cups", CUPSD.exists() and shutil.which("lpadmin") is not None),
                                     ("printer-driver-cups-pdf", CUPS_PDF_BACKEND.exists() and CUPS_PDF_PPD.exists()),
                                     ("root", os.geteuid() == 0)) if not ok]
    return ", ".join(missing)


class PrivateCups:
    """``start()`` -> the server (socket path) to give ``CupsDocumentPrinter``; PDFs land in ``output``.
    ``remove()`` stops it and deletes its folder."""

    def __init__(self, queue: str = QUEUE) -> None:
        # its own folder under /tmp, traversable by the ``lp`` user the filters run as (a test's or a demo's
        # folder may sit in a private 0700 parent)
        self.folder = Path(tempfile.mkdtemp(prefix="kiosk-cups-"))
        os.chmod(self.folder, 0o711)
        self.queue, self.output = queue, self.folder / "out"
        self.socket = self.folder / "run" / "cups.sock"
        self._name = f"kiosk{os.getpid()}x{id(self) % 100000}"
        self._pdf_conf = Path("/etc/cups") / f"cups-pdf-{self._name}.conf"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> str:
        return str(self.socket)

    def _env(self) -> dict[str, str]:
        return dict(os.environ, CUPS_SERVER=self.server, LC_ALL="C", LANG="C")

    def start(self, timeout_s: float = 15.0) -> str:
        missing = missing_parts()
        if missing:
            raise PrinterError(f"a private CUPS needs: {missing} (scripts/setup.sh installs the packages)")
        root = self.folder / "conf"
        for sub in ("conf", "spool", "cache", "state", "tmp", "log", "run", "out"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        lp_gid = grp.getgrnam("lp").gr_gid
        for sub, mode in (("tmp", 0o770), ("spool", 0o710), ("cache", 0o770)):
            os.chown(self.folder / sub, 0, lp_gid)
            os.chmod(self.folder / sub, mode)
        os.chmod(self.output, 0o777)  # cups-pdf writes as the job's user
        (root / "cupsd.conf").write_text(
            f"Listen {self.socket}\nLogLevel warn\nWebInterface No\nBrowsing No\nDefaultAuthType None\n"
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n", encoding="ascii")
        (root / "cups-files.conf").write_text(
            f"ServerRoot {root}\nRequestRoot {self.folder / 'spool'}\nCacheDir {self.folder / 'cache'}\n"
            f"StateDir {self.folder / 'state'}\nTempDir {self.folder / 'tmp'}\n"
            f"ErrorLog {self.folder / 'log' / 'error_log'}\nAccessLog {self.folder / 'log' / 'access_log'}\n"
            f"PageLog {self.folder / 'log' / 'page_log'}\n", encoding="ascii")
        try:
            _drop_stale_configs(self._pdf_conf.parent)
            self._pdf_conf.write_text(f"Out {self.output}\nAnonDirName {self.output}\nLabel 1\nTitlePref 0\n",
                                      encoding="ascii")
        except OSError as exc:  # e.g. /etc read-only under the kiosk unit's ProtectSystem=full
            raise PrinterError(f"cups-pdf reads its settings only from {self._pdf_conf.parent}, which cannot be "
                               f"written here ({exc.strerror})") from None
        with open(self.folder / "log" / "cupsd.out", "wb") as out:
            self.process = subprocess.Popen([str(CUPSD), "-f", "-c", str(root / "cupsd.conf"),
                                             "-s", str(root / "cups-files.conf")],
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_answering(timeout_s)
            self._admin(["lpadmin", "-p", self.queue, "-E", "-v", f"cups-pdf:/{self._name}", "-P", str(CUPS_PDF_PPD),
                         "-D", "Kiosk A4 (cups-pdf)", "-o", "media-default=A4", "-o", "PageSize=A4"])
        except BaseException:
            self.stop()
            raise
        return self.server

    def _wait_answering(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise PrinterError(f"cupsd exited (see {self.folder / 'log'})")
            answer = subprocess.run(["lpstat", "-r"], env=self._env(), capture_output=True, timeout=10, check=False)
            if b"is running" in answer.stdout:
                return
            if time.monotonic() > deadline:
                raise PrinterError(f"cupsd did not answer within {timeout_s:.0f} s (see {self.folder / 'log'})")
            time.sleep(0.05)

    def _admin(self, args: list[str]) -> None:
        done = subprocess.run(args, env=self._env(), capture_output=True, timeout=20, check=False)
        if done.returncode != 0:
            raise PrinterError(f"{args[0]} failed: {done.stderr.decode('utf-8', 'replace').strip()[:200]}")

    # -- what a technician (or a test) does to the printer ------------------------------------------------
    def pause(self) -> None:
        self._admin(["cupsdisable", self.queue])

    def resume(self) -> None:
        self._admin(["cupsenable", self.queue])

    def reject(self) -> None:
        self._admin(["cupsreject", self.queue])

    def accept(self) -> None:
        self._admin(["cupsaccept", self.queue])

    def outputs(self) -> list[Path]:
        """The PDFs cups-pdf wrote, oldest first."""
        return sorted(self.output.rglob("*.pdf"), key=lambda p: p.stat().st_mtime)

    def pending_jobs(self) -> int:
        done = subprocess.run(["lpstat", "-o", self.queue], env=self._env(), capture_output=True, timeout=10,
                              check=False)
        return len([line for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()])

    def stop(self, drain_s: float = 20.0) -> None:
        """Stop the scheduler (after the queued jobs are written, for at most ``drain_s``; 0: at once, CUPS
        down for the tests of a printer that is not there) and drop the cups-pdf configuration file."""
        deadline = time.monotonic() + drain_s
        while self.process is not None and self.process.poll() is None and time.monotonic() < deadline \
                and self.pending_jobs():
            time.sleep(0.1)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self._pdf_conf.unlink()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _drop_stale_configs(folder: Path) -> None:
    """cups-pdf settings left by private schedulers whose process died without stopping them."""
    for conf in folder.glob("cups-pdf-kiosk*x*.conf"):
        pid = conf.name[len("cups-pdf-kiosk"):].split("x", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                conf.unlink()
