"""`qmm audit`: read the audit trail and verify that nothing was changed behind its back."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import typer

from qmm.audit.schemas import AuditEntryOut
from qmm.audit.service import audit_log
from qmm.audit.verify import (
    VerificationReport,
    rotate_checkpoint_key,
    seal_verified_head,
)
from qmm.audit.verify import verify as verify_trail
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    err_console,
    fail,
    parse_day,
    print_json,
    print_table,
)
from qmm.events.integrity import StoreReport, verify_store
from qmm.events.store import EventStore
from qmm.migrate import database_problem
from qmm.models import AuditCheckpoint

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _day_start(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    return datetime.combine(parse_day(text, option=option), time(), tzinfo=UTC)


@app.command("log")
def log(
    table: str | None = typer.Option(None, "--table", help="Record type, e.g. sites, ratings."),
    record: str | None = typer.Option(None, "--record", help="Record id within --table."),
    user: str | None = typer.Option(None, "--user", help="Who acted (username or label)."),
    since: str | None = typer.Option(None, "--since", help="From this day, YYYY-MM-DD (UTC)."),
    until: str | None = typer.Option(None, "--until", help="Up to and including this day."),
    limit: int | None = typer.Option(None, "--limit", help="Only the newest N entries."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Show audit entries: who changed what, when, from what to what, and why."""
    end = _day_start(until, "--until")
    with boundary() as session:
        entries = [
            AuditEntryOut.of(e)
            for e in audit_log(
                session,
                table_name=table,
                record_id=record,
                actor=user,
                since=_day_start(since, "--since"),
                until=end + timedelta(days=1) if end else None,
                limit=limit,
            )
        ]
    if fmt is OutputFormat.json:
        print_json(entries)
        return
    print_table(
        "Audit trail",
        ["#", "when (UTC)", "who", "action", "record", "change", "reason"],
        [
            [
                e.id,
                e.recorded_at[:19].replace("T", " "),
                e.actor,
                e.action,
                f"{e.table} #{e.record_id}",
                _describe(e),
                e.reason or "",
            ]
            for e in entries
        ],
    )


def _describe(entry: AuditEntryOut) -> str:
    old = entry.old_values or {}
    new = entry.new_values or {}
    if entry.action == "update":
        return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in new)
    values = new or old
    shown = ", ".join(f"{k}={v!r}" for k, v in list(values.items())[:4])
    return shown + (" ..." if len(values) > 4 else "")


@app.command("verify")
def verify(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    no_checkpoint: bool = typer.Option(
        False,
        "--no-checkpoint",
        help="Only check: write no checkpoint (by default an intact trail is sealed by one).",
    ),
    after_restore: bool = typer.Option(
        False,
        "--after-restore",
        help="The database was restored from a backup: sink checkpoints of the history it "
        "replaced are not held against it; the new checkpoint records that.",
    ),
) -> None:
    """Check the chain, every record and every checkpoint; non-zero exit on damage."""
    _require_database()
    with boundary() as session:
        report = verify_trail(session, after_restore=after_restore)
        store = verify_store(session, EventStore.from_settings())
    sealed: dict[str, object] | None = None
    if report.ok and not no_checkpoint:
        reason = "verify after a restore" if after_restore else "verify"
        with boundary(writer=True) as session:
            sealed = _sealed_summary(
                seal_verified_head(session, report, reason=reason, after_restore=after_restore)
            )
    if fmt is OutputFormat.json:
        trail = report.to_json()
        print_json(
            {
                **trail,
                "ok": report.ok and store.ok,
                "trail_ok": report.ok,
                "checkpoint_written": sealed,
                "event_store": store.to_json(),
            }
        )
    elif report.ok:
        console.print(
            f"Audit trail intact: {report.entries} entries, {report.records} records match "
            f"their last entry; head {report.head_hash}.",
            highlight=False,
        )
        _print_checkpoints(report)
        if sealed:
            console.print(
                f"Checkpoint #{sealed['id']} written: seals entry #{sealed['entry_id']} and "
                f"{sealed['signatures']} signature(s) with key {sealed['key_id']}.",
                highlight=False,
            )
    else:
        err_console.print(
            f"[bold red]Audit trail damaged:[/] {len(report.problems)} problem(s) in "
            f"{report.entries} entries and {report.records} records:",
            highlight=False,
        )
        for problem in report.problems:
            shown = problem[2:] if problem.startswith("- ") else problem
            indent = "    " if problem.startswith("- ") else ""
            err_console.print(f"{indent}- {shown}", highlight=False, markup=False)
        _print_checkpoints(report)
    if fmt is not OutputFormat.json:
        _print_store(store)
    if not (report.ok and store.ok):
        raise typer.Exit(1)


def _print_store(store: StoreReport) -> None:
    if store.ok:
        console.print(
            f"Event store intact: {store.files} data file(s) of {store.batches} import "
            "batch(es) match their recorded SHA-256.",
            highlight=False,
        )
    else:
        err_console.print(
            f"[bold red]Event store damaged:[/] {len(store.problems)} problem(s) in "
            f"{store.directory}:",
            highlight=False,
        )
        for problem in store.problems:
            err_console.print(f"- {problem}", highlight=False, markup=False)
    for note in store.notes:
        console.print(f"Note: {note}", highlight=False, markup=False)


def _require_database() -> None:
    """Stop, saying why, when there is no initialised database to check (never create one)."""
    problem = database_problem()
    if problem is not None:
        fail(problem)


def _sealed_summary(checkpoint: AuditCheckpoint) -> dict[str, object]:
    return {
        "id": checkpoint.id,
        "created_at": checkpoint.created_at.isoformat(),
        "entry_id": checkpoint.entry_id,
        "entry_hash": checkpoint.entry_hash,
        "signatures": checkpoint.signatures_count,
        "key_id": checkpoint.key_id,
    }


def _print_checkpoints(report: VerificationReport) -> None:
    newest = report.newest_checkpoint
    if newest:
        number = f"#{newest['id']} " if newest["id"] else ""
        console.print(
            f"Checked against {report.checkpoints} checkpoint(s); the newest, "
            f"{number}({newest['reason']}, {str(newest['created_at'])[:16].replace('T', ' ')} "
            "UTC), "
            f"sealed entry #{newest['entry_id']}.",
            highlight=False,
        )
    for note in report.notes:
        console.print(f"Note: {note}", highlight=False, markup=False)


@app.command("rotate-key")
def rotate_key(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Retire the checkpoint key for a new one, once the trail verifies with the old one."""
    _require_database()
    with boundary() as session:
        report = verify_trail(session)
    if not report.ok:
        err_console.print(
            "[bold red]Error:[/] the audit trail does not verify, so the key is not rotated; "
            "see `qmm audit verify`.",
            highlight=False,
        )
        raise typer.Exit(1)
    with boundary(writer=True) as session:
        written, retired = rotate_checkpoint_key(session, report)
        sealed = _sealed_summary(written)
    if fmt is OutputFormat.json:
        print_json({"retired_key_file": str(retired), "checkpoint_written": sealed})
        return
    console.print(
        f"The old key is kept as {retired}: keep it, it checks the checkpoints it sealed.",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"Checkpoint #{sealed['id']} written with the new key {sealed['key_id']}: seals entry "
        f"#{sealed['entry_id']} and {sealed['signatures']} signature(s).",
        highlight=False,
    )
