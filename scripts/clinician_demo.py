"""``kiosk demo --autopilot --role clinician``: one clinician login on the demo workstation, headless.

The demo clinician is enrolled (in a fresh encrypted roster) from the bundled demo portrait; the camera
shows that portrait unless ``--camera-source`` names another picture or video. The workstation is a fixed
site inside the demo geofence, or 350 m north of it with ``--location outside``. The login machine runs
against the real parts (dlib, the roster file, the outbox, the sandbox for audit delivery) and the audit
chain received by the sandbox is verified at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kiosk import clinician_login as cl
from kiosk.audit_chain import verify
from kiosk.config import KioskConfig
from kiosk.domain import StaffMember
from kiosk.errors import FaceError

from drivers.camera.replay import ReplayCamera
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import ClinicianServices, build_camera, build_clinician_services, demo_portrait
from scripts.demo import demo_config

DEMO_CLINICIAN = StaffMember("D0001", "李医生 (demo)", "内科 Internal medicine", "D110101000001")
OUTSIDE_SITE = (39.9130, 116.3975)  # ~350 m north of the demo fence


def enroll_demo_clinician(services: ClinicianServices) -> None:
    sample = services.base.face_engine.encode_largest_face(demo_portrait(), thorough=True)
    if sample is None:
        raise FaceError("demo: no face found in the demo portrait")
    services.roster.add(dataclasses.replace(DEMO_CLINICIAN, template=sample.template), replace=True)
    sample.template.fill(0.0)


def pump(machine: cl.ClinicianLogin, services: ClinicianServices, event: cl.Event) -> None:
    queue: list[cl.Event] = [event]
    while queue:
        for effect in machine.handle(queue.pop(0)):
            result = services.effects.run(effect)
            if result is not None:
                queue.append(result)


@contextlib.contextmanager
def demo_workstation(cfg: KioskConfig, *, location: str = "inside", camera_source: str = "",
                     data_dir: Path | None = None, live_camera: bool = False) -> Iterator[tuple[ClinicianServices, SandboxGateway]]:
    """The demo workstation, started and enrolled: the sandbox (for audit delivery), the services, the demo
    clinician in a fresh roster, the camera running. ``location`` inside or outside the fence;
    ``camera_source`` a picture, folder or video to replay; ``live_camera`` a webcam when one is present
    (the window), else the demo portrait replayed (the autopilot: always the same)."""
    data = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="kiosk-clinician-demo-"))
    data.mkdir(parents=True, exist_ok=True)  # a --data-dir that does not exist yet
    sandbox = SandboxGateway(data / "sandbox-ledger.sqlite")
    sandbox.start()
    try:
        demo = demo_config(cfg, data, sandbox.service_url, sandbox.payment_key)
        if location == "outside":
            demo = dataclasses.replace(demo, location=dataclasses.replace(
                demo.location, source="fixed", site_latitude=OUTSIDE_SITE[0], site_longitude=OUTSIDE_SITE[1]))
        if camera_source:
            camera = ReplayCamera.from_path(Path(camera_source), fps=demo.camera.fps)
        elif live_camera:
            camera = build_camera(demo)
        else:
            camera = ReplayCamera([demo_portrait()], fps=demo.camera.fps, description="replay camera (demo portrait)")
        services = build_clinician_services(demo, camera=camera)
        try:
            enroll_demo_clinician(services)
            services.base.camera.start()
            yield services, sandbox
        finally:
            services.close()
    finally:
        sandbox.stop()


def run_clinician_autopilot(cfg: KioskConfig, *, location: str = "inside", camera_source: str = "",
                            data_dir: Path | None = None) -> dict[str, Any]:
    with demo_workstation(cfg, location=location, camera_source=camera_source, data_dir=data_dir) as (
            services, sandbox):
        machine = cl.ClinicianLogin(services.base.cfg.terminal.terminal_no, dt.datetime.now)
        pump(machine, services, cl.StaffChosen(DEMO_CLINICIAN.staff_no))
        return autopilot_result(machine, services, sandbox)


def autopilot_result(machine: cl.ClinicianLogin, services: ClinicianServices, sandbox: SandboxGateway) -> dict[str, Any]:
    """The login's outcome, once its audit events have been delivered to the sandbox and verified."""
    services.base.outbox.drain()
    chain = [e for e in sandbox.audit_events() if "seq" in e]
    return {
        "role": "clinician",
        "outcome": "logged_in" if machine.state is cl.LoginState.SESSION else "refused",
        "reason": machine.reason,
        "staff_no": machine.attempt.staff_no,
        "face": machine.attempt.face,
        "position": machine.attempt.position,
        "location": services.location.description,
        "camera": services.base.camera.description,
        "audit_events_delivered": len(chain),
        "audit_chain_verifies": bool(chain) and verify(chain) is None,
        "data_dir": str(services.base.cfg.data_path()),
    }
