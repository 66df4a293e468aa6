"""Readiness reports built in the background, one row per set of inputs (the build key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qmm.models.base import Base, UTCDateTime, utcnow


class ReportBuild(Base):
    """One report build: who asked, when it started, and where its bytes are (or why it failed).

    Derived data: the bytes can be built again from the same inputs, so the table is not audited
    (see ``qmm.audit.trail.NOT_AUDITED``). The row is also the claim that lets one worker build a
    key while the others show its progress.
    """

    __tablename__ = "report_builds"

    #: SHA-256 of the inputs: site, assessment, dates, format, part, reader, store, audit head.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(40))
    assessment_id: Mapped[int] = mapped_column(Integer)
    fmt: Mapped[str] = mapped_column(String(8))
    part: Mapped[str] = mapped_column(String(16))
    #: building, ready or failed.
    status: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The file's name under the data folder's report cache (None until ready).
    file_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Why the build failed, in words.
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
