"""The audit trail (a hash chain that is only ever appended to) and electronic signatures."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.user import User


class AuditAction(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class AuditEntry(Base):
    """One change to one record: who, when, what, the old and new values, and why."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_record", "table_name", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(10))
    table_name: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str] = mapped_column(String(80))
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class SignatureMeaning(StrEnum):
    authored = "authored"
    reviewed = "reviewed"
    approved = "approved"
    responsible = "responsible"


class Signature(Base):
    """An electronic signature bound to a hash of the exact record version signed."""

    __tablename__ = "signatures"
    __table_args__ = (Index("ix_signatures_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(20))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(80))
    record_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class AuditCheckpoint(Base):
    """A keyed seal of the trail's head and of every signature, so a re-sealed chain shows.

    The seal is an HMAC with a key kept outside the database (qmm.audit.checkpoints); each
    checkpoint is also appended to a sink file outside the database.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(200))
    #: The sealed head: the newest entry's id (0 for an empty trail) and its chain hash.
    entry_id: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    #: The first 16 hex digits of each entry's hash from sealed_from to entry_id, so verify can
    #: name the first entry that differs from what was sealed.
    sealed_from: Mapped[int] = mapped_column(Integer)
    sealed_hashes: Mapped[str] = mapped_column(Text)
    signatures_upto: Mapped[int] = mapped_column(Integer)
    signatures_count: Mapped[int] = mapped_column(Integer)
    signatures_digest: Mapped[str] = mapped_column(String(64))
    #: Set by a restore: sink lines before this many are of a history the restore replaced.
    sink_lines_before: Mapped[int | None] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(16))
    seal: Mapped[str] = mapped_column(String(64), unique=True)
