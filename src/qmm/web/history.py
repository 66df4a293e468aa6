"""Showing the audit trail to people: what each entry changed, and which record it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qmm.models import Assessment, AuditEntry, Site


@dataclass(frozen=True)
class Change:
    """One column of one entry: the value before and after (None where there was none)."""

    column: str
    old: Any
    new: Any


def changes(entry: AuditEntry) -> list[Change]:
    """What an entry changed, column by column, in a stable order."""
    old = entry.old_values or {}
    new = entry.new_values or {}
    return [Change(c, old.get(c), new.get(c)) for c in sorted({*old, *new})]


def record_label(db: Session, *, table: str, record_id: str) -> str:
    """A human name for the record whose history is shown, when we know one."""
    if record_id.isdigit():
        if table == "sites" and (site := db.get(Site, int(record_id))) is not None:
            return f"site {site.code} ({site.name})"
        if table == "assessments" and (a := db.get(Assessment, int(record_id))) is not None:
            return f"assessment {a.id}: {a.title} ({a.site.code})"
    return f"{table} #{record_id}"
