"""The week's documents as their readers get them: the .ics parsed with icalendar (local times
in the site's zone, stable UIDs, SEQUENCE the agenda's revision, cancellations), the agenda and
card PDFs read with pdftotext, and the same inputs giving the same bytes."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy.orm import Session

from factories import create_evidence, create_fda_assessment, create_person, create_site_a
from qmm.assessment_week.agenda import (
    add_attendee,
    add_session,
    agenda_view,
    cancel_session,
    change_session,
    find_agenda,
    set_person_areas,
)
from qmm.assessment_week.cards import build_card
from qmm.auth.scope import Operator
from qmm.events.store import EventStore
from qmm.models import AgendaSession, FdaAssessment, SitePerson
from qmm.reports.week_docs import agenda_pdf, card_html, card_pdf, invitation_for

NEW_YORK = ZoneInfo("America/New_York")


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: install Debian's `poppler-utils`")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def week(session: Session) -> tuple[FdaAssessment, SitePerson, AgendaSession, AgendaSession]:
    site = create_site_a(session)
    visit = create_fda_assessment(session, site)
    priya = create_person(session, site)
    set_person_areas(session, person=priya, practice_areas=["technical_excellence"])
    create_evidence(session, site, sub_elements=("data_excellence",))
    te = add_session(
        session,
        fda_assessment=visit,
        day=date(2027, 3, 8),
        starts_at="09:00",
        ends_at="10:30",
        practice_area="technical_excellence",
        room="Board room",
        video_link="https://meet.example.com/fda-te",
    )
    tour = add_session(
        session,
        fda_assessment=visit,
        day=date(2027, 3, 9),
        starts_at="13:00",
        ends_at="14:00",
        topic="Plant tour",
        room="Gowning room",
    )
    add_attendee(session, agenda_session=te, person=priya)
    add_attendee(session, agenda_session=tour, person=priya)
    return visit, priya, te, tour


def _events(ics: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(ics)
    return list(calendar.walk("VEVENT"))


def test_the_invitation_holds_the_sessions_at_local_time(
    session: Session, week: tuple[FdaAssessment, SitePerson, AgendaSession, AgendaSession]
) -> None:
    visit, priya, te, tour = week
    agenda = find_agenda(session, fda_assessment=visit)
    ics = invitation_for(session, fda_assessment=visit, agenda=agenda, person=priya)
    calendar = icalendar.Calendar.from_ical(ics)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    events = _events(ics)
    assert [e["UID"] for e in events] == [
        f"fda-{visit.id}-session-{te.id}@qmm-workbench.invalid",
        f"fda-{visit.id}-session-{tour.id}@qmm-workbench.invalid",
    ]
    start = events[0].decoded("DTSTART")
    assert start == datetime(2027, 3, 8, 9, 0, tzinfo=NEW_YORK)
    assert start.utcoffset().total_seconds() == -5 * 3600  # EST, before the clocks change
    assert events[0]["DTSTART"].params["TZID"] == "America/New_York"
    assert events[0].decoded("DTEND") == datetime(2027, 3, 8, 10, 30, tzinfo=NEW_YORK)
    assert events[0]["SEQUENCE"] == 4  # two sessions planned, two attendees added
    assert events[0]["STATUS"] == "CONFIRMED"
    assert str(events[0]["ATTENDEE"]) == "mailto:priya.raman@example.com"
    assert "Board room" in events[0]["LOCATION"]


def test_a_change_raises_the_sequence_and_a_cancellation_is_sent(
    session: Session, week: tuple[FdaAssessment, SitePerson, AgendaSession, AgendaSession]
) -> None:
    visit, priya, te, tour = week
    change_session(session, agenda_session=te, starts_at="11:00", ends_at="12:00")
    cancel_session(session, agenda_session=tour)
    agenda = find_agenda(session, fda_assessment=visit)
    events = _events(invitation_for(session, fda_assessment=visit, agenda=agenda, person=priya))
    assert [e["SEQUENCE"] for e in events] == [6, 6]
    assert events[0].decoded("DTSTART") == datetime(2027, 3, 8, 11, 0, tzinfo=NEW_YORK)
    assert [e["STATUS"] for e in events] == ["CONFIRMED", "CANCELLED"]
    assert events[1]["UID"] == f"fda-{visit.id}-session-{tour.id}@qmm-workbench.invalid"


def test_the_invitation_is_the_same_bytes_for_the_same_agenda(
    session: Session, week: tuple[FdaAssessment, SitePerson, AgendaSession, AgendaSession]
) -> None:
    visit, priya, _, _ = week
    agenda = find_agenda(session, fda_assessment=visit)
    first = invitation_for(session, fda_assessment=visit, agenda=agenda, person=priya)
    second = invitation_for(session, fda_assessment=visit, agenda=agenda, person=priya)
    assert first == second


def test_the_agenda_pdf_reads_as_the_agenda_and_repeats_byte_for_byte(
    session: Session,
    week: tuple[FdaAssessment, SitePerson, AgendaSession, AgendaSession],
    tmp_path: Path,
) -> None:
    visit, _, _, _ = week
    view = agenda_view(session, fda_assessment=visit)
    pdf = agenda_pdf(view)
    text = pdftotext(pdf, tmp_path)
    assert "Agenda: FDA QMM assessment 2027" in text
    assert "Local time in America/New_York" in text
    assert "Monday 2027-03-08" in text
    assert "09:00–10:30" in text
    assert "Priya Raman" in text
    assert "Advanced Pharmaceutical Quality System has no session in the week" in text
    assert agenda_pdf(agenda_view(session, fda_assessment=visit)) == pdf


def test_the_card_carries_sessions_questions_evidence_kpis_and_gaps(
    session: Session,
    week: tuple[FdaAssessment, SitePerson, AgendaSession, AgendaSession],
    tmp_path: Path,
) -> None:
    visit, priya, _, _ = week
    card = build_card(
        session,
        fda_assessment=visit,
        person=priya,
        reader=Operator(),
        store=EventStore(tmp_path / "events"),
        today=date(2027, 1, 15),
    )
    assert [a.code for a in card.areas] == ["technical_excellence"]
    area = card.areas[0]
    assert area.questions
    assert area.kpis
    assert any(name for name, _ in area.evidence)
    assert area.gaps  # no self-assessment and little evidence: the gaps are named
    changed = find_agenda(session, fda_assessment=visit).changed_at  # type: ignore[union-attr]
    html = card_html(card, changed_at=changed)
    assert "Preparation card: Priya Raman" in html
    pdf = card_pdf(card, changed_at=changed)
    text = pdftotext(pdf, tmp_path)
    assert "Preparation card: Priya Raman" in text
    assert "Your sessions (local time, America/New_York)" in text
    assert "Technical Excellence" in text
    assert "Questions likely asked" in text
    assert "Deviation management SOP" in text
    assert card_pdf(card, changed_at=changed) == pdf
    assert time(9) == card.sessions[0].starts_at
