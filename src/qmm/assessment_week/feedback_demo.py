"""Demo data for the week's last steps: a mock interview before FDA comes, and a past FDA
assessment whose feedback shows a practice area the site rated too high. Nothing is invented
beyond what the demo says it is: scores derive from the self-assessment's own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Final

from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.assessment_week.feedback import FindingIn, record_feedback
from qmm.assessment_week.mock import (
    area_questions,
    mock_practice_areas,
    record_mock_answer,
    self_assessment_of,
    start_mock_interview,
)
from qmm.assessment_week.service import (
    choose_self_assessment,
    plan_fda_assessment,
    update_milestone,
)
from qmm.models import (
    Assessment,
    FdaAssessment,
    FdaMilestoneKind,
    MockInterview,
    Site,
    utcnow,
)

#: The practice area the demo rehearses and the one FDA sees lower than the site did.
DEMO_AREA: Final = "advanced_pqs"
#: Self minus FDA per practice area in the demo: Advanced PQS rated well too high, the others
#: close, either way (FDA's score is kept within 1 to 5).
DEMO_GAPS: Final = {
    "management_commitment": -0.25,
    "business_continuity": 0.25,
    "advanced_pqs": 1.25,
    "technical_excellence": 0.0,
    "employee_engagement": -0.5,
}


def demo_mock_interview(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    held_on: date,
    assessor: str = "Internal auditor (mock assessor)",
    questions: int = 6,
) -> MockInterview:
    """One mock interview of Advanced PQS: every other question scored a level below the
    consensus (with a follow-up), the rest at it; the self-assessment must be chosen."""
    chosen = self_assessment_of(fda_assessment, session)
    areas = mock_practice_areas(session, fda_assessment=fda_assessment)
    area = DEMO_AREA if DEMO_AREA in areas else next(iter(areas))
    interview = start_mock_interview(
        session,
        fda_assessment=fda_assessment,
        practice_area=area,
        assessor=assessor,
        held_on=held_on,
        session_label="Rehearsal of the PQS session",
    )
    consensus = compute_scores(session, assessment=chosen).questions
    asked = area_questions(session, framework_id=chosen.framework_id, practice_area=area)
    for index, question in enumerate(asked[:questions]):
        own = consensus[question.code].consensus
        level = round(own) if own is not None else 3
        below = index % 2 == 0 and level > 1
        record_mock_answer(
            session,
            interview=interview,
            question_code=question.code,
            score=level - 1 if below else level,
            notes=(
                "The answer named the procedure but showed no records of it working."
                if below
                else "Clear answer with records to show."
            ),
            follow_up=f"Prepare the records that show {question.code} in practice"
            if below
            else None,
        )
    return interview


def demo_past_feedback(
    session: Session,
    *,
    site: Site,
    self_assessment: Assessment,
    owner: str,
    today: date | None = None,
    gaps: Mapping[str, float] | None = None,
) -> FdaAssessment:
    """A past FDA assessment (about seven months ago, four days) with FDA's feedback: Advanced
    PQS scored 1.25 below the self-assessment, the other areas within half a level either way
    (DEMO_GAPS, or the `gaps` given), the document kept as an evidence item; every milestone
    done."""
    day = today or utcnow().date()
    monday = day - timedelta(days=210 + day.weekday())
    visit = plan_fda_assessment(
        session,
        site=site,
        title=f"FDA QMM assessment {monday.year}",
        starts_on=monday,
        ends_on=monday + timedelta(days=3),
        time_zone="America/Chicago",
        owner=owner,
    )
    choose_self_assessment(session, fda_assessment=visit, assessment=self_assessment)
    received = visit.ends_on + timedelta(days=45)
    for milestone in visit.milestones:
        if milestone.kind != FdaMilestoneKind.feedback:
            update_milestone(
                session, fda_assessment=visit, kind=milestone.kind, done_on=milestone.due_on
            )
    rolled = compute_scores(session, assessment=self_assessment).practice_areas
    wanted = DEMO_GAPS if gaps is None else gaps
    # FDA's scores to two decimals, as a letter would print them: the gaps hold to 0.005.
    fda = {
        code: round(min(5.0, max(1.0, pa.score - wanted.get(code, 0.0))), 2)
        for code, pa in rolled.items()
        if pa.score is not None
    }
    findings = [
        FindingIn("strength", "management_commitment", "Leaders review quality KPIs monthly"),
        FindingIn(
            "observation", DEMO_AREA, "CAPA effectiveness checks were planned but rarely closed"
        ),
        FindingIn(
            "opportunity", DEMO_AREA, "Trend deviations across product lines, not lot by lot"
        ),
        FindingIn("opportunity", "employee_engagement", "Close the loop on operator suggestions"),
    ]
    letter = "\n".join(
        [
            f"FDA QMM assessment of {site.code}, {visit.starts_on} to {visit.ends_on}",
            "Practice-area scores:",
            *[f"  {code}: {score:.2f}" for code, score in fda.items()],
            *[f"{f.kind}: {f.practice_area}: {f.text}" for f in findings],
        ]
    )
    record_feedback(
        session,
        fda_assessment=visit,
        received_on=received,
        area_scores=fda,
        findings=[f for f in findings if f.practice_area in rolled],
        summary="Closing meeting on the last day; written feedback followed.",
        document=("fda-feedback-letter.txt", letter.encode("utf-8")),
        today=day,
    )
    return visit
