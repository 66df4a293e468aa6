"""Reading the audit trail: a record's history, filtered by record, user and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.models import AuditEntry


def audit_log(
    session: Session,
    *,
    table_name: str | None = None,
    record_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> Sequence[AuditEntry]:
    """Entries oldest first, narrowed by record, actor (username or label) and time."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if table_name:
        query = query.where(AuditEntry.table_name == table_name)
    if record_id:
        query = query.where(AuditEntry.record_id == record_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since:
        query = query.where(AuditEntry.recorded_at >= since)
    if until:
        query = query.where(AuditEntry.recorded_at < until)
    if limit:
        query = query.order_by(None).order_by(AuditEntry.id.desc()).limit(limit)
        return list(reversed(session.scalars(query).all()))
    return session.scalars(query).all()


def entry_to_json(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain data, hashes included so a reader can check the chain."""
    return {
        "id": entry.id,
        "recorded_at": entry.recorded_at.isoformat(),
        "actor": entry.actor,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "table": entry.table_name,
        "record_id": entry.record_id,
        "old_values": entry.old_values,
        "new_values": entry.new_values,
        "reason": entry.reason,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }
