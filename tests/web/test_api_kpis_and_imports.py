"""The API's KPI values, chart and records, imports and benchmark: what the pages show, as JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import ImportBatch
from web.support import CAPA_COLUMNS, World, bearer, capa_rows, csv_bytes


@pytest.fixture
def capas(db: Session, store: EventStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    import_files(db, paths=[path], store=store)
    db.commit()


class TestKPIValues:
    def test_values_filtered_by_site_kpi_and_period(
        self, client: TestClient, world: World, capas: None
    ) -> None:
        response = client.get(
            "/api/kpis?site=SITE-A&kpi=capa_effectiveness&period=quarter",
            headers=bearer(world.read_tokens["viewer-a"]),
        )
        assert response.status_code == 200
        last = response.json()[-1]
        assert last == {
            "kpi": "capa_effectiveness",
            "site": "SITE-A",
            "period": "2025-Q4",
            "group": None,
            "value": 0.8,
            "numerator": 72,
            "denominator": 90,
            "complete": True,  # the extract was taken after the quarter ended
            "as_of": last["as_of"],
        }
        assert last["as_of"] >= "2025-12-31"

    def test_without_a_site_only_readable_sites_are_computed(
        self, client: TestClient, world: World, capas: None
    ) -> None:
        response = client.get(
            "/api/kpis?kpi=capa_effectiveness", headers=bearer(world.read_tokens["lead-b"])
        )
        assert response.status_code == 200
        assert response.json() == []

    @pytest.mark.parametrize(
        ("query", "status", "message"),
        [
            ("site=SITE-B", 404, "no site with code 'SITE-B'"),  # as for an unknown site
            ("site=NOPE", 404, "no site with code"),
            ("kpi=nope", 422, "unknown KPI 'nope'"),
            ("start=soon", 422, "not a period 'soon'"),
            ("period=decade", 422, "Input should be"),
        ],
    )
    def test_bad_filters_are_refused(
        self, client: TestClient, world: World, query: str, status: int, message: str
    ) -> None:
        response = client.get(f"/api/kpis?{query}", headers=bearer(world.read_tokens["viewer-a"]))
        assert response.status_code == status
        assert message in str(response.json()["detail"])


class TestChartAndRecords:
    def test_the_chart_names_its_signal(
        self, client: TestClient, world: World, capas: None
    ) -> None:
        response = client.get(
            "/api/sites/SITE-A/kpis/capa_effectiveness/chart",
            headers=bearer(world.read_tokens["viewer-a"]),
        )
        assert response.status_code == 200
        chart = response.json()
        assert chart["kind"] == "p"
        assert chart["target"] == 0.9
        assert chart["signals"][0]["rule"] == 1
        assert chart["labels"][chart["signals"][0]["indexes"][0]] == "2025-06"

    def test_a_chart_without_values_is_a_404_that_says_why(
        self, client: TestClient, world: World
    ) -> None:
        response = client.get(
            "/api/sites/SITE-A/kpis/capa_effectiveness/chart",
            headers=bearer(world.read_tokens["viewer-a"]),
        )
        assert response.status_code == 404
        assert "import the site's extracts first" in response.json()["detail"]

    def test_the_records_behind_a_value_carry_their_roles(
        self, client: TestClient, world: World, capas: None
    ) -> None:
        response = client.get(
            "/api/sites/SITE-A/kpis/capa_effectiveness/records?period_value=2025-06",
            headers=bearer(world.read_tokens["viewer-a"]),
        )
        assert response.status_code == 200
        body = response.json()
        assert body["value"]["numerator"] == 6
        roles = [r["role"] for r in body["records"]]
        assert roles.count("numerator") == 6
        assert roles.count("denominator") == 24
        assert body["records"][0]["voe_done_on"].startswith("2025-06-")

    def test_a_bad_period_value_is_a_422(self, client: TestClient, world: World) -> None:
        response = client.get(
            "/api/sites/SITE-A/kpis/capa_effectiveness/records?period_value=June",
            headers=bearer(world.read_tokens["viewer-a"]),
        )
        assert response.status_code == 422
        assert "is not a period" in response.json()["detail"]


class TestImportsAPI:
    def test_an_import_returns_its_batch_and_is_listed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        response = client.post(
            "/api/sites/SITE-A/imports",
            headers=bearer(world.write_tokens["lead-a"]),
            data={"record_type": "capa"},
            files={
                "upload": ("capa.csv", csv_bytes(CAPA_COLUMNS, capa_rows(months=1, per_month=2)))
            },
        )
        assert response.status_code == 201
        assert response.json()["rows_new"] == 2
        listed = client.get(
            "/api/sites/SITE-A/imports", headers=bearer(world.read_tokens["viewer-a"])
        )
        assert [b["id"] for b in listed.json()] == [response.json()["id"]]

    def test_a_refused_file_lists_every_problem_and_stores_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        rows = capa_rows(months=1, per_month=2)
        rows[0][2] = "someday"
        rows[1][1] = "SITE-B"
        response = client.post(
            "/api/sites/SITE-A/imports",
            headers=bearer(world.write_tokens["lead-a"]),
            data={"record_type": "capa"},
            files={"upload": ("capa.csv", csv_bytes(CAPA_COLUMNS, rows))},
        )
        assert response.status_code == 422
        body = response.json()
        assert body["problems_total"] >= 1
        assert {"row": 2, "column": "opened_on"}.items() <= body["problems"][0].items()
        assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0

    def test_a_read_token_cannot_import(self, client: TestClient, world: World) -> None:
        response = client.post(
            "/api/sites/SITE-A/imports",
            headers=bearer(world.read_tokens["lead-a"]),
            data={"record_type": "capa"},
            files={"upload": ("capa.csv", b"x")},
        )
        assert response.status_code == 403


def test_the_benchmark_places_only_the_callers_sites(client: TestClient, world: World) -> None:
    response = client.get("/api/benchmark", headers=bearer(world.read_tokens["viewer-a"]))
    assert response.status_code == 200
    body = response.json()
    assert [s["site"] for s in body["sites"]] == ["SITE-A"]
    assert body["sites"][0]["reason"] == "not every practice area has a score yet"
    assert body["cohort"]["n_sites"] == 9
    assert "9 sites" in body["caveat"]
