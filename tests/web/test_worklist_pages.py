"""Needs attention on the start page, the site dashboard and the API, within each person's sites."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qmm.assessment.service import get_assessment
from qmm.models import User, utcnow
from qmm.program.plan import approve_plan, generate_plan
from web.support import World, bearer, password_of, sign_in

TODAY = utcnow().date()


def overdue_plan(db: Session, world: World) -> None:
    """SITE-A runs a plan started 40 days ago: its early actions are overdue."""
    plan = generate_plan(
        db,
        assessment=get_assessment(db, assessment_id=world.assessment_a),
        owner="Site Director",
        start_on=TODAY - timedelta(days=40),
    )
    lead = db.get(User, world.user_ids["lead-a"])
    assert lead is not None
    approve_plan(db, plan=plan, user=lead, password=password_of("lead-a"))
    db.commit()


def test_the_start_page_opens_with_what_needs_attention(
    client: TestClient, db: Session, world: World
) -> None:
    overdue_plan(db, world)
    sign_in(client, db, world, "lead-a")
    page = client.get("/").text
    assert page.index("Needs attention") < page.index("Practice areas by site")
    assert 'href="/sites/SITE-A/plans/PLAN-0001#action-1"' in page
    assert "PLAN-0001 action 1: Name an executive owner" in page
    assert "Site Director" in page
    assert "days late" in page
    assert 'href="/sites/SITE-A/program#steering"' in page  # the January meeting was not held


def test_the_site_dashboard_leads_with_areas_kpis_then_the_worklist(
    client: TestClient, db: Session, world: World
) -> None:
    overdue_plan(db, world)
    sign_in(client, db, world, "viewer-a")
    page = client.get("/sites/SITE-A").text
    assert page.index("kpi-title") < page.index("worklist-title") < page.index("sub-title")
    assert "PLAN-0001 action 1" in page
    assert "<details>" in page


def test_the_api_keeps_to_the_callers_sites(client: TestClient, db: Session, world: World) -> None:
    overdue_plan(db, world)
    lead_b = client.get("/api/worklist", headers=bearer(world.read_tokens["lead-b"])).json()
    assert lead_b["sites"] == ["SITE-B"]
    assert all(i["site"] == "SITE-B" for i in lead_b["items"])
    lead_a = client.get("/api/sites/SITE-A/worklist", headers=bearer(world.read_tokens["lead-a"]))
    body = lead_a.json()
    assert set(body) == {"as_of", "sites", "overdue", "due", "waiting", "attention", "items"}
    action = next(i for i in body["items"] if i["kind"] == "plan_action")
    assert set(action) == {
        "kind",
        "kind_name",
        "site",
        "title",
        "owner",
        "due_on",
        "state",
        "age_days",
        "path",
    }
    assert action["state"] == "overdue"
    refused = client.get("/api/sites/SITE-A/worklist", headers=bearer(world.read_tokens["lead-b"]))
    assert refused.status_code == 404  # a site one may not read is answered as an unknown one
