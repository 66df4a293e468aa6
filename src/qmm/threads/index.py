"""The thread index: the linked record types copied from the event store's current view, indexed.

Why a copy: the store's views re-read every batch file and pick each key's latest version on
every query, so following a thread hop by hop would scan millions of EM samples per hop. The
copy is made once per store state (its batches and the app's sites) through the store's own
public view (`EventStore.connect`), kept while that state lasts, and answers by key lookups.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import duckdb
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from qmm.events.record_types import ColumnType, get_record_type
from qmm.events.store import SQL_TYPES, EventStore

#: The record types a thread runs through, with the column naming each record.
KEYS: Final[dict[str, str]] = {
    "em_sample": "sample_id",
    "deviation": "deviation_id",
    "capa": "capa_id",
    "change_control": "change_id",
    "complaint": "complaint_id",
    "oos": "oos_id",
}
#: Columns indexed for lookups besides each key: the link columns followed backwards.
LINK_INDEXES: Final[dict[str, tuple[str, ...]]] = {
    "em_sample": ("deviation_id",),
    "deviation": ("capa_id",),
    "capa": ("source_id",),
    "change_control": ("link_capa_id", "link_deviation_id"),
}
#: Links a change control may carry among its extra columns (the contract has none for it).
CHANGE_LINKS: Final[dict[str, str]] = {
    "link_capa_id": "capa_id",
    "link_deviation_id": "deviation_id",
}
_KEEP: Final = 2

_lock: Final = threading.Lock()
_kept: OrderedDict[tuple[Any, ...], ThreadIndex] = OrderedDict()
_building: dict[tuple[Any, ...], threading.Lock] = {}
_log = logging.getLogger(__name__)


@dataclass
class ThreadIndex:
    """An in-process DuckDB holding one table per linked record type, indexed by key and link."""

    con: duckdb.DuckDBPyConnection

    def rows(
        self, record_type: str, column: str, value: str, *, site: str, limit: int = 200
    ) -> list[dict[str, Any]]:
        """A site's rows of a record type whose key or link column holds a value.

        The query names the indexed column alone, with one parameter: DuckDB uses the column's
        index only then (with a second condition it scans the whole table). The site is
        checked here.
        """
        if column not in (KEYS[record_type], *LINK_INDEXES.get(record_type, ())):
            raise ValueError(f"{record_type}.{column} is not indexed")
        most = max(int(limit) * 20, 1000)  # every site's rows, before the site is checked
        cursor = self.con.cursor()
        try:
            result = cursor.execute(
                f"SELECT * FROM {record_type} WHERE {column} = ? LIMIT {most}", [value]
            )
            names = [d[0] for d in result.description or ()]
            found = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cursor.close()
        return [r for r in found if r.get("site") == site][:limit]

    def one(self, record_type: str, site: str, key: str) -> dict[str, Any] | None:
        """The current version of one record, or None when the store has no such record."""
        found = self.rows(record_type, KEYS[record_type], key, site=site, limit=1)
        return found[0] if found else None

    def query(self, sql: str, values: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read over the index's tables, for site-wide summaries (broken threads, counts)."""
        cursor = self.con.cursor()
        try:
            return cursor.execute(sql, list(values)).fetchall()
        finally:
            cursor.close()


def _sql_type(column_type: ColumnType) -> str:
    return "TIMESTAMP" if column_type is ColumnType.timestamp else SQL_TYPES[column_type]


def _copy(con: duckdb.DuckDBPyConnection, backend: Any, record_type: str) -> None:
    """Copy a record type's current records into a table of the index, streamed in batches."""
    present = set(backend.list_tables())
    contract = get_record_type(record_type).columns
    columns = [c.name for c in contract]
    if record_type in present:
        reader = backend.table(record_type).select([*columns, "_extra"]).to_pyarrow_batches()
        con.register("incoming", reader)
        source = "incoming"
    else:
        source = None
    extra = ""
    if record_type == "change_control":
        extra = ", " + ", ".join(
            f"json_extract_string(_extra, '$.{name}') AS {link}"
            for link, name in CHANGE_LINKS.items()
        )
    if source is None:
        typed = [f"CAST(NULL AS {_sql_type(c.type)}) AS {c.name}" for c in contract]
        empty = ", ".join([*typed, "CAST(NULL AS VARCHAR) AS _extra"])
        con.execute(f"CREATE TABLE {record_type} AS SELECT {empty}{extra} WHERE false")
        return
    # Timestamps are kept as naive UTC: reading a zoned one into Python would need pytz.
    picked = ", ".join(
        f"CAST({c.name} AS TIMESTAMP) AS {c.name}" if c.type is ColumnType.timestamp else c.name
        for c in contract
    )
    con.execute(f"CREATE TABLE {record_type} AS SELECT {picked}, _extra{extra} FROM {source}")
    con.unregister("incoming")
    for column in (KEYS[record_type], *LINK_INDEXES.get(record_type, ())):
        con.execute(f"CREATE INDEX {record_type}_{column} ON {record_type} ({column})")


def _build(session: Session, store: EventStore, *, threads: int | None = None) -> ThreadIndex:
    """Copy the store into a new index; THREADS caps DuckDB's threads (a build beside requests
    leaves them the other cores)."""
    backend = store.connect(session)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
        backend.raw_sql(f"SET threads = {int(threads)}")
    for record_type in KEYS:
        _copy(con, backend, record_type)
    return ThreadIndex(con)


def _build_beside(engine: Engine, store: EventStore, key: tuple[Any, ...]) -> None:
    """Build the index of a store state in a thread of its own (once, whoever asks)."""
    with _lock:
        if key in _building or key in _kept:
            return
        lock = _building[key] = threading.Lock()
    lock.acquire()  # held from here, released by the builder: askers for this state wait

    def build() -> None:
        try:
            with Session(bind=engine) as session:
                if store.state(session) == key:
                    made = _build(session, store, threads=1)
                    with _lock:
                        _kept[key] = made
                        while len(_kept) > _KEEP:
                            _kept.popitem(last=False)
        except Exception:  # a background thread has no one to tell but the log
            _log.exception("building the thread index failed")
        finally:
            with _lock:
                _building.pop(key, None)
            lock.release()

    threading.Thread(target=build, name="qmm-thread-index", daemon=True).start()


def thread_index(session: Session, store: EventStore, *, older_ok: bool = False) -> ThreadIndex:
    """The index of the store's current state: built on first use, then kept while it lasts.

    With OLDER_OK (site-wide summaries a page shows, such as the worklist's broken threads), a
    new state's index is built beside the request while the latest one built answers: after an
    import each web worker would otherwise copy the store in someone's request. A session
    bound to an open connection (uncommitted data another connection cannot see) always waits.
    """
    key = store.state(session)
    with _lock:
        found = _kept.get(key)
        if found is not None:
            _kept.move_to_end(key)
            return found
        older = next(reversed(_kept.values()), None) if older_ok else None
    bind = session.get_bind()
    if older is not None and isinstance(bind, Engine):
        _build_beside(bind, store, key)
        return older
    with _lock:
        found = _kept.get(key)
        if found is not None:
            return found
        building = _building.setdefault(key, threading.Lock())
    with building:
        with _lock:
            found = _kept.get(key)
        if found is None:
            found = _build(session, store)
            with _lock:
                _kept[key] = found
                while len(_kept) > _KEEP:
                    _kept.popitem(last=False)
        with _lock:
            _building.pop(key, None)
    return found
