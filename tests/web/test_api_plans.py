"""The 90-day readiness plan in the JSON API: list, one plan with progress, done and reopened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment.service import get_assessment
from qmm.models import ReadinessPlan, Site, User, utcnow
from qmm.program.plan import approve_plan, generate_plan, get_plan
from web.support import World, bearer, password_of

TODAY = utcnow().date()
API = "/api/sites/SITE-A/plans"


def site_a(db: Session) -> Site:
    site = db.scalar(select(Site).where(Site.code == "SITE-A"))
    assert site is not None
    return site


def make_plan(db: Session, world: World, *, approved: bool, days_ago: int = 0) -> ReadinessPlan:
    """SITE-A's next plan from the world's assessment, started `days_ago`; approved if asked."""
    plan = generate_plan(
        db,
        assessment=get_assessment(db, assessment_id=world.assessment_a),
        owner="Site Director",
        start_on=TODAY - timedelta(days=days_ago),
    )
    if approved:
        lead = db.get(User, world.user_ids["lead-a"])
        assert lead is not None
        approve_plan(db, plan=plan, user=lead, password=password_of("lead-a"))
    db.commit()
    return plan


def action_status(db: Session, number: int) -> tuple[str, object, object]:
    db.expire_all()
    action = get_plan(db, site=site_a(db), ref="PLAN-0001").actions[number - 1]
    return action.status, action.done_on, action.note


@pytest.mark.usefixtures("rollback")
class TestReading:
    def test_the_plans_are_listed_with_their_day_and_actions_done(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        plan = make_plan(db, world, approved=False, days_ago=9)
        listed = client.get(API, headers=bearer(world.read_tokens["viewer-a"]))
        assert listed.status_code == 200
        [row] = listed.json()
        assert (row["ref"], row["status"], row["day"], row["of"]) == ("PLAN-0001", "draft", 10, 90)
        assert (row["done"], row["total"]) == (0, len(plan.actions))
        assert row["path"] == "/sites/SITE-A/plans/PLAN-0001"

    def test_one_plan_comes_with_its_progress_and_overdue_flags(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        make_plan(db, world, approved=True, days_ago=10)
        one = client.get(f"{API}/plan-0001", headers=bearer(world.read_tokens["viewer-a"]))
        assert one.status_code == 200
        data = one.json()
        assert (data["ref"], data["status"], data["owner"]) == (
            "PLAN-0001",
            "approved",
            "Site Director",
        )
        assert data["baseline"] == {"m1": 3.0}
        assert [s["valid"] for s in data["signatures"]] == [True]
        first = data["actions"][0]
        assert (first["number"], first["due_day"], first["overdue"]) == (1, 7, True)
        progress = data["progress"]
        assert (progress["day"], progress["of"], progress["done"]) == (11, 90, 0)
        assert 1 in progress["overdue_actions"]
        assert sum(w["overdue"] for w in progress["workstreams"]) == len(
            progress["overdue_actions"]
        )

    def test_unknown_plans_are_not_found(self, client: TestClient, world: World) -> None:
        token = bearer(world.read_tokens["viewer-a"])
        assert client.get(f"{API}/PLAN-0999", headers=token).status_code == 404
        assert client.get(f"{API}/{world.evidence_ref}", headers=token).status_code == 404


@pytest.mark.usefixtures("rollback")
class TestTracking:
    def test_an_action_is_done_and_reopened(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        make_plan(db, world, approved=True)
        token = bearer(world.write_tokens["contrib-a"])
        done = client.post(
            f"{API}/PLAN-0001/actions/1/complete",
            json={"done_on": TODAY.isoformat(), "note": "Charter EV-12"},
            headers=token,
        )
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["done_on"]) == ("done", TODAY.isoformat())
        assert action_status(db, 1) == ("done", TODAY, "Charter EV-12")
        twice = client.post(
            f"{API}/PLAN-0001/actions/1/complete",
            json={"done_on": TODAY.isoformat()},
            headers=token,
        )
        assert twice.status_code == 409
        reopened = client.post(
            f"{API}/PLAN-0001/actions/1/reopen", json={"note": "Not filed"}, headers=token
        )
        assert reopened.status_code == 200
        assert action_status(db, 1) == ("open", None, "Not filed")
        again = client.post(f"{API}/PLAN-0001/actions/1/reopen", json={}, headers=token)
        assert again.status_code == 409

    def test_a_future_date_is_refused_by_field_and_changes_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        make_plan(db, world, approved=True)
        refused = client.post(
            f"{API}/PLAN-0001/actions/2/complete",
            json={"done_on": (TODAY + timedelta(days=1)).isoformat()},
            headers=bearer(world.write_tokens["lead-a"]),
        )
        assert refused.status_code == 422
        assert "in the future" in refused.json()["problems"]["done_on"]
        assert action_status(db, 2) == ("open", None, None)

    @pytest.mark.parametrize(
        "body",
        [{}, {"done_on": "soon"}, {"done_on": "2026-01-01", "note": "a\x00b"}, {"x": 1}],
    )
    def test_a_malformed_body_is_refused(
        self, client: TestClient, db: Session, world: World, body: dict[str, object]
    ) -> None:
        make_plan(db, world, approved=True)
        refused = client.post(
            f"{API}/PLAN-0001/actions/1/complete",
            json=body,
            headers=bearer(world.write_tokens["lead-a"]),
        )
        assert refused.status_code == 422
        assert action_status(db, 1)[0] == "open"

    def test_a_draft_is_not_tracked_and_numbers_out_of_range_are_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        make_plan(db, world, approved=False)
        token = bearer(world.write_tokens["lead-a"])
        body = {"done_on": TODAY.isoformat()}
        draft = client.post(f"{API}/PLAN-0001/actions/1/complete", json=body, headers=token)
        assert draft.status_code == 409
        assert "approve it before tracking" in draft.json()["detail"]
        for number in ("0", "99999999999999999999"):
            url = f"{API}/PLAN-0001/actions/{number}/complete"
            assert client.post(url, json=body, headers=token).status_code == 422, number
        missing = client.post(f"{API}/PLAN-0001/actions/999/complete", json=body, headers=token)
        assert missing.status_code == 404

    def test_readers_and_read_tokens_may_not_track(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        make_plan(db, world, approved=True)
        body = {"done_on": TODAY.isoformat()}
        url = f"{API}/PLAN-0001/actions/1/complete"
        for token in (world.write_tokens["viewer-a"], world.read_tokens["lead-a"]):
            assert client.post(url, json=body, headers=bearer(token)).status_code == 403
        assert action_status(db, 1)[0] == "open"
