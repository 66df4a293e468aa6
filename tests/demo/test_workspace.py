"""The demo workspace is realistic, complete and loads only once.

All but the test of loading itself read the demo as `qmm demo` run twice leaves it
(`demo_session`, built once per test process).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.demo.workspace import DEMO_SITES, load_demo
from qmm.models import Assessment, Rating


def test_it_loads_completed_assessments_for_every_demo_site(demo_session: Session) -> None:
    session = demo_session
    assessments = load_demo(session)
    assert {a.site.code for a in assessments} == {s.code for s in DEMO_SITES}
    for assessment in assessments:
        assert assessment.status == "closed"
        assert len(assessment.team) == 3
        scores = compute_scores(session, assessment=assessment)
        assert all(pa.score is not None for pa in scores.practice_areas.values())
        assert scores.agreement.value is not None


def test_the_weak_site_scores_below_the_strong_one(demo_session: Session) -> None:
    session = demo_session
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


def test_site_a_has_a_decision_log_with_a_superseded_decision(demo_session: Session) -> None:
    from qmm.program.decisions import decision_status, list_decisions
    from qmm.sites.service import get_site

    session = demo_session
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


def test_site_a_shows_continuity_a_breach_a_missed_drill_and_an_overdue_review(
    demo_session: Session,
) -> None:
    from datetime import date

    from qmm.models import EvidenceItem
    from qmm.program.continuity import breaches, list_drills, list_scenarios, list_triggers
    from qmm.program.suppliers import list_agreements, supplier_status
    from qmm.sites.service import get_site

    session = demo_session
    site = get_site(session, code="SITE-A")
    assert [s.risk for s in list_scenarios(session, site=site)] == [12, 10]
    assert len(list_triggers(session, site=site)) == 3
    assert [t.material for t in breaches(session, site=site)] == ["20 mm bromobutyl stoppers"]
    [drill] = list_drills(session, site=site)
    assert (drill.supplier, drill.met, len(drill.actions)) == (
        "Brightseal Elastomers Inc.",
        False,
        2,
    )
    item = session.get(EvidenceItem, drill.evidence_item_id)
    assert item is not None
    assert item.kind == "drill_report"
    today = date(2026, 11, 20)
    overdue = {
        a.supplier: supplier_status(session, agreement=a, today=today).review_overdue
        for a in list_agreements(session, site=site)
    }
    assert overdue == {"Aldon Glass Tubing GmbH": False, "Brightseal Elastomers Inc.": True}


def test_site_a_runs_the_program_with_an_approved_plan(demo_session: Session) -> None:
    from datetime import date

    from qmm.audit.signatures import signatures_for
    from qmm.program.forum import list_forum_items
    from qmm.program.objectives import list_objectives
    from qmm.program.plan import list_plans, plan_progress
    from qmm.program.steering import cadence_status, list_cadences
    from qmm.sites.service import get_site

    session = demo_session
    site = get_site(session, code="SITE-A")
    today = date(2026, 11, 20)
    tree = list_objectives(session, site=site)
    assert [len(children) for _, children in tree] == [1, 0]
    assert tree[0][1][0].role == "supervisor"
    [cadence] = list_cadences(session, site=site)
    status = cadence_status(session, cadence=cadence, today=today)
    assert (status.last_held_on, status.overdue) == (date(2026, 9, 22), True)
    assert cadence.meetings[0].evidence_item_id is not None
    forum = list_forum_items(session, site=site)
    assert [i.removed_on is not None for i in forum] == [True, False]
    [plan] = list_plans(session, site=site)
    assert plan.status == "approved"
    [signature] = signatures_for(session, record_type="readiness_plan", record_id=str(plan.id))
    assert (signature.username, signature.valid) == ("alice", True)
    progress = plan_progress(session, plan=plan, today=today)
    assert progress.day == 33
    assert progress.done > 0
    assert [a.title for a in progress.overdue_actions] == [
        "Open the QMM evidence index in the eQMS"
    ]


def test_site_a_prepares_its_fda_week_six_weeks_ahead(session: Session) -> None:
    from datetime import date, timedelta

    from qmm.assessment_week.agenda import agenda_view
    from qmm.assessment_week.examples import chosen_examples, list_examples
    from qmm.assessment_week.mock import list_mock_interviews
    from qmm.assessment_week.questionnaire import get_questionnaire
    from qmm.assessment_week.service import list_fda_assessments
    from qmm.auth.scope import Operator
    from qmm.metrics.service import event_store
    from qmm.models import FdaAssessment, WeekExample
    from qmm.sites.service import get_site
    from qmm.worklist.service import worklist

    today = date(2026, 12, 9)  # a Wednesday, after the demo's data end
    load_demo(session, today=today)
    counts = (
        session.scalar(select(func.count()).select_from(FdaAssessment)),
        session.scalar(select(func.count()).select_from(WeekExample)),
    )
    load_demo(session, today=today + timedelta(days=30))  # again, another day: nothing added
    assert counts == (
        session.scalar(select(func.count()).select_from(FdaAssessment)),
        session.scalar(select(func.count()).select_from(WeekExample)),
    )
    site = get_site(session, code="SITE-A")
    [visit] = list_fda_assessments(session, site=site)
    assert (visit.starts_on, visit.ends_on) == (date(2027, 1, 18), date(2027, 1, 22))
    assert visit.status == "preparing"
    assert visit.self_assessment_id is not None
    examples = list_examples(session, site=site)
    assert len(examples) == 8
    assert sorted(e.status for e in examples).count("draft") == 3
    assert len(chosen_examples(session, fda_assessment=visit)) == 5
    questionnaire = get_questionnaire(session, fda_assessment=visit)
    assert questionnaire.status == "drafting"
    edited = [a.practice_area for a in questionnaire.answers if a.edited_by is not None]
    assert len(questionnaire.answers) == 5
    assert sorted(edited) == ["business_continuity", "management_commitment"]
    agenda = agenda_view(session, fda_assessment=visit)
    double_booked = [c for c in agenda.conflicts if c.kind == "double_booking"]
    assert len(double_booked) == 1
    assert "Priya Raman" in double_booked[0].message
    assert [m.held_on for m in list_mock_interviews(session, fda_assessment=visit)] == [
        today - timedelta(days=3)
    ]
    work = worklist(session, reader=Operator(), sites=[site], store=event_store(), today=today)
    fda_steps = [(i.title.split(":")[0], i.state) for i in work.items if i.kind == "fda_milestone"]
    assert fda_steps == [("Pre-interview questionnaire returned", "due")]


def test_site_b_rated_advanced_pqs_too_high_at_its_past_fda_assessment(
    session: Session,
) -> None:
    from datetime import date

    from qmm.assessment_week.feedback import site_calibration
    from qmm.auth.scope import Operator
    from qmm.sites.service import get_site

    today = date(2026, 12, 9)
    load_demo(session, today=today)
    [calibration] = site_calibration(
        session, site=get_site(session, code="SITE-B"), reader=Operator()
    )
    visit = calibration.fda_assessment
    assert calibration.self_assessment is not None
    assert calibration.self_assessment.started_on < visit.starts_on
    assert (visit.starts_on, visit.ends_on) == (date(2026, 9, 28), date(2026, 10, 1))
    assert calibration.feedback.received_on <= today
    assert calibration.fda_assessment.status == "feedback_received"
    gaps = {a.practice_area: a.gap for a in calibration.areas}
    assert gaps["advanced_pqs"] is not None
    assert gaps["advanced_pqs"] > 1
    assert calibration.rated_too_high[0].practice_area == "advanced_pqs"
    assert get_site(session, code="SITE-C") is not None
