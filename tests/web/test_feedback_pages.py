"""Mock interviews, FDA's feedback and the calibration view: the pages and the JSON API."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import create_fda_assessment, tiny_pdf
from qmm.assessment.service import get_assessment
from qmm.assessment_week.service import choose_self_assessment
from qmm.models import AuditEntry, FdaFeedback, MockAnswer, PlanAction, Site, utcnow
from qmm.program.plan import generate_plan
from web.support import World, bearer, sign_in

pytestmark = pytest.mark.usefixtures("world_files")


@pytest.fixture
def visit_id(db: Session, world: World) -> int:
    """SITE-A's past FDA week (2026-06-08 to 06-11), compared with the world's assessment."""
    site = db.get(Site, world.site_a)
    assert site is not None
    visit = create_fda_assessment(
        db, site, title="FDA 2026", starts_on=date(2026, 6, 8), ends_on=date(2026, 6, 11)
    )
    choose_self_assessment(
        db, fda_assessment=visit, assessment=get_assessment(db, assessment_id=world.assessment_a)
    )
    db.commit()
    return visit.id


def api(visit_id: int) -> str:
    return f"/api/fda-assessments/{visit_id}"


FEEDBACK = {
    "received_on": "2026-08-03",
    "area_scores": {"management_commitment": 2.0},
    "findings": [
        {
            "kind": "opportunity",
            "practice_area": "management_commitment",
            "text": "Show the quality council acting on KPIs",
        }
    ],
}


class TestTheApi:
    def test_a_mock_interview_scored_then_compared(
        self, client: TestClient, db: Session, world: World, visit_id: int
    ) -> None:
        lead = bearer(world.write_tokens["lead-a"])
        made = client.post(
            f"{api(visit_id)}/mock-interviews",
            json={
                "practice_area": "management_commitment",
                "assessor": "Sam",
                "held_on": "2026-05-20",
                "session_label": "Day 1 pm",
            },
            headers=lead,
        )
        assert made.status_code == 201, made.text
        mock_id = made.json()["id"]
        scored = client.post(
            f"{api(visit_id)}/mock-interviews/{mock_id}/answers",
            json={
                "question": "m1.q1",
                "score": 2,
                "notes": "no minutes",
                "follow_up": "Print the minutes",
            },
            headers=lead,
        )
        assert scored.status_code == 200, scored.text
        assert scored.json()["answers"][0]["follow_up"] == "Print the minutes"
        gaps = client.get(f"{api(visit_id)}/mock-gaps", headers=lead).json()
        assert [(q["question"], q["mock_score"], q["self_score"]) for q in gaps["questions"]] == [
            ("m1.q1", 2, 3.0)
        ]
        listed = client.get(f"{api(visit_id)}/mock-interviews", headers=lead).json()
        assert [m["id"] for m in listed] == [mock_id]
        one = client.get(f"{api(visit_id)}/mock-interviews/{mock_id}", headers=lead).json()
        assert one == scored.json()
        plan = generate_plan(
            db,
            assessment=get_assessment(db, assessment_id=world.assessment_a),
            owner="Site Director",
            start_on=utcnow().date(),
        )
        db.commit()
        follow_ups = f"{api(visit_id)}/mock-interviews/{mock_id}/follow-ups"
        planned = client.post(
            follow_ups, json={"question": "m1.q1", "plan": plan.ref}, headers=lead
        )
        assert planned.status_code == 201, planned.text
        action_id = planned.json()["answers"][0]["plan_action_id"]
        action = db.get(PlanAction, action_id)
        assert action is not None
        assert (action.source, action.title) == (
            "mock_follow_up",
            "Mock interview follow-up: Print the minutes",
        )
        again = client.post(follow_ups, json={"question": "m1.q1", "plan": plan.ref}, headers=lead)
        assert again.status_code == 409
        assert "already plan action" in again.json()["detail"]

    @pytest.mark.parametrize("score", [0, 6, 3.5, "four", None])
    def test_a_score_outside_one_to_five_is_refused_by_field(
        self, client: TestClient, db: Session, world: World, visit_id: int, score: object
    ) -> None:
        lead = bearer(world.write_tokens["lead-a"])
        mock_id = client.post(
            f"{api(visit_id)}/mock-interviews",
            json={
                "practice_area": "management_commitment",
                "assessor": "S",
                "held_on": "2026-05-20",
            },
            headers=lead,
        ).json()["id"]
        refused = client.post(
            f"{api(visit_id)}/mock-interviews/{mock_id}/answers",
            json={"question": "m1.q1", "score": score},
            headers=lead,
        )
        assert refused.status_code == 422
        assert "from 1 to 5" in refused.json()["problems"]["score"]
        assert db.scalars(select(MockAnswer)).all() == []

    def test_unknown_practice_area_and_future_day_are_refused(
        self, client: TestClient, world: World, visit_id: int
    ) -> None:
        refused = client.post(
            f"{api(visit_id)}/mock-interviews",
            json={"practice_area": "vibes", "assessor": "S", "held_on": "2099-01-01"},
            headers=bearer(world.write_tokens["lead-a"]),
        )
        assert refused.status_code == 422
        problems = refused.json()["problems"]
        assert "'vibes' is not one of" in problems["practice_area"]
        assert "in the future" in problems["held_on"]

    def test_feedback_calibration_and_the_plan(
        self, client: TestClient, db: Session, world: World, visit_id: int
    ) -> None:
        lead = bearer(world.write_tokens["lead-a"])
        early = client.put(
            f"{api(visit_id)}/feedback",
            json={**FEEDBACK, "received_on": "2026-06-01", "evidence_ref": world.evidence_ref},
            headers=lead,
        )
        assert early.status_code == 422
        assert "before the week ends" in early.json()["problems"]["received_on"]
        assert client.get(f"{api(visit_id)}/feedback", headers=lead).status_code == 404
        stored = client.put(
            f"{api(visit_id)}/feedback",
            json={**FEEDBACK, "evidence_ref": world.evidence_ref},
            headers=lead,
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["document"] == world.evidence_ref
        calibration = client.get(f"{api(visit_id)}/calibration", headers=lead).json()
        mc = next(a for a in calibration["areas"] if a["practice_area"] == "management_commitment")
        # Hand-computed: self m1 = 3 (contrib-a's rating, the only one), FDA 2.0: gap +1.0.
        assert (mc["self_score"], mc["fda_score"], mc["gap"]) == (3.0, 2.0, 1.0)
        history = client.get("/api/sites/SITE-A/calibration", headers=lead).json()
        assert [c["fda_assessment_id"] for c in history] == [visit_id]
        across = client.get("/api/calibration", headers=lead).json()
        assert across["sites"] == ["SITE-A"]
        root_view = client.get("/api/calibration", headers=bearer(world.write_tokens["lead-b"]))
        assert root_view.json()["sites"] == []  # lead-b reads SITE-B only
        plan = client.post(
            f"{api(visit_id)}/feedback/plan",
            json={"owner": "Site Director", "start_on": str(utcnow().date()), "supersede": False},
            headers=lead,
        )
        assert plan.status_code == 201, plan.text
        tables = set(db.scalars(select(AuditEntry.table_name)))
        assert {"fda_feedback", "fda_area_scores", "fda_findings"} <= tables

    def test_another_sites_people_neither_read_nor_write(
        self, client: TestClient, world: World, visit_id: int
    ) -> None:
        other = bearer(world.write_tokens["lead-b"])
        assert client.get(f"{api(visit_id)}/mock-interviews", headers=other).status_code == 404
        refused = client.put(
            f"{api(visit_id)}/feedback",
            json={**FEEDBACK, "evidence_ref": world.evidence_ref},
            headers=other,
        )
        assert refused.status_code == 404
        viewer = bearer(world.write_tokens["viewer-a"])
        assert client.get(f"{api(visit_id)}/mock-interviews", headers=viewer).status_code == 200
        written = client.post(
            f"{api(visit_id)}/mock-interviews",
            json={
                "practice_area": "management_commitment",
                "assessor": "S",
                "held_on": "2026-05-20",
            },
            headers=viewer,
        )
        assert written.status_code == 403
        assert client.get("/api/fda-assessments/999999/feedback", headers=viewer).status_code == 404


class TestThePages:
    def test_mock_interview_pages_score_and_show_what_falls_below(
        self, client: TestClient, db: Session, world: World, visit_id: int
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        base = f"/fda-assessments/{visit_id}/mock-interviews"
        page = client.get(base)
        assert page.status_code == 200
        assert "Open a mock interview" in page.text
        bad = client.post(
            base,
            data={"csrf_token": csrf, "practice_area": "vibes", "assessor": "", "held_on": ""},
        )
        assert bad.status_code == 422
        assert "is not one of" in bad.text
        opened = client.post(
            base,
            data={
                "csrf_token": csrf,
                "practice_area": "management_commitment",
                "assessor": "Sam Ode",
                "held_on": "2026-05-20",
                "session_label": "",
            },
            follow_redirects=False,
        )
        assert opened.status_code == 303
        sheet_url = opened.headers["location"].split("?")[0]
        sheet = client.get(sheet_url)
        assert "m1.q1" in sheet.text
        assert "Record the mock score" in sheet.text
        refused = client.post(
            f"{sheet_url}/answers",
            data={"csrf_token": csrf, "question": "m1.q1", "score": "7", "notes": ""},
        )
        assert refused.status_code == 422
        assert "from 1 to 5" in refused.text
        scored = client.post(
            f"{sheet_url}/answers",
            data={
                "csrf_token": csrf,
                "question": "m1.q1",
                "score": "2",
                "notes": "thin",
                "follow_up": "Bring minutes",
            },
            follow_redirects=False,
        )
        assert scored.status_code == 303
        assert "No draft plan of SITE-A to add it to" in client.get(sheet_url).text
        listing = client.get(base).text
        assert "Where the mock scores fall below the self-assessment" in listing
        assert "m1.q1" in listing

    def test_feedback_page_records_with_a_file_and_shows_the_gap(
        self, client: TestClient, db: Session, world: World, visit_id: int
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"/fda-assessments/{visit_id}/feedback"
        assert "Record FDA's feedback" in client.get(url).text
        form = {
            "csrf_token": csrf,
            "received_on": "2026-08-03",
            "score_management_commitment": "2",
            "opportunities": "nonsense line",
        }
        bad = client.post(url, data=form)
        assert bad.status_code == 422
        assert "names no practice area" in bad.text
        too_high = client.post(
            url, data={**form, "opportunities": "", "score_advanced_pqs": "7", "received_on": "x"}
        )
        assert too_high.status_code == 422
        assert "is above 5" in too_high.text
        assert "must be a date" in too_high.text
        assert db.scalars(select(FdaFeedback)).all() == []
        form["opportunities"] = "management_commitment: Show the council acting on KPIs"
        done = client.post(
            url,
            data=form,
            files={"upload": ("fda-letter.pdf", tiny_pdf("FDA letter"), "application/pdf")},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        shown = client.get(url).text
        assert "+1.00 rated too high" in shown
        assert "Feed the gaps into a new 90-day plan" in shown
        planned = client.post(
            f"{url}/plan",
            data={"csrf_token": csrf, "owner": "Site Director", "start_on": str(utcnow().date())},
            follow_redirects=False,
        )
        assert planned.status_code == 303
        plan_page = client.get(planned.headers["location"]).text
        assert "Close the gap FDA found in Management Commitment" in plan_page

    def test_calibration_views_per_site_and_across_sites(
        self, client: TestClient, db: Session, world: World, visit_id: int
    ) -> None:
        client.put(
            f"{api(visit_id)}/feedback",
            json={**FEEDBACK, "evidence_ref": world.evidence_ref},
            headers=bearer(world.write_tokens["lead-a"]),
        )
        sign_in(client, db, world, "viewer-a")
        site_page = client.get("/sites/SITE-A/calibration")
        assert site_page.status_code == 200
        assert "Rated too high:" in site_page.text
        assert "<svg" in site_page.text
        across = client.get("/calibration")
        assert across.status_code == 200
        assert "/sites/SITE-A/calibration" in across.text
        sign_in(client, db, world, "lead-b")
        assert "No site you may read has FDA" in client.get("/calibration").text
        assert client.get(f"/fda-assessments/{visit_id}/feedback").status_code == 404

    def test_a_follow_up_of_an_unscored_question_is_refused_on_the_page(
        self, client: TestClient, db: Session, world: World, visit_id: int
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        base = f"/fda-assessments/{visit_id}/mock-interviews"
        opened = client.post(
            base,
            data={
                "csrf_token": csrf,
                "practice_area": "management_commitment",
                "assessor": "Sam Ode",
                "held_on": "2026-05-20",
            },
            follow_redirects=False,
        )
        sheet_url = opened.headers["location"].split("?")[0]
        refused = client.post(
            f"{sheet_url}/follow-ups",
            data={"csrf_token": csrf, "question": "m1.q1", "plan": "PLAN-0001"},
        )
        assert refused.status_code == 409
        assert "has not scored question" in refused.text
