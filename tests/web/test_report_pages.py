"""The readiness report from the web app: the HTML and PDF for a reader, a policy that lets the
self-contained document style itself and run nothing, and refusals in words."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import utcnow
from qmm.web.report_pages import REPORT_POLICY
from web.support import CAPA_COLUMNS, World, capa_rows, csv_bytes, sign_in


@pytest.fixture
def capas(db: Session, store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    import_files(db, paths=[path], store=store)
    db.commit()


@pytest.mark.usefixtures("capas")
class TestReadinessReport:
    def test_a_reader_gets_the_html_report_with_its_own_policy(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get("/sites/SITE-A/report")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == REPORT_POLICY
        assert "script-src" not in REPORT_POLICY
        assert "default-src 'none'" in REPORT_POLICY
        assert "<script" not in response.text
        assert "1. Executive summary" in response.text
        assert "CAPA effectiveness" in response.text
        assert f"A-{world.assessment_a}" in response.text

    def test_a_mid_month_report_calls_its_last_month_provisional(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get("/sites/SITE-A/report?as_of=2025-12-15")
        assert response.status_code == 200
        assert "2025-12 is partial: its values count only the records up to 2025-12-15" in (
            response.text
        )
        assert "is partial" not in client.get("/sites/SITE-A/report?as_of=2025-12-31").text

    def test_other_pages_keep_the_apps_policy(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert f'href="/sites/SITE-A/report?assessment={world.assessment_a}&amp;format=pdf"' in (
            page.text
        )

    def test_the_pdf_opens_in_the_browser_with_a_telling_name(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"/sites/SITE-A/report?format=pdf&assessment={world.assessment_a}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        today = utcnow().date().isoformat()
        assert response.headers["content-disposition"].startswith(
            f'inline; filename="qmm-readiness-SITE-A-A{world.assessment_a}-{today}.pdf"'
        )

    def test_the_one_page_summary_is_one_page(
        self, client: TestClient, db: Session, world: World, tmp_path: Path
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get("/sites/SITE-A/report?format=pdf&part=summary")
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith(
            'inline; filename="qmm-summary-SITE-A-'
        )
        pdf = tmp_path / "summary.pdf"
        pdf.write_bytes(response.content)
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        assert re.search(r"^Pages:\s+1$", info.stdout, re.MULTILINE), info.stdout
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "At a glance: SITE-A" in text
        assert "Maturity against the FDA 2024 cohort" in text
        assert "data as of" in text
        assert "KPIs:" in text
        assert "Top gaps" in text
        assert "The readiness plan" in text

    def test_the_full_report_opens_with_the_summary(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        text = client.get("/sites/SITE-A/report").text
        assert text.index("At a glance: SITE-A") < text.index("1. Executive summary</h2>")

    def test_an_unknown_part_is_refused_in_words(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get("/sites/SITE-A/report?part=annex")
        assert response.status_code == 422
        assert "part &#39;annex&#39; is not one of full, summary" in response.text

    def test_a_reader_of_another_site_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        response = client.get("/sites/SITE-A/report")
        assert response.status_code == 404  # as for a site nobody registered
        assert "no site with code &#39;SITE-A&#39;" in response.text

    @pytest.mark.parametrize(
        ("query", "status", "message"),
        [
            ("format=docx", 422, "format &#39;docx&#39; is not one of html, pdf"),
            ("as_of=15/11/2026", 422, "as_of &#39;15/11/2026&#39; must be a date as YYYY-MM-DD"),
            ("since=2099-01-01&as_of=2026-01-01", 422, "is after the report date 2026-01-01"),
            ("as_of=2999-01-01", 422, "the report date 2999-01-01 is after today"),
            ("assessment=99999", 404, "99999"),
        ],
    )
    def test_bad_parameters_are_refused_in_words(
        self, client: TestClient, db: Session, world: World, query: str, status: int, message: str
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"/sites/SITE-A/report?{query}")
        assert response.status_code == status
        assert message in response.text

    def test_a_site_without_an_assessment_is_told_how_to_start_one(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        response = client.get("/sites/SITE-B/report")
        assert response.status_code == 404
        assert "SITE-B has no assessment yet" in response.text

    def test_an_assessment_of_another_site_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "root")
        response = client.get(f"/sites/SITE-B/report?assessment={world.assessment_a}")
        assert response.status_code == 422
        assert f"assessment {world.assessment_a} is of site SITE-A, not SITE-B" in response.text
