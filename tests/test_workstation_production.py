"""A clinician workstation in production mode, every part real but the webcam: the gateway's sandbox over
TLS (a CA made here) enforcing the tif access profile, gpsd fed NMEA by the simulated receiver, the
encrypted production roster, dlib with the motion challenge and the passive screen/print vote, the outbox
delivering the signed audit event. The one fake is the webcam this machine lacks: a real recording of a
live man (video/bona_fide_clip, Apfol) replayed as if from a webcam (``RecordedWebcamFake``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest

from kiosk import clinician_login as cl
from kiosk.audit_chain import verify
from kiosk.config import load_config
from kiosk.liveness import Challenge

from drivers.camera.replay import ReplayCamera, load_frames
from drivers.gateway.access import TifPolicy
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.location.simulated_receiver import SimulatedReceiver
from scripts.clinician_demo import DEMO_CLINICIAN, pump
from scripts.composition import build_clinician_services
from tests.test_location import CENTRE, gpsd, receiver  # noqa: F401 - fixtures: real gpsd fed NMEA
from tests.test_tls import Authority

pytestmark = pytest.mark.slow
SECRET = "5e1f0c3a9b7d2e4f6a8c0b1d3e5f7a9c"
CLIP = "video/bona_fide_clip/Apfol_liveness-detection-opencv/real2.webm"
FENCE = "116.3962,39.9077 116.3988,39.9077 116.3988,39.9097 116.3962,39.9097"


class RecordedSteps(random.Random):
    """Draws the liveness challenge among the steps the recording holds (blink, turn right)."""

    def sample(self, population, k, *, counts=None):  # type: ignore[override]
        held = [c for c in population if c in (Challenge.BLINK, Challenge.TURN_RIGHT)]
        return random.Random().sample(held, k)


class RecordedWebcamFake(ReplayCamera):
    """A fake of the webcam this machine does not have: a recording of a live person, replayed as live."""

    is_live = True


def test_a_clinician_logs_in_through_gpsd_and_the_tif_gateway_over_tls(tmp_path: Path, shared_data: Path,
                                                                      receiver: SimulatedReceiver, gpsd) -> None:  # noqa: F811
    daemon, _ = gpsd
    ca = Authority.make("Hospital test CA")
    sandbox = SandboxGateway(tmp_path / "ledger.sqlite", tls=ca.issue(tmp_path, "gateway"),
                             access=TifPolicy("PAAS0001", SECRET))
    sandbox.start()
    secret = tmp_path / "gateway.secret"
    secret.write_text(SECRET)
    config = tmp_path / "workstation.toml"
    config.write_text(
        f'mode = "production"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[terminal]\nrole = "workstation"\nterminal_no = "ZZJ-0007"\n'
        f'[gateway]\nurl = "{sandbox.service_url}"\nca_bundle = "{ca.bundle(tmp_path / "ca.pem")}"\n'
        f'profile = "tif"\npaasid = "PAAS0001"\nsecret_file = "{secret}"\n'
        f'[payment]\nprovider = "none"\n[camera]\nsource = "device:0"\n'
        f'[face]\nliveness_steps = 1\nliveness_step_timeout_s = 40\n'
        f'[location]\nsource = "gpsd"\ngpsd_port = {daemon.port}\ngeofence = "{FENCE}"\nmax_age_s = 5\n',
        encoding="utf-8")
    cfg = load_config(config, {})
    frames = load_frames(shared_data / CLIP)
    camera = RecordedWebcamFake(frames, fps=10, description="recorded webcam (fake)")
    services = build_clinician_services(cfg, camera=camera)
    # a recording cannot follow instructions: it holds a blink and a turn to the right, not a turn to the left
    # (a left-turn challenge on it fails, as it should). The challenge is drawn from the steps it holds.
    services.base.face._rng = RecordedSteps()
    try:
        sample = services.base.face_engine.encode_largest_face(frames[0], thorough=True)
        assert sample is not None
        services.roster.add(dataclasses.replace(DEMO_CLINICIAN, template=sample.template))
        services.base.camera.start()
        assert services.location.wait_fix(timeout_s=20) is not None  # gpsd has the receiver's fix
        machine = cl.ClinicianLogin(cfg.terminal.terminal_no, dt.datetime.now)
        pump(machine, services, cl.StaffChosen(DEMO_CLINICIAN.staff_no))
        assert machine.state is cl.LoginState.SESSION, (machine.reason, machine.attempt.face, machine.attempt.position)
        assert machine.attempt.face["liveness"] == "passed"
        assert machine.attempt.position["accepted"] and machine.attempt.position["basis"].startswith("gpsd fix")
        services.base.outbox.drain()  # the signed audit event to the hospital system, over TLS, with tif headers
        events = [e for e in sandbox.audit_events() if e.get("event") == "clinician_login"]
        assert len(events) == 1 and events[0]["accepted"] is True and events[0]["staff_no"] == DEMO_CLINICIAN.staff_no
        assert verify([e for e in sandbox.audit_events() if "seq" in e]) is None
    finally:
        services.close()
        sandbox.stop()
