"""Fixtures for the event store: a store in a temporary folder, and a committed database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qmm.db import make_engine
from qmm.events.store import EventStore
from qmm.migrate import upgrade


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def shared_engine(cli_database: str) -> Iterator[Engine]:
    """A migrated database of its own whose commits other processes see."""
    engine = make_engine(cli_database)
    upgrade(engine)
    yield engine
    engine.dispose()
