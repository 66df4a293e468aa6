"""What a digest says: the person's own items first (overdue first), FDA steps, threads, KPIs."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from factories import (
    create_decision,
    create_evidence,
    create_fda_assessment,
    create_site_a,
    create_site_b,
)
from qmm.auth.service import create_user, grant_role
from qmm.errors import InvalidInput
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import User
from qmm.notify.digest import (
    choose_digest,
    compose_digest,
    digest_choice,
    due_digests,
    period_of,
)
from threads.support import import_thread_world

TODAY = date(2026, 11, 20)
BASE = "https://qmm.example.test/"


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def sites(session: Session):
    return create_site_a(session), create_site_b(session)


@pytest.fixture
def alice(session: Session, sites) -> User:
    user = create_user(
        session,
        username="alice",
        full_name="Alice Moreau",
        email="alice@example.test",
        password="correct horse battery",
    )
    grant_role(session, user=user, role="site_quality_lead", site=sites[0])
    return user


def _excursions(session: Session, store: EventStore, folder: Path) -> None:
    """Twelve excursions in each of January and February 2026: the rate misses twice running."""
    folder.mkdir()
    rows = "".join(
        f"EM-{month}-{n:02d},SITE-A,Fill 2,B,settle_plate,2026-{month}-{n + 1:02d}T08:00:00Z,"
        f"2026-{month}-{n + 1:02d}T09:00:00Z,2026-{month}-{n + 1:02d}T10:00:00Z,8,5,10,\n"
        for month in ("01", "02")
        for n in range(12)
    )
    path = folder / "em_sample.csv"
    path.write_text(
        "sample_id,site,room,grade,method,sampled_at,result_at,response_at,cfu,alert_limit,"
        "action_limit,deviation_id\n" + rows,
        encoding="utf-8",
    )
    import_files(session, paths=[path], store=store)


def test_the_digest_holds_own_items_signatures_fda_threads_and_kpis(
    session, sites, alice, store, tmp_path
) -> None:
    site_a, site_b = sites
    create_evidence(
        session, site_a, title="Own late SOP", review_by=TODAY - timedelta(days=9), owner="alice"
    )
    create_evidence(
        session,
        site_a,
        title="Own soon SOP",
        review_by=TODAY + timedelta(days=3),
        owner="Alice Moreau",
    )
    create_evidence(session, site_a, title="Not hers", review_by=TODAY - timedelta(days=30))
    create_evidence(session, site_b, title="Other site", review_by=TODAY, owner="alice")
    draft = create_decision(session, site_a, title="Release lot 7")
    create_fda_assessment(session, site_a, starts_on=date(2027, 1, 4), ends_on=date(2027, 1, 8))
    import_thread_world(session, store, tmp_path / "extracts")

    digest = compose_digest(
        session,
        user=alice,
        sites=sites,
        store=store,
        today=TODAY,
        frequency="weekly",
        base_url=BASE,
    )
    assert digest.recipient == "alice@example.test"
    text = digest.text
    mine = text[: text.index("FDA assessment milestones")]
    assert mine.index("Own late SOP") < mine.index(f"Sign {draft.ref}") < mine.index("Own soon SOP")
    assert "Not hers" not in text
    assert "Other site" not in text
    assert "overdue since 2026-11-11 (9 days)" in mine
    assert "https://qmm.example.test/sites/SITE-A/decisions/" in mine
    fda = text[text.index("FDA assessment milestones") : text.index("Broken threads")]
    assert "https://qmm.example.test/fda-assessments/" in fda
    threads = text[text.index("Broken threads") : text.index("KPIs missing")]
    assert "SITE-A: " in threads
    assert "SITE-B" not in threads
    assert "https://qmm.example.test/sites/SITE-A/threads" in threads
    assert digest.subject.startswith("QMM Workbench: 3 for you this week (1 overdue), 1 FDA")
    assert '<a href="https://qmm.example.test/sites/SITE-A/threads">' in digest.html


def test_the_digest_names_kpis_missing_their_target(session, sites, alice, store, tmp_path) -> None:
    _excursions(session, store, tmp_path / "kpi")
    digest = compose_digest(
        session, user=alice, sites=sites, store=store, today=TODAY, frequency="daily", base_url=BASE
    )
    kpis = digest.text[digest.text.index("KPIs missing") :]
    assert "EM excursion rate missed its target (at most 2.0%) in 2026-01 and 2026-02" in kpis
    assert "https://qmm.example.test/sites/SITE-A/kpis/em_excursion_rate?period=month" in kpis
    assert digest.subject.endswith("KPI misses")
    assert " 0 KPI misses" not in digest.subject
    assert "<h2>KPIs missing their target or signalling" in digest.html


def test_the_html_part_escapes_what_people_typed(session, sites, alice, store) -> None:
    create_evidence(
        session, sites[0], title="<script>x</script> & co", review_by=TODAY, owner="alice"
    )
    digest = compose_digest(
        session, user=alice, sites=sites, store=store, today=TODAY, frequency="daily", base_url=BASE
    )
    assert "<script>" not in digest.html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in digest.html
    assert "<script>x</script> & co" in digest.text


def test_periods_are_the_day_or_the_iso_week() -> None:
    assert period_of("daily", date(2026, 11, 20)) == "2026-11-20"
    assert period_of("weekly", date(2026, 11, 20)) == "2026-W47"
    assert period_of("weekly", date(2027, 1, 1)) == "2026-W53"


def test_choosing_and_who_is_due(session, sites, alice) -> None:
    assert not digest_choice(session, user=alice).enabled
    assert due_digests(session, today=TODAY) == ([], [])
    choose_digest(session, user=alice, enabled=True, frequency="daily")
    due, skipped = due_digests(session, today=TODAY)
    assert [(d.username, d.email, d.period) for d in due] == [
        ("alice", "alice@example.test", "2026-11-20")
    ]
    assert skipped == []
    with pytest.raises(InvalidInput, match="frequency 'monthly'"):
        choose_digest(session, user=alice, enabled=True, frequency="monthly")
    nobody = create_user(session, username="nomail", full_name="No Mail")
    with pytest.raises(InvalidInput, match="no e-mail address"):
        choose_digest(session, user=nobody, enabled=True)
    assert not digest_choice(session, user=nobody).chosen
