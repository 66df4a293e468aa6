"""The audit trail: every change to a business record is appended to a hash chain at flush."""

from __future__ import annotations

import enum
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, event, insert, inspect, select, text
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from qmm.db import AUDIT_TRAIL, register_write_hook
from qmm.models import AuditEntry, Base, utcnow

GENESIS_HASH: Final = "0" * 64
# Any 64-bit number unique to this purpose: serialises chain appends on PostgreSQL.
CHAIN_LOCK_KEY: Final = 0x514D4D4155444954

# The trail itself, its checkpoints (which seal it), browser sessions (a cookie's lifetime) and
# stored KPI values (derived: recomputed from the audited import batches at any time).
# Sign-in attempts are audited: deleting one behind the application's back shows.
NOT_AUDITED: Final = frozenset(
    {
        "audit_entries",
        "audit_checkpoints",
        "web_sessions",
        "kpi_values",
        "kpi_value_sets",
        "report_builds",
    }
)
# Columns that change on every sign-in or use: kept in login_attempts, not in the trail.
VOLATILE: Final[dict[str, frozenset[str]]] = {
    "users": frozenset({"failed_logins", "locked_until"}),
    "api_tokens": frozenset({"last_used_at"}),
}
# Secrets are recorded as a hash of their value, never the value itself.
REDACTED: Final[dict[str, frozenset[str]]] = {
    "users": frozenset({"password_hash"}),
    "api_tokens": frozenset({"token_hash"}),
}


#: One change to append: action, table, record id, old values, new values.
Change = tuple[str, Table, str, dict[str, Any] | None, dict[str, Any] | None]


def is_audited(table_name: str) -> bool:
    return table_name not in NOT_AUDITED and not table_name.startswith("alembic")


def audited_tables() -> list[Table]:
    """Every table whose rows the trail accounts for."""
    return [t for t in Base.metadata.sorted_tables if is_audited(t.name)]


def audited_columns(table: Table) -> list[str]:
    skip = VOLATILE.get(table.name, frozenset())
    return [c.name for c in table.columns if c.name not in skip]


def canonical_value(table_name: str, column: str, value: Any) -> Any:
    """A column value as the trail stores it: JSON-safe, UTC, secrets hashed."""
    if value is None:
        return None
    if column in REDACTED.get(table_name, frozenset()):
        return "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    *,
    entry_id: int,
    recorded_at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    table_name: str,
    record_id: str,
    old_values: dict[str, Any] | None,
    new_values: dict[str, Any] | None,
    reason: str | None,
    prev_hash: str,
) -> str:
    """The hash that seals one entry to its content and to the entry before it."""
    content = {
        "id": entry_id,
        "recorded_at": canonical_value("", "", recorded_at),
        "actor_id": actor_id,
        "actor": actor,
        "action": action,
        "table": table_name,
        "record_id": record_id,
        "old": old_values,
        "new": new_values,
        "reason": reason,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def stored_entry_hash(entry: AuditEntry) -> str:
    """Recompute an entry's hash from what is stored now."""
    return entry_hash(
        entry_id=entry.id,
        recorded_at=entry.recorded_at,
        actor_id=entry.actor_id,
        actor=entry.actor,
        action=entry.action,
        table_name=entry.table_name,
        record_id=entry.record_id,
        old_values=entry.old_values,
        new_values=entry.new_values,
        reason=entry.reason,
        prev_hash=entry.prev_hash,
    )


@dataclass(frozen=True)
class Actor:
    """Who a unit of work acts for: a user, or the system on behalf of an operator."""

    label: str
    user_id: int | None = None


def trail_head(session: Session) -> tuple[int, str] | None:
    """The newest entry of the trail (id and chain hash): a version of everything audited.

    Every change the application makes to an audited table appends an entry, and the chain
    hash commits to all entries before it, so values derived from audited records can be kept
    while the head stays the same (an id reused after a rollback comes with another hash).
    """
    row = session.execute(
        select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def system_actor() -> Actor:
    """The operator running a command without naming a user."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return Actor(label=f"system:{who}")


def set_actor(session: Session, actor: Actor) -> None:
    """Record every later change in this session as made by this actor."""
    session.info["audit_actor"] = actor


@contextmanager
def acting(session: Session, actor: Actor) -> Iterator[None]:
    """Record changes flushed inside the block as made by this actor."""
    previous = session.info.get("audit_actor")
    session.info["audit_actor"] = actor
    try:
        yield
    finally:
        session.info["audit_actor"] = previous


@contextmanager
def reason(session: Session, text_: str) -> Iterator[None]:
    """Attach a reason to every change flushed inside the block."""
    previous = session.info.get("audit_reason")
    session.info["audit_reason"] = text_
    try:
        yield
    finally:
        session.info["audit_reason"] = previous


def _row_values(obj: Any, table: Table) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    values = {}
    for column in table.columns:
        if column.name in VOLATILE.get(table.name, frozenset()):
            continue
        prop = mapper.get_property_by_column(column)
        values[column.name] = canonical_value(table.name, column.name, getattr(obj, prop.key))
    return values


def _changed_values(obj: Any, table: Table) -> tuple[dict[str, Any], dict[str, Any]]:
    mapper = inspect(obj).mapper
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for column in table.columns:
        if column.name in VOLATILE.get(table.name, frozenset()):
            continue
        prop = mapper.get_property_by_column(column)
        history = get_history(obj, prop.key)
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        old_value = canonical_value(table.name, column.name, before)
        new_value = canonical_value(table.name, column.name, after)
        if old_value != new_value:
            old[column.name] = old_value
            new[column.name] = new_value
    return old, new


def _table_of(obj: Any) -> Table | None:
    table = inspect(obj).mapper.local_table
    return table if isinstance(table, Table) and is_audited(table.name) else None


def _record_id(obj: Any) -> str:
    state = inspect(obj)
    return "/".join(str(part) for part in state.mapper.primary_key_from_instance(obj))


def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    for obj in [*session.dirty, *session.deleted]:
        if isinstance(obj, AuditEntry):
            raise PermissionError("audit entries are never updated or deleted")


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    changes: list[Change] = []
    for obj in session.new:
        table = _table_of(obj)
        if table is not None:
            changes.append(("create", table, _record_id(obj), None, _row_values(obj, table)))
    for obj in session.dirty:
        table = _table_of(obj)
        if table is None or not session.is_modified(obj, include_collections=False):
            continue
        old, new = _changed_values(obj, table)
        if new or old:
            changes.append(("update", table, _record_id(obj), old, new))
    for obj in session.deleted:
        table = _table_of(obj)
        if table is not None:
            changes.append(("delete", table, _record_id(obj), _row_values(obj, table), None))
    if not changes:
        return
    append_entries(session, changes)


def append_entries(session: Session, changes: list[Change]) -> None:
    """Append entries to the chain, holding the chain's lock until the transaction ends."""
    actor: Actor = session.info.get("audit_actor") or system_actor()
    _append(session.connection(), changes, actor=actor, why=session.info.get("audit_reason"))


def record_existing_rows(connection: Connection, table: Table, *, actor: Actor, why: str) -> int:
    """Bring rows written before their table was audited into the trail, as created now.

    For a migration that starts auditing a table; returns how many entries were appended.
    """
    pk = [c.name for c in table.primary_key.columns]
    changes: list[Change] = []
    for row in connection.execute(select(table).order_by(*table.primary_key.columns)).mappings():
        values = {
            column: canonical_value(table.name, column, row[column])
            for column in audited_columns(table)
        }
        record_id = "/".join(str(row[c]) for c in pk)
        changes.append(("create", table, record_id, None, values))
    if changes:
        _append(connection, changes, actor=actor, why=why)
    return len(changes)


def _append(
    connection: Connection, changes: list[Change], *, actor: Actor, why: str | None
) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    last = connection.execute(
        select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    last_id, prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
    recorded_at = utcnow()
    rows = []
    # Sort for a stable order within one flush: table dependency order, then record id.
    order = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    for action, table, record_id, old, new in sorted(
        changes, key=lambda c: (order.get(c[1].name, 0), c[2].zfill(12), c[0])
    ):
        last_id += 1
        digest = entry_hash(
            entry_id=last_id,
            recorded_at=recorded_at,
            actor_id=actor.user_id,
            actor=actor.label,
            action=action,
            table_name=table.name,
            record_id=record_id,
            old_values=old,
            new_values=new,
            reason=why,
            prev_hash=prev,
        )
        rows.append(
            {
                "id": last_id,
                "recorded_at": recorded_at,
                "actor_id": actor.user_id,
                "actor": actor.label,
                "action": action,
                "table_name": table.name,
                "record_id": record_id,
                "old_values": old,
                "new_values": new,
                "reason": why,
                "prev_hash": prev,
                "entry_hash": digest,
            }
        )
        prev = digest
    connection.execute(insert(AuditEntry), rows)


def install() -> None:
    """Turn the trail on for every session in this process (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
    register_write_hook(AUDIT_TRAIL)


# Importing the trail installs it: a boundary that imports this module cannot write unaudited.
install()
