"""Check the audit trail: an intact chain, and business records that match their last entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.audit.trail import (
    GENESIS_HASH,
    audited_columns,
    audited_tables,
    canonical_value,
    stored_entry_hash,
)
from qmm.models import AuditEntry


@dataclass
class VerificationReport:
    """What `qmm audit verify` found; empty problems means the trail and the records agree."""

    entries: int = 0
    records: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "records": self.records,
            "head_hash": self.head_hash,
            "problems": self.problems,
        }


def _check_chain(entries: list[AuditEntry], report: VerificationReport) -> None:
    expected_id = 1
    prev_hash = GENESIS_HASH
    for entry in entries:
        if entry.id != expected_id:
            if entry.id > expected_id:
                missing = (
                    f"#{expected_id}"
                    if entry.id == expected_id + 1
                    else f"#{expected_id} to #{entry.id - 1}"
                )
                report.problems.append(f"audit entries {missing} are missing (deleted)")
            else:
                report.problems.append(f"audit entry #{entry.id} is out of sequence")
            expected_id = entry.id
        if entry.prev_hash != prev_hash:
            report.problems.append(
                f"audit entry #{entry.id} does not follow the entry before it "
                "(an entry was inserted, deleted or reordered)"
            )
        if stored_entry_hash(entry) != entry.entry_hash:
            report.problems.append(
                f"audit entry #{entry.id} ({entry.action} {entry.table_name} "
                f"#{entry.record_id}) was altered after it was written"
            )
        prev_hash = entry.entry_hash
        expected_id += 1
    report.head_hash = prev_hash


def _replay(entries: list[AuditEntry]) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
    """The state every record should have now, and the id of its last entry."""
    state: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
    for entry in entries:
        key = (entry.table_name, entry.record_id)
        if entry.action == "create":
            state[key] = (dict(entry.new_values or {}), entry.id)
        elif entry.action == "update":
            values = dict(state.get(key, ({}, 0))[0])
            values.update(entry.new_values or {})
            state[key] = (values, entry.id)
        elif entry.action == "delete":
            state.pop(key, None)
    return state


def _check_records(session: Session, entries: list[AuditEntry], report: VerificationReport) -> None:
    expected = _replay(entries)
    seen: set[tuple[str, str]] = set()
    for table in audited_tables():
        columns = audited_columns(table)
        pk = [c.name for c in table.primary_key.columns]
        for row in session.execute(select(table)).mappings():
            record_id = "/".join(str(row[c]) for c in pk)
            key = (table.name, record_id)
            seen.add(key)
            report.records += 1
            if key not in expected:
                report.problems.append(
                    f"{table.name} #{record_id} has no audit entry "
                    "(created behind the application's back)"
                )
                continue
            values, last_id = expected[key]
            for column in columns:
                actual = canonical_value(table.name, column, row[column])
                if column in values and values[column] != actual:
                    report.problems.append(
                        f"{table.name} #{record_id}: {column} is {actual!r} in the database but "
                        f"{values[column]!r} in its last audit entry (#{last_id}): changed "
                        "behind the application's back"
                    )
    for table_name, record_id in sorted(set(expected) - seen):
        report.problems.append(
            f"{table_name} #{record_id} is in the audit trail but not in the database "
            "(deleted behind the application's back)"
        )


def verify(session: Session) -> VerificationReport:
    """Verify the chain and every audited record against it."""
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    report = VerificationReport(entries=len(entries))
    _check_chain(entries, report)
    _check_records(session, entries, report)
    return report
