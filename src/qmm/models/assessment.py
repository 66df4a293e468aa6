"""Assessments of a site, their teams, and every rating and consensus score ever recorded."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.framework import Framework, Question
from qmm.models.site import Site
from qmm.models.user import User


class AssessmentKind(StrEnum):
    self = "self"
    mock = "mock"
    external = "external"


class AssessmentStatus(StrEnum):
    open = "open"
    closed = "closed"


class TeamRole(StrEnum):
    lead = "lead"
    assessor = "assessor"


class Assessment(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=AssessmentStatus.open.value)
    started_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship()
    framework: Mapped[Framework] = relationship()
    team: Mapped[list[AssessmentMember]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", order_by="AssessmentMember.id"
    )


class AssessmentMember(Base):
    __tablename__ = "assessment_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))

    assessment: Mapped[Assessment] = relationship(back_populates="team")
    user: Mapped[User] = relationship()


class Rating(Base):
    """One assessor's score for one question; a later one supersedes it and both are kept."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint(
            "(not_applicable AND score IS NULL) OR (NOT not_applicable AND score BETWEEN 1 AND 5)",
            name="score_or_not_applicable",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("framework_questions.id"))
    assessor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score: Mapped[int | None] = mapped_column(Integer)
    not_applicable: Mapped[bool] = mapped_column(default=False)
    rationale: Mapped[str] = mapped_column(Text)
    evidence_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("ratings.id"))

    question: Mapped[Question] = relationship()
    assessor: Mapped[User] = relationship()


class ConsensusScore(Base):
    """The lead's agreed score for a question; without one the assessors' mean stands."""

    __tablename__ = "consensus_scores"
    __table_args__ = (
        CheckConstraint(
            "(not_applicable AND score IS NULL) OR "
            "(NOT not_applicable AND score >= 1 AND score <= 5)",
            name="score_or_not_applicable",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("framework_questions.id"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score: Mapped[float | None] = mapped_column(Float)
    not_applicable: Mapped[bool] = mapped_column(default=False)
    rationale: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("consensus_scores.id"))

    question: Mapped[Question] = relationship()
    recorded_by: Mapped[User] = relationship()
