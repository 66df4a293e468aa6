"""`qmm worklist`: what needs attention, overdue first, at the sites the acting user reads."""

from __future__ import annotations

import typer

from qmm.cli.common import (
    OutputFormat,
    acting_reader,
    boundary,
    console,
    parse_day,
    print_json,
    print_table,
)
from qmm.metrics.service import event_store
from qmm.models import utcnow
from qmm.sites.service import get_site, list_sites
from qmm.worklist.schemas import WorklistOut
from qmm.worklist.service import worklist as build_worklist


def worklist(
    site: str | None = typer.Option(None, "--site", help="Only this site, e.g. SITE-A."),
    as_of: str | None = typer.Option(None, "--as-of", help="The day to judge from, YYYY-MM-DD."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Needs attention: reviews, actions, drafts, meetings, drills, FDA steps, threads, KPIs."""
    today = parse_day(as_of, option="--as-of") if as_of else utcnow().date()
    with boundary() as session:
        sites = [get_site(session, code=site)] if site else list(list_sites(session))
        actor = session.info.get("audit_actor")
        found = WorklistOut.of(
            build_worklist(
                session,
                reader=acting_reader(session),
                sites=sites,
                store=event_store(),
                today=today,
                username=actor.label if actor is not None and actor.user_id else None,
            )
        )
    if fmt is OutputFormat.json:
        print_json(found)
        return
    if not found.items:
        console.print(f"Nothing needs attention on {found.as_of} at {', '.join(found.sites)}.")
        return
    print_table(
        f"Needs attention on {found.as_of}: {found.overdue} overdue, {found.due} due soon, "
        f"{found.waiting} awaiting a signature, {found.attention} broken threads or KPI signals",
        ["state", "site", "what", "owner", "due", "age (days)", "link"],
        [
            [i.state, i.site, f"{i.kind_name}: {i.title}", i.owner, i.due_on, i.age_days, i.path]
            for i in found.items
        ],
    )
