"""The week as the readiness report tells it: dates, the timeline, the mock interviews, FDA's
feedback and the calibration gap, as of the report's day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.assessment_week.feedback import Calibration, calibration_of, site_calibration
from qmm.assessment_week.mock import latest_mock_scores, list_mock_interviews
from qmm.assessment_week.service import MilestoneView, list_fda_assessments, milestone_views
from qmm.auth.scope import Reader, may_read_assessment
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.models import Assessment, FdaAssessment, FdaAssessmentStatus, Site


@dataclass(frozen=True)
class MockAreaRow:
    """The mock interviews of one practice area: how many, their mean against self."""

    practice_area: str
    name: str
    interviews: int
    questions_scored: int
    mean_mock: float
    self_score: float | None
    open_follow_ups: int

    @property
    def below_self(self) -> bool:
        return self.self_score is not None and self.mean_mock < self.self_score


@dataclass(frozen=True)
class WeekSection:
    """One FDA assessment of the site, as the report shows it."""

    fda_assessment: FdaAssessment
    milestones: tuple[MilestoneView, ...]
    mocks: tuple[MockAreaRow, ...]
    calibration: Calibration | None
    history: tuple[Calibration, ...]

    @property
    def late(self) -> tuple[MilestoneView, ...]:
        return tuple(m for m in self.milestones if m.overdue)


def _chosen(visits: list[FdaAssessment], as_of: date) -> FdaAssessment | None:
    """The coming (or running) assessment, else the latest one that had begun by the day."""
    live = [v for v in visits if v.status != FdaAssessmentStatus.cancelled]
    coming = sorted((v for v in live if v.ends_on >= as_of), key=lambda v: (v.starts_on, v.id))
    if coming:
        return coming[0]
    began = [v for v in live if v.starts_on <= as_of]
    return began[0] if began else None


def _self_scores(session: Session, visit: FdaAssessment, reader: Reader) -> dict[str, float | None]:
    chosen = session.get(Assessment, visit.self_assessment_id) if visit.self_assessment_id else None
    if chosen is None or not may_read_assessment(session, reader=reader, assessment=chosen):
        return {}
    return {
        c: pa.score for c, pa in compute_scores(session, assessment=chosen).practice_areas.items()
    }


def _mocks(
    session: Session, visit: FdaAssessment, as_of: date, reader: Reader
) -> tuple[MockAreaRow, ...]:
    held = [i for i in list_mock_interviews(session, fda_assessment=visit) if i.held_on <= as_of]
    if not held:
        return ()
    own = _self_scores(session, visit, reader)
    rows = []
    for area in dict.fromkeys(
        i.practice_area for i in sorted(held, key=lambda i: (i.held_on, i.id))
    ):
        of_area = [i for i in held if i.practice_area == area]
        latest = latest_mock_scores(of_area)
        if not latest:
            continue
        scores = [score for score, _ in latest.values()]
        rows.append(
            MockAreaRow(
                area,
                PRACTICE_AREAS.get(area, area),
                len(of_area),
                len(scores),
                sum(scores) / len(scores),
                own.get(area),
                sum(
                    1
                    for i in of_area
                    for a in i.answers
                    if a.follow_up and a.plan_action_id is None
                ),
            )
        )
    return tuple(rows)


def week_section(
    session: Session, *, site: Site, as_of: date, reader: Reader
) -> WeekSection | None:
    """The site's FDA assessment as of the day, or None when none is planned or held."""
    visit = _chosen(list_fda_assessments(session, site=site), as_of)
    if visit is None:
        return None
    calibration = calibration_of(session, fda_assessment=visit, reader=reader)
    if calibration is not None and calibration.feedback.received_on > as_of:
        calibration = None
    history = tuple(
        c
        for c in site_calibration(session, site=site, reader=reader)
        if c.feedback.received_on <= as_of
    )
    return WeekSection(
        visit,
        tuple(milestone_views(visit, today=as_of)),
        _mocks(session, visit, as_of, reader),
        calibration,
        history,
    )
