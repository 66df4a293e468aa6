"""The audit trail's one JSON shape: an entry and a checked signature, as the API returns them
and `qmm audit log` and `qmm assess signatures --format json` print them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from qmm.audit.signatures import SignatureStatus
from qmm.models import AuditEntry


class AuditEntryOut(BaseModel):
    """An entry of the trail, hashes included so a reader can check the chain."""

    id: int
    recorded_at: str
    actor: str
    actor_id: int | None
    action: str
    table: str
    record_id: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    reason: str | None
    prev_hash: str
    entry_hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            recorded_at=entry.recorded_at.isoformat(),
            actor=entry.actor,
            actor_id=entry.actor_id,
            action=entry.action,
            table=entry.table_name,
            record_id=entry.record_id,
            old_values=entry.old_values,
            new_values=entry.new_values,
            reason=entry.reason,
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
        )


class SignatureOut(BaseModel):
    """A signature, checked against the record as it is now (`valid`)."""

    id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: str
    record_hash: str
    valid: bool

    @classmethod
    def of(cls, status: SignatureStatus) -> SignatureOut:
        return cls(
            id=status.id,
            printed_name=status.printed_name,
            username=status.username,
            meaning=status.meaning,
            signed_at=status.signed_at.isoformat(),
            record_hash=status.record_hash,
            valid=status.valid,
        )
