"""The app database holds password hashes: its file and SQLite's files beside it are readable and
writable by their owner only, whatever the umask (issue 17, L6)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from qmm.db import make_engine


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual umask, which leaves new files readable by everybody."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("lax_umask")
def test_a_new_database_and_its_write_ahead_files_are_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "qmm.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE secrets (hash TEXT)"))
            connection.execute(text("INSERT INTO secrets VALUES ('argon2id$...')"))
        with engine.connect() as connection:  # open: the -wal and -shm files are there
            connection.execute(text("SELECT count(*) FROM secrets"))
            side_files = [Path(f"{database}{suffix}") for suffix in ("-wal", "-shm")]
            assert all(path.exists() for path in side_files)
            assert {p.name: mode_of(p) for p in [database, *side_files]} == {
                "qmm.sqlite3": 0o600,
                "qmm.sqlite3-wal": 0o600,
                "qmm.sqlite3-shm": 0o600,
            }
    finally:
        engine.dispose()


@pytest.mark.usefixtures("lax_umask")
def test_a_rollback_journal_is_owner_only_too(tmp_path: Path) -> None:
    database = tmp_path / "qmm.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    raw = engine.raw_connection()  # autocommit, so the journal mode can change
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("CREATE TABLE t (x INTEGER)")
        cursor.execute("BEGIN")
        cursor.execute("INSERT INTO t VALUES (1)")
        journal = Path(f"{database}-journal")
        assert journal.exists()
        assert mode_of(journal) == 0o600
        cursor.execute("ROLLBACK")
    finally:
        raw.close()
        engine.dispose()


@pytest.mark.usefixtures("lax_umask")
def test_a_database_left_readable_by_others_is_narrowed_when_opened(tmp_path: Path) -> None:
    database = tmp_path / "qmm.sqlite3"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    wal = Path(f"{database}-wal")
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert mode_of(database) == 0o600
        assert mode_of(wal) == 0o600
    finally:
        engine.dispose()
