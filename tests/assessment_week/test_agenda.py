"""The week planner: sessions at local times inside the week, attendees from the site's people,
and the conflicts flagged (double bookings, areas without a session, sessions nobody covers)."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy.orm import Session

from factories import create_fda_assessment, create_person, create_site_a, create_site_b
from qmm.assessment_week.agenda import (
    add_attendee,
    add_session,
    agenda_view,
    cancel_session,
    change_session,
    demo_agenda,
    find_agenda,
    get_session,
    remove_attendee,
    set_person_areas,
)
from qmm.assessment_week.service import set_status
from qmm.audit.scope import audit_scope
from qmm.errors import Conflict, NotFound
from qmm.models import AgendaSession, FdaAssessment, Site, SitePerson
from qmm.program.common import InvalidProgramInput

MONDAY = date(2027, 3, 8)


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


@pytest.fixture
def visit(session: Session, site: Site) -> FdaAssessment:
    return create_fda_assessment(session, site)


@pytest.fixture
def priya(session: Session, site: Site) -> SitePerson:
    person = create_person(session, site)
    set_person_areas(session, person=person, practice_areas=["technical_excellence"])
    return person


def _session(session: Session, visit: FdaAssessment, **overrides: object) -> AgendaSession:
    fields: dict[str, object] = {
        "day": MONDAY,
        "starts_at": "09:00",
        "ends_at": "10:30",
        "practice_area": "technical_excellence",
        "room": "Board room",
    }
    fields.update(overrides)
    return add_session(session, fda_assessment=visit, **fields)


def test_a_session_keeps_its_local_times_and_takes_the_areas_name(
    session: Session, visit: FdaAssessment
) -> None:
    planned = _session(session, visit)
    assert (planned.day, planned.starts_at, planned.ends_at) == (MONDAY, time(9), time(10, 30))
    assert planned.topic == "Technical Excellence"
    assert find_agenda(session, fda_assessment=visit).revision == 1  # type: ignore[union-attr]


def test_a_double_booking_is_flagged_and_fixed(
    session: Session, visit: FdaAssessment, priya: SitePerson
) -> None:
    first = _session(session, visit)
    second = _session(
        session, visit, practice_area="advanced_pqs", starts_at="10:00", ends_at="11:00", room="Lab"
    )
    add_attendee(session, agenda_session=first, person=priya)
    add_attendee(session, agenda_session=second, person=priya)
    view = agenda_view(session, fda_assessment=visit)
    booked = [c for c in view.conflicts if c.kind == "double_booking"]
    assert len(booked) == 1
    assert booked[0].person_id == priya.id
    assert booked[0].session_ids == (first.id, second.id)
    assert "Priya Raman is in session" in booked[0].message
    remove_attendee(session, agenda_session=second, person=priya)
    view = agenda_view(session, fda_assessment=visit)
    assert not [c for c in view.conflicts if c.kind == "double_booking"]
    assert find_agenda(session, fda_assessment=visit).revision == 5  # type: ignore[union-attr]


def test_back_to_back_sessions_are_no_double_booking(
    session: Session, visit: FdaAssessment, priya: SitePerson
) -> None:
    first = _session(session, visit)
    second = _session(session, visit, starts_at="10:30", ends_at="11:00")
    add_attendee(session, agenda_session=first, person=priya)
    add_attendee(session, agenda_session=second, person=priya)
    view = agenda_view(session, fda_assessment=visit)
    assert not [c for c in view.conflicts if c.kind == "double_booking"]


def test_areas_without_a_session_and_sessions_without_an_expert_are_flagged(
    session: Session, site: Site, visit: FdaAssessment, priya: SitePerson
) -> None:
    planned = _session(session, visit, practice_area="advanced_pqs")
    add_attendee(session, agenda_session=planned, person=priya)
    view = agenda_view(session, fda_assessment=visit)
    kinds = {(c.kind, c.practice_area) for c in view.conflicts}
    assert ("area_without_session", "technical_excellence") in kinds
    assert ("area_without_session", "advanced_pqs") not in kinds
    assert ("session_without_expert", "advanced_pqs") in kinds
    set_person_areas(session, person=priya, practice_areas=["technical_excellence", "advanced_pqs"])
    view = agenda_view(session, fda_assessment=visit)
    assert "session_without_expert" not in {c.kind for c in view.conflicts}


def test_a_cancelled_session_is_kept_but_raises_no_conflict(
    session: Session, visit: FdaAssessment, priya: SitePerson
) -> None:
    first = _session(session, visit)
    second = _session(session, visit, room="Lab")
    add_attendee(session, agenda_session=first, person=priya)
    add_attendee(session, agenda_session=second, person=priya)
    cancel_session(session, agenda_session=second)
    view = agenda_view(session, fda_assessment=visit)
    assert not [c for c in view.conflicts if c.kind == "double_booking"]
    assert [s.cancelled for s in view.sessions()] == [False, True]
    with pytest.raises(Conflict, match="already cancelled"):
        cancel_session(session, agenda_session=second)


def test_moving_a_session_checks_it_again(session: Session, visit: FdaAssessment) -> None:
    planned = _session(session, visit)
    change_session(
        session, agenda_session=planned, day=date(2027, 3, 9), starts_at="14:00", ends_at="15:00"
    )
    assert (planned.day, planned.starts_at) == (date(2027, 3, 9), time(14))
    with pytest.raises(InvalidProgramInput) as refused:
        change_session(session, agenda_session=planned, ends_at="13:00")
    assert "not after it starts at 14:00" in refused.value.problems["ends_at"]
    assert planned.ends_at == time(15)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (
            {"day": date(2027, 3, 13)},
            "day",
            "outside the assessment week (2027-03-08 to 2027-03-12)",
        ),
        ({"day": None}, "day", "day is required"),
        ({"starts_at": "9h"}, "starts_at", "not a time of day; write it as HH:MM"),
        ({"starts_at": "25:00"}, "starts_at", "not a time of day"),
        ({"ends_at": "08:00"}, "ends_at", "not after it starts at 09:00"),
        ({"ends_at": "09:00"}, "ends_at", "not after it starts at 09:00"),
        ({"ends_at": ""}, "ends_at", "end time is required"),
        ({"practice_area": "quality_culture"}, "practice_area", "not one of the framework's"),
        ({"practice_area": None}, "topic", "give a practice area or a topic"),
        ({"room": None}, "room", "give a room or a video link"),
        (
            {"video_link": "teams meeting"},
            "video_link",
            "must be an address starting with https://",
        ),
        ({"topic": "x\x00"}, "topic", "NUL"),
    ],
)
def test_bad_sessions_are_refused_naming_the_field(
    session: Session, visit: FdaAssessment, overrides: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(InvalidProgramInput) as refused:
        _session(session, visit, **overrides)
    assert words in refused.value.problems[field]
    assert find_agenda(session, fda_assessment=visit) is None  # nothing stored


def test_a_time_the_clocks_skip_is_refused(session: Session, site: Site) -> None:
    visit = create_fda_assessment(
        session, site, starts_on=date(2027, 3, 14), ends_on=date(2027, 3, 14), title="DST"
    )
    with pytest.raises(InvalidProgramInput) as refused:
        _session(session, visit, day=date(2027, 3, 14), starts_at="02:30", ends_at="04:00")
    assert "does not exist on 2027-03-14 in America/New_York" in refused.value.problems["starts_at"]


def test_a_room_holds_one_session_at_a_time(session: Session, visit: FdaAssessment) -> None:
    first = _session(session, visit)
    with pytest.raises(InvalidProgramInput) as refused:
        _session(session, visit, starts_at="10:00", ends_at="11:00", room="board ROOM")
    assert f"by session {first.id}" in refused.value.problems["room"]
    assert len(find_agenda(session, fda_assessment=visit).sessions) == 1  # type: ignore[union-attr]


def test_people_of_another_site_and_repeated_attendees_are_refused(
    session: Session, visit: FdaAssessment, priya: SitePerson
) -> None:
    planned = _session(session, visit)
    stranger = create_person(session, create_site_b(session), name="Ola Berg")
    with pytest.raises(InvalidProgramInput) as refused:
        add_attendee(session, agenda_session=planned, person=stranger)
    assert "not one of SITE-A's people" in refused.value.problems["person_id"]
    add_attendee(session, agenda_session=planned, person=priya)
    with pytest.raises(Conflict, match="already attends"):
        add_attendee(session, agenda_session=planned, person=priya)
    with pytest.raises(NotFound, match="does not attend"):
        remove_attendee(session, agenda_session=planned, person=stranger)


def test_an_unknown_session_and_a_closed_assessment_are_refused(
    session: Session, visit: FdaAssessment
) -> None:
    with pytest.raises(NotFound, match="has no session 999"):
        get_session(session, fda_assessment=visit, session_id=999)
    set_status(session, fda_assessment=visit, status="cancelled")
    with pytest.raises(Conflict, match="can no longer change"):
        _session(session, visit)


def test_unknown_practice_areas_of_a_person_are_refused(
    session: Session, priya: SitePerson
) -> None:
    with pytest.raises(InvalidProgramInput) as refused:
        set_person_areas(session, person=priya, practice_areas=["advanced_pqs", "cooking"])
    assert "'cooking' not a practice area" in refused.value.problems["practice_areas"]


def test_agenda_records_are_scoped_to_the_site(
    session: Session, site: Site, visit: FdaAssessment, priya: SitePerson
) -> None:
    planned = _session(session, visit)
    attendee = add_attendee(session, agenda_session=planned, person=priya)
    for table, number in (
        ("fda_agendas", planned.agenda_id),
        ("fda_agenda_sessions", planned.id),
        ("fda_agenda_attendees", attendee.id),
    ):
        assert audit_scope(session, table=table, record_id=str(number)) == (site, None)


def test_the_demo_agenda_holds_one_deliberate_double_booking(
    session: Session, site: Site, visit: FdaAssessment
) -> None:
    view = demo_agenda(session, fda_assessment=visit)
    booked = [c for c in view.conflicts if c.kind == "double_booking"]
    assert len(booked) == 1
    assert "Priya Raman" in booked[0].message
    assert not [c for c in view.conflicts if c.kind == "area_without_session"]
    assert not [c for c in view.conflicts if c.kind == "session_without_expert"]


def test_a_session_moved_to_another_area_takes_its_name(
    session: Session, visit: FdaAssessment
) -> None:
    planned = _session(session, visit)
    change_session(
        session, agenda_session=planned, practice_area="advanced_pqs", topic="Technical Excellence"
    )
    assert planned.topic == "Advanced Pharmaceutical Quality System"
    change_session(session, agenda_session=planned, topic="PQS deep dive")
    assert (planned.practice_area, planned.topic) == ("advanced_pqs", "PQS deep dive")
