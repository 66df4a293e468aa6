"""`qmm steering`: the steering cadence: meetings planned, held with minutes, actions, overdue."""

from __future__ import annotations

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    fail,
    parse_day,
    print_json,
    print_table,
)
from qmm.cli.program_common import optional_day, site_for
from qmm.models import utcnow
from qmm.program.schemas.steering import CadenceOut
from qmm.program.steering import (
    ActionInput,
    cadence_status,
    complete_action,
    get_action,
    get_cadence,
    get_meeting,
    hold_meeting,
    list_cadences,
    plan_meeting,
    set_up_cadence,
)

app = typer.Typer(
    help="The steering cadence: meetings planned and held, minutes as evidence, actions.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
AS_OF = typer.Option(None, "--as-of", help="The day to measure on, YYYY-MM-DD; default today.")


def _action(text: str) -> ActionInput:
    """TITLE|OWNER|YYYY-MM-DD from --action."""
    parts = [p.strip() for p in text.split("|")]
    if len(parts) != 3:
        fail(f"--action {text!r} must be TITLE|OWNER|YYYY-MM-DD")
    return ActionInput(parts[0], parts[1], parse_day(parts[2], option="--action due date"))


@app.command("cadence")
def cadence(
    site: str = SITE,
    name: str | None = typer.Option(None, "--name", help="The forum's name."),
    chair: str | None = typer.Option(None, "--chair", help="Who chairs it."),
    every: int | None = typer.Option(None, "--every", help="Meets every N days (N >= 1)."),
    first: str | None = typer.Option(None, "--first", help="First meeting date, YYYY-MM-DD."),
) -> None:
    """Stand up a steering cadence; its first meeting is planned."""
    first_on = optional_day(first, option="--first")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        made = set_up_cadence(
            session,
            site=the_site,
            name=name,  # type: ignore[arg-type]  # None is named as missing by the service
            chair=chair,  # type: ignore[arg-type]
            cadence_days=every,  # type: ignore[arg-type]
            first_meeting_on=first_on,  # type: ignore[arg-type]
        )
        cadence_id, meeting_id = made.id, made.meetings[0].id
    console.print(
        f"Set up steering cadence {cadence_id} at {site}; meeting {meeting_id} is planned."
    )


@app.command("plan")
def plan(
    site: str = SITE,
    cadence_id: int = typer.Argument(..., help="Cadence id."),
    on: str = typer.Option(..., "--on", help="Planned date, YYYY-MM-DD."),
) -> None:
    """Plan a meeting of a cadence for a date."""
    day = parse_day(on, option="--on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        meeting = plan_meeting(
            session,
            cadence=get_cadence(session, site=the_site, cadence_id=cadence_id),
            planned_on=day,
        )
        made = meeting.id
    console.print(f"Planned meeting {made} on {day}.")


@app.command("hold")
def hold(
    site: str = SITE,
    meeting_id: int = typer.Argument(..., help="Meeting id (see `qmm steering status`)."),
    on: str | None = typer.Option(None, "--on", help="Date held, YYYY-MM-DD."),
    attendee: list[str] = typer.Option([], "--attendee", help="Who attended; repeat."),
    agenda: list[str] = typer.Option([], "--agenda", help="An agenda item; repeat."),
    minutes: str | None = typer.Option(None, "--minutes", help="The minutes."),
    decision: list[str] = typer.Option([], "--decision", help="A decision ref taken; repeat."),
    action: list[str] = typer.Option(
        [], "--action", help="An action as TITLE|OWNER|YYYY-MM-DD; repeat."
    ),
) -> None:
    """Record a held meeting: its minutes become evidence, the next meeting is planned."""
    held_on = optional_day(on, option="--on")
    actions = [_action(a) for a in action]
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        meeting = hold_meeting(
            session,
            meeting=get_meeting(session, site=the_site, meeting_id=meeting_id),
            held_on=held_on,  # type: ignore[arg-type]  # None is named as missing by the service
            attendees=attendee,
            agenda=agenda,
            minutes=minutes,  # type: ignore[arg-type]
            decision_refs=decision,
            actions=actions,
        )
        evidence = meeting.evidence_item_id
    console.print(f"Held meeting {meeting_id}; minutes filed as evidence item {evidence}.")


@app.command("action-done")
def action_done(
    site: str = SITE,
    action_id: int = typer.Argument(..., help="Steering action id."),
    on: str = typer.Option(..., "--on", help="Date done, YYYY-MM-DD."),
) -> None:
    """Mark a steering action done."""
    day = parse_day(on, option="--on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        complete_action(
            session, action=get_action(session, site=the_site, action_id=action_id), done_on=day
        )
    console.print(f"Steering action {action_id} done on {day}.")


@app.command("status")
def status(site: str = SITE, as_of: str | None = AS_OF, fmt: OutputFormat = FORMAT) -> None:
    """Each cadence: next meeting, last held, overdue meetings and actions."""
    today = optional_day(as_of, option="--as-of") or utcnow().date()
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        cadences = [
            CadenceOut.of(c, cadence_status(session, cadence=c, today=today), today=today)
            for c in list_cadences(session, site=the_site)
        ]
        data = [c.model_dump(mode="json") for c in cadences]
    if fmt is OutputFormat.json:
        print_json(data)
        return
    if not data:
        console.print(f"No steering cadence at {site}; `qmm steering cadence` sets one up.")
        return
    for c in data:
        print_table(
            f"{c['name']} (cadence {c['id']}, every {c['cadence_days']} days, chair {c['chair']})"
            + (": OVERDUE" if c["overdue"] else ""),
            ["meeting", "planned", "held", "decisions", "actions", "evidence"],
            [
                [
                    m["id"],
                    m["planned_on"] + (" overdue" if m["overdue"] else ""),
                    m["held_on"] or "-",
                    ", ".join(m["decisions"]) or "-",
                    "; ".join(
                        f"{a['id']}. {a['title']} ({a['owner']}, due {a['due_on']}"
                        + (
                            f", done {a['done_on']})"
                            if a["done_on"]
                            else ", OVERDUE)"
                            if a["overdue"]
                            else ")"
                        )
                        for a in m["actions"]
                    )
                    or "-",
                    m["evidence_item"] or "-",
                ]
                for m in c["meetings"]
            ],
        )
