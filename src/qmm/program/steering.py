"""The steering cadence: meetings planned, held with minutes, decisions and actions; overdue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, NotFound
from qmm.evidence.service import add_evidence, known_sub_element_codes
from qmm.models import Site, SteeringAction, SteeringCadence, SteeringMeeting
from qmm.program.common import SHORT, Problems
from qmm.program.decisions import get_decision

#: Steering minutes are evidence of this sub-element.
MINUTES_SUB_ELEMENT: Final = "management_review"


@dataclass(frozen=True)
class ActionInput:
    """An action a meeting produced."""

    title: str
    owner: str
    due_on: date


@dataclass(frozen=True)
class CadenceStatus:
    """Whether the cadence is kept: the next meeting, overdue meetings and actions."""

    next_planned_on: date | None
    last_held_on: date | None
    overdue_meetings: tuple[SteeringMeeting, ...]
    open_actions: tuple[SteeringAction, ...]
    overdue_actions: tuple[SteeringAction, ...]

    @property
    def overdue(self) -> bool:
        return bool(self.overdue_meetings)


def set_up_cadence(
    session: Session,
    *,
    site: Site,
    name: str,
    chair: str,
    cadence_days: int,
    first_meeting_on: date,
) -> SteeringCadence:
    """Stand up a steering forum that meets every `cadence_days`, planning its first meeting."""
    p = Problems()
    clean_name = p.text("name", name, label="name", limit=SHORT)
    clean_chair = p.text("chair", chair, label="chair", limit=SHORT)
    days = p.number("cadence_days", cadence_days, label="cadence in days", minimum=1, whole=True)
    first = p.day("first_meeting_on", first_meeting_on, label="first meeting date")
    p.raise_any()
    assert clean_name
    assert clean_chair
    assert days is not None
    assert first is not None
    cadence = SteeringCadence(
        site_id=site.id, name=clean_name, chair=clean_chair, cadence_days=int(days)
    )
    session.add(cadence)
    session.flush()
    plan_meeting(session, cadence=cadence, planned_on=first)
    return cadence


def plan_meeting(
    session: Session, *, cadence: SteeringCadence, planned_on: date
) -> SteeringMeeting:
    """Plan a meeting of the cadence for a date."""
    p = Problems()
    day = p.day("planned_on", planned_on, label="planned date")
    p.raise_any()
    if any(m.planned_on == day and m.held_on is None for m in cadence.meetings):
        raise Conflict(f"a meeting of {cadence.name} is already planned for {day}")
    meeting = SteeringMeeting(cadence_id=cadence.id, planned_on=day)
    session.add(meeting)
    session.flush()
    session.refresh(cadence, ["meetings"])
    return meeting


def hold_meeting(
    session: Session,
    *,
    meeting: SteeringMeeting,
    held_on: date,
    attendees: Sequence[str],
    agenda: Sequence[str],
    minutes: str,
    decision_refs: Sequence[str] = (),
    actions: Sequence[ActionInput] = (),
) -> SteeringMeeting:
    """Record a held meeting; its minutes become evidence and the next meeting is planned."""
    if meeting.held_on is not None:
        raise Conflict(f"meeting {meeting.id} was held on {meeting.held_on}")
    cadence = meeting.cadence
    site = cadence.site
    p = Problems()
    day = p.day("held_on", held_on, label="date held")
    who = p.texts("attendees", attendees, label="attendees", at_least=1)
    items = p.texts("agenda", agenda, label="agenda items", at_least=1, limit=500)
    text = p.text("minutes", minutes, label="minutes")
    refs = p.texts("decision_refs", decision_refs, label="decision", limit=20)
    found = []
    for ref in refs:
        try:
            found.append(get_decision(session, site=site, ref=ref).ref)
        except NotFound as exc:
            p["decision_refs"] = str(exc)
    for n, action in enumerate(actions, start=1):
        p.text(f"action{n}.title", action.title, label=f"action {n} title", limit=SHORT)
        p.text(f"action{n}.owner", action.owner, label=f"action {n} owner", limit=SHORT)
        due = p.day(f"action{n}.due_on", action.due_on, label=f"action {n} due date")
        if due is not None and day is not None and due < day:
            p[f"action{n}.due_on"] = f"action {n} is due {due}, before the meeting ({day})"
    p.raise_any()
    assert day is not None
    assert text is not None
    codes = (
        [MINUTES_SUB_ELEMENT]
        if MINUTES_SUB_ELEMENT in known_sub_element_codes(session, site=site)
        else []
    )
    minutes_file = "\n".join(
        [
            f"{site.code} {cadence.name}, held {day.isoformat()} (planned {meeting.planned_on})",
            f"Chair: {cadence.chair}",
            f"Attendees: {', '.join(who)}",
            "Agenda:",
            *(f"  {n}. {a}" for n, a in enumerate(items, start=1)),
            "",
            text,
            "",
            f"Decisions: {', '.join(found) or 'none'}",
            "Actions:",
            *(f"  - {a.title.strip()} ({a.owner.strip()}, due {a.due_on})" for a in actions),
        ]
    )
    item = add_evidence(
        session,
        site=site,
        title=f"{cadence.name} minutes, {day.isoformat()}"[:200],
        kind="steering_minutes",
        owner=cadence.chair,
        effective_on=day,
        description=f"Minutes of the steering meeting held {day.isoformat()}.",
        sub_elements=codes,
        files=[(f"steering-{day.isoformat()}.txt", (minutes_file + "\n").encode("utf-8"))],
    )
    meeting.held_on = day
    meeting.attendees = who
    meeting.agenda = items
    meeting.minutes = text
    meeting.decision_refs = found
    meeting.evidence_item_id = item.id
    for action in actions:
        session.add(
            SteeringAction(
                meeting_id=meeting.id,
                title=action.title.strip(),
                owner=action.owner.strip(),
                due_on=action.due_on,
            )
        )
    session.flush()
    if not any(m.held_on is None and m.id != meeting.id for m in cadence.meetings):
        plan_meeting(session, cadence=cadence, planned_on=day + timedelta(cadence.cadence_days))
    session.refresh(meeting, ["actions"])
    return meeting


def complete_action(session: Session, *, action: SteeringAction, done_on: date) -> SteeringAction:
    """Mark a steering action done."""
    if action.done_on is not None:
        raise Conflict(f"action {action.id} was done on {action.done_on}")
    p = Problems()
    day = p.day("done_on", done_on, label="date done")
    if day is not None and action.meeting.held_on and day < action.meeting.held_on:
        p["done_on"] = f"done on {day} is before the meeting that raised it"
    p.raise_any()
    action.done_on = day
    session.flush()
    return action


def list_cadences(session: Session, *, site: Site) -> list[SteeringCadence]:
    return list(
        session.scalars(
            select(SteeringCadence)
            .where(SteeringCadence.site_id == site.id)
            .order_by(SteeringCadence.id)
        )
    )


def get_cadence(session: Session, *, site: Site, cadence_id: int) -> SteeringCadence:
    found = session.get(SteeringCadence, cadence_id)
    if found is None or found.site_id != site.id:
        raise NotFound(f"no steering cadence {cadence_id} at {site.code}")
    return found


def get_meeting(session: Session, *, site: Site, meeting_id: int) -> SteeringMeeting:
    found = session.get(SteeringMeeting, meeting_id)
    if found is None or found.cadence.site_id != site.id:
        raise NotFound(f"no steering meeting {meeting_id} at {site.code}")
    return found


def get_action(session: Session, *, site: Site, action_id: int) -> SteeringAction:
    found = session.get(SteeringAction, action_id)
    if found is None or found.meeting.cadence.site_id != site.id:
        raise NotFound(f"no steering action {action_id} at {site.code}")
    return found


def cadence_status(session: Session, *, cadence: SteeringCadence, today: date) -> CadenceStatus:
    """A meeting is overdue when its planned date has passed and it was not held."""
    session.refresh(cadence, ["meetings"])
    planned = [m for m in cadence.meetings if m.held_on is None]
    held = [m.held_on for m in cadence.meetings if m.held_on is not None]
    actions = [a for m in cadence.meetings for a in m.actions if a.done_on is None]
    return CadenceStatus(
        next_planned_on=min((m.planned_on for m in planned), default=None),
        last_held_on=max(held, default=None),
        overdue_meetings=tuple(m for m in planned if m.planned_on < today),
        open_actions=tuple(actions),
        overdue_actions=tuple(a for a in actions if a.due_on < today),
    )
