"""The outbox on real SQLite files: durability, states, order, recovery, encryption at rest."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kiosk.errors import GatewayBusinessError, GatewayNoAnswer, GatewayUnreachable, QueueError

from offline_queue.crypto import PayloadCipher, load_or_create_key
from offline_queue.msgids import SqliteMsgIdSource
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import Store, open_store

SECRET_NAME, SECRET_ID = "王秀英", "110101195603071239"


class ScriptedHandler:
    """Stands in for the gateway: raises or answers as told, records what it was given."""

    def __init__(self) -> None:
        self.outcomes: list[Exception | dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []

    def __call__(self, payload: dict[str, Any], save: Any) -> Mapping[str, Any]:
        self.seen.append(payload)
        outcome = self.outcomes.pop(0) if self.outcomes else {"ok": True}
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path: Path, store: Store) -> tuple[SqliteOutbox, ScriptedHandler, Clock]:
    handler, clock = ScriptedHandler(), Clock()
    cipher = PayloadCipher(load_or_create_key(tmp_path / "outbox.key"))
    return SqliteOutbox(store, cipher, handler, clock=clock, rng=random.Random(1)), handler, clock


PAYLOAD = {"person": SECRET_NAME, "certno": SECRET_ID, "steps": []}


def test_enqueue_is_committed_before_it_returns(parts: tuple, store: Store) -> None:
    outbox, _, _ = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    other = sqlite3.connect(store.path)  # a second connection, as after a crash
    assert other.execute("SELECT state FROM items WHERE reference = ?", (ref,)).fetchone() == ("pending",)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_delivered_once(parts: tuple) -> None:
    outbox, handler, _ = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    handler.outcomes = [{"setl_id": "ST1"}]
    assert outbox.deliver(ref).state == "done"
    assert outbox.deliver(ref).result == {"setl_id": "ST1"}  # no second send
    assert len(handler.seen) == 1 and outbox.drain() == []


def test_unreachable_retries_later_with_backoff(parts: tuple) -> None:
    outbox, handler, clock = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    handler.outcomes = [GatewayUnreachable("down"), GatewayUnreachable("down")]
    assert outbox.deliver(ref).state == "pending"
    assert outbox.drain() == []  # not due yet
    clock.now += 2.0
    assert [d.state for d in outbox.drain()] == ["pending"]
    clock.now += 1.5  # the second delay is 2-4 s: not due after 1.5 s
    assert outbox.drain() == []
    clock.now += 3.0
    assert [d.state for d in outbox.drain()] == ["done"]
    assert outbox.pending_count() == 0


def test_no_answer_is_ambiguous_and_business_errors_fail(parts: tuple) -> None:
    outbox, handler, clock = parts
    a = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    b = outbox.enqueue(visit_id="v2", kind="plan", payload=PAYLOAD)
    handler.outcomes = [GatewayNoAnswer("lost"), GatewayBusinessError("余额不足")]
    assert outbox.deliver(a).state == "ambiguous"
    failed = outbox.deliver(b)
    assert failed.state == "failed" and failed.error == "余额不足"
    assert outbox.pending_count() == 1  # the ambiguous one is not settled yet
    assert outbox.drain() == []  # backoff: not due at once
    clock.now += 10_000
    # the ambiguous item goes back to its handler (which resolves the unanswered step first); the failed never
    assert [d.reference for d in outbox.drain()] == [a]
    assert outbox.counts() == {"done": 1, "failed": 1}
    assert len(handler.seen) == 3


def test_order_is_kept_per_visit_and_visits_do_not_block_each_other(parts: tuple) -> None:
    outbox, handler, clock = parts
    first = outbox.enqueue(visit_id="v1", kind="plan", payload={"n": 1})
    second = outbox.enqueue(visit_id="v1", kind="plan", payload={"n": 2})
    other = outbox.enqueue(visit_id="v2", kind="plan", payload={"n": 3})
    handler.outcomes = [GatewayUnreachable("down")]
    assert outbox.deliver(first).state == "pending"
    assert outbox.deliver(second).state == "pending"  # refused: v1's first item is still open
    assert outbox.deliver(other).state == "done"
    clock.now += 10
    assert [d.reference for d in outbox.drain()] == [first]
    assert [d.reference for d in outbox.drain()] == [second]
    assert [p["n"] for p in handler.seen] == [1, 3, 1, 2]


def test_crash_in_flight_becomes_ambiguous_on_restart(tmp_path: Path) -> None:
    path, key = tmp_path / "o.sqlite", load_or_create_key(tmp_path / "k")
    store = open_store(path)
    clock = Clock()
    outbox = SqliteOutbox(store, PayloadCipher(key), ScriptedHandler(), clock=clock, lease_s=30)
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    assert outbox._claim(ref) is not None  # the process dies right after claiming, mid-send
    store.close()
    clock.now += 60
    reopened = SqliteOutbox(open_store(path), PayloadCipher(key), ScriptedHandler(), clock=clock)
    assert reopened.counts() == {"ambiguous": 1}


def test_progress_is_saved_between_steps(parts: tuple) -> None:
    outbox, _, _ = parts

    def handler(payload: dict[str, Any], save: Any) -> Mapping[str, Any]:
        payload["steps"].append("2201 done")
        save(payload)
        raise GatewayUnreachable("down after the first step")

    outbox._handler = handler
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload={"steps": []})
    outbox.deliver(ref)
    assert outbox.payload(ref) == {"steps": ["2201 done"]}


def test_personal_data_is_not_readable_in_the_file(parts: tuple, store: Store) -> None:
    outbox, _, _ = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    assert outbox.payload(ref) == PAYLOAD
    store.db.execute("PRAGMA wal_checkpoint(FULL)")
    for file in store.path.parent.glob("outbox.sqlite*"):
        raw = file.read_bytes()
        assert SECRET_ID.encode() not in raw and SECRET_NAME.encode("utf-8") not in raw, file


def test_wrong_key_and_corrupt_key(tmp_path: Path, parts: tuple, store: Store) -> None:
    outbox, _, _ = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    stranger = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "other.key")), ScriptedHandler())
    with pytest.raises(QueueError, match="cannot be decrypted"):
        stranger.payload(ref)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    with pytest.raises(QueueError, match="corrupt"):
        load_or_create_key(bad)
    assert (tmp_path / "outbox.key").stat().st_mode & 0o777 == 0o600


def test_corrupt_database_is_moved_aside_and_the_kiosk_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    store = open_store(path)
    assert store.recovered_from is not None and store.recovered_from.read_bytes().startswith(b"this is not")
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "k")), ScriptedHandler())
    assert outbox.deliver(outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)).state == "done"
    store.close()


def test_damaged_pages_are_detected(tmp_path: Path, store: Store) -> None:
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "k")), ScriptedHandler())
    for i in range(200):
        outbox.enqueue(visit_id=f"v{i}", kind="plan", payload={"pad": "z" * 500})
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    raw = bytearray(store.path.read_bytes())
    raw[8192:12288] = b"\xde\xad" * 2048  # scribble over a few pages, as a failing disk would
    store.path.write_bytes(bytes(raw))
    reopened = open_store(store.path)
    assert reopened.recovered_from is not None
    reopened.close()


def test_unwritable_folder_is_a_queue_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises((QueueError, OSError)):
        open_store(blocker / "outbox.sqlite")


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    open_store(tmp_path / "m.sqlite").close()
    store = open_store(tmp_path / "m.sqlite")
    names = [r[0] for r in store.db.execute("SELECT name FROM _migrations")]
    assert names == ["0001_initial", "0002_retention", "0003_lean_indexes", "0004_lookup_by_id", "0005_audit_chain",
                     "0006_open_visit"]
    store.close()


def test_upgrade_from_the_first_schema_keeps_every_item(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    path = tmp_path / "old.sqlite"
    shutil.copy(fixtures / "outbox-v0001.sqlite", path)
    store = open_store(path)
    assert [r[0] for r in store.db.execute("SELECT name FROM _migrations")] == ["0001_initial", "0002_retention", "0003_lean_indexes", "0004_lookup_by_id", "0005_audit_chain",
                     "0006_open_visit"]
    outbox = SqliteOutbox(store, PayloadCipher((fixtures / "outbox-v0001.key").read_bytes()), ScriptedHandler(),
                          clock=lambda: 10.0)
    assert outbox.counts() == {"pending": 1, "done": 1}
    assert outbox.payload("Q20260101000001") == {"visit_id": "v1", "steps": []}
    sizes = [r[0] for r in store.db.execute("SELECT size_bytes FROM items")]
    assert all(size > 50 for size in sizes)
    assert [d.state for d in outbox.drain()] == ["done"]
    store.close()


def test_retention_and_size_bound(parts: tuple) -> None:
    outbox, handler, clock = parts
    outbox._max_open = 3
    refs = [outbox.enqueue(visit_id=f"v{i}", kind="plan", payload={"i": i}) for i in range(3)]
    with pytest.raises(QueueError, match="outbox full"):
        outbox.enqueue(visit_id="v9", kind="plan", payload={})
    outbox.deliver(refs[0])
    outbox.enqueue(visit_id="v9", kind="plan", payload={})  # room again once one is delivered
    assert outbox.prune(keep_days=1) == 0  # finished just now: kept
    clock.now += 2 * 86400
    assert outbox.prune(keep_days=1) == 1
    assert outbox.counts() == {"pending": 3}


def test_msgid_sequence_survives_restart(tmp_path: Path) -> None:
    day = dt.datetime(2026, 11, 22, 10, 0, 0)
    store = open_store(tmp_path / "ids.sqlite")
    first = [SqliteMsgIdSource(store, "H11010100001", lambda: day).next_msgid() for _ in range(3)]
    store.close()
    store = open_store(tmp_path / "ids.sqlite")
    again = SqliteMsgIdSource(store, "H11010100001", lambda: day).next_msgid()
    assert first[0] == "H11010100001202611221000000001" and len(first[0]) == 30
    assert again.endswith("0004")
    next_day = SqliteMsgIdSource(store, "H11010100001", lambda: day + dt.timedelta(days=1)).next_msgid()
    assert next_day.endswith("0001")
    with pytest.raises(QueueError):
        SqliteMsgIdSource(store, "SHORT")


def test_msgid_sequence_starts_again_after_9999_and_ids_stay_unique(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ids.sqlite")
    start = dt.datetime(2026, 11, 22, 10, 0, 0)
    ticks = iter(range(20_000))
    source = SqliteMsgIdSource(store, "H11010100001", lambda: start + dt.timedelta(seconds=next(ticks) // 200))
    ids = [source.next_msgid() for _ in range(10_001)]  # 200 a second: faster than the outbox replays
    assert ids[9998].endswith("9999") and ids[9999].endswith("0001") and ids[10_000].endswith("0002")
    assert len(set(ids)) == len(ids) and {len(i) for i in ids} == {30}
    store.close()


def test_terminals_in_different_msgid_lanes_never_send_the_same_msgid(tmp_path: Path) -> None:
    """Two kiosks of one hospital (one institution code), same second, each with its own outbox."""
    now = dt.datetime(2026, 11, 22, 10, 0, 0)
    stores = {lane: open_store(tmp_path / f"{lane}.sqlite") for lane in ("1", "2")}
    first, second = (SqliteMsgIdSource(store, "H11010100001", lambda: now, lane=lane) for lane, store in stores.items())
    ones = [first.next_msgid() for _ in range(1000)]
    twos = [second.next_msgid() for _ in range(3)]
    assert ones[0].endswith("1001") and ones[998].endswith("1999") and ones[999].endswith("1001")
    assert twos == [f"H11010100001{now:%Y%m%d%H%M%S}200{i}" for i in (1, 2, 3)]
    assert not set(ones) & set(twos)
    with pytest.raises(QueueError, match="one digit"):
        SqliteMsgIdSource(stores["1"], "H11010100001", lane="12")
    for store in stores.values():
        store.close()


def test_expired_lease_is_recovered_by_a_running_sender(parts: tuple) -> None:
    outbox, handler, clock = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    assert outbox._claim(ref) is not None  # another process claimed it and died
    assert outbox.drain() == []  # the lease still runs
    clock.now += 200
    assert [d.state for d in outbox.drain()] == ["done"]


def test_the_folders_owner_reclaims_at_once_also_a_plan_held_until_its_payment_deadline(parts: tuple) -> None:
    """A kiosk killed while it settled a paid visit: the plan was held from the sender until the payment's
    deadline (the kiosk delivered it itself). At the next start it is due at once, not minutes later while
    the patient stands at the screen (the systemd test found it waiting out the 150 s)."""
    outbox, handler, clock = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD, not_before=clock.now + 150,
                         holds_visit=True)
    assert outbox._claim(ref) is not None  # the kiosk delivered it itself and died mid-send
    clock.now += 1
    assert outbox.drain() == []  # its lease still runs
    assert outbox.reclaim_in_flight() == 1
    assert [d.state for d in outbox.drain()] == ["done"] and len(handler.seen) == 1
    later = outbox.enqueue(visit_id="v2", kind="plan", payload=PAYLOAD, not_before=clock.now + 150)
    assert outbox.reclaim_in_flight() == 0 and outbox.drain() == []  # nothing in flight: holds stay
    assert outbox.item_state(later)[0] == "pending"


def test_lookups_use_the_id_in_the_reference(parts: tuple, store: Store) -> None:
    outbox, _, _ = parts
    ref = outbox.enqueue(visit_id="v1", kind="plan", payload=PAYLOAD)
    assert outbox.payload(ref) == PAYLOAD
    with pytest.raises(QueueError, match="no outbox item"):
        outbox.payload("Q20990101" + ref[9:])  # right id, wrong reference
    with pytest.raises(QueueError, match="no outbox item"):
        outbox.payload("garbage")
    plan = store.db.execute("EXPLAIN QUERY PLAN SELECT reference FROM items i WHERE state IN ('pending',"
                            " 'in_flight', 'ambiguous') AND state <> 'in_flight' AND next_attempt_at <= 1").fetchall()
    assert "idx_items_open_visit" in str(plan)  # the drain reads open items only, not the whole history


def test_payload_cipher_formats_and_tampering(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    from offline_queue.crypto import GCM_FORMAT

    key = load_or_create_key(tmp_path / "k")
    cipher = PayloadCipher(key)
    sealed = cipher.seal(b'{"certno":"110101195603071239"}')
    assert sealed[:1] == GCM_FORMAT and b"110101" not in sealed
    assert cipher.open(sealed) == b'{"certno":"110101195603071239"}'
    assert cipher.seal(b"same") != cipher.seal(b"same")  # a fresh nonce every time
    old_row = Fernet(key).encrypt(b"written by an earlier version")
    assert cipher.open(old_row) == b"written by an earlier version"
    for damaged in (sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:20], GCM_FORMAT, b"", old_row[:-2] + b"AA"):
        with pytest.raises(QueueError, match="cannot be decrypted"):
            cipher.open(damaged)


def test_the_wal_is_given_written_blocks_and_frames_already_in_it_survive(tmp_path: Path) -> None:
    """Opening a store extends its WAL with zeros (commits then overwrite instead of growing the file),
    and a second opener, while the first still has frames in the WAL not yet checkpointed, loses none of them."""
    from offline_queue.store import WAL_EXTENT

    path = tmp_path / "outbox.sqlite"
    cipher = PayloadCipher(load_or_create_key(tmp_path / "outbox.key"))
    first = open_store(path)
    writer = SqliteOutbox(first, cipher, ScriptedHandler())
    refs = [writer.enqueue(visit_id=f"v{i}", kind="plan", payload=PAYLOAD) for i in range(40)]
    wal = Path(str(path) + "-wal")
    assert wal.stat().st_size >= WAL_EXTENT
    second = open_store(path)  # extends nothing: the WAL is already long enough; must not clobber frames
    reader = SqliteOutbox(second, cipher, ScriptedHandler())
    assert [reader.payload(r) for r in refs] == [PAYLOAD] * 40
    refs.append(writer.enqueue(visit_id="late", kind="plan", payload=PAYLOAD))
    assert reader.payload(refs[-1]) == PAYLOAD
    first.close()
    second.close()
    assert not wal.exists()  # the last connection checkpoints and removes it, as SQLite always does
    again = open_store(path)
    assert again.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert again.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 41
    assert wal.stat().st_size >= WAL_EXTENT
    again.close()


def test_a_crash_after_commits_into_the_extended_wal_keeps_every_committed_item(tmp_path: Path) -> None:
    """Copy the database and its WAL while the writer is still open (what a power cut leaves behind),
    then open the copy: every acknowledged item is there, and nothing else."""
    path = tmp_path / "outbox.sqlite"
    cipher = PayloadCipher(load_or_create_key(tmp_path / "outbox.key"))
    store = open_store(path)
    outbox = SqliteOutbox(store, cipher, ScriptedHandler())
    refs = [outbox.enqueue(visit_id=f"v{i}", kind="plan", payload=PAYLOAD) for i in range(25)]
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(str(path) + suffix, str(crashed / "outbox.sqlite") + suffix)
    store.close()
    survivor = open_store(crashed / "outbox.sqlite")
    assert survivor.recovered_from is None
    found = SqliteOutbox(survivor, cipher, ScriptedHandler())
    assert [found.payload(r) for r in refs] == [PAYLOAD] * 25
    assert survivor.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 25
    survivor.close()


def test_a_wal_that_cannot_be_extended_still_opens_the_store_untouched(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Extending the WAL is only a speed-up: another process holding the write lock, or a disk with no
    room for the zeros, leaves the store opened as it is, never moved aside as if it were corrupt."""
    import errno

    import offline_queue.store as store_module

    path = tmp_path / "outbox.sqlite"
    cipher = PayloadCipher(load_or_create_key(tmp_path / "outbox.key"))
    first = open_store(path)
    ref = SqliteOutbox(first, cipher, ScriptedHandler()).enqueue(visit_id="v", kind="plan", payload=PAYLOAD)
    first.close()  # the WAL is gone: the next open has to extend it again

    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")  # a technician's command in the middle of a write
    busy = open_store(path)
    assert busy.recovered_from is None
    assert Path(str(path) + "-wal").stat().st_size < store_module.WAL_EXTENT
    assert busy.db.execute("PRAGMA busy_timeout").fetchone()[0] == store_module.BUSY_TIMEOUT_MS
    holder.execute("ROLLBACK")
    holder.close()
    assert SqliteOutbox(busy, cipher, ScriptedHandler()).payload(ref) == PAYLOAD
    busy.close()

    def no_space(*_args: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "pwrite", no_space)
    full = open_store(path)
    assert full.recovered_from is None
    outbox = SqliteOutbox(full, cipher, ScriptedHandler())
    assert outbox.payload(ref) == PAYLOAD
    outbox.enqueue(visit_id="after", kind="plan", payload=PAYLOAD)
    assert full.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 2
    full.close()
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_rewritten_audit_event_with_a_recomputed_plain_chain_does_not_verify(tmp_path: Path) -> None:
    """Whoever holds the database (and its outbox key) but not the device key can rewrite an event and
    recompute the SHA-256 chain; the device key's signatures then no longer verify."""
    import hashlib

    from kiosk.audit import AUDIT_KIND, AUDIT_STREAM
    from kiosk.audit_chain import GENESIS, verify
    from offline_queue.keys import DeviceKey, signature_checker

    device = DeviceKey.load_or_create(tmp_path / "keys" / "device.key")
    store = open_store(tmp_path / "outbox.sqlite")
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "outbox.key")), ScriptedHandler(),
                          audit_signer=device.sign)
    refs = [outbox.enqueue_chained(visit_id=AUDIT_STREAM, kind=AUDIT_KIND, event={"event": "login", "n": i})
            for i in range(3)]
    events = [outbox.payload(ref) for ref in refs]
    check = signature_checker(device.public_b64())
    assert verify(events, check=check) is None

    forged, prev = [], GENESIS  # event 1 rewritten, the plain chain recomputed from there, signatures kept
    for event in events:
        body = {k: v for k, v in event.items() if k not in ("hash", "sig")}
        if body["n"] == 1:
            body["n"] = 99
        body["prev"] = prev
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        body["hash"] = hashlib.sha256(prev.encode("ascii") + canonical.encode("utf-8")).hexdigest()
        body["sig"] = event["sig"]
        forged.append(body)
        prev = body["hash"]
    assert verify(forged) is None  # the unkeyed chain alone cannot tell
    assert verify(forged, check=check) == 1  # the device key's signature can
    other = DeviceKey.load_or_create(tmp_path / "keys" / "other.key")
    assert verify(events, check=signature_checker(other.public_b64())) == 0  # another device's key
    store.close()
