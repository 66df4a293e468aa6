"""The web app on the test database: one cast of people per module, each test rolled back.

The app's sessions are bound to one connection inside a transaction (each request gets its own
savepoint, so commit and rollback behave as in production); every test runs inside a further
savepoint that is rolled back afterwards, and the whole module's data goes at the end. This works
the same on SQLite and PostgreSQL and leaves nothing behind for other test modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from qmm.events.store import EventStore
from web.support import World, bound_factory, build_world, make_app


@pytest.fixture(scope="module")
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in a transaction for the whole module; rolled back at its end."""
    connection = engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


@pytest.fixture(scope="module")
def world(connection: Connection) -> World:
    with bound_factory(connection)() as session:
        built = build_world(session)
        session.commit()
    return built


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    """An empty event store of the module's own; tests import what they need into it."""
    return EventStore(tmp_path_factory.mktemp("events"))


@pytest.fixture(scope="module")
def app(engine: Engine, connection: Connection, world: World, store: EventStore) -> FastAPI:
    return make_app(engine, connection, store)


@pytest.fixture
def rollback(connection: Connection, world: World) -> Iterator[None]:
    """Undo everything the test did, commits included."""
    savepoint = connection.begin_nested()
    yield
    if savepoint.is_active:
        savepoint.rollback()


@pytest.fixture
def db(connection: Connection, rollback: None) -> Iterator[Session]:
    """A session for the test itself, to arrange data and to check what requests stored."""
    with bound_factory(connection)() as session:
        yield session


@pytest.fixture
def client(app: FastAPI, rollback: None) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def world_files(world: World, qmm_data_dir: Path) -> Path:
    """Let the test's own data folder see the evidence files the module's world stored."""
    qmm_data_dir.mkdir(parents=True, exist_ok=True)
    link = qmm_data_dir / "evidence-files"
    if not link.exists():
        link.symlink_to(world.evidence_dir, target_is_directory=True)
    return link
