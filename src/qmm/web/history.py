"""Showing the audit trail to people: what each entry changed, column by column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmm.models import AuditEntry


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
