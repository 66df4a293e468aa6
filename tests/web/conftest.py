"""The web app on the test database: one cast of people per module, each test rolled back.

The app's sessions are bound to one connection inside a transaction (each request gets its own
savepoint, so commit and rollback behave as in production); every test runs inside a further
savepoint that is rolled back afterwards, and the whole module's data goes at the end. This works
the same on SQLite and PostgreSQL and leaves nothing behind for other test modules.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

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
def app(engine: Engine, connection: Connection, world: World) -> FastAPI:
    return make_app(engine, connection)


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
