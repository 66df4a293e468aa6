"""FDA's assessment week in the web app: plan one from the site's list, its timeline, the
site's people, the planner flagging and fixing a double booking, the agenda PDF, an attendee's
invitation and card; bad forms named with nothing stored; other sites' readers see nothing."""

from __future__ import annotations

from datetime import date

import icalendar
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_fda_assessment, create_person
from qmm.assessment_week.agenda import find_agenda, set_person_areas
from qmm.models import FdaAssessment, Site
from web.support import World, sign_in


def _visit(db: Session, world: World) -> tuple[FdaAssessment, int, int]:
    site = db.get(Site, world.site_a)
    assert site is not None
    visit = create_fda_assessment(db, site)
    priya = create_person(db, site)
    omar = create_person(db, site, name="Omar Haddad", email=None)
    set_person_areas(db, person=priya, practice_areas=["technical_excellence"])
    db.commit()
    return visit, priya.id, omar.id


def test_plan_an_assessment_from_the_site_and_see_its_timeline(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    assert "/sites/SITE-A/fda-assessments" in client.get("/sites/SITE-A").text
    page = client.get("/sites/SITE-A/fda-assessments")
    assert "Plan an FDA assessment" in page.text
    made = client.post(
        "/sites/SITE-A/fda-assessments",
        data={
            "title": "FDA QMM assessment 2027",
            "starts_on": "2027-03-08",
            "ends_on": "2027-03-12",
            "time_zone": "America/Chicago",
            "owner": "Dana Whitfield",
            "csrf_token": csrf,
        },
    )
    assert made.status_code == 303, made.text
    detail = client.get(made.headers["location"])
    assert "FDA&#39;s virtual orientation" in detail.text
    assert "America/Chicago" in detail.text
    for link in ("/examples", "/questionnaire", "/agenda", "/mock-interviews", "/feedback"):
        assert link in detail.text
    number = made.headers["location"].rsplit("/", 1)[1]
    moved = client.post(
        f"/fda-assessments/{number}/milestones",
        data={"kind": "agenda_sent", "owner": "Sam Ortiz", "csrf_token": csrf},
    )
    assert moved.status_code == 303, moved.text
    detail = client.get(f"/fda-assessments/{number}").text
    assert "Sam Ortiz" in detail
    assert 'id="milestone-agenda_sent"' in detail  # the worklist links each step here


def test_a_bad_plan_names_each_field_and_stores_nothing(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    refused = client.post(
        "/sites/SITE-A/fda-assessments",
        data={
            "title": "",
            "starts_on": "2027-03-08",
            "ends_on": "2027-03-20",
            "time_zone": "Mars/Olympus",
            "owner": "Dana",
            "csrf_token": csrf,
        },
    )
    assert refused.status_code == 422
    assert "title must not be empty" in refused.text
    assert "at most 5 days" in refused.text
    assert "not an IANA time zone" in refused.text
    assert "No FDA assessment is recorded" in client.get("/sites/SITE-A/fda-assessments").text


def test_add_a_person_and_the_areas_they_speak_for(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    added = client.post(
        "/sites/SITE-A/people",
        data={
            "name": "Lena Brandt",
            "job_title": "QA director",
            "department": "Quality",
            "email": "lena@example.com",
            "csrf_token": csrf,
        },
    )
    assert added.status_code == 303, added.text
    number = added.headers["location"].rsplit("-", 1)[1]
    again = client.post(
        "/sites/SITE-A/people",
        data={"name": "Lena Brandt", "job_title": "QA", "department": "Q", "csrf_token": csrf},
    )
    assert again.status_code == 422
    assert "already one of SITE-A" in again.text
    areas = client.post(
        f"/sites/SITE-A/people/{number}/areas",
        data={"practice_areas": ["advanced_pqs", "cooking"], "csrf_token": csrf},
    )
    assert areas.status_code == 422
    assert "&#39;cooking&#39; not a practice area" in areas.text
    ok = client.post(
        f"/sites/SITE-A/people/{number}/areas",
        data={"practice_areas": ["advanced_pqs"], "csrf_token": csrf},
    )
    assert ok.status_code == 303


def test_the_planner_flags_a_double_booking_and_the_fix_clears_it(
    client: TestClient, db: Session, world: World
) -> None:
    visit, priya, _ = _visit(db, world)
    csrf = sign_in(client, db, world, "lead-a")
    base = f"/fda-assessments/{visit.id}/agenda"
    for start, end, area, room in (
        ("09:00", "10:30", "technical_excellence", "Board room"),
        ("10:00", "11:00", "advanced_pqs", "Lab"),
    ):
        made = client.post(
            f"{base}/sessions",
            data={
                "day": "2027-03-08",
                "starts_at": start,
                "ends_at": end,
                "practice_area": area,
                "room": room,
                "csrf_token": csrf,
            },
        )
        assert made.status_code == 303, made.text
    agenda = find_agenda(db, fda_assessment=visit)
    assert agenda is not None
    db.refresh(agenda)
    first, second = sorted(s.id for s in agenda.sessions)
    for sid in (first, second):
        joined = client.post(
            f"{base}/sessions/{sid}/attendees", data={"person_id": str(priya), "csrf_token": csrf}
        )
        assert joined.status_code == 303, joined.text
    page = client.get(base)
    assert "A person is in two sessions at once" in page.text
    assert "double-booked" in page.text
    removed = client.post(
        f"{base}/sessions/{second}/attendees/{priya}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    assert "A person is in two sessions at once" not in client.get(base).text

    ics = client.get(f"/fda-assessments/{visit.id}/invitations/{priya}.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    events = list(icalendar.Calendar.from_ical(ics.content).walk("VEVENT"))
    assert len(events) == 1
    assert events[0].decoded("DTSTART").isoformat() == "2027-03-08T09:00:00-05:00"
    pdf = client.get(f"{base}.pdf")
    assert pdf.content.startswith(b"%PDF")
    card = client.get(f"/fda-assessments/{visit.id}/cards/{priya}")
    assert card.status_code == 200, card.text
    assert "Preparation card: Priya Raman" in card.text
    assert "Questions likely asked" in card.text
    card_pdf = client.get(f"/fda-assessments/{visit.id}/cards/{priya}.pdf")
    assert card_pdf.content.startswith(b"%PDF")


def test_bad_sessions_and_attendees_are_named_and_nothing_is_stored(
    client: TestClient, db: Session, world: World
) -> None:
    visit, _, _ = _visit(db, world)
    csrf = sign_in(client, db, world, "lead-a")
    base = f"/fda-assessments/{visit.id}/agenda"
    refused = client.post(
        f"{base}/sessions",
        data={"day": "2027-03-15", "starts_at": "10:00", "ends_at": "09:00", "csrf_token": csrf},
    )
    assert refused.status_code == 422
    assert "outside the assessment week" in refused.text
    assert "not after it starts at 10:00" in refused.text
    assert "give a room or a video link" in refused.text
    assert find_agenda(db, fda_assessment=visit) is None
    client.post(
        f"{base}/sessions",
        data={
            "day": "2027-03-08",
            "starts_at": "09:00",
            "ends_at": "10:00",
            "topic": "Opening meeting",
            "room": "Board room",
            "csrf_token": csrf,
        },
    )
    agenda = find_agenda(db, fda_assessment=visit)
    assert agenda is not None
    db.refresh(agenda)
    sid = agenda.sessions[0].id
    unknown = client.post(
        f"{base}/sessions/{sid}/attendees", data={"person_id": "999", "csrf_token": csrf}
    )
    assert unknown.status_code == 422
    assert "SITE-A has no person 999" in unknown.text
    assert client.get(f"/fda-assessments/{visit.id}/agenda/sessions").status_code in (404, 405)
    assert client.get(f"/fda-assessments/{visit.id}/cards/999").status_code == 404


def test_a_reader_of_another_site_sees_no_such_assessment(
    client: TestClient, db: Session, world: World
) -> None:
    visit, _, _ = _visit(db, world)
    sign_in(client, db, world, "lead-b")
    response = client.get(f"/fda-assessments/{visit.id}")
    assert response.status_code == 404
    assert "no FDA assessment" in response.text
    assert date(2027, 3, 8) == visit.starts_on


def test_moving_a_session_from_the_planner_checks_it_again(
    client: TestClient, db: Session, world: World
) -> None:
    visit, _, _ = _visit(db, world)
    csrf = sign_in(client, db, world, "lead-a")
    base = f"/fda-assessments/{visit.id}/agenda"
    fields = {
        "day": "2027-03-08",
        "starts_at": "09:00",
        "ends_at": "10:00",
        "topic": "Opening meeting",
        "room": "Board room",
    }
    client.post(f"{base}/sessions", data={**fields, "csrf_token": csrf})
    agenda = find_agenda(db, fda_assessment=visit)
    assert agenda is not None
    db.refresh(agenda)
    sid = agenda.sessions[0].id
    assert "Move or change" in client.get(base).text
    moved = client.post(
        f"{base}/sessions/{sid}", data={**fields, "day": "2027-03-09", "csrf_token": csrf}
    )
    assert moved.status_code == 303, moved.text
    refused = client.post(
        f"{base}/sessions/{sid}", data={**fields, "ends_at": "08:00", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "not after it starts at 09:00" in refused.text
    db.refresh(agenda.sessions[0])
    assert agenda.sessions[0].day == date(2027, 3, 9)
