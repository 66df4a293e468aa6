"""FDA's assessment of a site, planned: the week's dates and zone, the timeline with owners, and
the site's people who may attend its sessions.

Why: FDA's notices describe an orientation six weeks ahead, a pre-interview questionnaire, an
agenda sent in advance, up to five days on site and feedback after; each step needs an owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.auth.scope import Reader, may_read_assessment
from qmm.errors import Conflict, NotFound
from qmm.models import (
    Assessment,
    FdaAssessment,
    FdaAssessmentStatus,
    FdaMilestone,
    FdaMilestoneKind,
    Site,
    SitePerson,
    User,
    utcnow,
)
from qmm.program.common import SHORT, Problems, actor_label

#: FDA's assessment lasts up to five days on site.
MAX_DAYS: Final = 5
#: Default milestone dates, in days before the first day (negative) or after the last day.
DAYS_BEFORE_START: Final = {
    FdaMilestoneKind.orientation: 42,
    FdaMilestoneKind.questionnaire_due: 28,
    FdaMilestoneKind.agenda_sent: 14,
}
FEEDBACK_DAYS_AFTER_END: Final = 60
MILESTONE_LABELS: Final = {
    FdaMilestoneKind.orientation: "FDA's virtual orientation",
    FdaMilestoneKind.questionnaire_due: "Pre-interview questionnaire returned",
    FdaMilestoneKind.agenda_sent: "Agenda agreed and sent",
    FdaMilestoneKind.assessment_week: "The assessment week",
    FdaMilestoneKind.feedback: "FDA's feedback received",
}


def _time_zone(p: Problems, value: Any) -> str | None:
    name = p.text("time_zone", value, label="time zone", limit=64)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        p["time_zone"] = (
            f"time zone {name!r} is not an IANA time zone name (for example America/New_York, "
            "Europe/Dublin or Asia/Kolkata)"
        )
        return None
    return name


def _week_days(p: Problems, starts_on: Any, ends_on: Any) -> tuple[date | None, date | None]:
    start = p.day("starts_on", starts_on, label="first day")
    end = p.day("ends_on", ends_on, label="last day")
    if start is not None and end is not None:
        if end < start:
            p["ends_on"] = f"the last day {end} is before the first day {start}"
        elif (end - start).days + 1 > MAX_DAYS:
            p["ends_on"] = (
                f"{start} to {end} is {(end - start).days + 1} days; FDA's assessment lasts "
                f"at most {MAX_DAYS} days on site"
            )
    return start, end


def default_milestones(starts_on: date, ends_on: date) -> dict[FdaMilestoneKind, date]:
    """The timeline FDA's notices describe, counted from the week's dates."""
    days = {kind: starts_on - timedelta(days=n) for kind, n in DAYS_BEFORE_START.items()}
    days[FdaMilestoneKind.assessment_week] = starts_on
    days[FdaMilestoneKind.feedback] = ends_on + timedelta(days=FEEDBACK_DAYS_AFTER_END)
    return days


def plan_fda_assessment(
    session: Session,
    *,
    site: Site,
    title: str,
    starts_on: date | None,
    ends_on: date | None,
    time_zone: str,
    owner: str,
    notes: str | None = None,
) -> FdaAssessment:
    """Record FDA's coming assessment and its timeline, every milestone owned by `owner`."""
    p = Problems()
    clean_title = p.text("title", title, label="title", limit=SHORT)
    start, end = _week_days(p, starts_on, ends_on)
    zone = _time_zone(p, time_zone)
    clean_owner = p.text("owner", owner, label="owner of the milestones", limit=SHORT)
    clean_notes = p.text("notes", notes, label="notes", required=False, limit=4000)
    p.raise_any()
    assert clean_title is not None
    assert start is not None
    assert end is not None
    assert zone is not None
    assert clean_owner is not None
    clash = session.scalar(
        select(FdaAssessment).where(
            FdaAssessment.site_id == site.id,
            FdaAssessment.status != FdaAssessmentStatus.cancelled,
            FdaAssessment.starts_on <= end,
            FdaAssessment.ends_on >= start,
        )
    )
    if clash is not None:
        raise Conflict(
            f"{site.code} already has FDA assessment {clash.id} ({clash.title}) from "
            f"{clash.starts_on} to {clash.ends_on}; change or cancel it instead"
        )
    visit = FdaAssessment(
        site_id=site.id,
        title=clean_title,
        starts_on=start,
        ends_on=end,
        time_zone=zone,
        status=FdaAssessmentStatus.preparing,
        notes=clean_notes,
        created_by=actor_label(session),
    )
    session.add(visit)
    session.flush()
    for kind, due in default_milestones(start, end).items():
        session.add(
            FdaMilestone(fda_assessment_id=visit.id, kind=kind, due_on=due, owner=clean_owner)
        )
    session.flush()
    session.refresh(visit, ["milestones"])
    return visit


def list_fda_assessments(session: Session, *, site: Site) -> list[FdaAssessment]:
    """The site's FDA assessments, the latest first."""
    return list(
        session.scalars(
            select(FdaAssessment)
            .where(FdaAssessment.site_id == site.id)
            .order_by(FdaAssessment.starts_on.desc(), FdaAssessment.id.desc())
        )
    )


def get_fda_assessment(session: Session, *, fda_assessment_id: int) -> FdaAssessment:
    """One FDA assessment by number, or a NotFound naming it."""
    visit = session.get(FdaAssessment, fda_assessment_id)
    if visit is None:
        raise NotFound(f"no FDA assessment {fda_assessment_id}; `qmm week list` shows them")
    return visit


def next_fda_assessment(
    session: Session, *, site: Site, today: date | None = None
) -> FdaAssessment | None:
    """The site's coming (or running) assessment that is still being prepared, if any."""
    day = today or utcnow().date()
    return session.scalar(
        select(FdaAssessment)
        .where(
            FdaAssessment.site_id == site.id,
            FdaAssessment.status == FdaAssessmentStatus.preparing,
            FdaAssessment.ends_on >= day,
        )
        .order_by(FdaAssessment.starts_on)
        .limit(1)
    )


def update_milestone(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    kind: str,
    due_on: date | None = None,
    owner: str | None = None,
    done_on: date | None = None,
) -> FdaMilestone:
    """Move a milestone, give it another owner, or record the day it was done."""
    p = Problems()
    known = {k.value for k in FdaMilestoneKind}
    if kind not in known:
        p["kind"] = f"milestone {kind!r} is not one of {', '.join(sorted(known))}"
    due = p.day("due_on", due_on, label="due date", required=False)
    clean_owner = p.text("owner", owner, label="owner", required=False, limit=SHORT)
    done = p.past_day("done_on", done_on, label="day done", required=False)
    if due is None and clean_owner is None and done is None and "kind" not in p:
        p["due_on"] = "give a new due date, a new owner or the day it was done"
    p.raise_any()
    milestone = next(m for m in fda_assessment.milestones if m.kind == kind)
    if due is not None:
        milestone.due_on = due
    if clean_owner is not None:
        milestone.owner = clean_owner
    if done is not None:
        milestone.done_on = done
    session.flush()
    return milestone


def set_status(session: Session, *, fda_assessment: FdaAssessment, status: str) -> FdaAssessment:
    """Mark the assessment held, its feedback received, or cancelled."""
    known = [s.value for s in FdaAssessmentStatus]
    if status not in known:
        p = Problems()
        p["status"] = f"status {status!r} is not one of {', '.join(known)}"
        p.raise_any()
    fda_assessment.status = status
    session.flush()
    return fda_assessment


def choose_self_assessment(
    session: Session, *, fda_assessment: FdaAssessment, assessment: Assessment
) -> FdaAssessment:
    """Name the self-assessment that FDA's view is prepared from and compared with."""
    if assessment.site_id != fda_assessment.site_id:
        p = Problems()
        p["self_assessment_id"] = (
            f"assessment {assessment.id} is of another site; choose one of "
            f"{fda_assessment.site.code}"
        )
        p.raise_any()
    fda_assessment.self_assessment_id = assessment.id
    session.flush()
    return fda_assessment


def self_assessment_readable(
    session: Session, *, fda_assessment: FdaAssessment, reader: Reader
) -> bool:
    """Whether the reader may read the chosen self-assessment (true when none is chosen)."""
    if fda_assessment.self_assessment_id is None:
        return True
    chosen = session.get(Assessment, fda_assessment.self_assessment_id)
    return chosen is None or may_read_assessment(session, reader=reader, assessment=chosen)


@dataclass(frozen=True)
class MilestoneView:
    """A milestone as the worklist and pages show it: what, when, who, and whether it is late."""

    fda_assessment_id: int
    kind: str
    label: str
    due_on: date
    owner: str
    done_on: date | None
    overdue: bool


def milestone_views(
    fda_assessment: FdaAssessment, *, today: date | None = None
) -> list[MilestoneView]:
    """The timeline in date order, each step marked overdue when its day passed undone."""
    day = today or utcnow().date()
    order = list(FdaMilestoneKind)
    rows = sorted(
        fda_assessment.milestones, key=lambda m: (m.due_on, order.index(FdaMilestoneKind(m.kind)))
    )
    return [
        MilestoneView(
            fda_assessment_id=fda_assessment.id,
            kind=m.kind,
            label=MILESTONE_LABELS[FdaMilestoneKind(m.kind)],
            due_on=m.due_on,
            owner=m.owner,
            done_on=m.done_on,
            overdue=m.done_on is None and m.due_on < day,
        )
        for m in rows
    ]


# --- the site's people ---------------------------------------------------------------------------


def add_person(
    session: Session,
    *,
    site: Site,
    name: str,
    job_title: str,
    department: str,
    email: str | None = None,
    user: User | None = None,
) -> SitePerson:
    """Record someone who may attend a session: a workbench user or not."""
    p = Problems()
    clean_name = p.text("name", name, label="name", limit=SHORT)
    clean_title = p.text("job_title", job_title, label="job title", limit=SHORT)
    clean_department = p.text("department", department, label="department", limit=SHORT)
    clean_email = p.text("email", email, label="email", required=False, limit=320)
    if clean_email is not None and (
        clean_email.count("@") != 1 or " " in clean_email or clean_email.endswith("@")
    ):
        p["email"] = f"email {clean_email!r} is not an address like name@example.com"
    p.raise_any()
    assert clean_name is not None
    assert clean_title is not None
    assert clean_department is not None
    existing = session.scalar(
        select(SitePerson).where(SitePerson.site_id == site.id, SitePerson.name == clean_name)
    )
    if existing is not None:
        raise Conflict(
            f"{clean_name} is already one of {site.code}'s people (number {existing.id})"
        )
    person = SitePerson(
        site_id=site.id,
        name=clean_name,
        job_title=clean_title,
        department=clean_department,
        email=clean_email,
        user_id=user.id if user is not None else None,
    )
    session.add(person)
    session.flush()
    return person


def list_people(session: Session, *, site: Site) -> list[SitePerson]:
    """The site's people, by name."""
    return list(
        session.scalars(
            select(SitePerson).where(SitePerson.site_id == site.id).order_by(SitePerson.name)
        )
    )


def get_person(session: Session, *, site: Site, person_id: int) -> SitePerson:
    """One of the site's people by number, or a NotFound naming it."""
    person = session.get(SitePerson, person_id)
    if person is None or person.site_id != site.id:
        raise NotFound(f"{site.code} has no person {person_id}; `qmm week people` lists them")
    return person
