"""The kiosk's A4 printer through CUPS, the standard print system: documents go to a queue with ``lp`` and
the queue's state is read with ``lpstat``, so any printer the hospital's CUPS drives (IPP Everywhere,
a vendor PPD, a print server) works without a driver of ours.

``server``: where CUPS listens (a host[:port] or a socket path, as ``CUPS_SERVER``); empty: the system's.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from kiosk.errors import PrinterError
from kiosk.ports import PrinterStatus

log = logging.getLogger(__name__)
TIMEOUT_S = 15.0
PAPER_OUT = ("media-empty", "media-needed", "media-jam")
OFFLINE = ("offline-report", "shutdown", "stopped")
_REQUEST_ID = re.compile(r"request id is (\S+)")


@dataclass(frozen=True)
class QueueState:
    """What ``lpstat`` says of a queue. ``problem``: empty when a job would print, else what to fix."""

    exists: bool
    accepting: bool = False
    enabled: bool = False
    reasons: tuple[str, ...] = ()
    queue: str = ""  # named in the fix

    @property
    def paper(self) -> bool:
        return not any(r.startswith(PAPER_OUT) for r in self.reasons)

    @property
    def problem(self) -> str:
        if not self.exists:
            return "no such queue"
        if not self.accepting:
            return f"the queue rejects jobs (fix: cupsaccept {self.queue})"
        if not self.enabled:
            return f"the queue is paused (fix: cupsenable {self.queue})"
        if not self.paper:
            return "paper out or jammed (load A4 paper)"
        offline = [r for r in self.reasons if r.startswith(OFFLINE)]
        return f"the printer reports {offline[0]}" if offline else ""


class CupsDocumentPrinter:
    """Prints PDFs on a CUPS queue. ``print_pdf`` returns the CUPS job id (e.g. ``kiosk-a4-12``)."""

    def __init__(self, queue: str, server: str = "", *, wait_s: float = 20.0, poll_s: float = 0.2) -> None:
        """``wait_s``: how long ``print_pdf`` watches the job (a job the filters or the printer fail in that time
        is cancelled and reported; one still waiting behind others is left to the spooler)."""
        self.queue, self.server, self._wait_s, self._poll_s = queue, server, wait_s, poll_s
        self.description = f"CUPS queue {queue}" + (f" on {server}" if server else "")

    def _run(self, args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        if shutil.which(args[0]) is None:
            raise PrinterError(f"{args[0]} not found: install cups-client")
        env = dict(os.environ, LC_ALL="C", LANG="C")
        if self.server:
            env["CUPS_SERVER"] = self.server
        try:
            return subprocess.run(args, input=data, capture_output=True, timeout=TIMEOUT_S, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise PrinterError(f"CUPS did not answer {args[0]} within {TIMEOUT_S:.0f} s") from None

    def state(self) -> QueueState:
        """The queue as CUPS reports it; PrinterError when the scheduler does not answer."""
        running = self._run(["lpstat", "-r"]).stdout.decode("utf-8", "replace")
        if "scheduler is running" not in running:
            raise PrinterError("the print system (CUPS) is not running" + (f" at {self.server}" if self.server else ""))
        shown = self._run(["lpstat", "-l", "-p", self.queue])
        text = shown.stdout.decode("utf-8", "replace")
        if shown.returncode != 0 or not text.startswith("printer "):
            return QueueState(exists=False, queue=self.queue)
        accepting = self._run(["lpstat", "-a", self.queue]).stdout.decode("utf-8", "replace")
        first = text.splitlines()[0]
        alerts = next((line.split(":", 1)[1] for line in text.splitlines() if line.strip().startswith("Alerts:")), "")
        reasons = tuple(r.strip() for r in alerts.replace(",", " ").split() if r.strip() and r.strip() != "none")
        return QueueState(exists=True, accepting="not accepting" not in accepting and "accepting" in accepting,
                          enabled=" disabled " not in f" {first} ", reasons=reasons, queue=self.queue)

    def preflight(self) -> PrinterStatus:
        try:
            state = self.state()
        except PrinterError as exc:
            return PrinterStatus(online=False, paper=False, detail=str(exc))
        return PrinterStatus(online=state.exists and state.accepting and state.enabled, paper=state.paper,
                             detail=state.problem)

    def print_pdf(self, pdf: bytes, *, title: str) -> str:
        """Queue the PDF; the job id. PrinterError with the reason when it cannot be printed now."""
        if not pdf.startswith(b"%PDF-"):
            raise PrinterError("not a PDF document: refusing to send it to the printer")
        problem = self.state().problem
        if problem:
            raise PrinterError(f"A4 printer {self.queue}: {problem}")
        done = self._run(["lp", "-d", self.queue, "-t", title, "-o", "media=A4", "-"], data=pdf)
        match = _REQUEST_ID.search(done.stdout.decode("utf-8", "replace"))
        if done.returncode != 0 or match is None:
            raise PrinterError(f"CUPS refused the job: {done.stderr.decode('utf-8', 'replace').strip()[:160]}")
        job = match.group(1)
        outcome, deadline = self.job_outcome(job), time.monotonic() + self._wait_s
        while outcome == "pending" and time.monotonic() < deadline:
            time.sleep(self._poll_s)
            outcome = self.job_outcome(job)
        if outcome.startswith("failed"):
            self._run(["cancel", job])
            raise PrinterError(f"A4 printer {self.queue}: the job {outcome} (cancelled)")
        log.info("A4 job %s on %s: %s", job, self.queue, outcome)
        return job

    def job_done(self, job: str) -> bool:
        """True once CUPS lists the job as completed."""
        return self.job_outcome(job) == "completed"

    def job_outcome(self, job: str) -> str:
        """completed, pending (queued or printing), or ``failed: <CUPS's status>``."""
        done = self._run(["lpstat", "-W", "completed", "-o", self.queue]).stdout.decode("utf-8", "replace")
        if any(line.split()[:1] == [job] for line in done.splitlines()):
            return "completed"
        listing = self._run(["lpstat", "-l", "-o", self.queue]).stdout.decode("utf-8", "replace").splitlines()
        mine = False
        for line in listing:
            if line and not line[0].isspace():
                mine = line.split()[:1] == [job]
            elif mine and line.strip().startswith(("Status:", "Alerts:")):
                text = line.split(":", 1)[1].strip()
                if "failed" in text.lower() or "completed-with-errors" in text or "aborted" in text:
                    return f"failed: {text[:80]}"
        return "pending"
