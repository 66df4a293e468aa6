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
    discarded = "discarded"


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
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship()
    supersedes: Mapped[Decision | None] = relationship(remote_side=[id])

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def is_discarded(self) -> bool:
        return self.discarded_at is not None


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


class ReadinessPlanStatus(StrEnum):
    """Where a 90-day readiness plan stands: draft, approved (signed), or replaced."""

    draft = "draft"
    approved = "approved"
    superseded = "superseded"
    discarded = "discarded"


class ReadinessPlan(Base):
    """A site's 90-day readiness plan, generated from an assessment; frozen once approved.

    A database trigger refuses any change of a planned column (and any delete) once
    `approved_at` is set; only `status` may still move (approved -> superseded).
    """

    __tablename__ = "readiness_plans"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(20))
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    generated_on: Mapped[date] = mapped_column(Date)
    start_on: Mapped[date] = mapped_column(Date)
    owner: Mapped[str] = mapped_column(String(200))
    baseline: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("readiness_plans.id"))
    status: Mapped[str] = mapped_column(String(20), default=ReadinessPlanStatus.draft.value)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    site: Mapped[Site] = relationship()
    supersedes: Mapped[ReadinessPlan | None] = relationship(remote_side=[id])
    actions: Mapped[list[PlanAction]] = relationship(
        back_populates="plan", order_by="PlanAction.number"
    )

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


class PlanAction(Base):
    """One action of a readiness plan: what, which workstream, who, by which day, and why."""

    __tablename__ = "plan_actions"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        CheckConstraint("due_day >= 1 AND due_day <= 90", name="due_day"),
        CheckConstraint("status IN ('open', 'done')", name="status"),
        CheckConstraint(
            "(status = 'done' AND done_on IS NOT NULL) OR (status = 'open' AND done_on IS NULL)",
            name="done_on",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("readiness_plans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    workstream: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(200))
    due_day: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    sub_element: Mapped[str | None] = mapped_column(String(80))
    evidence: Mapped[str] = mapped_column(Text)
    evidence_kind: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    source_detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    done_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    #: The superseded plan's open action this one carries over, if it is carried.
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("plan_actions.id"))

    plan: Mapped[ReadinessPlan] = relationship(back_populates="actions")
    carried_from: Mapped[PlanAction | None] = relationship(remote_side=[id])


class ContinuityScenario(Base):
    """A realistic risk to supply: what fails, how likely and bad, and how the site recovers."""

    __tablename__ = "continuity_scenarios"
    __table_args__ = (
        CheckConstraint("likelihood >= 1 AND likelihood <= 5", name="likelihood"),
        CheckConstraint("impact >= 1 AND impact <= 5", name="impact"),
        CheckConstraint("recovery_target_hours > 0", name="recovery_target_hours"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    what_fails: Mapped[str] = mapped_column(Text)
    likelihood: Mapped[int] = mapped_column(Integer)
    impact: Mapped[int] = mapped_column(Integer)
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    suppliers: Mapped[list[str]] = mapped_column(JSON, default=list)
    backup_strategy: Mapped[str] = mapped_column(Text)
    backup_suppliers: Mapped[list[str]] = mapped_column(JSON, default=list)
    recovery_steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    recovery_target_hours: Mapped[float] = mapped_column(Float)
    owner: Mapped[str] = mapped_column(String(200))
    reviewed_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()

    @property
    def risk(self) -> int:
        """Likelihood times impact, 1 to 25."""
        return self.likelihood * self.impact


class InventoryTrigger(Base):
    """A minimum inventory level of a material; below it, the trigger is breached."""

    __tablename__ = "inventory_triggers"
    __table_args__ = (
        UniqueConstraint("site_id", "material"),
        CheckConstraint("minimum_level >= 0", name="minimum_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    material: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))
    minimum_level: Mapped[float] = mapped_column(Float)
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("continuity_scenarios.id"))
    current_level: Mapped[float | None] = mapped_column(Float)
    level_recorded_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    scenario: Mapped[ContinuityScenario | None] = relationship()
    levels: Mapped[list[InventoryLevel]] = relationship(
        back_populates="trigger",
        order_by="[InventoryLevel.recorded_on, InventoryLevel.id]",
    )

    @property
    def breached(self) -> bool:
        """Below the minimum; a level equal to the minimum is not a breach."""
        return self.current_level is not None and self.current_level < self.minimum_level

    @property
    def shortfall(self) -> float | None:
        """How far below the minimum the current level is; None when not breached."""
        if not self.breached:
            return None
        assert self.current_level is not None
        return self.minimum_level - self.current_level


class InventoryLevel(Base):
    """One recorded inventory level of a trigger's material; the history is kept."""

    __tablename__ = "inventory_levels"
    __table_args__ = (CheckConstraint("level >= 0", name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger_id: Mapped[int] = mapped_column(ForeignKey("inventory_triggers.id"), index=True)
    level: Mapped[float] = mapped_column(Float)
    recorded_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    trigger: Mapped[InventoryTrigger] = relationship(back_populates="levels")


class Drill(Base):
    """A continuity drill of a scenario, planned then run against its recovery-time target."""

    __tablename__ = "drills"
    __table_args__ = (
        CheckConstraint("achieved_hours IS NULL OR achieved_hours >= 0", name="achieved_hours"),
        CheckConstraint(
            "(run_on IS NULL AND achieved_hours IS NULL AND target_hours IS NULL) OR "
            "(run_on IS NOT NULL AND achieved_hours IS NOT NULL AND target_hours IS NOT NULL)",
            name="run_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("continuity_scenarios.id"), index=True)
    supplier: Mapped[str | None] = mapped_column(String(200))
    planned_on: Mapped[date] = mapped_column(Date)
    run_on: Mapped[date | None] = mapped_column(Date)
    achieved_hours: Mapped[float | None] = mapped_column(Float)
    target_hours: Mapped[float | None] = mapped_column(Float)
    lessons: Mapped[str | None] = mapped_column(Text)
    evidence_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    scenario: Mapped[ContinuityScenario] = relationship()
    actions: Mapped[list[DrillAction]] = relationship(
        back_populates="drill", order_by="DrillAction.id"
    )

    @property
    def met(self) -> bool | None:
        """Recovered within the target (equal meets it); None until run."""
        if self.achieved_hours is None or self.target_hours is None:
            return None
        return self.achieved_hours <= self.target_hours


class DrillAction(Base):
    """An action a drill's lessons produced: owner, due date, and when it was done."""

    __tablename__ = "drill_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)

    drill: Mapped[Drill] = relationship(back_populates="actions")


class SupplierAgreement(Base):
    """A supplier quality agreement: commitments, maturity reviews and joint drills on a cycle."""

    __tablename__ = "supplier_agreements"
    __table_args__ = (
        UniqueConstraint("site_id", "supplier"),
        CheckConstraint("expires_on IS NULL OR expires_on > signed_on", name="expires_after"),
        CheckConstraint("response_hours > 0", name="response_hours"),
        CheckConstraint("review_every_months >= 1", name="review_every_months"),
        CheckConstraint("drill_every_months >= 1", name="drill_every_months"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    supplier: Mapped[str] = mapped_column(String(200))
    signed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    response_hours: Mapped[float] = mapped_column(Float)
    data_format: Mapped[str] = mapped_column(Text)
    participates_in_risk_reviews: Mapped[bool] = mapped_column()
    review_every_months: Mapped[int] = mapped_column(Integer)
    last_review_on: Mapped[date | None] = mapped_column(Date)
    drill_every_months: Mapped[int] = mapped_column(Integer)
    last_drill_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
