"""An assessment's one JSON shape: what the API returns and `qmm assess --format json` prints
for an assessment, its scores and signatures, and a rating."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from qmm.assessment.scoring import AssessmentScores
from qmm.audit.schemas import SignatureOut
from qmm.audit.signatures import SignatureStatus
from qmm.models import Assessment, Rating


class RatingIn(BaseModel):
    """One rating by the authenticated user: a score of 1 to 5, or null for not applicable."""

    model_config = ConfigDict(extra="forbid")

    question: str
    score: Annotated[int, Field(ge=1, le=5)] | None
    rationale: str
    evidence: list[str] = Field(default_factory=list)


class RatingOut(BaseModel):
    """A rating as stored: who, what, and when (UTC)."""

    id: int
    assessment: int
    question: str
    assessor: str
    score: int | None
    not_applicable: bool
    rationale: str
    evidence: list[str]
    recorded_at: datetime

    @classmethod
    def of(cls, rating: Rating) -> RatingOut:
        return cls(
            id=rating.id,
            assessment=rating.assessment_id,
            question=rating.question.code,
            assessor=rating.assessor.username,
            score=rating.score,
            not_applicable=rating.not_applicable,
            rationale=rating.rationale,
            evidence=list(rating.evidence_refs),
            recorded_at=rating.recorded_at,
        )


class AssessmentOut(BaseModel):
    """An assessment: of which site, against which framework version, by whom, how far along."""

    id: int
    site: str
    kind: str
    title: str
    framework: str
    status: str
    started_on: date
    team: list[str]

    @classmethod
    def of(cls, assessment: Assessment) -> AssessmentOut:
        return cls(
            id=assessment.id,
            site=assessment.site.code,
            kind=assessment.kind,
            title=assessment.title,
            framework=assessment.framework.ref,
            status=assessment.status,
            started_on=assessment.started_on,
            team=[f"{m.user.username} ({m.role})" for m in assessment.team],
        )


class OverallOut(BaseModel):
    score: float | None
    label: str


class PracticeAreaScoreOut(BaseModel):
    name: str
    score: float | None
    sub_elements_scored: int
    sub_elements_total: int


class SubElementScoreOut(BaseModel):
    name: str
    practice_area: str
    score: float | None
    questions_scored: int
    questions_total: int


class QuestionScoreOut(BaseModel):
    """A question's consensus, where it came from, and each assessor's score (null: NA)."""

    sub_element: str
    consensus: float | None
    consensus_source: str
    spread: int | None
    needs_calibration: bool
    ratings: dict[str, int | None]


class RaterAgreementOut(BaseModel):
    """Inter-rater agreement, the statistic used and why, and the questions to calibrate."""

    statistic: str
    why: str
    value: float | None
    reading: str
    questions_compared: int
    questions_flagged_for_calibration: list[str]


class StrengthOut(BaseModel):
    """A sub-element among the strongest or weakest, with the rationale and evidence cited."""

    sub_element: str
    name: str
    practice_area: str
    score: float | None
    rationale: list[str]
    evidence: list[str]


class RatingProgressOut(BaseModel):
    questions_total: int
    rated_by: dict[str, int]


class AssessmentScoresOut(BaseModel):
    """An assessment's scores (not rounded), agreement and progress, and checked signatures."""

    assessment: AssessmentOut
    rollup_rule: str
    overall: OverallOut
    practice_areas: dict[str, PracticeAreaScoreOut]
    sub_elements: dict[str, SubElementScoreOut]
    questions: dict[str, QuestionScoreOut]
    agreement: RaterAgreementOut
    strengths: list[StrengthOut]
    opportunities: list[StrengthOut]
    progress: RatingProgressOut
    signatures: list[SignatureOut]

    @classmethod
    def of(
        cls,
        assessment: Assessment,
        scores: AssessmentScores,
        signatures: list[SignatureStatus],
    ) -> AssessmentScoresOut:
        return cls.model_validate(
            {
                **scores.to_json(),
                "assessment": AssessmentOut.of(assessment),
                "signatures": [SignatureOut.of(s) for s in signatures],
            }
        )
