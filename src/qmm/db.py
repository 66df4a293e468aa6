"""Database engines and sessions for the app database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from qmm.config import get_settings

#: What must be installed in the process before any session may write: the audit trail
#: (qmm.audit.trail registers itself when imported; every boundary imports it).
AUDIT_TRAIL: Final = "audit trail"
_write_hooks: set[str] = set()


class UnauditedWrite(RuntimeError):
    """A session tried to write while the audit trail was not installed in this process."""


def register_write_hook(name: str) -> None:
    """Note that a process-wide hook every write needs (the audit trail) is installed."""
    _write_hooks.add(name)


def _refuse_unaudited_write(session: Session, _context: Any, _instances: Any) -> None:
    if AUDIT_TRAIL not in _write_hooks:
        raise UnauditedWrite(
            "refusing to write: the audit trail is not installed in this process "
            "(the boundary must import qmm.audit.trail before it opens a session)"
        )


# Every session, however made: a write that the trail would not see never reaches the database.
event.listen(Session, "before_flush", _refuse_unaudited_write)


#: How long a SQLite writer waits for the lock held by another process (a worker, a command)
#: before "database is locked": the web app queues its own writers (qmm.web.deps), so this
#: covers the worst honest wait from outside, a long import or restore.
BUSY_TIMEOUT_SECONDS: Final = 30


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (savepoints work).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.close()


#: Execution option naming how a SQLite transaction begins ("IMMEDIATE" for writers).
SQLITE_BEGIN: Final = "qmm_sqlite_begin"


def _begin_sqlite(connection: Any) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "")
    if mode == "IMMEDIATE_NOWAIT":
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def begin_writing(session: Session, *, wait: bool = True) -> None:
    """Start the session's transaction as a writer, before it reads anything.

    On SQLite (WAL) a transaction that has read and then writes fails at once with
    "database is locked" when another connection committed in between; one that takes the
    write lock first waits for it (the busy timeout) instead, or, with wait=False (bookkeeping
    that may be skipped), fails at once when another connection holds it. Nothing changes on
    PostgreSQL.
    """
    mode = "IMMEDIATE" if wait else "IMMEDIATE_NOWAIT"
    session.connection(execution_options={SQLITE_BEGIN: mode})


def is_lock_timeout(error: BaseException) -> bool:
    """Whether an error is SQLite's "database is locked": another writer held on too long."""
    return isinstance(error, OperationalError) and "database is locked" in str(error)


def is_busy(error: BaseException) -> bool:
    """Whether an error means "too busy now, try again": a lock or a connection not had in time."""
    return is_lock_timeout(error) or isinstance(error, PoolTimeout)


logger = logging.getLogger(__name__)

#: The app database holds password hashes: its file is for its owner only. SQLite gives the files
#: it makes beside it (-wal, -shm, -journal) the database file's mode.
OWNER_ONLY: Final = 0o600
SQLITE_SIDE_FILES: Final = ("-wal", "-shm", "-journal")


def keep_owner_only(database: Path) -> None:
    """Create the database file owner-only before SQLite does, and narrow it (and its side files)
    when an earlier version or a copy left them readable by others."""
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, OWNER_ONLY))
    except OSError:
        return  # SQLite will name the problem when it opens the file
    for path in (database, *(Path(f"{database}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(OWNER_ONLY)
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("cannot make %s readable by its owner only: %s", path, exc)


def _private_sqlite_file(database: Path, *_connect_args: Any) -> None:
    keep_owner_only(database)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        database = None if in_memory else Path(parsed.database or "")
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        if database is not None:
            event.listen(engine, "do_connect", partial(_private_sqlite_file, database))
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for a URL (the configured one by default)."""
    url = url or get_settings().resolved_database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose work commits on success and rolls back entirely on any error."""
    factory = session_factory(engine or get_engine())
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_answers(session: Session) -> bool:
    """Whether the database answers a trivial query, for the health check."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
