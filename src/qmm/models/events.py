"""Import batches: each imported file, its hash, who ran it, and where its rows are stored."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qmm.models.base import Base, UTCDateTime, utcnow


class ImportBatch(Base):
    """One imported file; its new and changed rows are the table version named here."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40), index=True)
    source_name: Mapped[str] = mapped_column(String(400))
    source_sha256: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str | None] = mapped_column(String(80))
    rows: Mapped[int] = mapped_column(Integer)
    rows_new: Mapped[int] = mapped_column(Integer)
    rows_changed: Mapped[int] = mapped_column(Integer)
    rows_unchanged: Mapped[int] = mapped_column(Integer)
    sites: Mapped[list[str]] = mapped_column(JSON)
    store_path: Mapped[str] = mapped_column(Text)
    #: The data files the batch committed to the store, each {"path", "size", "sha256"}: what
    #: `qmm audit verify` re-hashes. None for batches stored before files were hashed.
    data_files: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    #: The Delta table version the batch committed; None when it changed nothing (or for a
    #: batch of the earlier one-file-per-batch layout, until `qmm init` migrates it).
    delta_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    imported_by: Mapped[str] = mapped_column(String(120))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The day the extract was taken from the source system (given at import, else the import's
    #: UTC date): KPIs are computed as of it by default.
    extracted_on: Mapped[date] = mapped_column(Date, default=lambda: utcnow().date(), index=True)
