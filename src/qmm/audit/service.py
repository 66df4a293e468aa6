"""Reading the audit trail: a record's history, filtered by record, user and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
