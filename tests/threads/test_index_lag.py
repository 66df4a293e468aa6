"""After an import a page's broken threads come from the latest index built while the new
store state's index is built beside the request, once; everything else waits for the new one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from events.support import write_csv
from factories import create_site_a, create_site_b
from qmm.db import make_engine
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import Site
from qmm.threads.index import thread_index
from qmm.threads.service import broken_threads
from threads.support import import_thread_world


@pytest.fixture
def committed(cli_database: str) -> Iterator[Engine]:
    """A database of the test's own whose sessions commit (bound to the engine)."""
    engine = make_engine(cli_database)
    yield engine
    engine.dispose()


def _wait_for_builders() -> None:
    for worker in threading.enumerate():
        if worker.name == "qmm-thread-index":
            worker.join(60)


def _import_broken_deviation(session: Session, store: EventStore, folder: Path) -> None:
    """A major deviation closed without a CAPA: a new broken thread."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ["deviation_id", "site", "opened_on", "closed_on", "severity", "root_cause_category"]
    rows = [["DEV-NEW", "SITE-A", "2026-03-15", "2026-03-25", "critical", "equipment"]]
    import_files(session, paths=[write_csv(folder / "deviation.csv", header, rows)], store=store)


def test_a_page_reads_the_older_index_while_the_new_one_is_built_beside_it(
    committed: Engine, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "events")
    with Session(bind=committed, expire_on_commit=False) as session:
        site = create_site_a(session)
        create_site_b(session)
        import_thread_world(session, store, tmp_path / "world")
        session.commit()
        before = thread_index(session, store)  # built in the caller: nothing older to show
        old_broken = broken_threads(session, site=site, store=store, older_ok=True)
        _import_broken_deviation(session, store, tmp_path / "new")
        session.commit()
        assert thread_index(session, store, older_ok=True) is before
        lagging = broken_threads(session, site=site, store=store, older_ok=True)
        assert [b.record_id for b in lagging] == [b.record_id for b in old_broken]
        _wait_for_builders()
        after = thread_index(session, store, older_ok=True)
        assert after is not before
        fresh = broken_threads(session, site=session.get(Site, site.id) or site, store=store)
        assert "DEV-NEW" in {b.record_id for b in fresh}
        assert "DEV-NEW" not in {b.record_id for b in old_broken}


def test_without_older_ok_the_new_state_is_waited_for(committed: Engine, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    with Session(bind=committed, expire_on_commit=False) as session:
        site = create_site_a(session)
        create_site_b(session)
        import_thread_world(session, store, tmp_path / "world")
        session.commit()
        thread_index(session, store)
        _import_broken_deviation(session, store, tmp_path / "new")
        session.commit()
        assert "DEV-NEW" in {b.record_id for b in broken_threads(session, site=site, store=store)}
