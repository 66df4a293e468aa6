"""Thread tests: a site, an event store of their own, and the small thread world imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from factories import create_site_a, create_site_b
from qmm.events.store import EventStore
from qmm.models import Site
from threads.support import import_thread_world


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def site_a(session: Session, store: EventStore, tmp_path: Path) -> Site:
    site = create_site_a(session)
    create_site_b(session)
    import_thread_world(session, store, tmp_path / "extracts")
    return site
