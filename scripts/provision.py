"""``kiosk-provision``: the field technician's command: init, register, show-config, selftest,
install-service and uninstall-service, export-diagnostics, the queue (list, retry, export), the staff
roster (enroll-staff, list-staff, remove-staff), calibrate-face, reconcile payments and rotate-keys. Step by step: docs/technician.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from kiosk.config import as_dict, describe, load_config
from kiosk.errors import KioskError
from kiosk.ports import FACE_ENCODERS
from scripts.credential_keys import technician_keys


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Provision and check a hospital kiosk or clinician workstation."""


@cli.command("show-config")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KIOSK_CONFIG", help="TOML config file (default: $KIOSK_CONFIG, else the built-in defaults).")
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
@click.option("--reference", is_flag=True, help="Print every setting with its default and description instead.")
def show_config(config_path: Path | None, as_json: bool, reference: bool) -> None:
    """Show the effective configuration (file + KIOSK_* environment), validated."""
    if reference:
        for key, default, doc in describe():
            click.echo(f"{key} = {default}\n    {doc}")
        return
    try:
        cfg = load_config(config_path, os.environ)
    except KioskError as exc:
        click.echo(f"invalid configuration: {exc}", err=True)
        sys.exit(exc.exit_status)
    data = as_dict(cfg)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                click.echo(f"{section}.{key} = {value!r}")
        else:
            click.echo(f"{section} = {values!r}")


class NoQueueYet(Exception):
    """A new install: the kiosk has not committed anything yet (not an error: the queue is empty)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the queue is empty (no outbox yet at {path}: nothing has been queued on this kiosk)")


def _outbox(config_path: Path | None) -> tuple[object, object]:
    from offline_queue.crypto import cipher_for
    from offline_queue.outbox import SqliteOutbox
    from offline_queue.store import open_store
    from scripts.composition import outbox_key_file, outbox_path

    cfg = technician_keys(load_config(config_path, os.environ))
    path = outbox_path(cfg)
    if not path.exists():
        raise NoQueueYet(path)
    store = open_store(path)

    def refuse(_plan: object, _save: object) -> object:
        raise RuntimeError("the technician's view never delivers")

    return SqliteOutbox(store, cipher_for(outbox_key_file(cfg)), refuse), store


CONFIG_OPTION = click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                             envvar="KIOSK_CONFIG", help="TOML config file (default: $KIOSK_CONFIG).")


@cli.group()
def queue() -> None:
    """Look at the offline settlement queue: list items and errors, retry one, export the list."""


@queue.command("list")
@CONFIG_OPTION
@click.option("--limit", default=50, show_default=True, help="How many of the newest items to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the items as JSON.")
def queue_list(config_path: Path | None, limit: int, as_json: bool) -> None:
    """Show counts by state and the newest items with their last error (no personal data)."""
    try:
        outbox, store = _outbox(config_path)
    except NoQueueYet as empty:
        click.echo(json.dumps({"counts": {}, "items": []}) if as_json else str(empty))
        return
    try:
        rows, counts = outbox.items(limit), outbox.counts()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"counts": counts, "items": rows}, ensure_ascii=False))
        return
    click.echo("  ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "the queue is empty")
    for row in rows:
        click.echo(f"{row['reference']}  {row['state']:<9}  attempts {row['attempts']}  {row['error'] or ''}")


@queue.command("retry")
@CONFIG_OPTION
@click.argument("reference")
def queue_retry(config_path: Path | None, reference: str) -> None:
    """Make a pending or ambiguous item REFERENCE due now (the running kiosk sends it on its next round)."""
    try:
        outbox, store = _outbox(config_path)
    except NoQueueYet as empty:
        click.echo(f"no outbox item {reference}: {empty}", err=True)
        sys.exit(15)
    try:
        state = outbox.retry_now(reference)
    except KioskError as exc:
        click.echo(str(exc), err=True)
        sys.exit(exc.exit_status)
    finally:
        store.close()
    click.echo(f"{reference} ({state}) will be sent on the kiosk's next round")


@queue.command("resolve")
@CONFIG_OPTION
@click.argument("reference")
@click.option("--settled", "setl_id", default="", help="The settlement exists under this setl_id (read back with 5203).")
@click.option("--not-settled", is_flag=True, help="The insured region confirms no settlement exists: send it again.")
def queue_resolve(config_path: Path | None, reference: str, setl_id: str, not_settled: bool) -> None:
    """Record what staff found for item REFERENCE waiting on them (needs_staff: a cross-province
    settlement sent without an answer whose reversal the gateway refused): it exists as --settled SETL_ID,
    or --not-settled. The running kiosk then finishes the visit on its next round."""
    from scripts.composition import outbox_path, technician_staff_finding

    if bool(setl_id) == not_settled:
        click.echo("say exactly one: --settled SETL_ID or --not-settled", err=True)
        sys.exit(2)
    try:
        cfg = technician_keys(load_config(config_path, os.environ))
        if not outbox_path(cfg).exists():
            click.echo(f"no outbox item {reference}: {NoQueueYet(outbox_path(cfg))}", err=True)
            sys.exit(15)
        line = technician_staff_finding(cfg, reference, setl_id or None)
    except KioskError as exc:
        click.echo(f"{reference}: nothing recorded: {exc}", err=True)
        sys.exit(exc.exit_status)
    click.echo(f"{reference}: {line}; the kiosk finishes it on its next round")


@queue.command("export")
@CONFIG_OPTION
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", default=100000, show_default=True, help="How many of the newest items to export.")
def queue_export(config_path: Path | None, target: Path, limit: int) -> None:
    """Write the queue's items (no payloads, no personal data) to TARGET as CSV."""
    import csv

    import datetime as dt

    try:
        outbox, store = _outbox(config_path)
    except NoQueueYet:
        rows = []
    else:
        try:
            rows = outbox.items(limit)
        finally:
            store.close()
    for row in rows:  # ISO 8601 with the kiosk's time zone, as staff read it
        for key in ("created_at", "updated_at"):
            if row[key] is not None:
                row[key] = dt.datetime.fromtimestamp(row[key]).astimezone().isoformat(timespec="seconds")
    try:
        with open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["reference", "visit_id", "kind", "state", "attempts", "error",
                                                        "created_at", "updated_at"])
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        click.echo(f"cannot write {target}: {exc.strerror}", err=True)
        sys.exit(2)
    click.echo(f"{len(rows)} items written to {target}")


EXIT_BY_CHECK = {"card_reader": 11, "camera": 12, "qr_decode": 12, "printer": 13, "gateway": 14, "clock": 14, "tls": 14, "payment": 14,
                 "queue": 15, "cpu": 12, "disk": 15, "location": 17, "speech": 12}


@cli.command()
@CONFIG_OPTION
@click.option("--demo", is_flag=True, help="Check against the demo set-up, started here and stopped after.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on the last line.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report (JSON) to this file (default: <data_dir>/selftest-report.json).")
def selftest(config_path: Path | None, demo: bool, as_json: bool, report: Path | None) -> None:
    """Check every part of the terminal and print the fix for each failure."""
    import contextlib
    import tempfile

    from scripts.selftest import run_checks

    cfg = technician_keys(load_config(config_path, os.environ))
    with contextlib.ExitStack() as stack:
        insert = None
        if demo:
            from drivers.card.pcscd_service import isolate_this_process, start_pcscd
            from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
            from drivers.card.vpcd_card import VpcdCardSession
            from drivers.gateway.sandbox.server import SandboxGateway
            from scripts.demo import demo_config

            isolate_this_process()  # the test card in a pcscd of its own, never the machine's reader
            data = Path(tempfile.mkdtemp(prefix="kiosk-selftest-"))
            sandbox = SandboxGateway(data / "ledger.sqlite")
            sandbox.start()
            stack.callback(sandbox.stop)
            cfg = demo_config(cfg, data, sandbox.service_url, sandbox.payment_key)
            try:
                pcscd = start_pcscd()
                stack.callback(pcscd.stop)
                card = VirtualSocialSecurityCard(load_holders()["demo"])

                def insert() -> VpcdCardSession:
                    session = VpcdCardSession(card, port=pcscd.port)
                    session.insert()
                    return session
            except KioskError as exc:
                click.echo(f"pcscd not available for the demo: {exc}", err=True)
        checks = run_checks(cfg, insert_test_card=insert)
    ok = all(c.ok for c in checks)
    result = {"ok": ok, "checks": [c.as_dict() for c in checks], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    target = report or cfg.data_path() / "selftest-report.json"
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    for check in checks:
        line = f"{check.mark}  {check.name:<12} {check.detail}" + (
            f"\n      fix: {check.fix}" if check.mark != "PASS" and check.fix else "")
        click.echo(line, err=as_json)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    if not ok:
        first = next(c for c in checks if not c.ok)
        sys.exit(EXIT_BY_CHECK.get(first.name, 1))


@cli.command("calibrate-face")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Labelled photographs: <set>/<identity>/<image> (layout of ../shared/data/faces); one set "
                   "per camera or population.")
@click.option("--far", "target_far", type=click.FloatRange(1e-6, 0.5), default=0.001, show_default=True,
              help="Largest false-accept rate allowed per attempt in every set.")
@click.option("--sets", default="", help="Comma-separated sets to use (default: identities_hard.csv, else all).")
@click.option("--exclude", default="", help="People to leave out entirely, as set/identity separated by commas, "
                                             "or @FILE with one per line (e.g. people kept for validation).")
@click.option("--k", "cohort_k", type=click.IntRange(5, 1000), default=35, show_default=True,
              help="Nearest cohort templates used to normalise a score.")
@click.option("--folds", type=click.IntRange(2, 10), default=3, show_default=True,
              help="Identity folds for the out-of-sample figures.")
@click.option("--cohort-out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the cohort (templates and identity labels only, no images).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the operating point into this TOML config file's [face] section.")
@click.option("--encoder", type=click.Choice(list(FACE_ENCODERS)), default="arcface", show_default=True,
              help="Face encoder to calibrate (config face.encoder).")
@click.option("--dry-run", is_flag=True, help="Compute and print the operating point; write nothing.")
def calibrate_face(data_dir: Path, target_far: float, sets: str, exclude: str, cohort_k: int, folds: int,
                   cohort_out: Path, config_path: Path | None, encoder: str, dry_run: bool) -> None:
    """Compute the face operating point for a target false-accept rate from labelled photographs.

    First cross-validates by identity (each fold's people scored with a cohort and threshold fitted on
    the others) and prints those out-of-sample figures with 95 % upper bounds; then fits the cohort and
    the operating point on everybody given. Refuses when the photographs cannot support the target.
    """
    from drivers.face.dlib_engine import DlibFaceEngine
    from scripts.face_calibration import (
        TrialPlan,
        cross_validate,
        encode_images,
        fit,
        gated_templates,
        hard_sets,
        identity_of,
        images_of_sets,
        people_by_set,
        too_few,
    )

    chosen = [s for s in sets.split(",") if s] or hard_sets(data_dir)
    missing = [s for s in chosen if not (data_dir / s).is_dir()]
    if missing:
        raise click.BadParameter(f"no such set folder: {', '.join(missing)}", param_hint="--sets")
    left_out = _people_list(exclude)
    images = [rel for rel in images_of_sets(data_dir, chosen) if identity_of(rel) not in left_out]
    click.echo(f"encoding {len(images)} photographs (about 0.3 s each; nothing is written)", err=True)
    photos = encode_images(gated_templates(DlibFaceEngine(encoder=encoder)), data_dir, images,
                           progress=lambda done: click.echo(f"  {done}/{len(images)}", err=True) if done % 50 == 0 else None)
    people = {p for group in people_by_set(photos).values() for p in group}
    if len(people) < 3:
        click.echo("calibration needs photographs of at least three people", err=True)
        sys.exit(16)
    refusal = too_few(photos, target_far)
    if refusal:
        click.echo(refusal, err=True)
        sys.exit(16)
    plan = TrialPlan()
    tallies, _ = cross_validate(photos, plan, target_far=target_far, cohort_k=cohort_k, folds=folds)
    click.echo(f"out-of-sample ({folds} identity folds; the people scored never in the cohort or threshold):")
    for name, tally in sorted(tallies.items()):
        f = tally.figures()
        click.echo(f"{name}: far {f['far']:.4f} (<= {f['far_upper95']:.4f} at 95 %, {f['impostor_attempts']} "
                   f"impostor attempts), frr {f['frr']:.3f} per attempt, frr_visit {f['frr_visit']:.3f} "
                   f"(<= {f['frr_visit_upper95']:.3f}, {f['genuine_visits']} visits), {f['people']} people")
        for warning in calibration_warnings(name, f, target_far):
            click.echo(f"WARNING: {warning}", err=True)
    try:
        cohort, point = fit(photos, people, plan, target_far=target_far, cohort_k=cohort_k)
    except ValueError as exc:
        click.echo(f"cannot calibrate: {exc}", err=True)
        sys.exit(16)
    small_threshold, small_grey = point.band(0)
    values = {"encoder": encoder, "score_threshold": point.threshold, "grey_floor": point.grey_floor,
              "small_face_threshold": small_threshold, "small_face_grey_floor": small_grey, "cohort_k": cohort_k,
              "cohort_file": str(cohort_out.resolve())}
    if not dry_run:
        cohort.save(cohort_out)
        click.echo(f"wrote the cohort ({len(cohort.labels)} templates of {len(cohort.identities)} people) to {cohort_out}")
        if config_path is not None:
            from scripts.provision_machine import set_section_values

            set_section_values(config_path, "face", values)
            load_config(config_path, {})  # the file still validates
            click.echo(f"wrote the [face] operating point into {config_path}")
    click.echo("[face]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items()))


WARN_FRR_VISIT = 0.05  # calibrate-face warns when more genuine visits than this would fail


def calibration_warnings(name: str, figures: dict, target_far: float) -> list[str]:
    """What a technician must hear about one set's out-of-sample figures before writing the point."""
    warnings = []
    if figures["frr_visit"] > WARN_FRR_VISIT:
        warnings.append(f"{name}: {figures['frr_visit']:.0%} of genuine visits would be sent to the counter; "
                        f"check the photographs (two sessions, frontal, lit) before writing this point")
    if figures["far"] > target_far:
        warnings.append(f"{name}: people outside the fit were let in at {figures['far']:.4f} per attempt, above "
                        f"the target {target_far:g}: more people are needed for this target")
    return warnings


def _people_list(spec: str) -> set[str]:
    if spec.startswith("@"):
        path = Path(spec[1:])
        if not path.is_file():
            raise click.BadParameter(f"no such file: {path}", param_hint="--exclude")
        lines = path.read_text(encoding="utf-8").splitlines()
        return {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    return {p.strip() for p in spec.split(",") if p.strip()}


def _roster(config_path: Path | None) -> object:

    cfg = technician_keys(load_config(config_path, os.environ))
    from scripts.composition import open_roster

    return open_roster(cfg)


@cli.command("enroll-staff")
@CONFIG_OPTION
@click.option("--staff-no", required=True, help="Staff number (letters, digits, - or _).")
@click.option("--name", required=True, help="Full name as shown on the login screen.")
@click.option("--department", default="", help="Department.")
@click.option("--doctor-code", default="", help="National practising-doctor code.")
@click.option("--photo", "photos", multiple=True, required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A photograph of the clinician alone, facing the camera (repeat for several).")
@click.option("--replace", is_flag=True, help="Replace an existing enrolment with this staff number.")
@click.option("--dry-run", is_flag=True, help="Check the photos and print the result; change nothing.")
def enroll_staff(config_path: Path | None, staff_no: str, name: str, department: str, doctor_code: str,
                 photos: tuple[Path, ...], replace: bool, dry_run: bool) -> None:
    """Enrol a clinician for face-plus-position login from photographs (only the template is kept)."""
    from kiosk.domain import StaffMember
    from kiosk.errors import RosterError
    from drivers.face.dlib_engine import DlibFaceEngine
    from scripts.staff_enrolment import check_photo, combine, duplicate_of

    engine = DlibFaceEngine(encoder=load_config(config_path, os.environ).face.encoder)
    checks = [check_photo(engine, p) for p in photos]
    for c in checks:
        click.echo(f"{'OK  ' if c.ok else 'FAIL'} {c.path.name}" + ("" if c.ok else f": {c.reason}"))
    template, why = combine(checks)
    if template is None:
        click.echo(f"not enrolled: {why}", err=True)
        sys.exit(12)
    roster = _roster(config_path)
    action, message = duplicate_of(roster.nearest(template), staff_no, len(template))  # type: ignore[attr-defined]
    if action == "refuse":
        template.fill(0.0)
        click.echo(f"not enrolled: {message}", err=True)
        sys.exit(18)
    if action == "warn":
        click.echo(f"WARNING: {message}", err=True)
    if dry_run:
        template.fill(0.0)
        click.echo(f"dry run: {staff_no} {name} would be enrolled from {sum(c.ok for c in checks)} photo(s)")
        return
    try:
        roster.add(StaffMember(staff_no, name, department, doctor_code, template),  # type: ignore[attr-defined]
                   replace=replace)
    except RosterError as exc:
        click.echo(f"not enrolled: {exc}", err=True)
        sys.exit(exc.exit_status)
    finally:
        template.fill(0.0)
    click.echo(f"enrolled {staff_no} {name}")


@cli.command("list-staff")
@CONFIG_OPTION
@click.option("--search", default="", help="Only names or staff numbers containing this.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_staff(config_path: Path | None, search: str, as_json: bool) -> None:
    """List enrolled clinicians (never their templates)."""
    from kiosk.errors import RosterError
    from kiosk.text_width import display_width, pad

    roster = _roster(config_path)
    try:
        members = [m.public() for m in roster.search(search)]  # type: ignore[attr-defined]
        total = roster.count()  # type: ignore[attr-defined]
    except RosterError as exc:
        click.echo(str(exc), err=True)
        sys.exit(exc.exit_status)
    if as_json:
        click.echo(json.dumps(members, ensure_ascii=False))
        return
    columns = (("staff_no", "STAFF NO"), ("name", "NAME"), ("department", "DEPARTMENT"), ("doctor_code", "DOCTOR CODE"))
    widths = {key: max([display_width(title)] + [display_width(m[key]) for m in members]) for key, title in columns}
    click.echo("  ".join(pad(title, widths[key]) for key, title in columns).rstrip())
    for m in members:
        click.echo("  ".join(pad(m[key], widths[key]) for key, _ in columns).rstrip())
    click.echo(f"{len(members)} of {total} enrolled match {search!r}" if search else f"{total} enrolled")


@cli.command("remove-staff")
@CONFIG_OPTION
@click.option("--staff-no", required=True, help="Staff number to remove.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
def remove_staff(config_path: Path | None, staff_no: str, dry_run: bool) -> None:
    """Remove a clinician's enrolment (their template is deleted with it)."""
    roster = _roster(config_path)
    if dry_run:
        present = roster.has(staff_no)  # type: ignore[attr-defined]
        click.echo(f"dry run: {staff_no} {'would be removed' if present else 'is not enrolled'}")
        return
    if not roster.remove(staff_no):  # type: ignore[attr-defined]
        click.echo(f"{staff_no} is not enrolled", err=True)
        sys.exit(18)
    click.echo(f"removed {staff_no}")


from scripts.provision_machine import register_commands  # noqa: E402 - commands defined beside this group
from scripts.provision_keys import register_commands as register_keys  # noqa: E402
from scripts.provision_reconcile import register_commands as register_reconcile  # noqa: E402

register_commands(cli, CONFIG_OPTION)
register_reconcile(cli, CONFIG_OPTION, _outbox)
register_keys(cli, CONFIG_OPTION)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
