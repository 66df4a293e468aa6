"""Versioned QMM frameworks: practice areas, sub-elements and questions with rubric anchors."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.site import Site


class FrameworkStatus(StrEnum):
    draft = "draft"
    published = "published"


class Framework(Base):
    """One version of a framework; a published version never changes."""

    __tablename__ = "frameworks"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    provenance: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=FrameworkStatus.draft.value)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("frameworks.id"))
    level_names: Mapped[dict[str, str]] = mapped_column(JSON)
    rollup: Mapped[dict[str, Any]] = mapped_column(JSON)
    sources: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site | None] = relationship()
    practice_areas: Mapped[list[PracticeArea]] = relationship(
        back_populates="framework", order_by="PracticeArea.position", cascade="all, delete-orphan"
    )

    @property
    def ref(self) -> str:
        """The `code@version` name users type to pick this version."""
        return f"{self.code}@{self.version}"


class PracticeArea(Base):
    __tablename__ = "framework_practice_areas"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    provenance: Mapped[str] = mapped_column(String(20))
    sources: Mapped[list[str]] = mapped_column(JSON)
    weight: Mapped[float] = mapped_column(Float, default=1.0)

    framework: Mapped[Framework] = relationship(back_populates="practice_areas")
    sub_elements: Mapped[list[SubElement]] = relationship(
        back_populates="practice_area", order_by="SubElement.position", cascade="all, delete-orphan"
    )


class SubElement(Base):
    __tablename__ = "framework_sub_elements"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    practice_area_id: Mapped[int] = mapped_column(
        ForeignKey("framework_practice_areas.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    provenance: Mapped[str] = mapped_column(String(20))
    sources: Mapped[list[str]] = mapped_column(JSON)
    references: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    evidence_kinds: Mapped[list[str]] = mapped_column(JSON)
    kpis: Mapped[list[str]] = mapped_column(JSON)

    framework: Mapped[Framework] = relationship()
    practice_area: Mapped[PracticeArea] = relationship(back_populates="sub_elements")
    questions: Mapped[list[Question]] = relationship(
        back_populates="sub_element", order_by="Question.position", cascade="all, delete-orphan"
    )


class Question(Base):
    __tablename__ = "framework_questions"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    sub_element_id: Mapped[int] = mapped_column(
        ForeignKey("framework_sub_elements.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    provenance: Mapped[str] = mapped_column(String(20))
    guidance: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    anchors: Mapped[dict[str, str]] = mapped_column(JSON)

    framework: Mapped[Framework] = relationship()
    sub_element: Mapped[SubElement] = relationship(back_populates="questions")
