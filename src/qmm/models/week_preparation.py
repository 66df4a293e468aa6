"""Preparing for FDA's assessment week: the site's examples library and the pre-interview
questionnaire (the site's pre-interview questions, its answers per practice area, its review)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.assessment_week import FdaAssessment
from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.site import Site


class ExampleStatus(StrEnum):
    """How far an example is from being shown to FDA: written, checked, approved for sharing."""

    draft = "draft"
    reviewed = "reviewed"
    approved = "approved"


class ExampleSource(StrEnum):
    """The kind of record an example was suggested from."""

    capa = "capa"
    drill = "drill"
    decision = "decision"


class WeekExample(Base):
    """A short story of the site's practice: the situation, what was done, the measured result."""

    __tablename__ = "week_examples"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    situation: Mapped[str] = mapped_column(Text)
    action_taken: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    practice_areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    sub_elements: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    kpis: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The record the example was suggested from (a CAPA id, a drill, a decision), if any.
    source_kind: Mapped[str | None] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(80))
    owner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=ExampleStatus.draft)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    reviewed_by: Mapped[str | None] = mapped_column(String(120))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship()

    @property
    def ref(self) -> str:
        """The example's name within its site, EX-001."""
        return f"EX-{self.number:03d}"


class FdaAssessmentExample(Base):
    """An example the site chose to share with FDA at one assessment."""

    __tablename__ = "fda_assessment_examples"
    __table_args__ = (UniqueConstraint("fda_assessment_id", "example_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_assessment_id: Mapped[int] = mapped_column(ForeignKey("fda_assessments.id"), index=True)
    example_id: Mapped[int] = mapped_column(ForeignKey("week_examples.id"), index=True)
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    chosen_by: Mapped[str] = mapped_column(String(120))

    fda_assessment: Mapped[FdaAssessment] = relationship()
    example: Mapped[WeekExample] = relationship()


class PreInterviewQuestion(Base):
    """A framework question the site tagged as a pre-interview question (its own edited set)."""

    __tablename__ = "pre_interview_questions"
    __table_args__ = (UniqueConstraint("site_id", "question_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    question_code: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by: Mapped[str] = mapped_column(String(120))

    site: Mapped[Site] = relationship()


class QuestionnaireStatus(StrEnum):
    """Drafting until a second person reviews it; signed by the site head, then frozen."""

    drafting = "drafting"
    reviewed = "reviewed"
    signed = "signed"


class Questionnaire(Base):
    """The site's pre-interview questionnaire for one FDA assessment."""

    __tablename__ = "pre_interview_questionnaires"

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_assessment_id: Mapped[int] = mapped_column(
        ForeignKey("fda_assessments.id"), unique=True, index=True
    )
    status: Mapped[str] = mapped_column(String(20), default=QuestionnaireStatus.drafting)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    reviewed_by: Mapped[str | None] = mapped_column(String(120))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    fda_assessment: Mapped[FdaAssessment] = relationship()
    answers: Mapped[list[QuestionnaireAnswer]] = relationship(
        back_populates="questionnaire", order_by="QuestionnaireAnswer.position"
    )


class QuestionnaireAnswer(Base):
    """The site's answer for one practice area: drafted from the records, then edited."""

    __tablename__ = "pre_interview_answers"
    __table_args__ = (UniqueConstraint("questionnaire_id", "practice_area"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(
        ForeignKey("pre_interview_questionnaires.id"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    practice_area: Mapped[str] = mapped_column(String(80))
    practice_area_name: Mapped[str] = mapped_column(String(200))
    #: The questions asked in this area as they stood when drafted: [{code, text}, ...].
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: The draft composed from the self-assessment and the chosen examples, kept as drafted.
    drafted: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str | None] = mapped_column(String(120))
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="answers")
