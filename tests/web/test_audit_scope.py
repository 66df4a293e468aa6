"""A program or assessment record's audit history is open to those who read its site's trail."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import create_trigger
from qmm.models import Decision, Rating, Site, SteeringMeeting
from qmm.program.continuity import record_level
from web.support import World, sign_in


def site_a_records(db: Session, world: World) -> dict[str, int]:
    """One record of each shape: a site's own, a grandchild, a child made here, an assessment's."""
    site_a = db.get(Site, world.site_a)
    assert site_a is not None
    trigger = create_trigger(db, site_a)
    level = record_level(db, trigger=trigger, level=1500, recorded_on=date(2026, 10, 1))
    decision = db.scalars(select(Decision).where(Decision.site_id == world.site_a)).first()
    rating = db.scalars(select(Rating).where(Rating.assessment_id == world.assessment_a)).first()
    meeting = db.get(SteeringMeeting, world.meeting_id)
    assert decision is not None
    assert rating is not None
    assert meeting is not None
    db.commit()
    return {
        "decisions": decision.id,
        "steering_meetings": meeting.id,
        "inventory_triggers": trigger.id,
        "inventory_levels": level.id,
        "ratings": rating.id,
    }


TABLES = ["decisions", "steering_meetings", "inventory_triggers", "inventory_levels", "ratings"]


@pytest.mark.parametrize("table", TABLES)
def test_the_site_s_lead_reads_the_history(
    client: TestClient, db: Session, world: World, table: str
) -> None:
    records = site_a_records(db, world)
    sign_in(client, db, world, "lead-a")
    page = client.get(f"/audit/{table}/{records[table]}")
    assert page.status_code == 200, page.text
    assert "action-create" in page.text


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("who", ["lead-b", "viewer-a"])
def test_others_may_not(
    client: TestClient, db: Session, world: World, table: str, who: str
) -> None:
    records = site_a_records(db, world)
    sign_in(client, db, world, who)
    page = client.get(f"/audit/{table}/{records[table]}")
    assert page.status_code == 403
    assert "audit:read" in page.text
    assert "SITE-A" in page.text


def test_a_record_that_does_not_exist_is_for_administrators_only(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "lead-a")
    assert client.get("/audit/decisions/999999").status_code == 403
    sign_in(client, db, world, "root")
    assert client.get("/audit/decisions/999999").status_code == 200


@pytest.mark.parametrize(("who", "shown"), [("lead-a", True), ("viewer-a", False)])
def test_the_decision_page_links_its_history_for_those_who_may_read_it(
    client: TestClient, db: Session, world: World, who: str, shown: bool
) -> None:
    decision = db.scalars(select(Decision).where(Decision.site_id == world.site_a)).first()
    assert decision is not None
    sign_in(client, db, world, who)
    page = client.get(f"/sites/SITE-A/decisions/{decision.ref}")
    assert page.status_code == 200
    assert (f'href="/audit/decisions/{decision.id}"' in page.text) is shown
