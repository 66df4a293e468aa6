"""Checkpoints are written daily by the server, survive restores, and cover sign-in attempts."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import qmm.cli.serve as serve_module
from qmm.audit.checkpoints import CheckpointPlaces, read_sink, write_checkpoint
from qmm.audit.verify import checkpoint_if_due, verify
from qmm.auth.service import authenticate, create_user
from qmm.cli.main import app
from qmm.config import get_settings
from qmm.db import _engines, get_engine, unit_of_work
from qmm.errors import Unauthenticated
from qmm.migrate import alembic_config, upgrade
from qmm.models import AuditCheckpoint, AuditEntry, LoginAttempt, utcnow

runner = CliRunner()
PASSWORD = "correct horse battery"
ON_POSTGRES = os.environ.get("QMM_TEST_DATABASE_URL", "").startswith("postgresql")
sqlite_only = pytest.mark.skipif(
    ON_POSTGRES, reason="qmm backup/restore and copying the database file are SQLite's"
)


def qmm_cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    return result.output


@pytest.fixture
def engine(cli_database: str) -> Engine:
    """A database of its own (commits stay), migrated, with a site."""
    qmm_cli("init")
    qmm_cli("site", "add", "SITE-A", "--name", "Riverside")
    return get_engine()


class TestTheDailyCheckpoint:
    def test_the_server_seals_when_the_newest_checkpoint_is_a_day_old(self, engine: Engine) -> None:
        first = checkpoint_if_due(engine)
        assert first.written is not None
        assert first.written.reason == "daily"
        assert checkpoint_if_due(engine).written is None  # sealed a moment ago

        later = checkpoint_if_due(engine, now=utcnow() + timedelta(hours=25))

        assert later.written is not None
        assert later.written.id == first.written.id + 1

    def test_a_damaged_trail_is_reported_and_not_sealed(self, engine: Engine) -> None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE sites SET name = 'Renamed quietly'"))

        due = checkpoint_if_due(engine)

        assert due.written is None
        assert due.report is not None
        assert any("Renamed quietly" in p for p in due.report.problems)

    def test_qmm_serve_starts_the_daily_checkpoint(
        self, engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        started: list[threading.Event] = []
        served: list[str] = []

        def start(
            interval: float = serve_module.CHECKPOINT_CHECK_SECONDS,
            first: float = serve_module.CHECKPOINT_FIRST_CHECK_SECONDS,
        ) -> threading.Event:
            started.append(threading.Event())
            return started[-1]

        monkeypatch.setattr(serve_module, "start_daily_checkpoints", start)
        monkeypatch.setattr("uvicorn.run", lambda target, **_: served.append(target))

        qmm_cli("serve", "--workers", "1")

        assert served == ["qmm.web.app:create_app"]
        [stop] = started
        assert stop.is_set()  # the checking thread is told to stop when the server stops

    def test_the_checking_thread_seals_and_stops_when_told(self, engine: Engine) -> None:
        stop = serve_module.start_daily_checkpoints(interval=3600, first=0)
        try:
            for _ in range(100):
                with Session(engine) as session:
                    if session.scalar(select(AuditCheckpoint.id)):
                        break
                threading.Event().wait(0.1)
        finally:
            stop.set()
        with Session(engine) as session:
            assert [c.reason for c in session.scalars(select(AuditCheckpoint))] == ["daily"]


class TestSinkOnlyCheckpoints:
    def test_a_checkpoint_whose_transaction_rolled_back_is_noted_not_a_problem(
        self, engine: Engine
    ) -> None:
        with unit_of_work(engine) as session:
            write_checkpoint(session, reason="verify")
            session.rollback()  # the commit never happened
        lines, _ = read_sink(CheckpointPlaces.from_settings().sink)
        assert len(lines) == 1

        with Session(engine) as session:
            report = verify(session)

        assert report.ok, report.problems
        assert any("in the sink only" in note for note in report.notes)


@sqlite_only
class TestRestores:
    def test_restoring_an_older_backup_replaces_the_newer_checkpoints(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        qmm_cli("backup", str(tmp_path / "older.tar"))
        qmm_cli("site", "add", "SITE-B", "--name", "Northfield")
        qmm_cli("audit", "verify")  # seals SITE-B's entries: history the restore will replace

        output = qmm_cli("restore", str(tmp_path / "older.tar"), "--force")

        assert "Audit trail intact" in output
        assert "written before a restore replaced the database" in output
        assert "Audit trail intact" in qmm_cli("audit", "verify")

    def test_verify_after_restore_accepts_a_database_put_back_by_other_means(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        database = Path(get_settings().resolved_database_url.removeprefix("sqlite:///"))
        qmm_cli("audit", "verify")
        saved = tmp_path / "saved.sqlite3"
        with closing(sqlite3.connect(database)) as live, closing(sqlite3.connect(saved)) as copy:
            live.backup(copy)
        qmm_cli("site", "add", "SITE-B", "--name", "Northfield")
        qmm_cli("audit", "verify")
        _engines.pop(get_settings().resolved_database_url).dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        database.write_bytes(saved.read_bytes())

        output = qmm_cli("audit", "verify", code=1)
        assert "entries were removed" in output
        assert "--after-restore" in output

        assert "Audit trail intact" in qmm_cli("audit", "verify", "--after-restore")
        assert "Audit trail intact" in qmm_cli("audit", "verify")


class TestSignInAttempts:
    def test_each_attempt_is_audited(self, session: Session) -> None:
        create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        with pytest.raises(Unauthenticated):
            authenticate(session, username="dan", password="wrong password entirely")
        attempt = session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc())).first()
        assert attempt is not None

        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.table_name == "login_attempts", AuditEntry.record_id == str(attempt.id)
            )
        )

        assert entry is not None
        assert entry.action == "create"
        assert entry.new_values is not None
        assert entry.new_values["reason"] == "wrong password"
        assert verify(session).ok

    @pytest.mark.parametrize(
        "statement",
        ["DELETE FROM login_attempts", "UPDATE login_attempts SET succeeded = true"],
    )
    def test_the_database_refuses_to_change_or_delete_one(
        self, session: Session, statement: str
    ) -> None:
        create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        authenticate(session, username="dan", password=PASSWORD)

        with (
            pytest.raises(DBAPIError, match="sign-in attempts are never changed or deleted"),
            session.begin_nested(),
        ):
            session.execute(text(statement))

    def test_attempts_recorded_before_the_upgrade_are_brought_under_the_trail(
        self, empty_cli_database: str
    ) -> None:
        config = alembic_config(empty_cli_database)
        engine = get_engine()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0009")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO login_attempts (username, attempted_at, succeeded, channel) "
                    "VALUES ('mallory', CURRENT_TIMESTAMP, false, 'web')"
                )
            )

        upgrade(engine)

        with Session(engine) as session:
            [entry] = session.scalars(
                select(AuditEntry).where(AuditEntry.table_name == "login_attempts")
            )
            assert entry.actor == "system:migration 0010"
            assert entry.new_values is not None
            assert entry.new_values["username"] == "mallory"
            report = verify(session)
            assert report.ok, report.problems
