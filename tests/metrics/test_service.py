"""The engine over the event store: tables and values kept while the store's state holds."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from events.support import CAPA_HEADER, write_csv
from factories import create_site_a
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.metrics.engine import compute
from qmm.metrics.service import KPI_TABLES, kpi_values, open_tables

AS_OF = date(2030, 1, 1)


def import_capas(session: Session, store: EventStore, folder: Path, closed: list[str]) -> None:
    """CAPAs of SITE-A due 2025-02-10, closed on the given days."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        [f"C-{n}", "SITE-A", "2025-01-10", "2025-02-10", "equipment", day]
        for n, day in enumerate(closed, start=1)
    ]
    import_files(session, paths=[write_csv(folder / "capa.csv", CAPA_HEADER, rows)], store=store)


def on_time(session: Session, store: EventStore) -> list[tuple[int | None, int | None]]:
    values = kpi_values(session, store=store, kpis=["capa_on_time_closure"], as_of=AS_OF)
    return [(v.numerator, v.denominator) for v in values]


def test_tables_are_reused_while_nothing_changes(session: Session, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    import_capas(session, store, tmp_path / "1", ["2025-02-01"])
    first = open_tables(session, store)
    assert open_tables(session, store) is first
    assert set(first) >= {"capa", "em_sample", "sites"}
    assert not any(name.endswith("_history") for name in first)


def test_an_import_opens_the_store_anew_and_values_follow(session: Session, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    import_capas(session, store, tmp_path / "1", ["2025-02-01"])
    before = open_tables(session, store)
    assert on_time(session, store) == [(1, 1)]
    assert on_time(session, store) == [(1, 1)]  # remembered
    import_capas(session, store, tmp_path / "2", ["2025-02-01", "2025-03-01"])
    assert open_tables(session, store) is not before
    assert on_time(session, store) == [(1, 1), (0, 1)]  # February on time, March late


def test_a_changed_headcount_opens_the_store_anew(session: Session, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    site = create_site_a(session)
    before = open_tables(session, store)
    site.headcount = 700
    session.flush()
    after = open_tables(session, store)
    assert after is not before
    rows = after["sites"].to_pyarrow().to_pylist()
    assert [r["headcount"] for r in rows if r["site"] == "SITE-A"] == [700]


def test_remembered_values_equal_a_fresh_computation(session: Session, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    import_capas(session, store, tmp_path / "1", ["2025-02-01", "2025-03-01", "2025-02-20"])
    remembered = kpi_values(session, store=store, period="quarter", as_of=AS_OF)
    backend = store.connect(session)
    tables = {name: backend.table(name) for name in KPI_TABLES}
    fresh = compute(tables, period="quarter", as_of=AS_OF)
    assert remembered == fresh


def test_concurrent_first_readers_open_the_store_once(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an import every request misses at once; one opens the store, the others wait."""
    store = EventStore(tmp_path / "events")
    backend = store.connect(session)
    state = ("a state no other test has", uuid.uuid4().hex)
    opened: list[int] = []

    def slow_connect(self: EventStore, _session: Session) -> object:
        opened.append(1)
        time.sleep(0.2)
        return backend

    monkeypatch.setattr(EventStore, "connect", slow_connect)
    monkeypatch.setattr(EventStore, "state", lambda self, _session: state)
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda _: open_tables(session, store), range(8)))
    assert len(opened) == 1
    assert all(tables is seen[0] for tables in seen)
