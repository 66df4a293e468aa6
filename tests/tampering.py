"""Tampering needs what an attacker with database access has: the triggers out of the way."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


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
