"""Export downloads: the right file, type and name for a reader; refusals for anyone else and
for a format, table, KPI or period that does not exist."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import utcnow
from web.support import CAPA_COLUMNS, World, capa_rows, csv_bytes, sign_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rows_of(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


@pytest.fixture
def capas(db: Session, store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    import_files(db, paths=[path], store=store)
    db.commit()


class TestSiteExports:
    def test_a_reader_downloads_the_evidence_index_as_csv(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get("/sites/SITE-A/exports/evidence")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        today = utcnow().date().isoformat()
        assert response.headers["content-disposition"].startswith(
            f'attachment; filename="SITE-A-evidence-{today}.csv"'
        )
        header, row = rows_of(response.content)
        assert dict(zip(header, row, strict=True))["title"] == "Management review procedure"

    def test_the_evidence_index_as_xlsx(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get("/sites/SITE-A/exports/evidence?format=xlsx")
        assert response.status_code == 200
        assert response.headers["content-type"] == XLSX
        assert '.xlsx"' in response.headers["content-disposition"]
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        assert (sheet.title, sheet["B2"].value) == ("Evidence index", world.evidence_ref)

    @pytest.mark.usefixtures("capas")
    def test_kpi_series_of_one_kpi_per_quarter(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get(
            "/sites/SITE-A/exports/kpis?kpi=capa_effectiveness&period=quarter&format=xlsx"
        )
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert [(r[1], r[4]) for r in rows] == [
            ("capa_effectiveness", f"2025-Q{q}") for q in range(1, 5)
        ]
        assert all(isinstance(r[5], float) for r in rows)

    @pytest.mark.usefixtures("capas")
    def test_the_kpi_page_links_to_its_export(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/kpis/capa_effectiveness?period=quarter")
        link = "/sites/SITE-A/exports/kpis?kpi=capa_effectiveness&amp;period=quarter&amp;format="
        assert f"{link}xlsx" in page.text
        assert f"{link}csv" in page.text

    def test_the_evidence_index_links_to_its_export(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/evidence")
        assert "/sites/SITE-A/exports/evidence?format=xlsx" in page.text

    def test_a_reader_of_another_site_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        for export in ("evidence", "kpis"):
            response = client.get(f"/sites/SITE-A/exports/{export}")
            assert response.status_code == 404  # as for a site nobody registered
            assert "no site with code &#39;SITE-A&#39;" in response.text

    @pytest.mark.parametrize(
        ("url", "status", "message"),
        [
            ("/sites/SITE-Z/exports/evidence", 404, "no site with code"),
            ("/sites/SITE-A/exports/decisions", 404, "choose one of evidence, kpis"),
            ("/sites/SITE-A/exports/evidence?format=pdf", 422, "is not one of csv, xlsx"),
            ("/sites/SITE-A/exports/kpis?format=pdf", 422, "is not one of csv, xlsx"),
            ("/sites/SITE-A/exports/kpis?kpi=capa_speed", 404, "unknown KPI"),
            ("/sites/SITE-A/exports/kpis?period=week", 422, "is not one of month, quarter"),
        ],
    )
    def test_what_does_not_exist_is_refused_in_words(
        self, client: TestClient, db: Session, world: World, url: str, status: int, message: str
    ) -> None:
        sign_in(client, db, world, "root")
        response = client.get(url)
        assert response.status_code == status
        assert message in response.text


class TestRatingsExport:
    def test_a_reader_downloads_the_ratings(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"/assessments/{world.assessment_a}/export?format=csv")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        name = f"SITE-A-assessment-{world.assessment_a}-ratings.csv"
        assert f'attachment; filename="{name}"' in response.headers["content-disposition"]
        header, row = rows_of(response.content)
        named = dict(zip(header, row, strict=True))
        assert (named["question"], named["assessor"], named["score"]) == ("m1.q1", "contrib-a", "3")

    def test_the_workspace_links_to_the_export(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(f"/assessments/{world.assessment_a}")
        assert f"/assessments/{world.assessment_a}/export?format=xlsx" in page.text

    def test_a_reader_of_another_site_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        response = client.get(f"/assessments/{world.assessment_a}/export")
        # Answered as a missing assessment: no word of its site or existence (issue 17, M1).
        assert response.status_code == 404
        assert f"no assessment {world.assessment_a}" in response.text
        assert "SITE-A" not in response.text

    def test_an_unknown_assessment_or_format_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "root")
        assert client.get("/assessments/99999/export").status_code == 404
        response = client.get(f"/assessments/{world.assessment_a}/export?format=pdf")
        assert response.status_code == 422
        assert "is not one of csv, xlsx" in response.text
