"""`qmm backup` and `qmm restore` end to end, on a database of their own."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from factories import tiny_pdf
from qmm.cli.backup import backup, restore
from qmm.config import get_settings
from qmm.db import get_engine, make_engine, unit_of_work
from qmm.evidence.service import add_evidence
from qmm.framework.service import install_default
from qmm.migrate import upgrade
from qmm.models import Base
from qmm.sites.service import create_site

ON_POSTGRES = os.environ.get("QMM_TEST_DATABASE_URL", "").startswith("postgresql")
sqlite_only = pytest.mark.skipif(
    ON_POSTGRES,
    reason="qmm backup/restore covers the embedded SQLite default; on PostgreSQL they point to "
    "pg_dump and pg_restore, tested by test_postgresql_points_to_the_documented_procedure",
)

app = typer.Typer()
app.command("backup")(backup)
app.command("restore")(restore)
runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def use_data_dir(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    """Point `qmm` at another data directory with the default database file in it."""
    monkeypatch.setenv("QMM_DATA_DIR", str(data_dir))
    monkeypatch.delenv("QMM_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    return get_settings().resolved_database_url


PDF = tiny_pdf()
PDF_SHA256 = hashlib.sha256(PDF).hexdigest()


@pytest.fixture
def initialised(cli_database: str) -> str:
    """What `qmm init` leaves, plus a site with an evidence item and its PDF."""
    engine = get_engine()
    upgrade(engine)
    with unit_of_work(engine) as session:
        install_default(session)
        site = create_site(session, code="SITE-A", name="Riverside Sterile", site_type="fdf")
        add_evidence(
            session,
            site=site,
            title="Deviation management SOP",
            kind="sop",
            owner="QA Operations Manager",
            effective_on=date(2026, 3, 1),
            files=[("a.pdf", PDF)],
        )
    return cli_database


def stored_pdf(data_dir: Path) -> Path:
    return data_dir / "evidence-files" / PDF_SHA256[:2] / PDF_SHA256


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_help(command: str) -> None:
    output = run(command, "--help")
    assert "Usage:" in output
    assert "OUT" in output if command == "backup" else "IN" in output


@sqlite_only
class TestRoundTrip:
    def test_backup_then_restore_on_a_new_machine(
        self, initialised: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert stored_pdf(get_settings().data_dir).read_bytes() == PDF
        out = tmp_path / "qmm.tar.gz"
        output = run("backup", str(out))
        assert "Backup written" in output
        assert "0 event store file(s) and 1 evidence file(s)" in output
        assert "Audit trail verified" in output

        restored_url = use_data_dir(monkeypatch, tmp_path / "new-machine")
        output = run("restore", str(out))

        assert "Audit trail intact" in output
        assert f"Evidence files: {tmp_path / 'new-machine' / 'evidence-files'}" in output
        assert table_rows(restored_url) == table_rows(initialised)
        assert table_rows(restored_url)["sites"]
        assert stored_pdf(tmp_path / "new-machine").read_bytes() == PDF

    def test_json_output(
        self, initialised: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        made = json.loads(run("backup", str(tmp_path), "--format", "json"))
        assert made["manifest"]["audit"]["verified"] is True
        assert made["manifest"]["format_version"] == 2
        assert made["manifest"]["evidence"] == {"present": True, "files": 1}
        assert {"path": f"evidence-files/{PDF_SHA256[:2]}/{PDF_SHA256}", "size": len(PDF)} in [
            {"path": f["path"], "size": f["size"]} for f in made["manifest"]["files"]
        ]
        path = Path(made["path"])
        assert path.parent == tmp_path
        assert path.name.startswith("qmm-backup-")

        use_data_dir(monkeypatch, tmp_path / "restored")
        restored = json.loads(run("restore", str(path), "--format", "json"))
        assert restored["ok"] is True
        assert restored["evidence"] == str(tmp_path / "restored" / "evidence-files")
        assert stored_pdf(tmp_path / "restored").read_bytes() == PDF
        assert restored["audit"]["head_hash"] == made["manifest"]["audit"]["head_hash"]

    def test_restore_over_data_needs_force_and_keeps_the_old_database(
        self, initialised: str, tmp_path: Path
    ) -> None:
        out = tmp_path / "b.tar"
        run("backup", str(out))

        output = run("restore", str(out), code=2)
        assert "already holds data" in output
        assert "--force" in output

        output = run("restore", str(out), "--force")
        assert "Moved aside" in output
        assert "Audit trail intact" in output
        [aside] = tmp_path.glob("cli.sqlite3.before-restore-*")
        assert table_rows(f"sqlite:///{aside}") == table_rows(initialised)
        data_dir = get_settings().data_dir
        [evidence_aside] = data_dir.glob("evidence-files.before-restore-*")
        assert f"Moved aside: {evidence_aside}" in output
        assert (evidence_aside / PDF_SHA256[:2] / PDF_SHA256).read_bytes() == PDF
        assert stored_pdf(data_dir).read_bytes() == PDF


@sqlite_only
class TestLeftovers:
    def test_a_backup_says_which_leftovers_of_killed_runs_it_removed(
        self, initialised: str, tmp_path: Path
    ) -> None:
        folder = tmp_path / "backups"
        left = folder / ".qmm-backup-a1b2c3"  # from a version that did not lock its folder
        left.mkdir(parents=True)
        (left / "app.sqlite3").write_bytes(b"a copy of the database")
        os.utime(left, (0, 0))

        output = run("backup", str(folder))

        assert f"Removed the leftovers of an interrupted backup: {left}" in output
        assert not left.exists()

    def test_a_restore_says_which_leftovers_of_killed_runs_it_removed(
        self, initialised: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        out = tmp_path / "b.tar"
        run("backup", str(out))
        use_data_dir(monkeypatch, tmp_path / "new-machine")
        left = tmp_path / "new-machine" / ".events.restore-x9y8z7"
        (left / "events").mkdir(parents=True)
        os.utime(left, (0, 0))

        output = run("restore", str(out))

        assert f"Removed the leftovers of an interrupted restore: {left}" in output
        assert not left.exists()


@sqlite_only
class TestRefusals:
    def test_an_existing_out_is_not_overwritten(self, initialised: str, tmp_path: Path) -> None:
        out = tmp_path / "taken.tar"
        out.write_bytes(b"keep me")
        output = run("backup", str(out), code=2)
        assert "already exists" in output
        assert out.read_bytes() == b"keep me"

    def test_a_damaged_trail_is_refused_unless_allowed_and_restore_exits_1(
        self, initialised: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        database = initialised.removeprefix("sqlite:///")
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE sites SET name = 'Renamed quietly'")
        connection.close()
        out = tmp_path / "b.tar"

        output = run("backup", str(out), code=2)
        assert "does not verify" in output
        assert "--allow-unverified" in output
        assert not out.exists()

        output = run("backup", str(out), "--allow-unverified")
        assert "did not verify" in output

        use_data_dir(monkeypatch, tmp_path / "restored")
        output = run("restore", str(out), code=1)
        assert "Audit trail damaged" in output
        assert "Renamed quietly" in output

    def test_a_file_that_is_not_a_backup(
        self, initialised: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        junk = tmp_path / "junk.tar"
        junk.write_text("not an archive")
        restored = tmp_path / "restored"
        use_data_dir(monkeypatch, restored)
        output = run("restore", str(junk), code=2)
        assert "junk.tar is not a readable QMM backup" in output
        assert not restored.exists()

    def test_a_missing_backup_file(self, initialised: str, tmp_path: Path) -> None:
        output = run("restore", str(tmp_path / "nope.tar"), code=2)
        assert "no backup file" in output


def test_postgresql_points_to_the_documented_procedure(
    cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not cli_database.startswith("postgresql"):
        monkeypatch.setenv("QMM_DATABASE_URL", "postgresql+psycopg://qmm@127.0.0.1:5432/qmm")
        get_settings.cache_clear()
    for args in (["backup", str(tmp_path / "b.tar")], ["restore", str(tmp_path / "b.tar")]):
        output = run(*args, code=2)
        assert "docs/operations.md" in output
        assert "pg_dump" in output
    assert not (tmp_path / "b.tar").exists()
