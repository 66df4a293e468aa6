"""`qmm thread`: a record's thread from event to decision, and a site's broken threads."""

from __future__ import annotations

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table
from qmm.cli.program_common import site_for
from qmm.events.store import EventStore
from qmm.threads.schemas import BrokenOut, ThreadOut
from qmm.threads.service import RECORD_TYPES, broken_threads, build_thread

app = typer.Typer(
    help="Threads from event to decision: a record's linked records, and broken threads.",
    no_args_is_help=True,
)

SITE = typer.Option(..., "--site", help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")


def _took(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.1f} h" if abs(hours) < 48 else f"{hours / 24:.0f} days"


@app.command("show")
def show(
    record_type: str = typer.Argument(..., help=f"One of {', '.join(RECORD_TYPES)}."),
    record_id: str = typer.Argument(..., help="The record's id, e.g. EM-2026-0611 or DEC-0001."),
    site: str = SITE,
    fmt: OutputFormat = FORMAT,
) -> None:
    """A record's thread: upstream and downstream records, each link's time, what is broken."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        thread = build_thread(
            session,
            site=the_site,
            record_type=record_type,
            record_id=record_id,
            store=EventStore.from_settings(),
        )
        data = ThreadOut.of(thread).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    print_table(
        f"Thread of {record_type} {data['record_id']} at {site}"
        + (" (whole)" if data["complete"] else " (broken)"),
        ["from", "record", "status", "owner", "summary", "KPI context"],
        [
            [
                (r["starts"] or "-")[:16].replace("T", " "),
                f"{r['label']} {r['record_id']}",
                r["status"] if r["found"] else "NOT IN THE STORE",
                r["owner"] or "-",
                r["summary"],
                "; ".join(k["text"] for k in r["kpis"]) or "-",
            ]
            for r in data["records"]
        ],
    )
    print_table(
        "Links",
        ["from", "to", "named by", "took"],
        [
            [
                f"{link['from_type']} {link['from_id']}",
                f"{link['to_type']} {link['to_id']}",
                link["via"],
                _took(link["took_hours"]) + ("" if link["found"] else " (missing)"),
            ]
            for link in data["links"]
        ],
    )
    for b in data["broken"]:
        console.print(f"[bold red]broken[/]: {b['label']}: {b['message']}", highlight=False)
    if data["broken"]:
        raise typer.Exit(1)


@app.command("broken")
def broken(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """A site's broken threads, oldest first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        found = broken_threads(session, site=the_site, store=EventStore.from_settings())
        rows = [BrokenOut.of(b).model_dump(mode="json") for b in found]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"Broken threads at {site}, oldest first",
        ["since", "missing", "record", "in words"],
        [
            [r["since"] or "-", r["label"], f"{r['record_type']} {r['record_id']}", r["message"]]
            for r in rows
        ],
    )
    if not rows:
        console.print("No broken threads in the imported records.")
