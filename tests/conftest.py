"""Test databases: the real migrations on SQLite or PostgreSQL, each test rolled back."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from qmm.config import get_settings
from qmm.db import _engines, make_engine, unit_of_work
from qmm.framework.service import install_default
from qmm.migrate import upgrade

TEST_DATABASE_URL = os.environ.get("QMM_TEST_DATABASE_URL", "")

#: Work units that take longest (a shared module or session fixture, a browser, a server), sent
#: to the workers first under `pytest -n ... --dist loadfile` so that none is left to run alone
#: at the end. A unit missing from the list only starts later; nothing else depends on it.
#: Ordered by their time in a profile of the whole suite (`--durations`, times per file).
SLOWEST_FIRST = (
    "tests/e2e",
    "tests/backup/test_service.py",
    "tests/events/test_concurrency.py",
    "tests/reports/test_report_pdf.py",
    "tests/web/test_access_matrix.py",
    "tests/web/test_api_fuzz.py",
    "tests/cli/test_serve.py",
    "tests/cli/test_report_cli.py",
    "tests/cli/test_program_cli.py",
    "tests/audit/test_signatures.py",
    "tests/metrics/test_spark.py",
    "tests/bench/test_kpi_reference.py",
    "tests/metrics/test_portability.py",
    "tests/cli/test_trust_cli.py",
    "tests/web/test_assessment_scoping.py",
    "tests/audit/test_forgery.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadfile`: one file per work unit, the browser tests all in one unit.

    A file's module fixtures are then built once, and one `qmm serve` and one Chromium serve
    every browser test. The slowest units go first.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesSlowestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/e2e" if path.startswith("tests/e2e/") else path

        def _assign_work_unit(self, node: Any) -> None:
            if not getattr(self, "_ordered", False):
                self._ordered = True
                rank = {scope: i for i, scope in enumerate(SLOWEST_FIRST)}
                order = sorted(self.workqueue, key=lambda s: rank.get(s, len(rank)))
                self.workqueue = type(self.workqueue)((s, self.workqueue[s]) for s in order)
            super()._assign_work_unit(node)

    return FilesSlowestFirst(config, log)


def _fresh_postgres_database(base_url: str) -> str:
    """Create a new, empty database beside the one named, and return its URL."""
    url = make_url(base_url)
    name = f"qmm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(db_url: str) -> None:
    url = make_url(db_url)
    name = url.database
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _copy_postgres_database(template_url: str) -> str:
    """A new database that starts as a copy of the template (no one may be connected to it)."""
    url = make_url(template_url)
    name = f"qmm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _forget_engine(url: str) -> None:
    """Close the process-wide engine of a URL, so its database can be copied or dropped."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Hash test passwords at argon2id's lowest cost: thousands of sign-ins, not 0.5 s each.

    The `qmm` processes tests start inherit it. tests/auth/test_passwords.py checks that every
    installation keeps the standard cost.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QMM_PASSWORD_HASH_COST", "cheap")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep files written by module- and session-scoped fixtures out of the user's data folder.

    They run before any per-test fixture, so `qmm_data_dir` alone would come too late for them.
    """
    path = tmp_path_factory.mktemp("qmm-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QMM_DATA_DIR", str(path))
        patch.delenv("QMM_EVENTS_URL", raising=False)
        get_settings.cache_clear()
        yield path
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def qmm_data_dir(
    session_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Give each test a data folder of its own, so no test writes to ~/.local/share/qmm-workbench.

    A fixture or test that sets QMM_DATA_DIR itself (`cli_database`, say) runs after this and wins.
    """
    path = tmp_path / "qmm-data"
    monkeypatch.setenv("QMM_DATA_DIR", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this run: a SQLite file, or a new PostgreSQL database."""
    if is_postgres():
        url = _fresh_postgres_database(TEST_DATABASE_URL)
        yield url
        for engine in list(_engines.values()):
            engine.dispose()
        _drop_postgres_database(url)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'qmm-test.sqlite3'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The migrated test database, with the shipped default framework published."""
    engine = make_engine(database_url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        install_default(session)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose every change is rolled back after the test, commits included."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    session.close()
    transaction.rollback()
    connection.close()


@pytest.fixture(scope="session")
def initialised_template(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[str]:
    """A database as `qmm init` leaves it, built once per test process, for tests to copy.

    Migrating and publishing the framework takes seconds; a copy takes milliseconds.
    """
    from typer.testing import CliRunner

    from qmm.cli.main import app

    if is_postgres():
        url = _fresh_postgres_database(database_url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'initialised.sqlite3'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QMM_DATA_DIR", str(tmp_path_factory.mktemp("template-data")))
        patch.setenv("QMM_DATABASE_URL", url)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["init"])
        assert result.exit_code == 0, result.output + str(result.exception or "")
        _forget_engine(url)
    get_settings.cache_clear()
    if not is_postgres():
        database = Path(make_url(url).database or "")
        leftovers = [p.name for p in database.parent.iterdir() if p != database]
        assert leftovers == [], f"the template is not one closed file: {leftovers}"
    yield url
    if is_postgres():
        _drop_postgres_database(url)


def _point_qmm_at(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("QMM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QMM_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    _forget_engine(url)
    get_settings.cache_clear()
    if is_postgres():
        _drop_postgres_database(url)


@pytest.fixture
def cli_database(
    qmm_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, initialised_template: str
) -> Iterator[str]:
    """Point the `qmm` command at a database of its own, as `qmm init` leaves it.

    It is a copy of the process's template (the same backend): `qmm init` on it is a repeat.
    """
    if is_postgres():
        url = _copy_postgres_database(initialised_template)
    else:
        copy = tmp_path / "cli.sqlite3"
        shutil.copyfile(make_url(initialised_template).database or "", copy)
        url = f"sqlite:///{copy}"
    yield from _point_qmm_at(url, tmp_path, monkeypatch)


@pytest.fixture
def empty_cli_database(
    qmm_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> Iterator[str]:
    """Point the `qmm` command at an empty database of its own, for what starts from nothing."""
    if is_postgres():
        url = _fresh_postgres_database(database_url)
    else:
        url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    yield from _point_qmm_at(url, tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def demo_database(
    tmp_path_factory: pytest.TempPathFactory, initialised_template: str
) -> Iterator[Engine]:
    """The demo workspace loaded twice (as `qmm demo` run again leaves it), once per process.

    Loading the demo takes seconds; tests that only read it share this database through
    `demo_session`. A test about loading the demo itself loads it into `session` instead.
    """
    from qmm.demo.workspace import load_demo

    if is_postgres():
        url = _copy_postgres_database(initialised_template)
    else:
        copy = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
        shutil.copyfile(make_url(initialised_template).database or "", copy)
        url = f"sqlite:///{copy}"
    engine = make_engine(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QMM_DATA_DIR", str(tmp_path_factory.mktemp("demo-data")))
        get_settings.cache_clear()
        for _ in range(2):
            with unit_of_work(engine) as session:
                load_demo(session)
    get_settings.cache_clear()
    yield engine
    engine.dispose()
    if is_postgres():
        _drop_postgres_database(url)


@pytest.fixture
def demo_session(demo_database: Engine) -> Iterator[Session]:
    """A session on the shared demo database whose every change is rolled back afterwards."""
    connection = demo_database.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    session.close()
    transaction.rollback()
    connection.close()
