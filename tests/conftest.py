"""Shared fixtures: the real sandbox gateway on loopback, real SQLite stores, the shared data folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from drivers.card.pcscd_service import isolate_this_process  # noqa: E402

# Each test process (each pytest-xdist worker) has its own pcscd socket and virtual reader ports, so workers
# never see each other's cards and the machine's pcscd is never used or stopped by a test. Set before anything
# makes a PC/SC call (the client library reads the socket's name once); commands the tests start inherit both
# (a demo takes its own).
isolate_this_process()

from kiosk.config import CardConfig, KioskConfig, TerminalConfig  # noqa: E402

from drivers.gateway.sandbox.server import SandboxGateway  # noqa: E402
from offline_queue.msgids import SqliteMsgIdSource  # noqa: E402
from offline_queue.store import Store, open_store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI=true the real data is not optional: without ../shared/data the run stops at once, saying
    where it looked (each test needing it would otherwise fail one by one)."""
    if under_ci() and not SHARED_DATA.is_dir():
        pytest.exit(f"CI=true: the real test data is missing: {SHARED_DATA} (../shared beside the project)",
                    returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped test is a failed one, with its reason: CI must run every test (a missing
    package, tool or privilege is CI's to provide), so nothing passes by not running."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if under_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


# The files that take longest (measured with --durations; docs/benchmarks.md): handed to the parallel
# workers first (pytest-xdist's loadfile hands out files in collection order), so that no long file starts
# last and runs alone at the end.
LONGEST_FIRST = ("test_ansible", "test_documented_commands", "test_provision_cli", "test_screens_fit",
                 "test_face_swipe_screens", "test_errand_screens", "test_demo_cli", "test_face_evaluation",
                 "test_systemd_unit", "test_kiosk_session")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the rest keep their order


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture
def terminal() -> TerminalConfig:
    return TerminalConfig()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxGateway]:
    gateway = SandboxGateway(tmp_path / "ledger.sqlite")
    gateway.start()
    yield gateway
    gateway.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "outbox.sqlite")
    yield s
    s.close()


@pytest.fixture
def msgids(store: Store, terminal: TerminalConfig) -> SqliteMsgIdSource:
    return SqliteMsgIdSource(store, terminal.fixmedins_code, dt.datetime.now)


@pytest.fixture
def demo_config(tmp_path: Path, sandbox: SandboxGateway) -> KioskConfig:
    key_file = tmp_path / "payment.key"
    key_file.write_bytes(sandbox.payment_key)
    cfg = KioskConfig(data_dir=str(tmp_path / "data"), card=CardConfig(reader="virtual"))
    return dataclasses.replace(cfg, gateway=dataclasses.replace(cfg.gateway, url=sandbox.service_url,
                                                                read_timeout_s=5.0),
                               payment=dataclasses.replace(cfg.payment, key_file=str(key_file), poll_interval_s=0.2))


@pytest.fixture
def services(demo_config: KioskConfig, sandbox: SandboxGateway) -> Iterator[object]:
    """The kiosk's services on the demo config against the sandbox, the demo face enrolled."""
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_services, demo_portrait
    from scripts.demo import enroll_demo_face

    built = build_services(demo_config, camera=ReplayCamera([demo_portrait()], fps=30))
    enroll_demo_face(sandbox, built)
    yield built
    built.close()
