"""Running the readiness program: decisions, objectives, steering, forum, plans, continuity."""

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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.site import Site


class DecisionStatus(StrEnum):
    """Where a decision stands: editable draft, signed and standing, or replaced."""

    draft = "draft"
    signed = "signed"
    superseded = "superseded"


class Decision(Base):
    """One entry of a site's decision log, named DEC-nnnn; frozen once signed.

    A database trigger refuses any change or delete of a row whose `signed_at` is set, so a
    signed decision can only be superseded by a new entry that points back at it.
    """

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("site_id", "number"),
        UniqueConstraint("supersedes_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(Text)
    quality_won: Mapped[bool] = mapped_column()
    trade_off: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    decided_on: Mapped[date] = mapped_column(Date)
    sub_elements: Mapped[list[str]] = mapped_column(JSON, default=list)
    record_links: Mapped[list[str]] = mapped_column(JSON, default=list)
    kpis: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))

    site: Mapped[Site] = relationship()
    supersedes: Mapped[Decision | None] = relationship(remote_side=[id])

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class QualityObjective(Base):
    """A quality objective of a site, measured by a KPI; role-level children cascade it."""

    __tablename__ = "quality_objectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("quality_objectives.id"))
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(80))
    what_good_looks_like: Mapped[str] = mapped_column(Text, default="")
    kpi: Mapped[str | None] = mapped_column(String(80))
    kpi_group: Mapped[str | None] = mapped_column(String(20))
    target: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[str | None] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10), default="quarter")
    published_on: Mapped[date] = mapped_column(Date)
    retired_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    parent: Mapped[QualityObjective | None] = relationship(remote_side=[id])


class ForumItem(Base):
    """A roadblock raised at the stop-and-fix forum, and when leadership removed it."""

    __tablename__ = "forum_items"
    __table_args__ = (
        CheckConstraint("removed_on IS NULL OR removed_on >= raised_on", name="removed_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    roadblock: Mapped[str] = mapped_column(String(200))
    raised_by: Mapped[str] = mapped_column(String(200))
    raised_on: Mapped[date] = mapped_column(Date)
    owner: Mapped[str] = mapped_column(String(200))
    removed_on: Mapped[date | None] = mapped_column(Date)
    resolution: Mapped[str | None] = mapped_column(Text)

    site: Mapped[Site] = relationship()


class SteeringCadence(Base):
    """A site's steering forum and how often it meets."""

    __tablename__ = "steering_cadences"
    __table_args__ = (CheckConstraint("cadence_days > 0", name="cadence_days"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    chair: Mapped[str] = mapped_column(String(200))
    cadence_days: Mapped[int] = mapped_column(Integer)

    site: Mapped[Site] = relationship()
    meetings: Mapped[list[SteeringMeeting]] = relationship(
        back_populates="cadence", order_by="SteeringMeeting.planned_on"
    )


class SteeringMeeting(Base):
    """One steering meeting: planned for a date, then held with attendees, agenda, minutes."""

    __tablename__ = "steering_meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadence_id: Mapped[int] = mapped_column(ForeignKey("steering_cadences.id"), index=True)
    planned_on: Mapped[date] = mapped_column(Date)
    held_on: Mapped[date | None] = mapped_column(Date)
    attendees: Mapped[list[str]] = mapped_column(JSON, default=list)
    agenda: Mapped[list[str]] = mapped_column(JSON, default=list)
    minutes: Mapped[str | None] = mapped_column(Text)
    decision_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))

    cadence: Mapped[SteeringCadence] = relationship(back_populates="meetings")
    actions: Mapped[list[SteeringAction]] = relationship(
        back_populates="meeting", order_by="SteeringAction.id"
    )


class SteeringAction(Base):
    """An action a steering meeting produced: owner, due date, and when it was done."""

    __tablename__ = "steering_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("steering_meetings.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)

    meeting: Mapped[SteeringMeeting] = relationship(back_populates="actions")
