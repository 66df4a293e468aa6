"""Thread pages and the thread API: one shape, the site's scope, and the ways in to a thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_evidence
from qmm.events.store import EventStore
from qmm.models import Site
from threads.support import import_thread_world, log_thread_decision
from web.support import World, bearer, sign_in


@pytest.fixture
def thread_world(db: Session, store: EventStore, world: World, tmp_path: Path) -> str:
    import_thread_world(db, store, tmp_path / "extracts")
    site = db.get(Site, world.site_a)
    assert site is not None
    ref = log_thread_decision(db, site)
    db.commit()
    return ref


def test_the_api_returns_the_thread_shape(
    client: TestClient, world: World, thread_world: str
) -> None:
    response = client.get(
        "/api/sites/SITE-A/threads/em_sample/EM-1", headers=bearer(world.read_tokens["viewer-a"])
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["complete"] is True
    assert [r["record_id"] for r in data["records"]] == [
        "EM-1",
        "DEV-1",
        "CAPA-1",
        "CC-1",
        thread_world,
    ]
    broken = client.get(
        "/api/sites/SITE-A/threads", headers=bearer(world.read_tokens["viewer-a"])
    ).json()
    ids = [b["record_id"] for b in broken]
    # The world's own decision links DEV-2026-041, which no extract holds.
    assert ids == ["CAPA-2", "DEV-2", "EM-2", "EM-4", world.decision_ref]
    assert broken[-1]["kind"] == "link_to_missing_record"


def test_another_sites_reader_is_refused(
    client: TestClient, world: World, thread_world: str
) -> None:
    response = client.get(
        "/api/sites/SITE-A/threads/em_sample/EM-1", headers=bearer(world.read_tokens["lead-b"])
    )
    assert response.status_code == 404  # answered as a site that does not exist


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/sites/SITE-A/threads/lot/L-1", 422, "record type 'lot' has no thread"),
        ("/api/sites/SITE-A/threads/capa/NOPE", 404, "no CAPA NOPE at SITE-A"),
        ("/api/sites/SITE-A/threads/decision/DEC-0404", 404, "no decision DEC-0404"),
    ],
)
def test_bad_thread_requests_say_what_is_wrong(
    client: TestClient, world: World, thread_world: str, path: str, status: int, message: str
) -> None:
    response = client.get(path, headers=bearer(world.read_tokens["viewer-a"]))
    assert response.status_code == status
    assert message in response.text


def test_the_thread_page_reads_from_excursion_to_decision(
    client: TestClient, db: Session, world: World, thread_world: str
) -> None:
    sign_in(client, db, world, "assessor-a")
    page = client.get("/sites/SITE-A/threads/em_sample/EM-1")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Whole thread" in text
    assert text.index("EM-1") < text.index("DEV-1") < text.index("CAPA-1") < text.index("CC-1")
    assert f'href="/sites/SITE-A/decisions/{thread_world}"' in text
    assert "response in 6.0 h (target 24 h)" in text
    broken = client.get("/sites/SITE-A/threads/em_sample/EM-2")
    assert "action-level excursion with no deviation" in broken.text


def test_the_broken_list_and_the_record_lookup(
    client: TestClient, db: Session, world: World, thread_world: str
) -> None:
    sign_in(client, db, world, "viewer-a")
    page = client.get("/sites/SITE-A/threads")
    assert page.status_code == 200
    assert "serious deviation with no CAPA" in page.text
    found = client.get("/sites/SITE-A/threads?record=CC-1")
    assert found.status_code == 303
    assert found.headers["location"] == "/sites/SITE-A/threads/change_control/CC-1"
    missing = client.get("/sites/SITE-A/threads?record=NOPE-7")
    assert missing.status_code == 404
    assert "no record NOPE-7 at SITE-A" in missing.text


def test_an_evidence_item_cites_a_thread(
    client: TestClient, db: Session, world: World, thread_world: str
) -> None:
    site = db.get(Site, world.site_a)
    assert site is not None
    item = create_evidence(
        db,
        site,
        title="Filling line 2 excursion, investigated and closed",
        link="https://qmm.example.invalid/sites/SITE-A/threads/capa/CAPA-1",
    )
    db.commit()
    sign_in(client, db, world, "viewer-a")
    page = client.get(f"/sites/SITE-A/evidence/{item.ref}")
    assert 'href="/sites/SITE-A/threads/capa/CAPA-1">Follow its thread' in page.text


def test_the_kpi_records_drill_down_links_each_record_to_its_thread(
    client: TestClient, db: Session, world: World, thread_world: str
) -> None:
    sign_in(client, db, world, "viewer-a")
    page = client.get("/sites/SITE-A/kpis/em_response_hours/records?period_value=2026-03")
    assert page.status_code == 200, page.text
    assert 'href="/sites/SITE-A/threads/em_sample/EM-1"' in page.text


def test_a_decision_page_leads_to_its_thread(
    client: TestClient, db: Session, world: World, thread_world: str
) -> None:
    sign_in(client, db, world, "viewer-a")
    page = client.get(f"/sites/SITE-A/decisions/{thread_world}")
    assert page.status_code == 200, page.text
    link = f'href="/sites/SITE-A/threads/decision/{thread_world}"'
    assert link in page.text
    thread = client.get(f"/sites/SITE-A/threads/decision/{thread_world}")
    assert thread.status_code == 200
    assert "EM-1" in thread.text
