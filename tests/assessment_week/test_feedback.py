"""Mock interviews, FDA's feedback and the calibration gap, checked against hand-computed cases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_evidence,
    create_fda_assessment,
    create_site_a,
    create_site_b,
    create_tiny_framework,
    rate_sub_elements,
    tiny_pdf,
)
from qmm.assessment_week.feedback import (
    FindingIn,
    calibration_of,
    plan_from_feedback,
    record_feedback,
    site_calibration,
    workspace_calibration,
)
from qmm.assessment_week.feedback_demo import demo_mock_interview, demo_past_feedback
from qmm.assessment_week.mock import (
    follow_up_to_plan,
    mock_gaps,
    record_mock_answer,
    start_mock_interview,
)
from qmm.assessment_week.service import choose_self_assessment
from qmm.audit.scope import audit_scope
from qmm.auth.scope import Operator
from qmm.errors import Conflict, InvalidFields
from qmm.models import (
    Assessment,
    AuditEntry,
    FdaAreaScore,
    FdaAssessment,
    FdaFeedback,
    Framework,
    MockAnswer,
    Site,
    User,
)
from qmm.program.common import InvalidProgramInput
from qmm.program.plan import generate_plan

HELD = date(2026, 11, 30)
PAST_WEEK = {"starts_on": date(2026, 6, 8), "ends_on": date(2026, 6, 11)}
#: Hand-computed: advanced_pqs self = mean(a1 4, a2 3) = 3.5; management_commitment = 3.0.
SELF = {"a1": 4, "a2": 3, "m1": 3, "m2": 3}


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


@pytest.fixture
def alice(session: Session) -> User:
    return create_alice(session)


@pytest.fixture
def tiny(session: Session) -> Framework:
    return create_tiny_framework(session)


@pytest.fixture
def self_assessment(session: Session, site: Site, alice: User, tiny: Framework) -> Assessment:
    assessment = create_assessment_of(session, site, alice, framework=tiny)
    rate_sub_elements(session, assessment, alice, SELF)
    return assessment


@pytest.fixture
def coming(session: Session, site: Site, self_assessment: Assessment) -> FdaAssessment:
    visit = create_fda_assessment(session, site)
    return choose_self_assessment(session, fda_assessment=visit, assessment=self_assessment)


@pytest.fixture
def past(session: Session, site: Site, self_assessment: Assessment) -> FdaAssessment:
    visit = create_fda_assessment(session, site, title="FDA QMM assessment 2026", **PAST_WEEK)
    return choose_self_assessment(session, fda_assessment=visit, assessment=self_assessment)


def _feedback(session: Session, visit: FdaAssessment, **overrides: object) -> FdaFeedback:
    fields: dict[str, object] = {
        "received_on": date(2026, 8, 3),
        "area_scores": {"advanced_pqs": 2.5, "management_commitment": 3.5},
        "findings": [
            FindingIn("strength", "management_commitment", "Leaders visible on the floor"),
            FindingIn("opportunity", "advanced_pqs", "Trend deviations across product lines"),
            FindingIn("observation", "advanced_pqs", "CAPA effectiveness checks are late"),
        ],
        "document": ("fda-feedback.pdf", tiny_pdf("FDA feedback letter")),
    }
    fields.update(overrides)
    return record_feedback(session, fda_assessment=visit, **fields)  # type: ignore[arg-type]


# --- mock interviews ------------------------------------------------------------------------------


def test_a_mock_interview_walks_the_area_and_shows_where_it_falls_below_self(
    session: Session, coming: FdaAssessment
) -> None:
    mock = start_mock_interview(
        session,
        fda_assessment=coming,
        practice_area="advanced_pqs",
        assessor="Internal auditor Sam Ode",
        held_on=HELD,
        session_label="Day 2 morning: PQS",
    )
    record_mock_answer(session, interview=mock, question_code="a1.q1", score=2, notes="vague")
    record_mock_answer(
        session, interview=mock, question_code="a1.q2", score=4, follow_up="Bring CAPA trend"
    )
    record_mock_answer(session, interview=mock, question_code="a2.q1", score=3)
    gaps = mock_gaps(session, fda_assessment=coming, reader=Operator())
    # a1.q1: mock 2 < consensus 4; a1.q2: 4 = 4 (not below); a2.q1: 3 = 3 (not below).
    assert [(q.code, q.mock_score, q.self_score) for q in gaps.questions] == [("a1.q1", 2, 4.0)]
    # a1: mean mock (2 + 4) / 2 = 3.0 below its 4.0; a2: 3.0 is not below 3.0.
    assert [(s.code, s.mock_score, s.self_score) for s in gaps.sub_elements] == [("a1", 3.0, 4.0)]
    assert gaps.questions_mocked == 3


def test_scoring_a_question_again_replaces_the_last_score(
    session: Session, coming: FdaAssessment
) -> None:
    mock = start_mock_interview(
        session, fda_assessment=coming, practice_area="advanced_pqs", assessor="Sam", held_on=HELD
    )
    record_mock_answer(session, interview=mock, question_code="a1.q1", score=2)
    record_mock_answer(session, interview=mock, question_code="a1.q1", score=5, notes="better")
    answers = session.scalars(select(MockAnswer)).all()
    assert [(a.question_code, a.score, a.notes) for a in answers] == [("a1.q1", 5, "better")]


@pytest.mark.parametrize("score", [0, 6, 2.5, True, "3", None])
def test_a_mock_score_outside_one_to_five_is_refused_and_nothing_stored(
    session: Session, coming: FdaAssessment, score: object
) -> None:
    mock = start_mock_interview(
        session, fda_assessment=coming, practice_area="advanced_pqs", assessor="Sam", held_on=HELD
    )
    with pytest.raises(InvalidProgramInput) as caught:
        record_mock_answer(session, interview=mock, question_code="a1.q1", score=score)
    assert "from 1 to 5" in caught.value.problems["score"]
    assert session.scalars(select(MockAnswer)).all() == []


def test_a_mock_interview_refuses_what_is_not_in_the_framework(
    session: Session, coming: FdaAssessment
) -> None:
    with pytest.raises(InvalidProgramInput) as caught:
        start_mock_interview(
            session, fda_assessment=coming, practice_area="quality_vibes", assessor="", held_on=None
        )
    problems = caught.value.problems
    assert "quality_vibes" in problems["practice_area"]
    assert "advanced_pqs" in problems["practice_area"]
    assert problems["assessor"] == "mock assessor must not be empty"
    assert "day held is required" in problems["held_on"]
    mock = start_mock_interview(
        session, fda_assessment=coming, practice_area="advanced_pqs", assessor="Sam", held_on=HELD
    )
    with pytest.raises(InvalidProgramInput) as caught:
        record_mock_answer(session, interview=mock, question_code="m1.q1", score=3)
    assert "not one of the 4 questions of advanced_pqs" in caught.value.problems["question"]


def test_a_mock_interview_needs_the_self_assessment_chosen(session: Session, site: Site) -> None:
    visit = create_fda_assessment(session, site)
    with pytest.raises(Conflict, match="no self-assessment chosen"):
        start_mock_interview(
            session, fda_assessment=visit, practice_area="advanced_pqs", assessor="S", held_on=HELD
        )


def test_a_follow_up_becomes_an_action_of_a_draft_plan(
    session: Session, coming: FdaAssessment, self_assessment: Assessment
) -> None:
    mock = start_mock_interview(
        session, fda_assessment=coming, practice_area="advanced_pqs", assessor="Sam", held_on=HELD
    )
    answer = record_mock_answer(
        session, interview=mock, question_code="a2.q1", score=2, follow_up="Rehearse QRM story"
    )
    plan = generate_plan(
        session, assessment=self_assessment, owner="Dana", start_on=date(2026, 12, 7)
    )
    action = follow_up_to_plan(session, answer=answer, plan=plan)
    assert action.source == "mock_follow_up"
    assert action.sub_element == "a2"
    assert action.title == "Mock interview follow-up: Rehearse QRM story"
    assert f"mock interview {mock.id}" in action.source_detail
    assert answer.plan_action_id == action.id
    with pytest.raises(Conflict, match="already plan action"):
        follow_up_to_plan(session, answer=answer, plan=plan)


def test_mock_records_are_audited_under_the_site(
    session: Session, coming: FdaAssessment, site: Site
) -> None:
    mock = start_mock_interview(
        session, fda_assessment=coming, practice_area="advanced_pqs", assessor="Sam", held_on=HELD
    )
    answer = record_mock_answer(session, interview=mock, question_code="a1.q1", score=3)
    tables = set(session.scalars(select(AuditEntry.table_name)))
    assert {"mock_interviews", "mock_answers"} <= tables
    assert audit_scope(session, table="mock_answers", record_id=str(answer.id))[0] == site


# --- FDA's feedback and the calibration gap -------------------------------------------------------


def test_the_calibration_gap_is_self_minus_fda_per_practice_area(
    session: Session, past: FdaAssessment
) -> None:
    feedback = _feedback(session, past)
    assert feedback.document.ref == "EV-0001"
    assert [f.filename for f in feedback.document.files] == ["fda-feedback.pdf"]
    assert past.status == "feedback_received"
    assert next(m for m in past.milestones if m.kind == "feedback").done_on == date(2026, 8, 3)
    calibration = calibration_of(session, fda_assessment=past, reader=Operator())
    assert calibration is not None
    gaps = {a.practice_area: (a.self_score, a.fda_score, a.gap) for a in calibration.areas}
    # Hand-computed: advanced_pqs 3.5 - 2.5 = +1.0; management_commitment 3.0 - 3.5 = -0.5.
    assert gaps["advanced_pqs"] == (3.5, 2.5, 1.0)
    assert gaps["management_commitment"] == (3.0, 3.5, -0.5)
    assert gaps["business_continuity"] == (None, None, None)
    assert [a.practice_area for a in calibration.rated_too_high] == ["advanced_pqs"]


def test_the_history_and_the_workspace_show_every_site_with_feedback(
    session: Session, past: FdaAssessment, site: Site, alice: User, tiny: Framework
) -> None:
    _feedback(session, past)
    later = create_fda_assessment(
        session,
        site,
        title="FDA 2026 follow-up",
        starts_on=date(2026, 9, 7),
        ends_on=date(2026, 9, 8),
    )
    choose_self_assessment(session, fda_assessment=later, assessment=past_self(session, past))
    _feedback(session, later, received_on=date(2026, 10, 1), area_scores={"advanced_pqs": 3.0})
    history = site_calibration(session, site=site, reader=Operator())
    assert [c.fda_assessment.id for c in history] == [past.id, later.id]
    other = create_site_b(session)
    other_self = create_assessment_of(session, other, alice, framework=tiny, title="B self")
    rate_sub_elements(session, other_self, alice, {"a1": 4, "a2": 4})
    visit_b = create_fda_assessment(session, other, title="FDA at B", **PAST_WEEK)
    choose_self_assessment(session, fda_assessment=visit_b, assessment=other_self)
    _feedback(session, visit_b, area_scores={"advanced_pqs": 3.0}, findings=[])
    across = workspace_calibration(session, reader=Operator(), sites=[site, other])
    assert across.sites == ("SITE-A", "SITE-B")
    pqs = next(a for a in across.areas if a.practice_area == "advanced_pqs")
    # SITE-A latest: 3.5 - 3.0 = 0.5; SITE-B: 4.0 - 3.0 = 1.0; mean 0.75.
    assert pqs.gaps == {"SITE-A": 0.5, "SITE-B": 1.0}
    assert pqs.mean_gap == 0.75


def past_self(session: Session, visit: FdaAssessment) -> Assessment:
    assessment = session.get(Assessment, visit.self_assessment_id)
    assert assessment is not None
    return assessment


def test_recording_feedback_again_replaces_it(session: Session, past: FdaAssessment) -> None:
    _feedback(session, past)
    evidence = create_evidence(session, past.site, title="FDA letter", sub_elements=())
    again = _feedback(
        session,
        past,
        area_scores={"advanced_pqs": 3.0},
        findings=[],
        document=None,
        evidence_ref=evidence.ref,
    )
    assert [(s.practice_area, s.score) for s in again.area_scores] == [("advanced_pqs", 3.0)]
    assert again.findings == []
    assert again.document.ref == evidence.ref
    assert len(session.scalars(select(FdaAreaScore)).all()) == 1


def test_bad_feedback_is_refused_whole(session: Session, coming: FdaAssessment) -> None:
    with pytest.raises(InvalidProgramInput) as caught:
        _feedback(
            session,
            coming,
            received_on=date(2026, 11, 1),  # before the week of 2027-03-08
            area_scores={"advanced_pqs": 6, "quality_vibes": 3},
            findings=[FindingIn("rumour", "advanced_pqs", "x"), FindingIn("strength", "x", "")],
            document=None,
        )
    problems = caught.value.problems
    assert "before the week ends (2027-03-12)" in problems["received_on"]
    assert "above 5" in problems["score_advanced_pqs"]
    assert "'quality_vibes' is not one of" in problems["score_quality_vibes"]
    assert "kind 'rumour' is not one of" in problems["finding_1"]
    assert "practice area 'x' is not one of" in problems["finding_2"]
    assert "attach FDA's feedback document" in problems["document"]
    assert session.scalars(select(FdaFeedback)).all() == []
    assert coming.status == "preparing"


def test_feedback_refuses_an_unknown_evidence_ref_and_a_bad_file(
    session: Session, past: FdaAssessment
) -> None:
    with pytest.raises(InvalidProgramInput) as caught:
        _feedback(session, past, document=None, evidence_ref="EV-0999")
    assert "EV-0999" in caught.value.problems["document"]
    with pytest.raises(InvalidFields) as bad:
        _feedback(session, past, document=("letter.pdf", b"not a pdf"))
    assert "document" in bad.value.problems
    assert session.scalars(select(FdaFeedback)).all() == []


def test_the_next_plan_starts_where_fda_saw_less(session: Session, past: FdaAssessment) -> None:
    _feedback(session, past)
    plan = plan_from_feedback(
        session,
        fda_assessment=past,
        reader=Operator(),
        owner="Dana Whitfield",
        start_on=date(2026, 12, 7),
    )
    fed = [a for a in plan.actions if a.source in ("fda_gap", "fda_opportunity")]
    assert [(a.source, a.sub_element) for a in fed] == [
        ("fda_gap", "a2"),  # advanced_pqs's lowest sub-element (3.0)
        ("fda_opportunity", "a2"),
    ]
    assert fed[0].title.startswith("Close the gap FDA found in Advanced")
    assert "self 3.50 - FDA 2.50 = gap +1.00 in advanced_pqs" in fed[0].source_detail
    assert "Trend deviations across product lines" in fed[1].source_detail
    assert all(a.due_day == 60 for a in fed)


def test_the_demo_shows_advanced_pqs_rated_too_high_and_one_mock_interview(
    session: Session, site: Site, alice: User, self_assessment: Assessment, coming: FdaAssessment
) -> None:
    other = create_site_b(session)
    own = create_assessment_of(session, other, alice, title="B self")
    rate_sub_elements(
        session,
        own,
        alice,
        {"capa_effectiveness": 4, "deviations_investigations": 4, "management_review": 3},
    )
    past = demo_past_feedback(
        session, site=other, self_assessment=own, owner="Dana", today=date(2026, 12, 7)
    )
    assert past.status == "feedback_received"
    assert past.ends_on < date(2026, 12, 7)
    calibration = calibration_of(session, fda_assessment=past, reader=Operator())
    assert calibration is not None
    assert calibration.rated_too_high[0].practice_area == "advanced_pqs"
    assert calibration.rated_too_high[0].gap == pytest.approx(1.25, abs=0.005)
    assert calibration.feedback.document.files[0].filename == "fda-feedback-letter.txt"
    mock = demo_mock_interview(session, fda_assessment=coming, held_on=HELD)
    assert mock.practice_area == "advanced_pqs"
    # Tiny framework: a1.q1 (4), a1.q2 (4), a2.q1 (3), a2.q2 (3); every other one a level lower.
    assert [(a.question_code, a.score) for a in mock.answers] == [
        ("a1.q1", 3),
        ("a1.q2", 4),
        ("a2.q1", 2),
        ("a2.q2", 3),
    ]


def test_a_gap_below_half_a_hundredth_is_no_gap(session: Session, past: FdaAssessment) -> None:
    _feedback(session, past, area_scores={"advanced_pqs": 3.499, "management_commitment": 2.9})
    calibration = calibration_of(session, fda_assessment=past, reader=Operator())
    assert calibration is not None
    # 3.5 - 3.499 = 0.001 prints as 0.00: not rated too high; 3.0 - 2.9 = 0.1 is.
    assert [a.practice_area for a in calibration.rated_too_high] == ["management_commitment"]
