"""`qmm objective` and `qmm engagement`: quality objectives measured by KPIs, and engagement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import typer
from sqlalchemy.orm import Session

from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, parse_day, print_json, print_table
from qmm.cli.program_common import optional_day, site_for
from qmm.models import QualityObjective, utcnow
from qmm.program.engagement import engagement_summary
from qmm.program.objectives import (
    PERIODS,
    add_objective,
    children_of,
    get_objective,
    list_objectives,
    objective_status,
    retire_objective,
)
from qmm.program.schemas.steering import ObjectiveOut

app = typer.Typer(
    help="Quality objectives: measured by a KPI, cascaded by role to what good looks like.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
OBJECTIVE = typer.Argument(..., help="Objective id (see `qmm objective list`).")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
AS_OF = typer.Option(None, "--as-of", help="The day to measure on, YYYY-MM-DD; default today.")


def _today(text: str | None) -> date:
    return optional_day(text, option="--as-of") or utcnow().date()


def _objective(
    session: Session,
    objective: QualityObjective,
    children: Sequence[QualityObjective],
    today: date,
) -> dict[str, Any]:
    """An objective and its role-level children, each with its status on the day."""
    return ObjectiveOut.of(
        objective,
        objective_status(session, objective=objective, today=today),
        [ObjectiveOut.of(c, objective_status(session, objective=c, today=today)) for c in children],
    ).model_dump(mode="json")


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("add")
def add(
    site: str = SITE,
    title: str | None = typer.Option(None, "--title", help="The objective in a line."),
    owner: str | None = typer.Option(None, "--owner", help="Who owns it."),
    published_on: str | None = typer.Option(
        None, "--published-on", help="Publication date, YYYY-MM-DD."
    ),
    kpi: str | None = typer.Option(None, "--kpi", help="The catalogue KPI that measures it."),
    kpi_group: str | None = typer.Option(None, "--kpi-group", help="The KPI's group, if split."),
    target: float | None = typer.Option(
        None, "--target", help="Target in the KPI's unit; default: the catalogue's."
    ),
    period: str = typer.Option("quarter", "--period", help=f"One of: {', '.join(PERIODS)}."),
    parent: int | None = typer.Option(
        None, "--parent", help="Site-wide objective this role-level one cascades."
    ),
    role: str | None = typer.Option(None, "--role", help="Role of a cascaded objective."),
    good: str = typer.Option(
        "", "--what-good-looks-like", help="What good looks like for the role."
    ),
) -> None:
    """Publish a site-wide objective, or cascade one to a role with --parent and --role."""
    day = optional_day(published_on, option="--published-on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        objective = add_objective(
            session,
            site=the_site,
            title=title,  # type: ignore[arg-type]  # None is named as missing by the service
            owner=owner,  # type: ignore[arg-type]
            published_on=day,  # type: ignore[arg-type]
            kpi=kpi,
            target=target,
            kpi_group=kpi_group,
            period=period,
            role=role,
            what_good_looks_like=good,
            parent=get_objective(session, site=the_site, objective_id=parent)
            if parent is not None
            else None,
        )
        made = objective.id
    console.print(f"Published objective {made} at {site}.")


@app.command("list")
def list_(
    site: str = SITE,
    role: str | None = typer.Option(None, "--role", help="Only this role's cascaded objectives."),
    include_retired: bool = typer.Option(False, "--all", help="Include retired objectives."),
    as_of: str | None = AS_OF,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Site-wide objectives with their status, each followed by its role-level objectives."""
    today = _today(as_of)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        tree = [
            _objective(session, parent, children, today)
            for parent, children in list_objectives(
                session, site=the_site, role=role, include_retired=include_retired
            )
        ]
    if fmt is OutputFormat.json:
        print_json(tree)
        return
    rows = []
    for parent in tree:
        for one in [parent, *parent["children"]]:
            status = one["status"]
            rows.append(
                [
                    one["id"],
                    f"  {one['role']}: {one['title']}" if one["parent"] else one["title"],
                    one["owner"],
                    one["kpi"] or "-",
                    _value(one["target"]),
                    _value(status["value"]),
                    status["period"] or "-",
                    status["state"] + (" (retired)" if one["retired_on"] else ""),
                ]
            )
    print_table(
        f"{site} quality objectives on {today}",
        ["id", "objective", "owner", "KPI", "target", "value", "period", "status"],
        rows,
    )


@app.command("status")
def status(
    site: str = SITE,
    objective: int = OBJECTIVE,
    as_of: str | None = AS_OF,
    fmt: OutputFormat = FORMAT,
) -> None:
    """One objective: its KPI's latest value against the target."""
    today = _today(as_of)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        found = get_objective(session, site=the_site, objective_id=objective)
        children = [c for c in children_of(session, objective=found) if c.retired_on is None]
        data = _objective(session, found, children, today)
    if fmt is OutputFormat.json:
        print_json(data)
        return
    state = data["status"]
    print_table(
        f"{site} objective {objective}",
        ["field", "value"],
        [
            ["title", data["title"]],
            ["owner", data["owner"]],
            ["role", data["role"] or "site-wide"],
            ["what good looks like", data["what_good_looks_like"] or "-"],
            ["KPI", data["kpi"] or "-"],
            ["target", f"{_value(data['target'])} ({data['direction'] or '-'})"],
            ["latest", f"{_value(state['value'])} in {state['period'] or '-'}"],
            ["status", state["state"]],
        ],
    )


@app.command("retire")
def retire(
    site: str = SITE,
    objective: int = OBJECTIVE,
    on: str = typer.Option(..., "--on", help="Retirement date, YYYY-MM-DD."),
) -> None:
    """Retire an objective and what cascades from it."""
    day = parse_day(on, option="--on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        retire_objective(
            session, objective=get_objective(session, site=the_site, objective_id=objective), on=day
        )
    console.print(f"Retired objective {objective} at {site} (and its cascaded objectives).")


def engagement(
    site: str = SITE,
    period: str = typer.Option("quarter", "--period", help=f"One of: {', '.join(PERIODS)}."),
    as_of: str | None = AS_OF,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Suggestions submitted, accepted and days to decision, per period (the seeds' measure)."""
    today = _today(as_of)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            p.to_json()
            for p in engagement_summary(session, site=the_site, today=today, period=period)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    if not rows:
        console.print(f"No suggestions at {site} yet (import a suggestion extract).")
        return
    print_table(
        f"{site} engagement by {period}",
        [
            "period",
            "submitted",
            "per 100 staff",
            "decided",
            "accepted",
            "accepted %",
            "days to decide",
        ],
        [
            [
                r["period"],
                r["submitted"],
                _value(r["per_100_staff"]),
                r["decided"],
                r["accepted"],
                "-" if r["acceptance_rate"] is None else f"{r['acceptance_rate']:.0%}",
                _value(r["median_decision_days"]),
            ]
            for r in rows
        ],
    )
