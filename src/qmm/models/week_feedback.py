"""Before and after FDA's week: mock interviews scored per question, and what FDA returned."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.assessment_week import FdaAssessment
from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.evidence import EvidenceItem


class FdaFindingKind(StrEnum):
    """The three kinds of remark FDA's feedback holds."""

    observation = "observation"
    strength = "strength"
    opportunity = "opportunity"


class MockInterview(Base):
    """An internal mock assessor walking one practice area's questions before FDA does."""

    __tablename__ = "mock_interviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_assessment_id: Mapped[int] = mapped_column(ForeignKey("fda_assessments.id"), index=True)
    practice_area: Mapped[str] = mapped_column(String(80))
    #: The agenda session it rehearses, in the team's words (the agenda is planned elsewhere).
    session_label: Mapped[str | None] = mapped_column(String(200))
    assessor: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    fda_assessment: Mapped[FdaAssessment] = relationship()
    answers: Mapped[list[MockAnswer]] = relationship(
        back_populates="interview", order_by="MockAnswer.id"
    )


class MockAnswer(Base):
    """One question of a mock interview: the mock score, the notes, and any follow-up."""

    __tablename__ = "mock_answers"
    __table_args__ = (
        UniqueConstraint("mock_interview_id", "question_code"),
        CheckConstraint("score >= 1 AND score <= 5", name="score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mock_interview_id: Mapped[int] = mapped_column(ForeignKey("mock_interviews.id"), index=True)
    question_code: Mapped[str] = mapped_column(String(120))
    score: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: What to do before FDA comes; empty when the answer needs nothing more.
    follow_up: Mapped[str | None] = mapped_column(Text)
    #: The readiness plan action the follow-up became, once it did.
    plan_action_id: Mapped[int | None] = mapped_column(ForeignKey("plan_actions.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    interview: Mapped[MockInterview] = relationship(back_populates="answers")


class FdaFeedback(Base):
    """What FDA returned after the week, with the document kept as an evidence item."""

    __tablename__ = "fda_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_assessment_id: Mapped[int] = mapped_column(
        ForeignKey("fda_assessments.id"), unique=True, index=True
    )
    received_on: Mapped[date] = mapped_column(Date)
    evidence_item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    fda_assessment: Mapped[FdaAssessment] = relationship()
    document: Mapped[EvidenceItem] = relationship()
    area_scores: Mapped[list[FdaAreaScore]] = relationship(
        back_populates="feedback", order_by="FdaAreaScore.id", cascade="all, delete-orphan"
    )
    findings: Mapped[list[FdaFinding]] = relationship(
        back_populates="feedback", order_by="FdaFinding.position", cascade="all, delete-orphan"
    )


class FdaAreaScore(Base):
    """FDA's score for one practice area, when the agency gave one."""

    __tablename__ = "fda_area_scores"
    __table_args__ = (
        UniqueConstraint("feedback_id", "practice_area"),
        CheckConstraint("score >= 1 AND score <= 5", name="score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("fda_feedback.id"), index=True)
    practice_area: Mapped[str] = mapped_column(String(80))
    score: Mapped[float] = mapped_column(Float)

    feedback: Mapped[FdaFeedback] = relationship(back_populates="area_scores")


class FdaFinding(Base):
    """An observation, strength or opportunity FDA named, with its practice area."""

    __tablename__ = "fda_findings"
    __table_args__ = (
        CheckConstraint("kind IN ('observation', 'strength', 'opportunity')", name="finding_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("fda_feedback.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    practice_area: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)

    feedback: Mapped[FdaFeedback] = relationship(back_populates="findings")
