"""The evidence index: items that point at definitive records, their sub-elements and files."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.site import Site


class EvidenceItemKind(StrEnum):
    """What an evidence item is; a fixed list so the index can be filtered and counted."""

    sop = "sop"
    policy = "policy"
    training_record = "training_record"
    trend_report = "trend_report"
    capa_analytics = "capa_analytics"
    continuity_plan = "continuity_plan"
    drill_report = "drill_report"
    decision_record = "decision_record"
    metric_snapshot = "metric_snapshot"
    steering_minutes = "steering_minutes"
    quality_agreement = "quality_agreement"
    other = "other"


class EvidenceItem(Base):
    """One piece of evidence of a site, named EV-nnnn; retired, never deleted."""

    __tablename__ = "evidence_items"
    __table_args__ = (
        UniqueConstraint("site_id", "ref"),
        UniqueConstraint("site_id", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    link: Mapped[str | None] = mapped_column(String(2000))
    eqms_id: Mapped[str | None] = mapped_column(String(120))
    owner: Mapped[str] = mapped_column(String(200))
    effective_on: Mapped[date] = mapped_column(Date)
    review_by: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_reason: Mapped[str | None] = mapped_column(Text)

    site: Mapped[Site] = relationship()
    sub_elements: Mapped[list[EvidenceItemSubElement]] = relationship(
        back_populates="item",
        cascade="all, delete-orphan",
        order_by="EvidenceItemSubElement.sub_element_code",
    )
    files: Mapped[list[EvidenceFile]] = relationship(
        back_populates="item", order_by="EvidenceFile.id"
    )

    @property
    def sub_element_codes(self) -> list[str]:
        """The codes of the sub-elements this item supports, sorted."""
        return sorted(m.sub_element_code for m in self.sub_elements)

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class EvidenceItemSubElement(Base):
    """That an evidence item supports a sub-element, by its code (stable across versions)."""

    __tablename__ = "evidence_item_sub_elements"
    __table_args__ = (UniqueConstraint("item_id", "sub_element_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    sub_element_code: Mapped[str] = mapped_column(String(80), index=True)

    item: Mapped[EvidenceItem] = relationship(back_populates="sub_elements")


class EvidenceFile(Base):
    """A file attached to an evidence item; its bytes live on disk under their SHA-256."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("item_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    item: Mapped[EvidenceItem] = relationship(back_populates="files")
