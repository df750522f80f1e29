"""``kiosk-provision`` through click's CLI runner (and once as the installed console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiosk.config import describe

from scripts.provision import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def test_every_command_has_help() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    commands = _commands(cli)
    assert {" ".join(path) for path, _ in commands} >= {"show-config", "queue", "queue list", "queue retry",
                                                       "queue export"}
    for path, command in commands:
        assert command.help, f"{path} lacks help text"
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
        for param in command.params:
            assert isinstance(param, click.Argument) or param.help, f"{path} {param.name} lacks help"


def test_show_config_reads_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[terminal]\nterminal_no = "ZZJ-0042"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["show-config", "--config", str(path), "--json"],
                                env={"KIOSK_UI_LANGUAGE": "en"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["terminal"]["terminal_no"] == "ZZJ-0042" and data["ui"]["language"] == "en"
    plain = CliRunner().invoke(cli, ["show-config", "--config", str(path)])
    assert "terminal.terminal_no = 'ZZJ-0042'" in plain.output


def test_show_config_refuses_a_bad_file_with_the_config_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[ui]\nlanguage = "klingon"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["show-config", "--config", str(path)])
    assert result.exit_code == 16 and "ui.language: must be one of" in result.output
    missing = CliRunner().invoke(cli, ["show-config", "--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 16 and "does not exist" in missing.output


def test_reference_lists_every_setting() -> None:
    result = CliRunner().invoke(cli, ["show-config", "--reference"])
    assert result.exit_code == 0
    for key, _, doc in describe():
        assert f"{key} = " in result.output and doc in result.output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("kiosk-provision")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "show-config" in result.stdout


def test_queue_commands(tmp_path: Path) -> None:
    from offline_queue.crypto import PayloadCipher, load_or_create_key
    from offline_queue.outbox import SqliteOutbox
    from offline_queue.store import open_store
    from kiosk.errors import GatewayNoAnswer

    def lose(_plan, _save):
        raise GatewayNoAnswer("no answer")

    store = open_store(tmp_path / "outbox.sqlite")
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "outbox.key")), lose)
    ref = outbox.enqueue(visit_id="v1", kind="settlement_plan", payload={"certno": "110101195603071239"})
    outbox.deliver(ref)
    store.close()
    env = {"KIOSK_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    listed = runner.invoke(cli, ["queue", "list"], env=env)
    assert listed.exit_code == 0 and "ambiguous: 1" in listed.output and ref in listed.output
    # the key an older build kept beside the queue was moved to the key folder, and still opens it
    assert not (tmp_path / "outbox.key").exists()
    assert (tmp_path.with_name(tmp_path.name + "-keys") / "outbox.key").exists()
    assert "110101195603071239" not in listed.output
    data = json.loads(runner.invoke(cli, ["queue", "list", "--json"], env=env).output)
    assert data["counts"] == {"ambiguous": 1} and data["items"][0]["error"].endswith("no answer")
    retried = runner.invoke(cli, ["queue", "retry", ref], env=env)
    assert retried.exit_code == 0 and "next round" in retried.output
    unknown = runner.invoke(cli, ["queue", "retry", "Q20990101999999"], env=env)
    assert unknown.exit_code == 15 and "no outbox item" in unknown.output
    exported = runner.invoke(cli, ["queue", "export", str(tmp_path / "q.csv")], env=env)
    assert exported.exit_code == 0
    text = (tmp_path / "q.csv").read_text(encoding="utf-8")
    assert ref in text and "110101195603071239" not in text
    assert "+" in text.splitlines()[1].split(",")[-1] or "Z" in text  # ISO 8601 with the time zone
    fresh = {"KIOSK_DATA_DIR": str(tmp_path / "none")}  # a new install: nothing queued yet
    missing = runner.invoke(cli, ["queue", "list"], env=fresh)
    assert missing.exit_code == 0 and "the queue is empty" in missing.output
    assert runner.invoke(cli, ["queue", "retry", ref], env=fresh).exit_code == 15
    assert runner.invoke(cli, ["queue", "export", str(tmp_path / "empty.csv")], env=fresh).exit_code == 0
    assert (tmp_path / "empty.csv").read_text().startswith("reference,")


def test_every_command_is_in_the_technicians_guide() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "technician.md").read_text(encoding="utf-8")
    missing = [" ".join(path) for path, command in _commands(cli)
               if not isinstance(command, click.Group) and f"kiosk-provision {' '.join(path)}" not in guide]
    assert missing == []


def test_calibrate_face_refuses_bad_input_and_dry_run_writes_nothing(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cohort.npz"
    missing = runner.invoke(cli, ["calibrate-face", "--data", str(tmp_path / "nope"), "--cohort-out", str(out)])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    bad_far = runner.invoke(cli, ["calibrate-face", "--data", str(tmp_path), "--far", "2", "--cohort-out", str(out)])
    assert bad_far.exit_code == 2 and "--far" in bad_far.output
    unknown_set = runner.invoke(cli, ["calibrate-face", "--data", str(shared_data / "faces"), "--sets", "nobody",
                                      "--cohort-out", str(out)])
    assert unknown_set.exit_code == 2 and "no such set folder: nobody" in unknown_set.output
    # two people are not enough to calibrate on
    faces = shared_data / "faces"
    few = tmp_path / "few"
    for person in ("biden", "lin_manuel_miranda"):
        (few / "set" / person).mkdir(parents=True)
        for photo in (faces / "face_recognition" / person).iterdir():
            (few / "set" / person / photo.name).symlink_to(photo)
    too_few = runner.invoke(cli, ["calibrate-face", "--data", str(few), "--cohort-out", str(out)])
    assert too_few.exit_code == 16 and "at least three people" in too_few.output
    # three people of the easy set: enough to fit something, too few to vouch for far 0.001
    short = runner.invoke(cli, ["calibrate-face", "--data", str(faces), "--sets", "dlib_johns", "--cohort-out", str(out)])
    assert short.exit_code == 16 and "too few people to calibrate for far 0.001" in short.output
    assert "at least 6 people" in short.output and "dlib_johns: 3 people" in short.output and not out.exists()
    dry = runner.invoke(cli, ["calibrate-face", "--data", str(faces), "--sets", "pointing04", "--dry-run",
                              "--cohort-out", str(out)])
    assert dry.exit_code == 0, dry.output
    assert "out-of-sample (3 identity folds" in dry.output and "pointing04: far " in dry.output
    assert "encoding 90 photographs" in dry.output and "  50/90" in dry.output  # progress while it works
    assert "score_threshold = " in dry.output and not out.exists()
    config = tmp_path / "kiosk.toml"
    config.write_text('# site config\nmode = "demo"\n\n[face]\nscore_threshold = 1.0\nmax_attempts = 2\n\n[ui]\nlanguage = "en"\n')
    real = runner.invoke(cli, ["calibrate-face", "--data", str(faces), "--sets", "pointing04", "--cohort-out", str(out),
                               "--exclude", "pointing04/Person13", "--config", str(config)])
    assert real.exit_code == 0 and out.exists(), real.output
    from kiosk.config import load_config

    written = load_config(config, {})
    assert written.face.score_threshold != 1.0 and written.face.cohort_file == str(out.resolve())
    assert written.face.max_attempts == 2 and written.ui.language == "en" and "# site config" in config.read_text()
    import numpy as np

    with np.load(out, allow_pickle=False) as data:  # templates and labels only
        assert set(data.files) == {"embeddings", "labels"} and data["embeddings"].shape[1] == 512
        assert "pointing04/Person13" not in set(data["labels"])  # --exclude keeps a person out entirely
    assert written.face.encoder == "arcface"
    # a site without the arcface weights' licence: dlib's encoder, calibrated and written together
    from scripts.composition import load_cohort

    dlib_out = tmp_path / "dlib-cohort.npz"
    switched = runner.invoke(cli, ["calibrate-face", "--data", str(faces), "--sets", "pointing04", "--encoder", "dlib",
                                   "--cohort-out", str(dlib_out), "--config", str(config)])
    assert switched.exit_code == 0, switched.output
    site = load_config(config, {})
    assert site.face.encoder == "dlib" and load_cohort(site.face).embeddings.shape[1] == 128


def test_enroll_list_and_remove_staff_on_real_photos(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    env = {"KIOSK_DATA_DIR": str(tmp_path)}
    faces = shared_data / "faces" / "face_recognition"
    good = ["--photo", str(faces / "obama" / "obama.jpg"), "--photo", str(faces / "obama" / "obama-720p.jpg")]
    base = ["enroll-staff", "--staff-no", "D0042", "--name", "张医生", "--department", "心内科",
            "--doctor-code", "D110101000042"]
    dry = runner.invoke(cli, [*base, *good, "--dry-run"], env=env)
    assert dry.exit_code == 0 and "would be enrolled from 2 photo(s)" in dry.output
    assert not (tmp_path / "staff.roster").exists()  # a dry run changes nothing
    done = runner.invoke(cli, [*base, *good], env=env)
    assert done.exit_code == 0 and "enrolled D0042" in done.output, done.output
    roster = (tmp_path / "staff.roster").read_bytes()
    assert not roster.startswith((b"\xff\xd8", b"\x89PNG")) and "张医生".encode() not in roster and b"D0042" not in roster
    listed = runner.invoke(cli, ["list-staff", "--json"], env=env)
    assert json.loads(listed.output) == [{"staff_no": "D0042", "name": "张医生", "department": "心内科",
                                          "doctor_code": "D110101000042"}]
    again = runner.invoke(cli, [*base, *good], env=env)
    assert again.exit_code == 18 and "already enrolled" in again.output

    group = runner.invoke(cli, [*base, "--staff-no", "D0043", "--photo",
                                str(faces / "_multi_face" / "obama_and_biden.jpg")], env=env)
    assert group.exit_code == 12 and "several faces" in group.output
    tiny = runner.invoke(cli, [*base, "--staff-no", "D0044", "--photo", str(faces / "obama" / "obama-240p.jpg")], env=env)
    assert tiny.exit_code == 12 and "too small" in tiny.output
    mixed = runner.invoke(cli, [*base, "--staff-no", "D0045", "--photo", str(faces / "obama" / "obama.jpg"),
                                "--photo", str(faces / "biden" / "biden2.jpg")], env=env)
    assert mixed.exit_code == 12 and "do not show one person" in mixed.output
    not_image = tmp_path / "note.jpg"
    not_image.write_text("not a photo")
    broken = runner.invoke(cli, [*base, "--staff-no", "D0046", "--photo", str(not_image)], env=env)
    assert broken.exit_code == 12 and "not a readable image" in broken.output
    bad_no = runner.invoke(cli, [*base[:2], "D 47", *base[3:], *good], env=env)
    assert bad_no.exit_code == 18 and "staff number" in bad_no.output

    same_photo = runner.invoke(cli, [*base, "--staff-no", "D0048", "--name", "王医生", *good], env=env)
    assert same_photo.exit_code == 18 and "already enrolled as D0042" in same_photo.output
    hopkins = shared_data / "faces" / "lfw" / "Anthony_Hopkins"
    first = runner.invoke(cli, [*base, "--staff-no", "D0049", "--name", "Dr Hopkins", "--department", "Cardiology",
                                "--photo", str(hopkins / "Anthony_Hopkins_0001.jpg")], env=env)
    assert first.exit_code == 0 and "WARNING" not in first.output
    other_photo = runner.invoke(cli, [*base, "--staff-no", "D0050", "--name", "Dr A", "--photo",
                                      str(hopkins / "Anthony_Hopkins_0002.jpg")], env=env)
    assert other_photo.exit_code == 0 and "very close to D0049" in other_photo.output  # warned, enrolled
    assert runner.invoke(cli, ["remove-staff", "--staff-no", "D0050"], env=env).exit_code == 0
    table = runner.invoke(cli, ["list-staff"], env=env).output.splitlines()
    assert table[0].split() == ["STAFF", "NO", "NAME", "DEPARTMENT", "DOCTOR", "CODE"]
    from kiosk.text_width import display_width

    name_column = table[0].index("DEPARTMENT")  # columns line up by display width, Chinese names included
    assert [display_width(line[:line.index(dept)]) for line, dept in zip(table[1:3], ("心内科", "Cardiology"),
                                                                         strict=True)] == [name_column] * 2
    assert table[-1] == "2 enrolled"
    assert runner.invoke(cli, ["list-staff", "--search", "张"], env=env).output.splitlines()[-1] == \
        "1 of 2 enrolled match '张'"
    assert runner.invoke(cli, ["remove-staff", "--staff-no", "d0049"], env=env).exit_code == 0  # case ignored

    keep = runner.invoke(cli, ["remove-staff", "--staff-no", "d0042", "--dry-run"], env=env)
    assert keep.exit_code == 0 and "would be removed" in keep.output
    assert "D0042" in runner.invoke(cli, ["list-staff"], env=env).output
    gone = runner.invoke(cli, ["remove-staff", "--staff-no", "D0042"], env=env)
    assert gone.exit_code == 0 and runner.invoke(cli, ["list-staff", "--json"], env=env).output.strip() == "[]"
    assert runner.invoke(cli, ["remove-staff", "--staff-no", "D0042"], env=env).exit_code == 18


def test_init_writes_a_valid_config_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "etc" / "kiosk.toml"
    data = tmp_path / "data"
    args = ["init", "--config", str(config), "--terminal-no", "ZZJ-0102", "--institution-code", "H11010100001",
            "--institution-name", "示范医院 \"东院\"", "--gateway-url", "https://gw.example/fsi", "--data-dir", str(data)]
    dry = runner.invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0 and 'terminal_no = "ZZJ-0102"' in dry.output
    assert not config.exists() and not data.exists()  # a dry run leaves the machine unchanged
    done = runner.invoke(cli, args)
    assert done.exit_code == 0, done.output
    from kiosk.config import load_config

    cfg = load_config(config, {})
    assert (cfg.mode, cfg.terminal.terminal_no, cfg.terminal.fixmedins_name) == ("production", "ZZJ-0102", '示范医院 "东院"')
    assert cfg.camera.source == "device:0"  # a production kiosk names its camera (a replay is refused)
    assert cfg.payment.provider == "none"  # no payment platform given: own shares are sent to the counter
    keys = tmp_path / "data-keys"
    assert (keys / "outbox.key").exists() and not (data / "outbox.key").exists()
    assert oct(data.stat().st_mode & 0o777) == "0o700" and oct(keys.stat().st_mode & 0o777) == "0o700"
    again = runner.invoke(cli, args)
    assert again.exit_code == 16 and "--force" in again.output
    assert runner.invoke(cli, [*args, "--force"]).exit_code == 0
    key = tmp_path / "secrets" / "merchant.key"
    key.parent.mkdir()
    key.write_text("a-merchant-key-of-the-hospital")
    paid = runner.invoke(cli, [*args, "--force", "--payment-url", "https://pay.example", "--payment-key-file", str(key)])
    assert paid.exit_code == 0, paid.output
    cfg = load_config(config, {})
    assert (cfg.payment.provider, cfg.payment.url, cfg.payment.key_file) == ("platform", "https://pay.example", str(key))
    plain = runner.invoke(cli, [*args, "--force", "--payment-url", "http://pay.example", "--payment-key-file", str(key)])
    assert plain.exit_code == 16 and "payment.url" in plain.output
    bad = runner.invoke(cli, [*args[:6], "H1", *args[7:], "--force"])
    assert bad.exit_code == 16 and "fixmedins_code" in bad.output
    plain = runner.invoke(cli, [*args[:10], "http://gw.example/fsi", *args[11:], "--force"])
    assert plain.exit_code == 16 and "gateway.url: must be https://" in plain.output
    laned = runner.invoke(cli, [*args, "--msgid-lane", "3", "--force"])
    assert laned.exit_code == 0 and load_config(config, {}).terminal.msgid_lane == "3"
    two_digits = runner.invoke(cli, [*args, "--msgid-lane", "31", "--force"])
    assert two_digits.exit_code == 16 and "msgid_lane" in two_digits.output


def test_register_creates_a_key_shows_a_qr_and_signs_in_once_approved(tmp_path: Path, sandbox) -> None:
    import requests

    runner = CliRunner()
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data"), "KIOSK_GATEWAY_URL": sandbox.service_url}
    dry = runner.invoke(cli, ["register", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "would create" in dry.output and not (tmp_path / "data").exists()
    first = runner.invoke(cli, ["register", "--json"], env=env)
    assert first.exit_code == 0, first.output
    pending = json.loads(first.output.strip().splitlines()[-1])
    assert pending["status"] == "pending" and "sign_no" not in pending
    key = tmp_path / "data-keys" / "device.key"  # the key folder beside the data folder, never inside it
    assert oct(key.stat().st_mode & 0o777) == "0o600" and b"PRIVATE KEY" in key.read_bytes()
    assert not (tmp_path / "data" / "device.key").exists()
    from PIL import Image

    with Image.open(pending["qr_png"]) as png:
        assert png.width > 100
    import zxingcpp

    with Image.open(pending["qr_png"]) as png:
        decoded = zxingcpp.read_barcodes(png.convert("L"))
    assert decoded and decoded[0].text.startswith(f"KIOSKREG:{pending['registration_id']}:ZZJ-0001:")
    requests.post(f"{sandbox.url}/admin/approve-terminal", json={"registration_id": pending["registration_id"]},
                  timeout=5).raise_for_status()
    again = runner.invoke(cli, ["register", "--json"], env=env)
    approved = json.loads(again.output.strip().splitlines()[-1])
    assert again.exit_code == 0 and approved["status"] == "approved" and approved["sign_no"]
    assert approved["registration_id"] == pending["registration_id"]  # the same key, the same registration
    down = runner.invoke(cli, ["register"], env={**env, "KIOSK_GATEWAY_URL": "http://127.0.0.1:9/fsi",
                                                "KIOSK_GATEWAY_CONNECT_TIMEOUT_S": "0.5"})
    assert down.exit_code == 14 and "not registered" in down.output
    key.write_bytes(b"garbage")
    broken = runner.invoke(cli, ["register"], env=env)
    assert broken.exit_code == 16 and "device key" in broken.output


def test_install_and_uninstall_service(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "kiosk.toml"
    config.write_text(f'mode = "production"\ndata_dir = "{tmp_path / "data"}"\n[gateway]\nurl = "https://gw.example/fsi"\n'
                      '[payment]\nprovider = "none"\n', encoding="utf-8")
    units = tmp_path / "units"
    import pwd
    import shutil
    import subprocess
    import uuid

    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("creating the service's system user needs root and useradd")
    user = "kt" + uuid.uuid4().hex[:8]  # a throwaway system user, removed at the end
    missing = runner.invoke(cli, ["install-service", "--config", str(config), "--unit-dir", str(units), "--user", user])
    assert missing.exit_code == 16 and f"user {user} does not exist" in missing.output and not units.exists()
    args = ["install-service", "--config", str(config), "--unit-dir", str(units), "--user", user, "--create-user"]
    dry = runner.invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "Restart=always" in dry.output and not units.exists()
    assert f"would create the system user {user}" in dry.output and f"would own {tmp_path / 'data'}" in dry.output
    (tmp_path / "data").mkdir(mode=0o700)  # as init run as root leaves it
    (tmp_path / "data" / "outbox.sqlite").write_bytes(b"")
    try:
        done = runner.invoke(cli, args)
        assert done.exit_code == 0, done.output
        entry = pwd.getpwnam(user)
        for path in (tmp_path / "data", tmp_path / "data" / "outbox.sqlite", tmp_path / "data-keys"):
            assert path.stat().st_uid == entry.pw_uid, path  # the service can read its own queue and keys
        assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
        assert config.stat().st_gid == entry.pw_gid and config.stat().st_mode & 0o777 == 0o640
    finally:
        subprocess.run(["userdel", user], check=False, capture_output=True)
    unit = (units / "hospital-kiosk.service").read_text()
    assert f"KIOSK_CONFIG={config}" in unit and "ExecStart=" in unit and f"User={user}" in unit
    no_config = runner.invoke(cli, ["install-service", "--unit-dir", str(units)], env={"KIOSK_CONFIG": ""})
    assert no_config.exit_code == 2
    keep = runner.invoke(cli, ["uninstall-service", "--unit-dir", str(units), "--dry-run"])
    assert keep.exit_code == 0 and (units / "hospital-kiosk.service").exists()
    gone = runner.invoke(cli, ["uninstall-service", "--unit-dir", str(units)])
    assert gone.exit_code == 0 and not (units / "hospital-kiosk.service").exists()
    assert runner.invoke(cli, ["uninstall-service", "--unit-dir", str(units)]).exit_code == 1


def test_export_diagnostics_holds_no_personal_data_or_keys(tmp_path: Path) -> None:
    import zipfile

    from offline_queue.crypto import PayloadCipher, load_or_create_key
    from offline_queue.outbox import SqliteOutbox
    from offline_queue.store import open_store

    store = open_store(tmp_path / "outbox.sqlite")
    key = load_or_create_key(tmp_path / "outbox.key")
    SqliteOutbox(store, PayloadCipher(key), lambda p, s: {}).enqueue(
        visit_id="v1", kind="settlement_plan", payload={"certno": "110101195603071239", "psn_name": "张三"})
    store.close()
    target = tmp_path / "diag.zip"
    result = CliRunner().invoke(cli, ["export-diagnostics", str(target)], env={"KIOSK_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        blob = b"".join(archive.read(n) for n in names)
    assert {"config.json", "versions.json", "queue.json", "README.txt"} <= names
    assert json.loads(zipfile.ZipFile(target).read("queue.json"))["counts"] == {"pending": 1}
    for secret in (key, b"110101195603071239", "张三".encode()):
        assert secret not in blob
    with zipfile.ZipFile(target) as archive:
        versions = json.loads(archive.read("versions.json"))
        readme = archive.read("README.txt").decode()
        signed = json.loads(archive.read("signature.json"))
        contents = {n: archive.read(n) for n in names}
    assert versions["hospital-kiosk"].startswith("0.") and "gmssl" in versions
    assert all(name in readme for name in names)  # the README names what is there, and only that
    assert ("journal.txt" in names) != ("No service log" in readme)
    import hashlib

    from offline_queue.keys import signature_checker

    files = signed["files"]
    assert files == {n: hashlib.sha256(c).hexdigest() for n, c in contents.items() if n != "signature.json"}
    body = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    assert signature_checker(signed["public_key"])(body, signed["signature"])
    forged = json.dumps({**files, "queue.json": "0" * 64}, sort_keys=True, separators=(",", ":")).encode()
    assert not signature_checker(signed["public_key"])(forged, signed["signature"])


def test_export_diagnostics_on_a_new_install_says_the_queue_is_empty(tmp_path: Path) -> None:
    import zipfile

    target = tmp_path / "diag.zip"
    result = CliRunner().invoke(cli, ["export-diagnostics", str(target)], env={"KIOSK_DATA_DIR": str(tmp_path / "d")})
    assert result.exit_code == 0, result.output
    queue = json.loads(zipfile.ZipFile(target).read("queue.json"))
    assert queue["counts"] == {} and "nothing has been queued" in queue["note"]


def test_init_with_devices_and_position_and_their_refusals(tmp_path: Path) -> None:
    runner = CliRunner()
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    base = ["init", "--config", str(tmp_path / "k.toml"), "--terminal-no", "WS-01", "--institution-code",
            "H11010100001", "--institution-name", "示范医院", "--gateway-url", "https://gw.example/fsi", "--role",
            "workstation", "--data-dir", str(tmp_path / "d"), "--force"]
    ok = runner.invoke(cli, [*base, "--ca-bundle", str(ca), "--location-source", "fixed", "--site",
                             "39.9087,116.3975", "--printer", "escpos-network:10.0.0.9:9100", "--qr-scanner",
                             "/dev/ttyACM0", "--terminal-name", "门诊大厅医生站 2 号", "--counter", "二楼 5 号窗口",
                             "--a4-queue", "hall1-a4"])
    assert ok.exit_code == 0, ok.output
    from kiosk.config import load_config

    cfg = load_config(tmp_path / "k.toml", {})
    assert (cfg.terminal.terminal_name, cfg.terminal.manual_window) == ("门诊大厅医生站 2 号", "二楼 5 号窗口")
    assert (cfg.location.site_latitude, cfg.printer.kind, cfg.printer.target, cfg.qr.scanner) == \
        (39.9087, "escpos-network", "10.0.0.9:9100", "/dev/ttyACM0") and cfg.gateway.ca_bundle == str(ca)
    assert cfg.printer.a4_queue == "hall1-a4"
    for extra, message in ((["--site", "31.23,121.47"], "outside_geofence"),
                           (["--site", "116.3975,39.9087"], "look swapped: --site takes LAT,LON"),
                           (["--site", "north"], "LAT,LON"),
                           (["--geofence", "116.39,39.90 116.40,39.90"], "three or more"),
                           (["--printer", "laser:x"], "--printer"),
                           (["--a4-queue", "hall 1"], "--a4-queue"),
                           (["--ca-bundle", str(tmp_path / "missing.pem")], "does not exist")):
        refused = runner.invoke(cli, [*base, *extra])
        assert refused.exit_code == 2 and message in refused.output, (extra, refused.output)


def test_calibration_warns_of_many_refused_visits_and_of_a_missed_target() -> None:
    from scripts.provision import calibration_warnings

    fine = {"frr_visit": 0.02, "far": 0.0}
    assert calibration_warnings("site", fine, 0.001) == []
    refusing = calibration_warnings("site", {"frr_visit": 0.25, "far": 0.0}, 0.001)
    assert len(refusing) == 1 and "25% of genuine visits" in refusing[0]
    leaking = calibration_warnings("site", {"frr_visit": 0.0, "far": 0.004}, 0.001)
    assert len(leaking) == 1 and "above the target 0.001" in leaking[0]


def test_export_diagnostics_into_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export-diagnostics", str(tmp_path / "no" / "such" / "x.zip")],
                                env={"KIOSK_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "no such folder" in result.output  # a usage error, not a traceback
    assert not isinstance(result.exception, FileNotFoundError) and not (tmp_path / "no").exists()


def test_a_kiosk_without_payment_or_printer_is_warned_at_init_and_selftest_says_warn(tmp_path: Path) -> None:
    """Issue 35.2-3: init by the guide (no payment provider, no printer) gave a kiosk that sent patients to
    the counter after every step and told them to take slips that were never printed, and selftest said PASS.
    Now init warns about both, and selftest says WARN (never PASS) for each, with the fix; given a printer and
    a payment platform the warnings are gone."""
    from kiosk.config import load_config
    from scripts.selftest import check_payment, check_printer

    runner = CliRunner()  # its output holds what the command wrote to stderr too
    config = tmp_path / "kiosk.toml"
    args = ["init", "--config", str(config), "--terminal-no", "ZZJ-0102", "--institution-code", "H11010100001",
            "--institution-name", "示范医院", "--gateway-url", "https://gw.example/fsi", "--data-dir", str(tmp_path / "d")]
    done = runner.invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "warning: no payment provider" in done.output and "warning: no receipt printer" in done.output, done.output
    cfg = load_config(config, {})
    payment, printer = check_payment(cfg), check_printer(cfg)
    assert (payment.mark, printer.mark) == ("WARN", "WARN"), (payment, printer)
    assert "counter" in payment.detail and "--payment-url" in payment.fix
    assert "not printed" in printer.detail and "--printer escpos" in printer.fix

    key = tmp_path / "merchant.key"
    key.write_text("a-merchant-key-of-the-hospital")
    full = runner.invoke(cli, [*args, "--force", "--payment-url", "https://pay.example", "--payment-key-file",
                               str(key), "--printer", "escpos-network:127.0.0.1:9"])
    assert full.exit_code == 0, full.output
    assert "warning:" not in full.output, full.output
    printer = check_printer(load_config(config, {}))
    assert printer.mark == "FAIL" and "not answering" in printer.detail, printer  # nothing listens there: said
