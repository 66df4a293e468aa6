"""`qmm continuity`: risk scenarios, minimum-inventory triggers, drills and their actions."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, fail, print_json, print_table
from qmm.cli.program_common import optional_day, site_for, utc_today
from qmm.program.continuity import (
    DRILL_STATES,
    add_scenario,
    add_trigger,
    breaches,
    check_drill_state,
    complete_drill_action,
    get_drill,
    get_drill_action,
    get_scenario,
    get_trigger,
    list_drills,
    list_scenarios,
    list_triggers,
    plan_drill,
    record_drill_run,
    record_level,
)
from qmm.program.schemas.continuity import DrillOut, ScenarioOut, TriggerOut
from qmm.program.steering import ActionInput

app = typer.Typer(
    help="Business continuity: risk scenarios, minimum-inventory triggers, drills, lessons.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
TODAY = typer.Option(None, "--today", help="Judge overdue against this date, YYYY-MM-DD (today).")


def parse_number(text: str | None, *, option: str) -> float | None:
    """A number option; the service names a missing one with the rest."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        fail(f"{option} {text!r} must be a number")
        raise


def parse_whole(text: str | None, *, option: str) -> float | int | None:
    value = parse_number(text, option=option)
    return int(value) if value is not None and value.is_integer() else value


def as_of_day(text: str | None) -> date:
    return optional_day(text, option="--today") or utc_today()


def _action(text: str) -> ActionInput:
    parts = [p.strip() for p in text.split("|")]
    if len(parts) != 3:
        fail(f"--action {text!r} must be 'title | owner | YYYY-MM-DD'")
    day = optional_day(parts[2], option="--action due date")
    return ActionInput(parts[0], parts[1], day)  # type: ignore[arg-type]


@app.command("scenario-add")
def scenario_add(
    site: str = SITE,
    title: str | None = typer.Option(None, "--title", help="The scenario in a line."),
    what_fails: str | None = typer.Option(None, "--what-fails", help="What fails, and how."),
    likelihood: str | None = typer.Option(None, "--likelihood", help="1 (rare) to 5 (likely)."),
    impact: str | None = typer.Option(None, "--impact", help="1 (minor) to 5 (severe)."),
    product: list[str] = typer.Option([], "--product", help="A product affected; repeat."),
    supplier: list[str] = typer.Option([], "--supplier", help="A supplier affected; repeat."),
    backup_strategy: str | None = typer.Option(
        None, "--backup-strategy", help="How supply continues while it is failed."
    ),
    backup_supplier: list[str] = typer.Option(
        [], "--backup-supplier", help="A backup supplier; repeat."
    ),
    step: list[str] = typer.Option([], "--step", help="A recovery step, in order; repeat."),
    target_hours: str | None = typer.Option(
        None, "--target-hours", help="Recovery time target in hours."
    ),
    owner: str | None = typer.Option(None, "--owner", help="Who owns the scenario."),
    reviewed_on: str | None = typer.Option(
        None, "--reviewed-on", help="Date last reviewed, YYYY-MM-DD."
    ),
) -> None:
    """Record a risk scenario: what fails, likelihood x impact, backups and recovery steps."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        scenario = add_scenario(
            session,
            site=the_site,
            title=title,  # type: ignore[arg-type]
            what_fails=what_fails,  # type: ignore[arg-type]
            likelihood=parse_whole(likelihood, option="--likelihood"),  # type: ignore[arg-type]
            impact=parse_whole(impact, option="--impact"),  # type: ignore[arg-type]
            products=product,
            suppliers=supplier,
            backup_strategy=backup_strategy,  # type: ignore[arg-type]
            backup_suppliers=backup_supplier,
            recovery_steps=step,
            recovery_target_hours=parse_number(target_hours, option="--target-hours"),  # type: ignore[arg-type]
            owner=owner,  # type: ignore[arg-type]
            reviewed_on=optional_day(reviewed_on, option="--reviewed-on"),  # type: ignore[arg-type]
        )
        sid, risk = scenario.id, scenario.risk
    console.print(f"Recorded scenario {sid} at {site} (risk {risk}).")


@app.command("scenarios")
def scenarios(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's risk scenarios, highest risk first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            ScenarioOut.of(s).model_dump(mode="json")
            for s in list_scenarios(session, site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"{site} continuity scenarios",
        ["id", "risk", "L x I", "title", "target h", "backup suppliers", "steps", "owner"],
        [
            [
                r["id"],
                r["risk"],
                f"{r['likelihood']} x {r['impact']}",
                r["title"],
                f"{r['recovery_target_hours']:g}",
                ", ".join(r["backup_suppliers"]) or "-",
                len(r["recovery_steps"]),
                r["owner"],
            ]
            for r in rows
        ],
    )


@app.command("trigger-add")
def trigger_add(
    site: str = SITE,
    material: str | None = typer.Option(None, "--material", help="The material, e.g. stoppers."),
    unit: str | None = typer.Option(None, "--unit", help="Unit of measure, e.g. pieces, kg."),
    minimum: str | None = typer.Option(None, "--minimum", help="Minimum inventory level."),
    scenario: int | None = typer.Option(None, "--scenario", help="The scenario it guards (id)."),
    level: str | None = typer.Option(None, "--level", help="Current level (with --recorded-on)."),
    recorded_on: str | None = typer.Option(
        None, "--recorded-on", help="Date the current level was counted, YYYY-MM-DD."
    ),
) -> None:
    """Set a minimum-inventory trigger for a material, optionally with its current level."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        trigger = add_trigger(
            session,
            site=the_site,
            material=material,  # type: ignore[arg-type]
            unit=unit,  # type: ignore[arg-type]
            minimum_level=parse_number(minimum, option="--minimum"),  # type: ignore[arg-type]
            scenario=(
                get_scenario(session, site=the_site, scenario_id=scenario)
                if scenario is not None
                else None
            ),
            current_level=parse_number(level, option="--level"),
            recorded_on=optional_day(recorded_on, option="--recorded-on"),
        )
        tid, breached = trigger.id, trigger.breached
    console.print(
        f"Set trigger {tid} at {site}" + (" (BREACHED: below the minimum)." if breached else ".")
    )


def _print_triggers(title: str, rows: list[dict[str, Any]]) -> None:
    print_table(
        title,
        ["id", "material", "minimum", "current", "counted", "state", "shortfall", "scenario"],
        [
            [
                r["id"],
                r["material"],
                f"{r['minimum_level']:g} {r['unit']}",
                "-" if r["current_level"] is None else f"{r['current_level']:g} {r['unit']}",
                r["level_recorded_on"] or "-",
                r["state"].upper() if r["breached"] else r["state"],
                "" if r["shortfall"] is None else f"{r['shortfall']:g}",
                r["scenario"] or "",
            ]
            for r in rows
        ],
    )


@app.command("triggers")
def triggers(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's minimum-inventory triggers with their current level and state."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            TriggerOut.of(t).model_dump(mode="json") for t in list_triggers(session, site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    _print_triggers(f"{site} inventory triggers", rows)


@app.command("level")
def level(
    site: str = SITE,
    trigger: str = typer.Argument(..., help="Trigger id or material name."),
    value: str | None = typer.Option(None, "--level", help="The counted level."),
    recorded_on: str | None = typer.Option(
        None, "--recorded-on", help="Date counted, YYYY-MM-DD (today)."
    ),
    history: bool = typer.Option(False, "--history", help="Show every recorded level after."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Record a counted inventory level; the newest by date is the trigger's current one."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        found = get_trigger(session, site=the_site, trigger=trigger)
        record_level(
            session,
            trigger=found,
            level=parse_number(value, option="--level"),  # type: ignore[arg-type]
            recorded_on=optional_day(recorded_on, option="--recorded-on") or utc_today(),
        )
        data = TriggerOut.of(found).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    state = "BREACHED" if data["breached"] else data["state"]
    console.print(
        f"{data['material']}: {data['current_level']:g} {data['unit']} on "
        f"{data['level_recorded_on']}, minimum {data['minimum_level']:g} ({state}).",
        highlight=False,
    )
    if history:
        print_table(
            "history",
            ["recorded on", "level", "by"],
            [[h["recorded_on"], f"{h['level']:g}", h["recorded_by"]] for h in data["levels"]],
        )


@app.command("breaches")
def breaches_(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """Triggers whose current level is below the minimum (equal is not a breach)."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [TriggerOut.of(t).model_dump(mode="json") for t in breaches(session, site=the_site)]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    if not rows:
        console.print(f"No inventory trigger at {site} is breached.")
        return
    _print_triggers(f"{site} breached inventory triggers", rows)


@app.command("drill-plan")
def drill_plan(
    site: str = SITE,
    scenario: int = typer.Option(..., "--scenario", help="The scenario drilled (id)."),
    planned_on: str | None = typer.Option(None, "--planned-on", help="Date, YYYY-MM-DD."),
    supplier: str | None = typer.Option(None, "--supplier", help="Supplier of a joint drill."),
) -> None:
    """Plan a drill of a scenario, with a supplier for a joint drill."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        drill = plan_drill(
            session,
            site=the_site,
            scenario=get_scenario(session, site=the_site, scenario_id=scenario),
            planned_on=optional_day(planned_on, option="--planned-on"),  # type: ignore[arg-type]
            supplier=supplier,
        )
        did = drill.id
    console.print(f"Planned drill {did} at {site}.")


@app.command("drill-run")
def drill_run(
    site: str = SITE,
    drill: int = typer.Argument(..., help="Drill id."),
    run_on: str | None = typer.Option(None, "--run-on", help="Date run, YYYY-MM-DD."),
    hours: str | None = typer.Option(None, "--hours", help="Recovery time achieved, hours."),
    lessons: str | None = typer.Option(None, "--lessons", help="What the drill taught."),
    action: list[str] = typer.Option(
        [], "--action", help="An action from the lessons: 'title | owner | YYYY-MM-DD'; repeat."
    ),
) -> None:
    """Record a drill run against its target; the drill report is filed as evidence."""
    actions = [_action(a) for a in action]
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        found = get_drill(session, site=the_site, drill_id=drill)
        record_drill_run(
            session,
            drill=found,
            run_on=optional_day(run_on, option="--run-on"),  # type: ignore[arg-type]
            achieved_hours=parse_number(hours, option="--hours"),  # type: ignore[arg-type]
            lessons=lessons,  # type: ignore[arg-type]
            actions=actions,
        )
        data = DrillOut.of(session, found, today=utc_today()).model_dump(mode="json")
    console.print(
        f"Drill {data['id']}: {data['achieved_hours']:g} h against a target of "
        f"{data['target_hours']:g} h, {'met' if data['met'] else 'MISSED'}; "
        f"filed as evidence {data['evidence_item']}.",
        highlight=False,
    )


@app.command("drills")
def drills(
    site: str = SITE,
    state: str | None = typer.Option(None, "--state", help=f"One of: {', '.join(DRILL_STATES)}."),
    today: str | None = TODAY,
    fmt: OutputFormat = FORMAT,
) -> None:
    """The site's drills, newest first: planned, overdue, met or missed, with their actions."""
    day = as_of_day(today)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        check_drill_state(state)
        rows = [
            DrillOut.of(session, d, today=day).model_dump(mode="json")
            for d in list_drills(session, site=the_site)
        ]
    rows = [r for r in rows if state is None or r["state"] == state]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"{site} drills (as of {day})",
        ["id", "scenario", "supplier", "planned", "run", "hours", "target", "state", "actions"],
        [
            [
                r["id"],
                r["scenario_title"],
                r["supplier"] or "-",
                r["planned_on"],
                r["run_on"] or "-",
                "-" if r["achieved_hours"] is None else f"{r['achieved_hours']:g}",
                f"{r['target_hours']:g}",
                r["state"].upper() if r["state"] in ("missed", "overdue") else r["state"],
                "\n".join(
                    f"{a['id']}: {a['title']} ({a['owner']}, due {a['due_on']}"
                    + (
                        f", done {a['done_on']})"
                        if a["done_on"]
                        else ", OVERDUE)"
                        if a["overdue"]
                        else ")"
                    )
                    for a in r["actions"]
                ),
            ]
            for r in rows
        ],
    )


@app.command("action-done")
def action_done(
    site: str = SITE,
    action: int = typer.Argument(..., help="Drill action id (see `qmm continuity drills`)."),
    done_on: str | None = typer.Option(None, "--done-on", help="Date done, YYYY-MM-DD (today)."),
) -> None:
    """Mark an action from a drill's lessons done."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        found = get_drill_action(session, site=the_site, action_id=action)
        complete_drill_action(
            session,
            action=found,
            done_on=optional_day(done_on, option="--done-on") or utc_today(),
        )
    console.print(f"Drill action {action} done.")
