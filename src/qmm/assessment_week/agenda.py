"""The assessment week planner: sessions per day in the assessment's time zone, who attends
each, and the conflicts a planner must see (a person in two sessions at once, a practice area
with no session, a session with nobody who speaks for its area).

Why: FDA sends its agenda ahead and the site decides who attends each session; a double-booked
expert or an area nobody can answer for is found here, not in front of the assessors.

How a person maps to a practice area: each of the site's people has a list of practice areas
they can speak for (PersonPracticeArea, set with `set_person_areas`). A session of an area is
covered when one of its attendees has that area in their list; nothing is guessed from job
titles or departments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment_week.service import list_people
from qmm.errors import Conflict, NotFound
from qmm.evidence.service import site_framework
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.models import (
    AgendaAttendee,
    AgendaSession,
    AgendaSessionStatus,
    FdaAgenda,
    FdaAssessment,
    FdaAssessmentStatus,
    PersonPracticeArea,
    SitePerson,
    utcnow,
)
from qmm.program.common import SHORT, Problems, actor_label

_CLOCK: Final = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
#: The agenda's sessions may be changed while the week is prepared or running.
CHANGEABLE: Final = frozenset({FdaAssessmentStatus.preparing.value, FdaAssessmentStatus.held.value})
CONFLICT_KINDS: Final = {
    "double_booking": "A person is in two sessions at once",
    "area_without_session": "A practice area has no session",
    "session_without_expert": "Nobody attending speaks for the session's practice area",
}


# --- reading ----------------------------------------------------------------------------------


def find_agenda(session: Session, *, fda_assessment: FdaAssessment) -> FdaAgenda | None:
    """The assessment's agenda, or None before its first session is planned."""
    return session.scalar(select(FdaAgenda).where(FdaAgenda.fda_assessment_id == fda_assessment.id))


def get_session(
    session: Session, *, fda_assessment: FdaAssessment, session_id: int
) -> AgendaSession:
    """One session of this assessment's agenda, or a NotFound naming it."""
    found = session.get(AgendaSession, session_id)
    if found is None or found.agenda.fda_assessment_id != fda_assessment.id:
        raise NotFound(
            f"FDA assessment {fda_assessment.id} has no session {session_id}; "
            f"`qmm week agenda show {fda_assessment.id}` lists them"
        )
    return found


def person_areas(session: Session, *, person: SitePerson) -> list[str]:
    """The practice areas a person speaks for, in the framework's order."""
    codes = set(
        session.scalars(
            select(PersonPracticeArea.practice_area).where(
                PersonPracticeArea.person_id == person.id
            )
        )
    )
    order = list(PRACTICE_AREAS)
    return sorted(codes, key=lambda c: (order.index(c) if c in order else len(order), c))


def area_names(session: Session, *, fda_assessment: FdaAssessment) -> dict[str, str]:
    """The practice areas of the site's framework, code to name, in framework order."""
    framework = site_framework(session, site=fda_assessment.site)
    return {pa.code: pa.name for pa in framework.practice_areas}


# --- checks -----------------------------------------------------------------------------------


def _clock(p: Problems, field_name: str, value: Any, *, label: str) -> time | None:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if value is None or (isinstance(value, str) and not value.strip()):
        p[field_name] = f"{label} is required (a time of day, HH:MM)"
        return None
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        p[field_name] = f"{label} {value!r} is not a time of day; write it as HH:MM (24 hours)"
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _exists_locally(day: date, clock: time, zone: str) -> bool:
    """False for a wall-clock time the zone skips (the hour clocks jump forward)."""
    local = datetime.combine(day, clock, ZoneInfo(zone))
    back = local.astimezone(UTC).astimezone(ZoneInfo(zone))
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _link(p: Problems, value: Any) -> str | None:
    link = p.text("video_link", value, label="video link", required=False, limit=500)
    if link is not None and (not link.startswith(("https://", "http://")) or " " in link):
        p["video_link"] = f"video link {link!r} must be an address starting with https://"
        return None
    return link


@dataclass(frozen=True)
class _SessionFields:
    practice_area: str | None
    topic: str
    day: date
    starts_at: time
    ends_at: time
    room: str | None
    video_link: str | None


def _check_changeable(fda_assessment: FdaAssessment) -> None:
    if fda_assessment.status not in CHANGEABLE:
        raise Conflict(
            f"FDA assessment {fda_assessment.id} is {fda_assessment.status}; its agenda can no "
            "longer change"
        )


def _session_fields(
    session: Session,
    fda_assessment: FdaAssessment,
    *,
    practice_area: Any,
    topic: Any,
    day: Any,
    starts_at: Any,
    ends_at: Any,
    room: Any,
    video_link: Any,
) -> _SessionFields:
    p = Problems()
    area = p.text("practice_area", practice_area, label="practice area", required=False)
    names = area_names(session, fda_assessment=fda_assessment)
    if area is not None and area not in names:
        p["practice_area"] = (
            f"practice area {area!r} is not one of the framework's: {', '.join(names)}"
        )
    clean_topic = p.text("topic", topic, label="topic", required=False, limit=SHORT)
    if clean_topic is None and area is None and "topic" not in p and "practice_area" not in p:
        p["topic"] = "give a practice area or a topic (e.g. Opening meeting, Plant tour)"
    the_day = p.day("day", day, label="day")
    if the_day is not None and not fda_assessment.starts_on <= the_day <= fda_assessment.ends_on:
        p["day"] = (
            f"{the_day} is outside the assessment week ({fda_assessment.starts_on} to "
            f"{fda_assessment.ends_on})"
        )
    start = _clock(p, "starts_at", starts_at, label="start time")
    end = _clock(p, "ends_at", ends_at, label="end time")
    if start is not None and end is not None and end <= start:
        p["ends_at"] = f"the session ends at {end:%H:%M}, not after it starts at {start:%H:%M}"
    zone = fda_assessment.time_zone
    for name, clock in (("starts_at", start), ("ends_at", end)):
        if (
            the_day is not None
            and clock is not None
            and name not in p
            and not _exists_locally(the_day, clock, zone)
        ):
            p[name] = f"{clock:%H:%M} does not exist on {the_day} in {zone} (clocks go forward)"
    clean_room = p.text("room", room, label="room", required=False, limit=SHORT)
    link = _link(p, video_link)
    if clean_room is None and link is None and "room" not in p and "video_link" not in p:
        p["room"] = "give a room or a video link (or both, for people joining remotely)"
    p.raise_any()
    assert the_day is not None
    assert start is not None
    assert end is not None
    return _SessionFields(
        practice_area=area,
        topic=clean_topic or names[area or ""],
        day=the_day,
        starts_at=start,
        ends_at=end,
        room=clean_room,
        video_link=link,
    )


def _overlaps(a: AgendaSession | _SessionFields, b: AgendaSession) -> bool:
    return a.day == b.day and a.starts_at < b.ends_at and b.starts_at < a.ends_at


def _check_room(agenda: FdaAgenda | None, fields: _SessionFields, *, moving: int | None) -> None:
    """A room holds one session at a time; the clash is named so it can be moved."""
    if agenda is None or fields.room is None:
        return
    for other in agenda.sessions:
        if (
            other.id != moving
            and other.status == AgendaSessionStatus.scheduled
            and other.room is not None
            and other.room.casefold() == fields.room.casefold()
            and _overlaps(fields, other)
        ):
            p = Problems()
            p["room"] = (
                f"{other.room} is taken on {other.day} from {other.starts_at:%H:%M} to "
                f"{other.ends_at:%H:%M} by session {other.id} ({other.topic})"
            )
            p.raise_any()


def _revised(session: Session, fda_assessment: FdaAssessment) -> FdaAgenda:
    """The agenda, created on first use, its revision raised: every invitation is updated."""
    agenda = find_agenda(session, fda_assessment=fda_assessment)
    if agenda is None:
        agenda = FdaAgenda(fda_assessment_id=fda_assessment.id, revision=0, changed_by="")
        session.add(agenda)
    agenda.revision = (agenda.revision or 0) + 1
    agenda.changed_at = utcnow()
    agenda.changed_by = actor_label(session)
    session.flush()
    return agenda


# --- writing ----------------------------------------------------------------------------------


def add_session(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    day: Any,
    starts_at: Any,
    ends_at: Any,
    practice_area: Any = None,
    topic: Any = None,
    room: Any = None,
    video_link: Any = None,
) -> AgendaSession:
    """Plan a session of the week (a practice area or a topic) at local times, in a room or
    by video; a room already taken at that time is refused."""
    _check_changeable(fda_assessment)
    fields = _session_fields(
        session,
        fda_assessment,
        practice_area=practice_area,
        topic=topic,
        day=day,
        starts_at=starts_at,
        ends_at=ends_at,
        room=room,
        video_link=video_link,
    )
    _check_room(find_agenda(session, fda_assessment=fda_assessment), fields, moving=None)
    agenda = _revised(session, fda_assessment)
    planned = AgendaSession(
        agenda_id=agenda.id,
        status=AgendaSessionStatus.scheduled,
        **fields.__dict__,
    )
    session.add(planned)
    session.flush()
    session.refresh(agenda, ["sessions"])
    return planned


def change_session(
    session: Session, *, agenda_session: AgendaSession, **changes: Any
) -> AgendaSession:
    """Move a session or change its area, topic or place; the fields not given stay."""
    known = {"practice_area", "topic", "day", "starts_at", "ends_at", "room", "video_link"}
    unknown = sorted(set(changes) - known)
    if unknown:
        p = Problems()
        p[unknown[0]] = (
            f"{unknown[0]!r} cannot be changed; change one of {', '.join(sorted(known))}"
        )
        p.raise_any()
    visit = agenda_session.agenda.fda_assessment
    _check_changeable(visit)
    if agenda_session.status == AgendaSessionStatus.cancelled:
        raise Conflict(f"session {agenda_session.id} is cancelled; plan a new one instead")
    current = {name: getattr(agenda_session, name) for name in known}
    names = area_names(session, fda_assessment=visit)
    old_default = names.get(agenda_session.practice_area or "")
    if changes.get("practice_area", agenda_session.practice_area) != agenda_session.practice_area:
        # A new area brings its own name, unless a topic of the planner's own is given.
        current["topic"] = None
        if changes.get("topic") == old_default:
            changes = {**changes, "topic": None}
    fields = _session_fields(session, visit, **{**current, **changes})
    _check_room(agenda_session.agenda, fields, moving=agenda_session.id)
    for name, value in fields.__dict__.items():
        setattr(agenda_session, name, value)
    _revised(session, visit)
    return agenda_session


def cancel_session(session: Session, *, agenda_session: AgendaSession) -> AgendaSession:
    """Cancel a session: kept, so each attendee's invitation says it is cancelled."""
    visit = agenda_session.agenda.fda_assessment
    _check_changeable(visit)
    if agenda_session.status == AgendaSessionStatus.cancelled:
        raise Conflict(f"session {agenda_session.id} is already cancelled")
    agenda_session.status = AgendaSessionStatus.cancelled
    _revised(session, visit)
    return agenda_session


def add_attendee(
    session: Session, *, agenda_session: AgendaSession, person: SitePerson, remote: bool = False
) -> AgendaAttendee:
    """Put one of the site's people in a session; a double booking is flagged, not refused,
    so the planner sees it beside the rest and decides."""
    visit = agenda_session.agenda.fda_assessment
    _check_changeable(visit)
    if person.site_id != visit.site_id:
        p = Problems()
        p["person_id"] = f"{person.name} is not one of {visit.site.code}'s people"
        p.raise_any()
    if agenda_session.status == AgendaSessionStatus.cancelled:
        raise Conflict(f"session {agenda_session.id} is cancelled; nobody can join it")
    if any(a.person_id == person.id for a in agenda_session.attendees):
        raise Conflict(f"{person.name} already attends session {agenda_session.id}")
    attendee = AgendaAttendee(session_id=agenda_session.id, person_id=person.id, remote=remote)
    session.add(attendee)
    _revised(session, visit)
    session.refresh(agenda_session, ["attendees"])
    return attendee


def remove_attendee(
    session: Session, *, agenda_session: AgendaSession, person: SitePerson
) -> AgendaSession:
    """Take a person out of a session (to fix a double booking, say)."""
    visit = agenda_session.agenda.fda_assessment
    _check_changeable(visit)
    attendee = next((a for a in agenda_session.attendees if a.person_id == person.id), None)
    if attendee is None:
        raise NotFound(f"{person.name} does not attend session {agenda_session.id}")
    session.delete(attendee)
    _revised(session, visit)
    session.refresh(agenda_session, ["attendees"])
    return agenda_session


def set_person_areas(
    session: Session, *, person: SitePerson, practice_areas: Sequence[str]
) -> list[str]:
    """Say which practice areas a person can speak for (replacing the list held)."""
    p = Problems()
    codes = p.texts("practice_areas", list(practice_areas), label="practice areas")
    framework = site_framework(session, site=person.site)
    known = [pa.code for pa in framework.practice_areas]
    strange = [c for c in codes if c not in known]
    if strange:
        p["practice_areas"] = (
            f"{', '.join(repr(c) for c in strange)} not a practice area of the framework; "
            f"choose from {', '.join(known)}"
        )
    p.raise_any()
    held = {
        row.practice_area: row
        for row in session.scalars(
            select(PersonPracticeArea).where(PersonPracticeArea.person_id == person.id)
        )
    }
    for code, row in held.items():
        if code not in codes:
            session.delete(row)
    for code in codes:
        if code not in held:
            session.add(PersonPracticeArea(person_id=person.id, practice_area=code))
    session.flush()
    return person_areas(session, person=person)


# --- the planner's view -----------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaConflict:
    """Something the planner must fix or accept, with the sessions and person concerned."""

    kind: str
    message: str
    session_ids: tuple[int, ...] = ()
    person_id: int | None = None
    practice_area: str | None = None


@dataclass(frozen=True)
class AttendeeView:
    """One attendee of a session, with the areas they speak for."""

    person: SitePerson
    remote: bool
    areas: tuple[str, ...]
    double_booked: bool


@dataclass(frozen=True)
class SessionView:
    """A session as the planner shows it: local times, place, attendees and its flags."""

    session: AgendaSession
    area_name: str | None
    attendees: tuple[AttendeeView, ...]
    conflicts: tuple[AgendaConflict, ...]

    @property
    def cancelled(self) -> bool:
        return self.session.status == AgendaSessionStatus.cancelled


@dataclass(frozen=True)
class AgendaView:
    """The week's agenda: each day's sessions, the conflicts, and the site's people."""

    fda_assessment: FdaAssessment
    revision: int
    changed_at: datetime | None
    days: tuple[tuple[date, tuple[SessionView, ...]], ...]
    conflicts: tuple[AgendaConflict, ...]
    people: tuple[SitePerson, ...]
    areas: dict[str, str]
    person_areas: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def sessions(self) -> list[SessionView]:
        """Every session, in day and time order."""
        return [s for _, day in self.days for s in day]


def _scheduled(agenda: FdaAgenda | None) -> list[AgendaSession]:
    if agenda is None:
        return []
    return sorted(
        (s for s in agenda.sessions if s.status == AgendaSessionStatus.scheduled),
        key=lambda s: (s.day, s.starts_at, s.id),
    )


def agenda_conflicts(
    agenda: FdaAgenda | None, *, areas: dict[str, str], expertise: dict[int, tuple[str, ...]]
) -> list[AgendaConflict]:
    """Double bookings, practice areas with no session, sessions nobody can speak for."""
    found: list[AgendaConflict] = []
    sessions = _scheduled(agenda)
    for index, first in enumerate(sessions):
        for second in sessions[index + 1 :]:
            if not _overlaps(first, second):
                continue
            both = {a.person_id for a in first.attendees} & {a.person_id for a in second.attendees}
            for attendee in sorted(
                (a for a in first.attendees if a.person_id in both), key=lambda a: a.person.name
            ):
                found.append(
                    AgendaConflict(
                        kind="double_booking",
                        message=(
                            f"{attendee.person.name} is in session {first.id} ({first.topic}, "
                            f"{first.starts_at:%H:%M}-{first.ends_at:%H:%M}) and session "
                            f"{second.id} ({second.topic}, {second.starts_at:%H:%M}-"
                            f"{second.ends_at:%H:%M}) on {first.day}"
                        ),
                        session_ids=(first.id, second.id),
                        person_id=attendee.person_id,
                    )
                )
    covered = {s.practice_area for s in sessions}
    for code, name in areas.items():
        if code not in covered:
            found.append(
                AgendaConflict(
                    kind="area_without_session",
                    message=f"{name} has no session in the week",
                    practice_area=code,
                )
            )
    for planned in sessions:
        if planned.practice_area is None:
            continue
        if not any(
            planned.practice_area in expertise.get(a.person_id, ()) for a in planned.attendees
        ):
            name = areas.get(planned.practice_area, planned.practice_area)
            found.append(
                AgendaConflict(
                    kind="session_without_expert",
                    message=(
                        f"Session {planned.id} ({planned.topic}, {planned.day} "
                        f"{planned.starts_at:%H:%M}) has nobody who speaks for {name}"
                    ),
                    session_ids=(planned.id,),
                    practice_area=planned.practice_area,
                )
            )
    return found


def expertise_of(session: Session, people: Sequence[SitePerson]) -> dict[int, tuple[str, ...]]:
    """Each person's practice areas, by person number."""
    return {p.id: tuple(person_areas(session, person=p)) for p in people}


def agenda_view(session: Session, *, fda_assessment: FdaAssessment) -> AgendaView:
    """The planner's whole view in one read: days, sessions, attendees, conflicts, people."""
    agenda = find_agenda(session, fda_assessment=fda_assessment)
    areas = area_names(session, fda_assessment=fda_assessment)
    people = list_people(session, site=fda_assessment.site)
    expertise = expertise_of(session, people)
    conflicts = agenda_conflicts(agenda, areas=areas, expertise=expertise)
    all_sessions = sorted(
        agenda.sessions if agenda is not None else [], key=lambda s: (s.day, s.starts_at, s.id)
    )
    views: dict[date, list[SessionView]] = {}
    for planned in all_sessions:
        mine = tuple(c for c in conflicts if planned.id in c.session_ids)
        booked = {c.person_id for c in mine if c.kind == "double_booking"}
        attendees = tuple(
            AttendeeView(
                person=a.person,
                remote=a.remote,
                areas=expertise.get(a.person_id, ()),
                double_booked=a.person_id in booked,
            )
            for a in sorted(planned.attendees, key=lambda a: a.person.name)
        )
        views.setdefault(planned.day, []).append(
            SessionView(
                session=planned,
                area_name=areas.get(planned.practice_area) if planned.practice_area else None,
                attendees=attendees,
                conflicts=mine,
            )
        )
    days = tuple(
        (day, tuple(views.get(day, [])))
        for day in _week_days(fda_assessment.starts_on, fda_assessment.ends_on)
    )
    return AgendaView(
        fda_assessment=fda_assessment,
        revision=agenda.revision if agenda is not None else 0,
        changed_at=agenda.changed_at if agenda is not None else None,
        days=days,
        conflicts=tuple(conflicts),
        people=tuple(people),
        areas=areas,
        person_areas=expertise,
    )


def _week_days(first: date, last: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


def sessions_of(
    session: Session, *, fda_assessment: FdaAssessment, person: SitePerson
) -> list[AgendaSession]:
    """The sessions a person attends (cancelled ones too, so invitations can say so)."""
    agenda = find_agenda(session, fda_assessment=fda_assessment)
    if agenda is None:
        return []
    return sorted(
        (s for s in agenda.sessions if any(a.person_id == person.id for a in s.attendees)),
        key=lambda s: (s.day, s.starts_at, s.id),
    )


def local_moment(fda_assessment: FdaAssessment, day: date, clock: time) -> datetime:
    """A session's wall-clock time as an aware moment in the assessment's time zone."""
    return datetime.combine(day, clock, ZoneInfo(fda_assessment.time_zone))


# --- the demo -----------------------------------------------------------------------------------

#: The demo's people: name, job title, department, email, practice areas they speak for.
DEMO_PEOPLE: Final = (
    ("Dana Whitfield", "Site quality head", "Quality", "dana.whitfield@example.com",
     ("management_commitment", "advanced_pqs")),
    ("Priya Raman", "QC microbiology lead", "Quality Control", "priya.raman@example.com",
     ("technical_excellence",)),
    ("Marco Bianchi", "Supply chain manager", "Supply Chain", "marco.bianchi@example.com",
     ("business_continuity",)),
    ("Aisha Okafor", "Training and culture lead", "Human Resources", "aisha.okafor@example.com",
     ("employee_engagement",)),
    ("Tomás Ruiz", "Production manager", "Manufacturing", None,
     ("technical_excellence", "business_continuity")),
)  # fmt: skip


def demo_agenda(session: Session, *, fda_assessment: FdaAssessment) -> AgendaView:
    """For the demo: a draft agenda covering every area, with one deliberate double booking
    (Priya Raman in the Technical Excellence session and, at the same time, the plant tour).

    Adds the demo's people to the site when they are not there yet (by name)."""
    from qmm.assessment_week.service import add_person

    site = fda_assessment.site
    known = {p.name: p for p in list_people(session, site=site)}
    people: dict[str, SitePerson] = {}
    for name, title, department, email, areas in DEMO_PEOPLE:
        person = known.get(name) or add_person(
            session, site=site, name=name, job_title=title, department=department, email=email
        )
        set_person_areas(session, person=person, practice_areas=list(areas))
        people[name] = person
    days = _week_days(fda_assessment.starts_on, fda_assessment.ends_on)

    def day(n: int) -> date:
        return days[min(n, len(days) - 1)]

    plan = (
        (0, "09:00", "10:00", None, "Opening meeting", ("Dana Whitfield", "Priya Raman")),
        (0, "10:30", "12:00", "management_commitment", None, ("Dana Whitfield",)),
        (0, "13:30", "16:00", "advanced_pqs", None, ("Dana Whitfield", "Tomás Ruiz")),
        (1, "09:00", "11:00", "technical_excellence", None, ("Priya Raman", "Tomás Ruiz")),
        (1, "10:00", "11:30", None, "Plant tour", ("Priya Raman",)),  # the double booking
        (1, "13:00", "14:30", "business_continuity", None, ("Marco Bianchi", "Tomás Ruiz")),
        (2, "09:00", "10:30", "employee_engagement", None, ("Aisha Okafor",)),
        (len(days) - 1, "15:00", "16:00", None, "Closing meeting", ("Dana Whitfield",)),
    )
    rooms = {"Plant tour": "Gowning room"}
    for n, start, end, area, topic, attendees in plan:
        planned = add_session(
            session,
            fda_assessment=fda_assessment,
            day=day(n),
            starts_at=start,
            ends_at=end,
            practice_area=area,
            topic=topic,
            room=rooms.get(topic or "", f"Board room {n + 1}"),
            video_link="https://meet.example.com/fda-qmm" if area else None,
        )
        for name in attendees:
            add_attendee(session, agenda_session=planned, person=people[name])
    return agenda_view(session, fda_assessment=fda_assessment)
