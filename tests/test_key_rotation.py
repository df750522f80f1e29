"""``kiosk-provision rotate-keys``: new keys for the outbox and the roster, every sealed value re-sealed,
queued settlements still settle afterwards; a rotation cut short at any point loses nothing and finishes
when run again; a running kiosk keeps the keys from being rotated under it."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kiosk.config import KioskConfig
from kiosk.domain import StaffMember
from kiosk.errors import QueueError

import offline_queue.key_rotation as rotation
from offline_queue.crypto import PayloadCipher, cipher_for, load_or_create_key, pending_key_path
from offline_queue.instance_lock import InstanceLock
from offline_queue.outbox import SqliteOutbox
from offline_queue.roster import FileRoster
from offline_queue.store import open_store
from scripts.provision import cli
from tests.test_outbox import PAYLOAD, Clock, ScriptedHandler


def _config_file(tmp_path: Path, cfg: KioskConfig) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'data_dir = "{cfg.data_dir}"\n', encoding="utf-8")
    return path


@pytest.mark.slow
def test_queued_settlements_still_settle_after_the_keys_are_rotated(demo_config: KioskConfig, tmp_path: Path) -> None:
    from drivers.camera.replay import ReplayCamera
    from drivers.gateway.sandbox.server import SandboxGateway
    from scripts.composition import build_services, demo_portrait, outbox_key_file
    from tests.test_visit_integration import queue_a_settlement_while_down

    ledger = tmp_path / "gw-ledger.sqlite"
    cfg, services, _, port = queue_a_settlement_while_down(demo_config, ledger)
    try:
        assert services.outbox.pending_count() == 2  # the settlement and the face check's audit event
    finally:
        services.close()
    key_file = outbox_key_file(cfg)
    old_key = key_file.read_bytes()
    result = CliRunner().invoke(cli, ["rotate-keys", "--config", str(_config_file(tmp_path, cfg))])
    assert result.exit_code == 0, result.output
    assert "outbox: new key" in result.output
    assert key_file.read_bytes() != old_key and not pending_key_path(key_file).exists()
    store = open_store(Path(cfg.data_dir) / "outbox.sqlite")
    sealed = store.db.execute("SELECT payload FROM items").fetchall()
    store.close()
    with pytest.raises(QueueError):  # the old key opens nothing any more
        PayloadCipher(old_key).open(sealed[0][0])
    sandbox = SandboxGateway(ledger, port=port)  # the network is back, the kiosk starts again
    sandbox.start()
    services = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        services.outbox._clock = lambda: 4_000_000_000.0  # let the backoff expire
        assert sorted(d.state for d in services.outbox.drain()) == ["done", "done"]
        settled = sandbox.settlements()
        assert len(settled) == 1 and settled[0]["medfee_sumamt"] == "97.10"
    finally:
        services.close()
        sandbox.stop()


def _outbox(tmp_path: Path) -> tuple[SqliteOutbox, ScriptedHandler, Path]:
    key_file = tmp_path / "keys" / "outbox.key"
    key_file.parent.mkdir()
    handler = ScriptedHandler()
    outbox = SqliteOutbox(open_store(tmp_path / "outbox.sqlite"), cipher_for(key_file), handler, clock=Clock(),
                          rng=random.Random(1))
    return outbox, handler, key_file


@pytest.mark.parametrize("cut", ["mid_transaction", "before_the_key_is_renamed"])
def test_a_rotation_cut_short_loses_nothing_and_finishes_when_run_again(tmp_path: Path, cut: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    outbox, handler, key_file = _outbox(tmp_path)
    refs = [outbox.enqueue(visit_id=f"v{i}", kind="plan", payload={**PAYLOAD, "n": i}) for i in range(3)]
    handler.outcomes = [{"setl_id": "ST0"}]
    assert outbox.deliver(refs[0]).state == "done"  # one done (its result sealed too), two pending
    store = outbox._store  # type: ignore[attr-defined]

    class Cut(Exception):
        pass

    if cut == "mid_transaction":
        real_seal = PayloadCipher.seal
        calls = {"n": 0}

        def failing_seal(self: PayloadCipher, plain: bytes) -> bytes:
            calls["n"] += 1
            if calls["n"] == 3:
                raise Cut("power lost")
            return real_seal(self, plain)

        monkeypatch.setattr(PayloadCipher, "seal", failing_seal)
    else:
        monkeypatch.setattr(rotation, "_promote", lambda _key_file: (_ for _ in ()).throw(Cut("power lost")))
    with pytest.raises(Cut):
        rotation.rotate_outbox_key(store, key_file)
    monkeypatch.undo()
    assert pending_key_path(key_file).exists()
    after_crash = SqliteOutbox(store, cipher_for(key_file), handler, clock=Clock())  # the kiosk restarted
    assert [after_crash.payload(r)["n"] for r in refs] == [0, 1, 2]
    done = rotation.rotate_outbox_key(store, key_file)  # run again: finishes
    assert done.values == 4 and not pending_key_path(key_file).exists()
    plain_cipher = PayloadCipher(load_or_create_key(key_file))  # the key file alone opens everything now
    finished = SqliteOutbox(store, plain_cipher, handler, clock=Clock())
    assert [finished.payload(r)["n"] for r in refs] == [0, 1, 2]
    handler.outcomes = [{"setl_id": "ST1"}, {"setl_id": "ST2"}]
    finished._clock = lambda: 4_000_000_000.0
    assert sorted(d.state for d in finished.drain()) == ["done", "done"]
    store.close()


def test_a_running_kiosk_keeps_its_keys_from_being_rotated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    held = InstanceLock.take(data)
    try:
        (tmp_path / "kiosk.toml").write_text(f'data_dir = "{data}"\n', encoding="utf-8")
        result = CliRunner().invoke(cli, ["rotate-keys", "--config", str(tmp_path / "kiosk.toml")])
        assert result.exit_code != 0 and "stop it first" in result.output
        with pytest.raises(QueueError, match="another kiosk process"):
            InstanceLock.take(data)
    finally:
        held.release()
    InstanceLock.take(data).release()  # free again once the kiosk stopped


def test_the_roster_is_rotated_and_keeps_its_staff(tmp_path: Path) -> None:
    roster = FileRoster(tmp_path / "staff.roster", key_path=tmp_path / "staff.key")
    template = tuple(float(x) for x in np.linspace(-0.2, 0.2, 128))
    roster.add(StaffMember("D001", "李医生", "内科", "D110101000001", template))
    old = (tmp_path / "staff.key").read_bytes()
    assert rotation.rotate_roster_key(roster).values == 1
    assert (tmp_path / "staff.key").read_bytes() != old
    again = FileRoster(tmp_path / "staff.roster", key_path=tmp_path / "staff.key")
    member = again.get("D001")
    assert member is not None and member.name == "李医生" and tuple(member.template) == template
