"""Tampering needs what an attacker with database access has: the triggers out of the way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text
from sqlalchemy.orm import Session

from qmm.audit.trail import GENESIS_HASH, entry_hash
from qmm.models import AuditEntry


def drop_protection(session: Session) -> None:
    """Drop the triggers that forbid changing audit entries (rolled back with the test)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP TRIGGER audit_entries_immutable ON audit_entries"))
    else:
        connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        connection.execute(text("DROP TRIGGER audit_entries_no_delete"))


def drop_signature_protection(session: Session) -> None:
    """Drop the triggers that forbid changing or deleting signatures (rolled back with the test)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP TRIGGER signatures_immutable ON signatures"))
    else:
        connection.execute(text("DROP TRIGGER signatures_no_update"))
        connection.execute(text("DROP TRIGGER signatures_no_delete"))


#: The guard triggers an attacker with the database's own rights drops first.
GUARDED_TABLES = ("audit_entries", "signatures", "audit_checkpoints", "login_attempts")


def drop_every_guard(connection: Connection) -> None:
    """Put every guard trigger out of the way, as the owner of the database can."""
    if connection.dialect.name == "postgresql":
        for table in GUARDED_TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        return
    for table in GUARDED_TABLES:
        for trigger in (f"{table}_no_update", f"{table}_no_delete"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))


Entry = dict[str, Any]


def reseal_chain(connection: Connection, edit: Callable[[list[Entry]], list[Entry]]) -> None:
    """Rewrite the trail as EDIT says, then re-seal it with the application's own hash function.

    What the forgery of issue 17 did: no key is used, only qmm.audit.trail.entry_hash.
    """
    table = AuditEntry.metadata.tables["audit_entries"]
    entries = [
        dict(row) for row in connection.execute(select(table).order_by(table.c.id)).mappings()
    ]
    entries = edit(entries)
    previous = GENESIS_HASH
    for number, entry in enumerate(entries, start=1):
        entry["id"] = number
        entry["prev_hash"] = previous
        entry["entry_hash"] = previous = entry_hash(
            entry_id=number,
            recorded_at=entry["recorded_at"],
            actor_id=entry["actor_id"],
            actor=entry["actor"],
            action=entry["action"],
            table_name=entry["table_name"],
            record_id=entry["record_id"],
            old_values=entry["old_values"],
            new_values=entry["new_values"],
            reason=entry["reason"],
            prev_hash=entry["prev_hash"],
        )
    connection.execute(delete(table))
    connection.execute(insert(table), entries)
