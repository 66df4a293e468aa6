"""The portfolio, the site dashboard, KPI charts and their records, and the benchmark page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_assessment_of
from qmm.assessment.service import close_assessment, get_question, record_rating
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.framework.service import get_framework
from qmm.models import Assessment, Site, User
from web.support import CAPA_COLUMNS, World, capa_rows, csv_bytes, sign_in


def import_capas(db: Session, store: EventStore, tmp_path, rows: list[list[str]]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, rows))
    import_files(db, paths=[path], store=store)
    db.commit()


@pytest.fixture
def capas(db: Session, store: EventStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A year of CAPA verifications at SITE-A, with a bad June (a Nelson rule 1 signal)."""
    import_capas(db, store, tmp_path, capa_rows(low_month=6))


@pytest.fixture
def closed_b(db: Session, world: World) -> Assessment:
    """A completed assessment of SITE-B, every question rated 3 (and m1 rated 5)."""
    lead = db.get(User, world.user_ids["lead-b"])
    site = db.get(Site, world.site_b)
    assert lead is not None
    assert site is not None
    assessment = create_assessment_of(
        db, site, lead, framework=get_framework(db, ref="web-tiny"), title="FY26 SITE-B"
    )
    for area in "mbate":
        for se in (1, 2):
            for q in (1, 2):
                code = f"{area}{se}.q{q}"
                record_rating(
                    db,
                    assessment=assessment,
                    question=get_question(db, assessment=assessment, code=code),
                    assessor=lead,
                    score=5 if code.startswith("m1") else 3,
                    rationale="Seen on site",
                )
    close_assessment(db, assessment=assessment, by=lead)
    db.commit()
    return assessment


class TestPortfolio:
    def test_it_prints_each_sites_scores_against_the_cohort(
        self, client: TestClient, db: Session, world: World, closed_b: Assessment
    ) -> None:
        sign_in(client, db, world, "root")
        page = client.get("/")
        assert page.status_code == 200
        assert 'class="num heat-5">5.00' not in page.text  # practice area m is the mean (4.00)
        assert 'class="num heat-4">4.00</td>' in page.text
        assert 'class="num heat-3">3.00</td>' in page.text
        assert "3.20" in page.text  # the overall: (4 + 3 + 3 + 3 + 3) / 5
        assert "below the cohort mean" in page.text
        assert "ours, not FDA" in page.text
        assert f'href="/assessments/{closed_b.id}"' in page.text
        assert "No completed assessment yet." in page.text  # SITE-A's is still open
        assert "<svg" in page.text
        assert 'role="img"' in page.text

    def test_an_assessor_sees_no_scores_of_an_assessment_they_may_not_read(
        self, client: TestClient, db: Session, world: World, closed_b: Assessment
    ) -> None:
        sign_in(client, db, world, "lead-b")
        page = client.get("/")
        assert 'class="num heat-3">3.00</td>' in page.text
        sign_in(client, db, world, "lead-a")
        assert "FY26 SITE-B" not in client.get("/").text


class TestSiteDashboard:
    def test_it_answers_first_with_scores_against_the_cohort_band(
        self, client: TestClient, db: Session, world: World, closed_b: Assessment
    ) -> None:
        sign_in(client, db, world, "lead-b")
        page = client.get("/sites/SITE-B")
        assert page.status_code == 200
        assert "Practice areas against the FDA 2024 cohort" in page.text
        assert "2.20–4.80" in page.text  # Management Commitment to Quality in the cohort
        assert "Strengths" in page.text
        assert "Opportunities" in page.text
        assert page.text.index("Practice areas against") < page.text.index("Quality KPIs")
        assert page.text.index("Quality KPIs") < page.text.index('id="assessments-title"')

    def test_without_records_every_tile_says_so(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert page.status_code == 200
        assert page.text.count("No records yet") == 9
        assert "in progress, scores may change" in page.text  # the open assessment

    def test_a_tile_shows_the_value_with_its_n_target_trend_and_signal(
        self, client: TestClient, db: Session, world: World, capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        tile = page.text[page.text.index("CAPA effectiveness</a>") :][:1500]
        assert "80.0% (24/30)" in tile
        assert "2025-12" in tile
        assert "Target at least 90.0%" in tile
        assert "missed" in tile
        assert "unchanged from 80.0% in 2025-11" in tile
        assert "Earlier signal (rule 1); latest point in control" in tile
        assert 'href="/sites/SITE-A/kpis/capa_effectiveness?period=month"' in page.text

    def test_values_older_than_the_store_show_marked_as_refreshing(
        self, client: TestClient, db: Session, world: World, capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        assert "refreshing" not in client.get("/sites/SITE-A").text
        site = db.get(Site, world.site_a)
        assert site is not None
        site.headcount = (site.headcount or 0) + 1  # the store's state moves on without them
        db.commit()
        page = client.get("/sites/SITE-A")
        tile = page.text[page.text.index("CAPA effectiveness</a>") :][:1500]
        assert "80.0% (24/30)" in tile  # the stored value, not recomputed in the request
        assert "refreshing: value from before the latest import" in tile

    def test_a_value_on_few_records_is_greyed_and_says_why(
        self, client: TestClient, db: Session, world: World, store: EventStore, tmp_path
    ) -> None:  # type: ignore[no-untyped-def]
        import_capas(db, store, tmp_path, capa_rows(months=3, per_month=4))
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert "tile tile-muted" in page.text
        assert "Only 4 records behind this value: too few to judge." in page.text

    def test_a_signal_at_the_latest_point_is_named(
        self, client: TestClient, db: Session, world: World, store: EventStore, tmp_path
    ) -> None:  # type: ignore[no-untyped-def]
        import_capas(db, store, tmp_path, capa_rows(low_month=12))
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert "Signal: Nelson rule 1 at this point" in page.text
        assert "tile-signal" in page.text

    def test_quarters_are_a_link_away(
        self, client: TestClient, db: Session, world: World, capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A?period=quarter")
        assert "80.0% (72/90)" in page.text
        assert "2025-Q4" in page.text

    def test_an_unknown_period_is_refused_in_words(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A?period=decade")
        assert page.status_code == 422
        assert "period &#39;decade&#39; is not one of month, quarter" in page.text


class TestKPIPage:
    def test_it_draws_the_control_chart_and_lists_signals_and_values(
        self, client: TestClient, db: Session, world: World, capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/kpis/capa_effectiveness")
        assert page.status_code == 200
        svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
        assert "target 90.0%" in svg  # the target line's label
        assert "R1" in svg  # the signal point's label (a red diamond)
        assert "Rule 1: 1 point beyond 3 sigma" in page.text
        assert "(2025-06)" in page.text
        assert page.text.count('class="row-signal"') == 1
        link = "/sites/SITE-A/kpis/capa_effectiveness/records?period_value=2025-06"
        assert f'href="{link}"' in page.text
        assert "24/30" in page.text
        assert "6/30" in page.text
        crumbs = page.text[page.text.index('aria-label="Breadcrumb"') :][:400]
        assert 'href="/sites/SITE-A?period=month"' in crumbs

    def test_a_grouped_kpi_defaults_to_its_first_group_and_offers_the_others(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/kpis/change_cycle_time_days?period=quarter")
        assert page.status_code == 200
        assert "risk tier high" in page.text.replace("_", " ")
        assert "group=medium" in page.text
        assert "No value of this KPI for SITE-A (high) yet" in page.text

    @pytest.mark.parametrize(
        ("url", "status", "message"),
        [
            ("/sites/SITE-A/kpis/nope", 404, "unknown KPI &#39;nope&#39;"),
            ("/sites/SITE-A/kpis/capa_effectiveness?group=high", 422, "not split by group"),
            ("/sites/SITE-A/kpis/change_cycle_time_days?group=urgent", 422, "choose one of"),
            ("/sites/SITE-A/kpis/capa_effectiveness?period=year", 422, "month, quarter"),
        ],
    )
    def test_bad_input_gets_a_clear_error(
        self, client: TestClient, db: Session, world: World, url: str, status: int, message: str
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(url)
        assert page.status_code == status
        assert message in page.text


class TestRecordsPage:
    def test_it_lists_the_records_behind_a_value_with_their_roles(
        self, client: TestClient, db: Session, world: World, capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/kpis/capa_effectiveness/records?period_value=2025-06")
        assert page.status_code == 200
        assert "= 6 numerator / 30 denominator" in page.text
        assert page.text.count("role role-numerator") == 6
        assert page.text.count("role role-denominator") == 24
        assert "CAPA-A-06-000" in page.text
        crumbs = page.text[page.text.index('aria-label="Breadcrumb"') :][:600]
        assert "/sites/SITE-A/kpis/capa_effectiveness?period=month" in crumbs

    def test_a_period_without_records_says_so(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/kpis/capa_effectiveness/records?period_value=2025-Q1")
        assert page.status_code == 200
        assert "No records are behind this value." in page.text

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("period_value=March", "is not a period"),
            ("period_value=2025-13", "is not a period"),
            ("", "period_value: Field required"),
        ],
    )
    def test_a_bad_period_is_refused(
        self, client: TestClient, db: Session, world: World, query: str, message: str
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(f"/sites/SITE-A/kpis/capa_effectiveness/records?{query}")
        assert page.status_code == 422
        assert message in page.text

    def test_a_grouped_kpi_needs_its_group(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/kpis/change_cycle_time_days/records?period_value=2025-03")
        assert page.status_code == 422
        assert "add group= one of high, medium, low" in page.text


class TestBenchmarkPage:
    def test_it_shows_the_cohort_the_caveat_and_the_persons_sites(
        self, client: TestClient, db: Session, world: World, closed_b: Assessment
    ) -> None:
        sign_in(client, db, world, "lead-b")
        page = client.get("/benchmark")
        assert page.status_code == 200
        assert "Small cohort:" in page.text
        assert "9 sites" in page.text
        assert "ICC(1)" in page.text
        assert "Cronbach" in page.text
        assert re.search(r"rank \d+ of 10", page.text)
        assert "SITE-A" not in page.text
        assert "/sites/SITE-B" in page.text

    def test_a_site_without_scores_is_not_placed_and_says_why(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/benchmark")
        assert "Not placed: not every practice area has a score yet." in page.text
