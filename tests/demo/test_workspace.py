"""The demo workspace is realistic, complete and loads only once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.demo.workspace import DEMO_SITES, load_demo
from qmm.models import Assessment, Rating


def test_it_loads_completed_assessments_for_every_demo_site(session: Session) -> None:
    assessments = load_demo(session)
    assert {a.site.code for a in assessments} == {s.code for s in DEMO_SITES}
    for assessment in assessments:
        assert assessment.status == "closed"
        assert len(assessment.team) == 3
        scores = compute_scores(session, assessment=assessment)
        assert all(pa.score is not None for pa in scores.practice_areas.values())
        assert scores.agreement.value is not None


def test_the_weak_site_scores_below_the_strong_one(session: Session) -> None:
    by_site = {a.site.code: a for a in load_demo(session) if a.kind == "self"}
    strong = compute_scores(session, assessment=by_site["SITE-A"]).overall
    weak = compute_scores(session, assessment=by_site["SITE-C"]).overall
    assert strong is not None
    assert weak is not None
    assert strong > weak + 1


def test_loading_twice_changes_nothing(session: Session) -> None:
    load_demo(session)
    counts = (
        session.scalar(select(func.count()).select_from(Assessment)),
        session.scalar(select(func.count()).select_from(Rating)),
    )
    load_demo(session)
    assert counts == (
        session.scalar(select(func.count()).select_from(Assessment)),
        session.scalar(select(func.count()).select_from(Rating)),
    )


def test_site_a_has_a_decision_log_with_a_superseded_decision(session: Session) -> None:
    from qmm.program.decisions import decision_status, list_decisions
    from qmm.sites.service import get_site

    load_demo(session)
    load_demo(session)
    site = get_site(session, code="SITE-A")
    statuses = {
        d.ref: decision_status(session, decision=d).value
        for d in list_decisions(session, site=site)
    }
    assert statuses == {
        "DEC-0001": "signed",
        "DEC-0002": "superseded",
        "DEC-0003": "signed",
        "DEC-0004": "draft",
    }
