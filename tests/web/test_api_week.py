"""FDA's assessment week in the JSON API: plan, people, the agenda with its conflicts, a card;
bad bodies answered 422 by field (nothing stored), clashes 409, others' assessments 404."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from web.support import World, bearer

PLAN = {
    "title": "FDA QMM assessment 2027",
    "starts_on": "2027-03-08",
    "ends_on": "2027-03-12",
    "time_zone": "Asia/Kolkata",
    "owner": "Dana Whitfield",
}


def test_plan_people_agenda_and_card_through_the_api(
    client: TestClient, db: Session, world: World
) -> None:
    auth = bearer(world.write_tokens["lead-a"])
    made = client.post("/api/sites/SITE-A/fda-assessments", json=PLAN, headers=auth)
    assert made.status_code == 201, made.text
    number = made.json()["id"]
    assert (
        client.post("/api/sites/SITE-A/fda-assessments", json=PLAN, headers=auth).status_code == 409
    )
    person = client.post(
        "/api/sites/SITE-A/people",
        json={"name": "Priya Raman", "job_title": "QC lead", "department": "QC"},
        headers=auth,
    ).json()
    areas = client.post(
        f"/api/sites/SITE-A/people/{person['id']}/practice-areas",
        json={"practice_areas": ["nope"]},
        headers=auth,
    )
    assert areas.status_code == 422
    assert "practice_areas" in areas.json()["problems"]
    base = f"/api/fda-assessments/{number}/agenda"
    session = {
        "day": "2027-03-08",
        "starts_at": "09:00",
        "ends_at": "10:00",
        "topic": "Opening",
        "room": "A",
    }
    first = client.post(f"{base}/sessions", json=session, headers=auth)
    assert first.status_code == 201, first.text
    second = client.post(
        f"{base}/sessions",
        json={**session, "room": "B", "starts_at": "09:30", "ends_at": "11:00"},
        headers=auth,
    )
    ids = [s["id"] for s in second.json()["sessions"]]
    for sid in ids:
        client.post(
            f"{base}/sessions/{sid}/attendees", json={"person_id": person["id"]}, headers=auth
        )
    agenda = client.get(base, headers=auth).json()
    assert [c["kind"] for c in agenda["conflicts"]].count("double_booking") == 1
    assert agenda["sessions"][0]["time_zone"] == "Asia/Kolkata"
    fixed = client.delete(f"{base}/sessions/{ids[1]}/attendees/{person['id']}", headers=auth)
    assert "double_booking" not in [c["kind"] for c in fixed.json()["conflicts"]]
    moved = client.post(
        f"{base}/sessions/{ids[1]}", json={"starts_at": "14:00", "ends_at": "15:00"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    card = client.get(f"/api/fda-assessments/{number}/cards/{person['id']}", headers=auth)
    assert card.status_code == 200, card.text
    assert card.json()["sessions"][0]["topic"] == "Opening"


def test_bad_sessions_are_refused_by_field_and_nothing_is_stored(
    client: TestClient, db: Session, world: World
) -> None:
    auth = bearer(world.write_tokens["lead-a"])
    number = client.post("/api/sites/SITE-A/fda-assessments", json=PLAN, headers=auth).json()["id"]
    base = f"/api/fda-assessments/{number}/agenda"
    refused = client.post(
        f"{base}/sessions",
        json={"day": "2027-03-20", "starts_at": "25:00", "ends_at": "09:00"},
        headers=auth,
    )
    assert refused.status_code == 422
    problems = refused.json()["problems"]
    assert "outside the assessment week" in problems["day"]
    assert "not a time of day" in problems["starts_at"]
    assert "give a room or a video link" in problems["room"]
    assert client.get(base, headers=auth).json()["sessions"] == []
    assert client.get(f"{base}/sessions/1", headers=auth).status_code == 405
    unknown = client.post(f"{base}/sessions/999/cancel", headers=auth)
    assert unknown.status_code == 404
    assert client.get(f"/api/fda-assessments/{number}/cards/999", headers=auth).status_code == 404


def test_another_sites_token_sees_no_such_assessment(
    client: TestClient, db: Session, world: World
) -> None:
    number = client.post(
        "/api/sites/SITE-A/fda-assessments", json=PLAN, headers=bearer(world.write_tokens["lead-a"])
    ).json()["id"]
    response = client.get(f"/api/fda-assessments/{number}", headers=bearer(world.site_b_token))
    assert response.status_code == 404
    assert "no FDA assessment" in response.json()["detail"]
