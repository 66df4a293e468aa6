"""`qmm audit`: read the audit trail and verify that nothing was changed behind its back."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import typer

from qmm.audit.schemas import AuditEntryOut
from qmm.audit.service import audit_log
from qmm.audit.verify import verify as verify_trail
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    err_console,
    parse_day,
    print_json,
    print_table,
)

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
) -> None:
    """Check the hash chain and every record against its last entry; non-zero exit on damage."""
    with boundary() as session:
        report = verify_trail(session)
    if fmt is OutputFormat.json:
        print_json(report.to_json())
    elif report.ok:
        console.print(
            f"Audit trail intact: {report.entries} entries, {report.records} records match "
            f"their last entry; head {report.head_hash}.",
            highlight=False,
        )
    else:
        err_console.print(
            f"[bold red]Audit trail damaged:[/] {len(report.problems)} problem(s) in "
            f"{report.entries} entries and {report.records} records:",
            highlight=False,
        )
        for problem in report.problems:
            err_console.print(f"- {problem}", highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)
