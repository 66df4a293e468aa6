"""Several processes at once: a reader while importing, and an import killed at any moment."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from sqlalchemy import Engine, func, select

from events.support import CAPA_HEADER, CAPA_ROWS, current, write_csv
from factories import create_site_b
from qmm.db import unit_of_work
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import ImportBatch, Site

IMPORTER = """
import os, sys, time
from pathlib import Path
from qmm.db import make_engine, unit_of_work
from qmm.events.importer import import_files
from qmm.events.store import EventStore

url, events, path, moment = sys.argv[1:5]
engine = make_engine(url)
import qmm.events.store as store_module
real_merge = store_module.EventStore.merge
def stalled_merge(self, *args, **kwargs):
    if moment == "before-merge":
        print("WRITING", flush=True)  # the table's writer lock is held, nothing written yet
        time.sleep(600)
    version = real_merge(self, *args, **kwargs)
    if moment == "merged":
        print("WRITING", flush=True)  # a table version committed, no batch row yet
        time.sleep(600)
    return version
store_module.EventStore.merge = stalled_merge
with unit_of_work(engine) as session:
    import_files(session, paths=[Path(path)], store=EventStore(Path(events)))
    print("WRITTEN", flush=True)  # table version committed, batch row flushed, not committed
    time.sleep(600)
"""

READER = """
import sys, time
from pathlib import Path
from qmm.db import make_engine, unit_of_work
from qmm.events.store import EventStore

url, events, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url)
store = EventStore(Path(events))
with unit_of_work(engine) as session:
    held = store.connect(session)  # one DuckDB connection kept open the whole time
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    with unit_of_work(engine) as session:
        seen = store.connect(session).table("capa").count().execute()
    held.table("capa").count().execute()
    print(seen, flush=True)
    if seen >= target:
        break
    time.sleep(0.02)
"""


def start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def next_line(process: subprocess.Popen[str], timeout: float = 120) -> str:
    """The process's next line of output, failing the test if it does not come in time."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail(f"no output within {timeout}s")
    line = process.stdout.readline()
    if not line:
        _, errors = process.communicate()
        pytest.fail(f"the process ended without output:\n{errors}")
    return line.strip()


def capa_file(folder: Path, count: int, *, start_at: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        [f"CAPA-{n}", "SITE-A", "2025-01-06", "2025-02-06", "training", ""]
        for n in range(start_at, start_at + count)
    ]
    return write_csv(folder / "capa.csv", CAPA_HEADER, rows)


def test_imports_succeed_while_another_process_keeps_reading_the_store(
    shared_engine: Engine, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "events")
    with unit_of_work(shared_engine) as session:
        import_files(session, paths=[capa_file(tmp_path / "0", 10)], store=store)
    reader = start(
        READER, shared_engine.url.render_as_string(hide_password=False), str(store.directory), "60"
    )
    try:
        assert next_line(reader) == "10"
        for n in range(1, 6):
            path = capa_file(tmp_path / str(n), 10, start_at=n * 10 + 1)
            with unit_of_work(shared_engine) as session:
                import_files(session, paths=[path], store=store)
        _, errors = reader.communicate(timeout=120)
    finally:
        reader.kill()
    assert reader.returncode == 0, errors
    with unit_of_work(shared_engine) as session:
        assert len(current(store, session, "capa")) == 60


@pytest.mark.parametrize("moment", ["before-merge", "merged", "before-commit"])
def test_an_import_killed_at_any_moment_leaves_the_store_as_it_was(
    shared_engine: Engine, tmp_path: Path, moment: str
) -> None:
    store = EventStore(tmp_path / "events")
    first = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    with unit_of_work(shared_engine) as session:
        import_files(session, paths=[first], store=store)
    with unit_of_work(shared_engine) as session:
        before = current(store, session, "capa", keep=["_batch", "_row"])
    rows = [list(r) for r in CAPA_ROWS]
    rows[1][CAPA_HEADER.index("closed_on")] = "2025-03-01"
    (tmp_path / "later").mkdir()
    second = write_csv(
        tmp_path / "later" / "capa.csv",
        CAPA_HEADER,
        [*rows, ["CAPA-4", "SITE-A", "2025-03-02", "2025-04-02", "x", ""]],
    )

    url = shared_engine.url.render_as_string(hide_password=False)
    importer = start(IMPORTER, url, str(store.directory), str(second), moment)
    try:
        assert next_line(importer) == ("WRITTEN" if moment == "before-commit" else "WRITING")
        os.kill(importer.pid, signal.SIGKILL)
        importer.wait(timeout=60)
    finally:
        importer.kill()
    table = DeltaTable(store.directory / "tables" / "capa")
    assert table.version() == (1 if moment == "before-merge" else 2)

    with unit_of_work(shared_engine) as session:
        assert current(store, session, "capa", keep=["_batch", "_row"]) == before
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 1
        orphans = store.collect_orphans(session, min_age=timedelta(0))
        assert len(orphans) == (0 if moment == "before-merge" else 1)
    with unit_of_work(shared_engine) as session:
        [batch] = import_files(session, paths=[second], store=store)
        assert (batch.rows_new, batch.rows_changed, batch.rows_unchanged) == (1, 1, 2)
    with unit_of_work(shared_engine) as session:
        after = {r["capa_id"]: r for r in current(store, session, "capa")}
        assert sorted(after) == ["CAPA-1", "CAPA-2", "CAPA-3", "CAPA-4"]
        assert str(after["CAPA-2"]["closed_on"]) == "2025-03-01"
        assert store.collect_orphans(session, min_age=timedelta(0)) == []


def test_a_batch_file_renamed_but_not_committed_is_never_read(
    shared_engine: Engine, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "events")
    with unit_of_work(shared_engine) as session:
        import_files(session, paths=[capa_file(tmp_path / "0", 3)], store=store)
    url = shared_engine.url.render_as_string(hide_password=False)
    importer = start(
        IMPORTER,
        url,
        str(store.directory),
        str(capa_file(tmp_path / "1", 5, start_at=4)),
        "before-commit",
    )
    try:
        assert next_line(importer) == "WRITTEN"
        # The other process's file is in place; until it commits, readers do not see it.
        with unit_of_work(shared_engine) as session:
            assert len(current(store, session, "capa")) == 3
        assert DeltaTable(store.directory / "tables" / "capa").version() == 2
    finally:
        importer.kill()
        importer.wait(timeout=60)
    with unit_of_work(shared_engine) as session:
        assert len(current(store, session, "capa")) == 3


def test_the_app_database_takes_other_writes_while_an_import_writes_its_file(
    shared_engine: Engine, tmp_path: Path
) -> None:
    """The batch row is written after the merge: on SQLite its write lock is not held meanwhile."""
    store = EventStore(tmp_path / "events")
    url = shared_engine.url.render_as_string(hide_password=False)
    with unit_of_work(shared_engine) as session:
        import_files(session, paths=[capa_file(tmp_path / "0", 3)], store=store)
    importer = start(
        IMPORTER, url, str(store.directory), str(capa_file(tmp_path / "1", 5, start_at=4)), "merged"
    )
    try:
        assert next_line(importer) == "WRITING"
        started = time.monotonic()
        with unit_of_work(shared_engine) as session:
            create_site_b(session)
        assert time.monotonic() - started < 5  # not a wait for the busy timeout (10 s)
    finally:
        importer.kill()
        importer.wait(timeout=60)
    with unit_of_work(shared_engine) as session:
        assert session.scalar(select(func.count()).select_from(Site)) == 1
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 1
