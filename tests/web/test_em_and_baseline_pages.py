"""The EM page per site (rooms and grades, charts, signals) and the KPI page's baseline phase."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qmm.demo.extracts import write_demo_extracts
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from web.support import CAPA_COLUMNS, World, capa_rows, csv_bytes, sign_in


@pytest.fixture
def demo_em(db: Session, store: EventStore, tmp_path: Path) -> None:
    """The demo's EM samples, with the planted drift in SITE-A's room B-FILL-02."""
    extracts = write_demo_extracts(tmp_path / "extracts", sites=2, years=1)
    import_files(db, paths=[extracts["em_sample"]], store=store)
    db.commit()


@pytest.fixture
def shifted_capas(db: Session, store: EventStore, tmp_path: Path) -> None:
    """A year of CAPA verifications at SITE-A at 80 %, one bad month (June)."""
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    import_files(db, paths=[path], store=store)
    db.commit()


class TestEMPage:
    def test_it_lists_the_drift_room_with_its_signal_first(
        self, client: TestClient, db: Session, world: World, demo_em: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/em")
        assert page.status_code == 200
        rows = re.findall(
            r"<tr( class=\"row-signal\")?>\s*<th scope=\"row\"><a href=\"#([^\"]+)\">([^<]+)</a>",
            page.text,
        )
        rooms = [room for _, _, room in rows]
        assert "B-FILL-02" in rooms
        flagged = [room for signal, _, room in rows if signal]
        assert "B-FILL-02" in flagged
        section = page.text[page.text.index('<h2 id="room-B-FILL-02') :]
        section = section[: section.index("</section>")]
        assert "<svg" in section
        assert "Rule 3" in section  # the planted drift: a steady rise month after month

    def test_the_em_tiles_on_the_dashboard_link_to_it(
        self, client: TestClient, db: Session, world: World, demo_em: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert page.status_code == 200
        assert 'href="/sites/SITE-A/em"' in page.text

    def test_without_samples_it_says_so(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/em")
        assert page.status_code == 200
        assert "No EM sample imported for SITE-A yet" in page.text

    def test_a_site_the_person_may_not_read_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        assert client.get("/sites/SITE-B/em").status_code in {403, 404}


class TestBaselinePhase:
    def test_a_chosen_baseline_gives_its_limits_and_shows_the_phases(
        self, client: TestClient, db: Session, world: World, shifted_capas: None
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        whole = client.get("/sites/SITE-A/kpis/capa_effectiveness")
        based = client.get(
            "/sites/SITE-A/kpis/capa_effectiveness?baseline_from=2025-07&baseline_to=2025-12"
        )
        assert whole.status_code == based.status_code == 200
        assert "The limits come from the whole history shown" in whole.text
        assert "the limits come from the baseline 2025-07 to 2025-12 alone" in based.text
        # p-bar of the baseline (80.0 %) is not the whole year's, which the bad June pulls down.
        centre = re.compile(
            r'<td class="num">([\d.]+%)</td>\s*'  # the centre, then the two limits
            r'<td class="num">[\d.]+%</td>\s*<td class="num">[\d.]+%</td>\s*<td>'
        )
        assert set(centre.findall(based.text)) == {"80.0%"}
        assert set(centre.findall(whole.text)) != {"80.0%"}
        svg = based.text[based.text.index("<svg") : based.text.index("</svg>")]
        assert "monitoring" in svg
        assert "baseline 2025-07 to 2025-12" in svg
        assert '<span class="hint">monitoring</span>' not in based.text  # nothing after 2025-12
        assert based.text.count('<span class="hint">before baseline</span>') == 6

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("baseline_from=2025-01", "baseline_to is empty"),
            ("baseline_to=2025-06", "baseline_from is empty"),
            (
                "baseline_from=2019-01&baseline_to=2025-06",
                "&#39;2019-01&#39; is not a period of this chart",
            ),
            (
                "baseline_from=2025-06&baseline_to=2025-01",
                "starts at 2025-06, after its end 2025-01",
            ),
        ],
    )
    def test_a_bad_baseline_gets_a_clear_error(
        self,
        client: TestClient,
        db: Session,
        world: World,
        shifted_capas: None,
        query: str,
        message: str,
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(f"/sites/SITE-A/kpis/capa_effectiveness?{query}")
        assert page.status_code == 422
        assert message in page.text
