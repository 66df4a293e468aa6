"""Needs attention: overdue and due items at the sites a person reads, with owner, age and link."""

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
from qmm.assessment_week.service import set_status, update_milestone
from qmm.audit.trail import Actor, acting
from qmm.auth.scope import Operator, UserReader
from qmm.auth.service import create_user, grant_role
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import User
from qmm.program.steering import set_up_cadence
from qmm.worklist.service import BROKEN_SHOWN, worklist
from threads.support import import_thread_world

TODAY = date(2026, 11, 20)


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def sites(session: Session):
    return create_site_a(session), create_site_b(session)


@pytest.fixture
def alice(session: Session, sites) -> User:
    user = create_user(
        session, username="alice", full_name="Alice Moreau", password="correct horse battery"
    )
    grant_role(session, user=user, role="site_quality_lead", site=sites[0])
    return user


def test_overdue_and_due_items_with_owner_age_and_link(session, sites, store) -> None:
    site_a, _ = sites
    create_evidence(
        session, site_a, title="Old SOP", review_by=TODAY - timedelta(days=12), owner="QA Ops"
    )
    create_evidence(session, site_a, title="Fresh SOP", review_by=TODAY + timedelta(days=200))
    set_up_cadence(
        session,
        site=site_a,
        name="Quality steering",
        chair="Site Quality Head",
        cadence_days=30,
        first_meeting_on=TODAY + timedelta(days=3),
    )
    found = worklist(session, reader=Operator(), sites=sites, store=store, today=TODAY)
    kinds = [(i.kind, i.state, i.owner, i.age_days) for i in found.items]
    assert kinds[0] == ("evidence_review", "overdue", "QA Ops", 12)
    assert ("steering_meeting", "due", "Site Quality Head", -3) in kinds
    assert "Fresh SOP" not in " ".join(i.title for i in found.items)
    review = found.items[0]
    assert review.path.startswith("/sites/SITE-A/evidence/EV-")
    assert (found.overdue, found.due) == (1, 1)


def test_only_readable_sites_and_never_ones_own_draft_under_the_rule(
    session, sites, alice, store
) -> None:
    site_a, site_b = sites
    create_evidence(session, site_b, review_by=TODAY - timedelta(days=1))
    with acting(session, Actor(label="alice", user_id=alice.id)):
        own = create_decision(session, site_a)
    other = create_decision(session, site_a, title="Someone else's draft")
    found = worklist(
        session, reader=UserReader(alice), sites=sites, store=store, today=TODAY, username="alice"
    )
    assert found.sites == ("SITE-A",)
    assert {i.site for i in found.items} == {"SITE-A"}
    titles = [i.title for i in found.items if i.kind == "draft_signature"]
    assert titles == [f"Sign {other.ref}: Someone else's draft"]
    assert own.ref not in " ".join(titles)
    assert found.waiting == 1


def test_broken_threads_of_readable_sites_with_owner_age_and_thread_link(
    session, sites, alice, store, tmp_path
) -> None:
    import_thread_world(session, store, tmp_path / "extracts")
    found = worklist(session, reader=UserReader(alice), sites=sites, store=store, today=TODAY)
    broken = [i for i in found.items if i.kind == "broken_thread"]
    by_path = {i.path: i for i in broken}
    # SITE-B's broken excursion EM-9 is not alice's to read.
    assert all(i.site == "SITE-A" for i in broken)
    assert "/sites/SITE-A/threads/em_sample/EM-2" in by_path
    closed = by_path["/sites/SITE-A/threads/capa/CAPA-2"]
    assert closed.state == "attention"
    assert closed.due_on == date(2026, 1, 5)
    assert closed.age_days == (TODAY - date(2026, 1, 5)).days
    assert "no effectiveness check" in closed.title
    assert closed.owner == "no owner in the extract"
    assert found.attention == len([i for i in found.items if i.state == "attention"])


def test_only_the_ten_oldest_broken_threads_then_a_count_linking_to_the_threads_page(
    session, sites, store, tmp_path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    rows = "".join(
        f"EM-X{n:02d},SITE-A,Fill 2,B,settle_plate,2026-04-{n + 1:02d}T08:00:00Z,,,15,5,10,\n"
        for n in range(BROKEN_SHOWN + 3)
    )
    path = folder / "em_sample.csv"
    path.write_text(
        "sample_id,site,room,grade,method,sampled_at,result_at,response_at,cfu,alert_limit,"
        "action_limit,deviation_id\n" + rows,
        encoding="utf-8",
    )
    import_files(session, paths=[path], store=store)
    found = worklist(session, reader=Operator(), sites=sites[:1], store=store, today=TODAY)
    broken = [i for i in found.items if i.kind == "broken_thread"]
    assert len(broken) == BROKEN_SHOWN
    assert {i.title.split(":")[0] for i in broken} == {
        f"EM sample EM-X{n:02d}" for n in range(BROKEN_SHOWN)
    }
    (more,) = [i for i in found.items if i.kind == "broken_threads_more"]
    assert more.title == "and 3 more broken threads"
    assert more.path == "/sites/SITE-A/threads"


def _import_excursions(session, store, folder: Path, *, march: bool) -> None:
    """Twelve excursions (above the alert limit) in each of January and February 2026."""
    folder.mkdir()
    rows = "".join(
        f"EM-{month}-{n:02d},SITE-A,Fill 2,B,settle_plate,2026-{month}-{n + 1:02d}T08:00:00Z,"
        f"2026-{month}-{n + 1:02d}T09:00:00Z,2026-{month}-{n + 1:02d}T10:00:00Z,8,5,10,\n"
        for month in ("01", "02")
        for n in range(12)
    )
    if march:
        rows += "EM-03,SITE-A,Fill 2,B,settle_plate,2026-03-05T08:00:00Z,,,0,5,10,\n"
    path = folder / "em_sample.csv"
    path.write_text(
        "sample_id,site,room,grade,method,sampled_at,result_at,response_at,cfu,alert_limit,"
        "action_limit,deviation_id\n" + rows,
        encoding="utf-8",
    )
    import_files(session, paths=[path], store=store)


RATE_PAGE = "/sites/SITE-A/kpis/em_excursion_rate?period=month"


def test_a_kpi_missing_its_target_two_complete_periods_running_links_to_its_page(
    session, sites, store, tmp_path
) -> None:
    _import_excursions(session, store, tmp_path / "kpi", march=False)
    found = worklist(session, reader=Operator(), sites=sites[:1], store=store, today=TODAY)
    missed = {i.path: i for i in found.items if i.kind == "kpi_missed"}
    rate = missed[RATE_PAGE]
    assert rate.title == "EM excursion rate missed its target (at most 2.0%) in 2026-01 and 2026-02"
    assert rate.state == "attention"
    assert rate.due_on == date(2026, 1, 31)
    assert rate.age_days == (TODAY - date(2026, 1, 31)).days
    assert not [i for i in found.items if i.kind == "broken_thread"]


def test_a_kpi_met_in_its_latest_period_is_not_missed_but_its_signal_is_listed(
    session, sites, store, tmp_path
) -> None:
    _import_excursions(session, store, tmp_path / "kpi", march=True)
    found = worklist(session, reader=Operator(), sites=sites[:1], store=store, today=TODAY)
    assert not [i for i in found.items if i.kind == "kpi_missed" and i.path == RATE_PAGE]
    signals = {i.path: i for i in found.items if i.kind == "kpi_signal"}
    assert signals[RATE_PAGE].title == "EM excursion rate: Nelson rule 1 signals in 2026-03"
    assert signals[RATE_PAGE].due_on == date(2026, 3, 31)


def test_fda_milestones_late_first_then_due_within_two_weeks_with_owners(
    session, sites, store
) -> None:
    site_a, site_b = sites
    # Week of 2027-01-04: orientation 2026-11-23 (due), questionnaire 12-07 (too far ahead).
    visit = create_fda_assessment(
        session, site_a, starts_on=date(2027, 1, 4), ends_on=date(2027, 1, 8)
    )
    update_milestone(session, fda_assessment=visit, kind="orientation", owner="Ines Park")
    # A week long past: only its feedback (60 days after 2026-09-10: 2026-11-09) is open.
    past = create_fda_assessment(
        session, site_a, title="FDA 2026", starts_on=date(2026, 9, 7), ends_on=date(2026, 9, 10)
    )
    for kind in ("orientation", "questionnaire_due", "agenda_sent", "assessment_week"):
        update_milestone(session, fda_assessment=past, kind=kind, done_on=date(2026, 9, 10))
    cancelled = create_fda_assessment(
        session, site_b, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 2)
    )
    set_status(session, fda_assessment=cancelled, status="cancelled")
    found = worklist(session, reader=Operator(), sites=sites, store=store, today=TODAY)
    fda = [
        (i.state, i.title, i.owner, i.due_on, i.path)
        for i in found.items
        if i.kind == "fda_milestone"
    ]
    assert fda == [
        (
            "overdue",
            "FDA's feedback received: FDA 2026",
            "Dana Whitfield",
            date(2026, 11, 9),
            f"/fda-assessments/{past.id}#milestone-feedback",
        ),
        (
            "due",
            "FDA's virtual orientation: FDA QMM assessment 2027",
            "Ines Park",
            date(2026, 11, 23),
            f"/fda-assessments/{visit.id}#milestone-orientation",
        ),
    ]
    assert found.items[0].kind_name == "FDA assessment milestone"
