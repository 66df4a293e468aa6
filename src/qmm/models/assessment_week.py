"""FDA's QMM assessment of a site: its dates, its milestones with owners, and the site's people."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.site import Site
from qmm.models.user import User


class FdaAssessmentStatus(StrEnum):
    """Where the site is with FDA's assessment, from the notice to the agency's feedback."""

    preparing = "preparing"
    held = "held"
    feedback_received = "feedback_received"
    cancelled = "cancelled"


class FdaMilestoneKind(StrEnum):
    """The timeline FDA's notices describe, in the order it runs."""

    orientation = "orientation"
    questionnaire_due = "questionnaire_due"
    agenda_sent = "agenda_sent"
    assessment_week = "assessment_week"
    feedback = "feedback"


class FdaAssessment(Base):
    """FDA's voluntary QMM assessment of one site: up to five days on site, in the site's zone."""

    __tablename__ = "fda_assessments"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    #: The IANA time zone the week's sessions are held in, e.g. America/New_York.
    time_zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=FdaAssessmentStatus.preparing)
    #: The self-assessment FDA's view is compared with, once chosen.
    self_assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    site: Mapped[Site] = relationship()
    milestones: Mapped[list[FdaMilestone]] = relationship(
        back_populates="fda_assessment", order_by="FdaMilestone.due_on"
    )


class FdaMilestone(Base):
    """One step of the timeline, with the person who owns it and the day it was done."""

    __tablename__ = "fda_assessment_milestones"
    __table_args__ = (UniqueConstraint("fda_assessment_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_assessment_id: Mapped[int] = mapped_column(ForeignKey("fda_assessments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_on: Mapped[date] = mapped_column(Date)
    owner: Mapped[str] = mapped_column(String(200))
    done_on: Mapped[date | None] = mapped_column(Date)

    fda_assessment: Mapped[FdaAssessment] = relationship(back_populates="milestones")


class SitePerson(Base):
    """Someone at the site who may attend a session: a user of the workbench or not."""

    __tablename__ = "site_people"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    job_title: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    user: Mapped[User | None] = relationship()
