"""Long lists a page at a time: a KPI value's records (numerator first, by role), the evidence
index as one list or a search, and a record's audit history."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_evidence
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.evidence.service import update_evidence
from qmm.models import EvidenceItem, Site
from web.support import CAPA_COLUMNS, World, capa_rows, csv_bytes, sign_in

RECORDS = "/sites/SITE-A/kpis/capa_effectiveness/records?period_value=2025-01"


@pytest.fixture
def many_capas(db: Session, store: EventStore, tmp_path: Path) -> None:
    """250 CAPAs verified in January 2025: 200 effective (the numerator), 50 not."""
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(months=1, per_month=250)))
    import_files(db, paths=[path], store=store)
    db.commit()


class TestKPIRecords:
    def test_the_first_page_holds_the_numerator_first(
        self, client: TestClient, db: Session, world: World, many_capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(RECORDS).text
        assert "Showing records 1–100 of 250" in page
        assert page.count("role role-numerator") == 100
        assert page.count("role role-denominator") == 0
        assert "Numerator only: 200" in page
        assert "Denominator only: 50" in page
        last = client.get(RECORDS + "&page=3").text
        assert "Showing records 201–250 of 250" in last
        assert last.count("role role-denominator") == 50

    def test_one_role_alone(
        self, client: TestClient, db: Session, world: World, many_capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(RECORDS + "&role=denominator").text
        assert page.count("role role-denominator") == 50
        assert "Showing records" not in page  # one page: no pager
        assert "(denominator only)" in page

    @pytest.mark.parametrize(
        ("extra", "message"),
        [("&page=zero", "page must be a whole number"), ("&role=gossip", "role must be one of")],
    )
    def test_bad_paging_is_refused_in_words(
        self,
        client: TestClient,
        db: Session,
        world: World,
        many_capas: None,
        extra: str,
        message: str,
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(RECORDS + extra)
        assert page.status_code == 422
        assert message in page.text


class TestEvidenceIndex:
    @pytest.fixture
    def items(self, db: Session, world: World) -> None:
        site = db.get(Site, world.site_a)
        assert site is not None
        for n in range(60):
            create_evidence(
                db, site, title=f"Batch record {n}", description=f"Lot {n} of the lyophiliser"
            )
        create_evidence(db, site, title="Gowning SOP", kind="sop", description="Cleanroom entry")
        db.commit()

    def test_search_inside_the_index(
        self, client: TestClient, db: Session, world: World, items: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/evidence", params={"q": "cleanroom"}).text
        assert "Items matching “cleanroom”" in page
        assert "Gowning SOP" in page
        assert "Batch record 1" not in page
        both = client.get("/sites/SITE-A/evidence", params={"q": "lyophiliser"}).text
        assert "Showing items 1–50 of 60" in both
        second = client.get("/sites/SITE-A/evidence", params={"q": "lyophiliser", "page": "2"})
        assert "Showing items 51–60 of 60" in second.text

    def test_search_and_filters_together(
        self, client: TestClient, db: Session, world: World, items: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/evidence", params={"q": "gowning", "kind": "policy"}).text
        assert "No current item kept by the filters matches" in page

    def test_the_index_as_one_list(
        self, client: TestClient, db: Session, world: World, items: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/evidence", params={"view": "list"}).text
        assert "Current items, by number" in page
        assert "Showing items 1–50 of 62" in page

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"q": '"*"'}, "no letter or digit"),
            ({"q": "x" * 201}, "at most 200 characters"),
            ({"view": "list", "page": "-1"}, "page must be a whole number"),
        ],
    )
    def test_a_bad_search_or_page_is_said_on_the_page(
        self, client: TestClient, db: Session, world: World, params: dict[str, str], message: str
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/evidence", params=params)
        assert page.status_code == 422
        assert message in page.text.lower()


def test_a_long_audit_history_is_paged(client: TestClient, db: Session, world: World) -> None:
    site = db.get(Site, world.site_a)
    assert site is not None
    item: EvidenceItem = create_evidence(db, site, title="Revised often")
    for n in range(55):
        update_evidence(db, item=item, owner=f"Owner {n}")
    db.commit()
    sign_in(client, db, world, "lead-a")
    url = f"/audit/evidence_items/{item.id}"
    first = client.get(url).text
    assert "Showing entries 1–50 of" in first
    assert 'rel="next"' in first
    assert "Owner 54" not in first
    last = client.get(url, params={"page": "99"}).text  # past the end: the last page
    assert "Owner 54" in last
