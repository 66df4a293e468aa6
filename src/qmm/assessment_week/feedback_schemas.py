"""Mock interviews, FDA's feedback and the calibration gap: one JSON shape each, shared by the
API and `--format json`, and the API's input bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from qmm.assessment_week.feedback import AreaGap, Calibration, WorkspaceCalibration
from qmm.assessment_week.mock import MockGaps
from qmm.models import FdaFeedback, MockAnswer, MockInterview


class MockAnswerOut(BaseModel):
    """One question of a mock interview."""

    question: str
    score: int
    notes: str
    follow_up: str | None
    plan_action_id: int | None
    recorded_at: datetime

    @classmethod
    def of(cls, answer: MockAnswer) -> MockAnswerOut:
        return cls(
            question=answer.question_code,
            score=answer.score,
            notes=answer.notes,
            follow_up=answer.follow_up,
            plan_action_id=answer.plan_action_id,
            recorded_at=answer.recorded_at,
        )


class MockInterviewOut(BaseModel):
    """A mock interview of one practice area, with its scored questions."""

    id: int
    fda_assessment_id: int
    site: str
    practice_area: str
    session_label: str | None
    assessor: str
    held_on: date
    created_by: str
    answers: list[MockAnswerOut]

    @classmethod
    def of(cls, interview: MockInterview) -> MockInterviewOut:
        return cls(
            id=interview.id,
            fda_assessment_id=interview.fda_assessment_id,
            site=interview.fda_assessment.site.code,
            practice_area=interview.practice_area,
            session_label=interview.session_label,
            assessor=interview.assessor,
            held_on=interview.held_on,
            created_by=interview.created_by,
            answers=[MockAnswerOut.of(a) for a in interview.answers],
        )


class MockGapsOut(BaseModel):
    """Where the mock scores fall below the self-assessment's consensus."""

    self_assessment_id: int
    questions_mocked: int
    questions: list[dict[str, Any]]
    sub_elements: list[dict[str, Any]]

    @classmethod
    def of(cls, gaps: MockGaps) -> MockGapsOut:
        return cls(
            self_assessment_id=gaps.self_assessment.id,
            questions_mocked=gaps.questions_mocked,
            questions=[
                {
                    "question": q.code,
                    "sub_element": q.sub_element,
                    "practice_area": q.practice_area,
                    "mock_score": q.mock_score,
                    "self_score": q.self_score,
                    "gap": q.gap,
                    "mock_interview_id": q.mock_interview_id,
                }
                for q in gaps.questions
            ],
            sub_elements=[
                {
                    "sub_element": s.code,
                    "name": s.name,
                    "practice_area": s.practice_area,
                    "mock_score": s.mock_score,
                    "self_score": s.self_score,
                    "gap": s.gap,
                    "questions_mocked": s.questions_mocked,
                }
                for s in gaps.sub_elements
            ],
        )


class FindingOut(BaseModel):
    """An observation, strength or opportunity FDA named."""

    kind: str
    practice_area: str
    text: str


class FeedbackOut(BaseModel):
    """What FDA returned, with the evidence item holding the document."""

    fda_assessment_id: int
    site: str
    received_on: date
    summary: str
    document: str
    area_scores: dict[str, float]
    findings: list[FindingOut]
    created_by: str

    @classmethod
    def of(cls, feedback: FdaFeedback) -> FeedbackOut:
        return cls(
            fda_assessment_id=feedback.fda_assessment_id,
            site=feedback.fda_assessment.site.code,
            received_on=feedback.received_on,
            summary=feedback.summary,
            document=feedback.document.ref,
            area_scores={s.practice_area: s.score for s in feedback.area_scores},
            findings=[
                FindingOut(kind=f.kind, practice_area=f.practice_area, text=f.text)
                for f in feedback.findings
            ],
            created_by=feedback.created_by,
        )


class AreaGapOut(BaseModel):
    """Self minus FDA in one practice area."""

    practice_area: str
    name: str
    self_score: float | None
    fda_score: float | None
    gap: float | None

    @classmethod
    def of(cls, area: AreaGap) -> AreaGapOut:
        return cls(
            practice_area=area.practice_area,
            name=area.name,
            self_score=area.self_score,
            fda_score=area.fda_score,
            gap=area.gap,
        )


class CalibrationOut(BaseModel):
    """One FDA assessment's feedback beside its self-assessment."""

    fda_assessment_id: int
    site: str
    title: str
    received_on: date
    self_assessment_id: int | None
    areas: list[AreaGapOut]
    rated_too_high: list[str]

    @classmethod
    def of(cls, calibration: Calibration) -> CalibrationOut:
        visit = calibration.fda_assessment
        return cls(
            fda_assessment_id=visit.id,
            site=visit.site.code,
            title=visit.title,
            received_on=calibration.feedback.received_on,
            self_assessment_id=(
                calibration.self_assessment.id if calibration.self_assessment else None
            ),
            areas=[AreaGapOut.of(a) for a in calibration.areas],
            rated_too_high=[a.practice_area for a in calibration.rated_too_high],
        )


class AreaAcrossSitesOut(BaseModel):
    """One practice area's gap at each site, and the mean."""

    practice_area: str
    name: str
    gaps: dict[str, float | None]
    mean_gap: float | None


class WorkspaceCalibrationOut(BaseModel):
    """Every readable site's latest calibration and the gap per practice area across them."""

    sites: list[str]
    latest: list[CalibrationOut]
    areas: list[AreaAcrossSitesOut]

    @classmethod
    def of(cls, across: WorkspaceCalibration) -> WorkspaceCalibrationOut:
        return cls(
            sites=list(across.sites),
            latest=[CalibrationOut.of(c) for c in across.latest],
            areas=[
                AreaAcrossSitesOut(
                    practice_area=a.practice_area, name=a.name, gaps=a.gaps, mean_gap=a.mean_gap
                )
                for a in across.areas
            ],
        )


# --- the API's bodies -----------------------------------------------------------------------------


class MockInterviewIn(BaseModel):
    """A mock interview to open."""

    practice_area: str
    assessor: str
    held_on: date
    session_label: str | None = None


class MockAnswerIn(BaseModel):
    """One question scored; `score` is checked by the service so the message names the range."""

    question: str
    score: Any = None
    notes: str = ""
    follow_up: str | None = None


class FollowUpToPlanIn(BaseModel):
    """A scored question whose follow-up becomes an action of a draft plan (PLAN-nnnn)."""

    question: str
    plan: str


class FindingIn(BaseModel):
    """An observation, strength or opportunity as sent."""

    kind: str
    practice_area: str
    text: str


class FeedbackIn(BaseModel):
    """FDA's feedback; the document is an evidence item already in the index (upload it first)."""

    received_on: date
    evidence_ref: str
    summary: str = ""
    area_scores: dict[str, Any] = Field(default_factory=dict)
    findings: list[FindingIn] = Field(default_factory=list)


class PlanFromFeedbackIn(BaseModel):
    """The next 90-day plan to draft from the feedback."""

    owner: str
    start_on: date
    supersede: bool = False
