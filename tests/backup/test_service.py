"""Backup and restore of the embedded default: nothing lost or half-written, bad input named."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import qmm.backup.service as backup_service
from factories import tiny_pdf
from qmm.audit.trail import reason
from qmm.audit.verify import verify
from qmm.auth.service import create_user
from qmm.backup import (
    EvidenceDoesNotVerify,
    StoreDoesNotVerify,
    TrailDoesNotVerify,
    UnsupportedBackend,
    create_backup,
    restore_backup,
)
from qmm.config import get_settings
from qmm.db import _engines, get_engine, make_engine, unit_of_work
from qmm.demo.workspace import load_demo
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.evidence.files import read_blob
from qmm.evidence.service import add_evidence
from qmm.migrate import alembic_config, head_revision, upgrade
from qmm.models import Base, EvidenceFile
from qmm.sites.service import create_site, get_site

ON_POSTGRES = os.environ.get("QMM_TEST_DATABASE_URL", "").startswith("postgresql")
sqlite_only = pytest.mark.skipif(
    ON_POSTGRES,
    reason="qmm backup/restore covers the embedded SQLite default; PostgreSQL uses pg_dump "
    "and pg_restore (docs/operations.md), tested by TestPostgreSQL",
)
MOMENT = datetime(2026, 3, 1, 12, 30, 45, tzinfo=UTC)


@dataclass(frozen=True)
class Store:
    """A data directory with its app database, as `qmm` would see it."""

    data_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "qmm.sqlite3"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def events(self) -> Path:
        return self.data_dir / "events"

    @property
    def evidence(self) -> Path:
        return self.data_dir / "evidence-files"


@contextmanager
def data_dir_of(store: Store) -> Iterator[None]:
    """Point the settings at a store's data directory, as `qmm` running there would see it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QMM_DATA_DIR", str(store.data_dir))
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below a folder by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def archived_evidence(store: Store) -> list[str]:
    """The archive names of a store's evidence files, in the order a backup adds them."""
    return [f"evidence-files/{name}" for name in files_under(store.evidence)]


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order, plus the schema revision."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in Base.metadata.sorted_tables
            }
            rows["alembic_version"] = [
                tuple(row) for row in connection.execute(text("SELECT * FROM alembic_version"))
            ]
    finally:
        engine.dispose()
    return rows


def verify_store(store: Store) -> Any:
    engine = make_engine(store.url)
    try:
        with Session(engine) as session:
            return verify(session)
    finally:
        engine.dispose()


def backup(store: Store, out: Path, **kwargs: Any) -> backup_service.BackupResult:
    return create_backup(database_url=store.url, data_dir=store.data_dir, out=out, **kwargs)


def restore(source: Path, store: Store, **kwargs: Any) -> backup_service.RestoreResult:
    return restore_backup(source=source, database_url=store.url, data_dir=store.data_dir, **kwargs)


def tamper_site_name(store: Store) -> None:
    """Change a record behind the application's back, as someone with the file could."""
    with sqlite3.connect(store.database) as connection:
        connection.execute("UPDATE sites SET name = 'Renamed quietly' WHERE code = 'SITE-X'")
    connection.close()


def leftovers(folder: Path) -> list[str]:
    """Hidden staging or scratch files a failed run must not leave behind."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def rewrite_archive(
    archive: Path,
    dest: Path,
    *,
    drop: tuple[str, ...] | Callable[[str], bool] = (),
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
    manifest: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Path:
    """A copy of a backup with members dropped, replaced or added, or its manifest edited."""
    replace = replace or {}
    with tarfile.open(archive) as src, tarfile.open(dest, "w") as out:
        for info in src.getmembers():
            if drop(info.name) if callable(drop) else info.name in drop:
                continue
            reader = src.extractfile(info) if info.isfile() else None
            data = reader.read() if reader else None
            if info.name == "manifest.json" and manifest is not None and data is not None:
                data = json.dumps(manifest(json.loads(data))).encode()
            data = replace.get(info.name, data)
            if data is None:
                out.addfile(info)
                continue
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


def as_format_1(archive: Path, dest: Path) -> Path:
    """The archive as a backup made before evidence files were backed up (format 1) holds it."""

    def old(manifest: dict[str, Any]) -> dict[str, Any]:
        del manifest["evidence"]
        manifest["format_version"] = 1
        manifest["files"] = [
            f for f in manifest["files"] if not f["path"].startswith("evidence-files/")
        ]
        return manifest

    return rewrite_archive(
        archive, dest, drop=lambda name: name.split("/")[0] == "evidence-files", manifest=old
    )


def busy_target(folder: Path) -> Store:
    """A data directory already in use: a database with a site, an event file, evidence files."""
    store = Store(folder)
    store.data_dir.mkdir()
    engine = make_engine(store.url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        create_site(session, code="SITE-OLD", name="Only here")
    engine.dispose()
    store.events.mkdir()
    (store.events / "old.parquet").write_bytes(b"old")
    for content in (b"old evidence", b"more old evidence"):
        sha = hashlib.sha256(content).hexdigest()
        (store.evidence / sha[:2]).mkdir(parents=True, exist_ok=True)
        (store.evidence / sha[:2] / sha).write_bytes(content)
    return store


def listing(store: Store) -> dict[str, bytes | None]:
    """Every path below a data directory, with the bytes of each file other than the database."""
    return {
        str(p.relative_to(store.data_dir)): (
            p.read_bytes() if p.is_file() and not p.name.startswith("qmm.sqlite3") else None
        )
        for p in sorted(store.data_dir.rglob("*"))
    }


def member_bytes(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        reader = tar.extractfile(name)
        assert reader is not None
        return reader.read()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A workspace made through the services: the demo (with its evidence files), plus a site
    with an evidence item and its PDF, a user and an edit."""
    store = Store(tmp_path_factory.mktemp("template"))
    engine = make_engine(store.url)
    upgrade(engine)
    with data_dir_of(store):
        with unit_of_work(engine) as session:
            load_demo(session)
            site = create_site(
                session, code="SITE-X", name="Eastgate Biologics", site_type="biologics"
            )
            add_evidence(
                session,
                site=site,
                title="Deviation management SOP",
                kind="sop",
                owner="QA Operations Manager",
                effective_on=date(2026, 3, 1),
                files=[("a.pdf", tiny_pdf("Eastgate deviation SOP, revision 2"))],
            )
            create_user(
                session, username="dora", full_name="Dora Lindqvist", password="s3cret-pass!"
            )
        with unit_of_work(engine) as session, reason(session, "headcount confirmed by HR"):
            get_site(session, code="SITE-X").headcount = 410
    engine.dispose()
    assert len(files_under(store.evidence)) > 1
    return store


@pytest.fixture
def source(template: Store, tmp_path: Path) -> Store:
    """A copy of the template, with an event store holding finished and unfinished files."""
    store = Store(tmp_path / "source")
    store.data_dir.mkdir()
    shutil.copyfile(template.database, store.database)
    shutil.copytree(template.evidence, store.evidence)
    (store.events / "2026" / "03").mkdir(parents=True)
    (store.events / "2026" / "03" / "deviations.parquet").write_bytes(b"PAR1" + os.urandom(2048))
    (store.events / "capa.parquet").write_bytes(b"PAR1 capa")
    (store.events / "capa.parquet.tmp").write_bytes(b"half-written")
    (store.events / ".import-lock").write_bytes(b"")
    return store


@pytest.fixture
def target(tmp_path: Path) -> Store:
    """A data directory that does not exist yet, as on a new machine."""
    return Store(tmp_path / "target")


@pytest.fixture
def archive(source: Store, tmp_path: Path) -> Path:
    return backup(source, tmp_path / "backup.tar", now=MOMENT).path


@sqlite_only
class TestRoundTrip:
    @pytest.mark.parametrize("name", ["backup.tar", "backup.tar.gz"])
    def test_nothing_is_lost_and_the_trail_verifies(
        self, source: Store, target: Store, tmp_path: Path, name: str
    ) -> None:
        made = backup(source, tmp_path / name)
        assert made.manifest.audit.verified
        assert made.manifest.audit.entries > 100
        assert made.manifest.schema_revision == head_revision()

        restored = restore(made.path, target)

        assert table_rows(target.url) == table_rows(source.url)
        assert table_rows(target.url)["sites"]  # the comparison compared something
        report = verify_store(target)
        assert report.ok, report.problems
        assert report.head_hash == made.manifest.audit.head_hash
        assert report.entries == made.manifest.audit.entries
        assert restored.ok
        assert restored.report.head_hash == made.manifest.audit.head_hash
        assert restored.moved_aside == []

    def test_the_event_store_comes_back_byte_for_byte_without_unfinished_files(
        self, source: Store, target: Store, archive: Path
    ) -> None:
        restore(archive, target)

        expected = files_under(source.events)
        del expected["capa.parquet.tmp"], expected[".import-lock"]
        assert files_under(target.events) == expected

    def test_evidence_files_come_back_and_every_attached_file_reads(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        made = backup(source, tmp_path / "backup.tar.gz")
        assert made.manifest.evidence.present
        assert made.manifest.evidence.files == len(files_under(source.evidence))

        restored = restore(made.path, target)

        assert restored.evidence == target.evidence
        assert files_under(target.evidence) == files_under(source.evidence)
        engine = make_engine(target.url)
        try:
            with Session(engine) as session, data_dir_of(target):
                attached = session.scalars(select(EvidenceFile)).all()
                assert {f.filename for f in attached} >= {"a.pdf"}
                for file in attached:
                    assert len(read_blob(file.sha256, label=file.filename)) == file.size
        finally:
            engine.dispose()

    def test_evidence_files_being_written_and_strays_are_left_out(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        expected = files_under(source.evidence)
        shard = next(p for p in source.evidence.iterdir() if p.is_dir())
        (shard / ".incoming-x1y2").write_bytes(b"%PDF-half")
        (shard / "notes.txt").write_bytes(b"not evidence")
        (source.evidence / "README").write_bytes(b"not evidence either")
        made = backup(source, tmp_path / "backup.tar")
        assert made.manifest.evidence.files == len(expected)

        restore(made.path, target)

        assert files_under(target.evidence) == expected

    def test_the_manifest_describes_every_file(self, source: Store, archive: Path) -> None:
        manifest = json.loads(member_bytes(archive, "manifest.json"))
        assert manifest["format"] == "qmm-backup"
        assert manifest["format_version"] == 2
        assert manifest["created_at"] == "2026-03-01T12:30:45Z"
        assert manifest["qmm_version"]
        assert manifest["events"] == {"present": True, "files": 2}
        evidence = archived_evidence(source)
        assert manifest["evidence"] == {"present": True, "files": len(evidence)}
        with tarfile.open(archive) as tar:
            names = sorted(m.name for m in tar.getmembers() if m.isfile())
        assert names == sorted(
            [
                "app.sqlite3",
                "events/2026/03/deviations.parquet",
                "events/capa.parquet",
                *evidence,
                "manifest.json",
            ]
        )
        for name in evidence:
            assert name.rsplit("/", 1)[1] == hashlib.sha256(member_bytes(archive, name)).hexdigest()
        for entry in manifest["files"]:
            data = member_bytes(archive, entry["path"])
            assert entry["size"] == len(data)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()

    def test_without_an_event_store_the_archive_holds_an_empty_folder(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        shutil.rmtree(source.events)
        made = backup(source, tmp_path / "backup.tar")
        assert made.manifest.events.present is False
        with tarfile.open(made.path) as tar:
            assert tar.getmember("events").isdir()

        restore(made.path, target)

        assert not target.events.exists()
        assert table_rows(target.url) == table_rows(source.url)

    def test_without_evidence_files_the_archive_holds_an_empty_folder(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        shutil.rmtree(source.evidence)
        made = backup(source, tmp_path / "backup.tar")
        assert made.manifest.evidence.model_dump() == {"present": False, "files": 0}
        with tarfile.open(made.path) as tar:
            assert tar.getmember("evidence-files").isdir()

        restored = restore(made.path, target)

        assert restored.evidence is None
        assert not target.evidence.exists()
        assert table_rows(target.url) == table_rows(source.url)

    def test_a_backup_during_an_open_write_transaction_is_consistent(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        before = table_rows(source.url)
        engine = make_engine(source.url)
        writer = Session(engine)
        try:
            create_site(writer, code="SITE-LATE", name="Committed after the backup")
            writer.flush()  # the write lock is held, the site and its audit entry unwritten
            started = time.monotonic()
            made = backup(source, tmp_path / "backup.tar")
            assert time.monotonic() - started < 10
            writer.commit()
        finally:
            writer.close()
            engine.dispose()

        restore(made.path, target)

        assert table_rows(target.url) == before
        assert verify_store(target).ok
        assert [r[1] for r in table_rows(source.url)["sites"]][-1] == "SITE-LATE"
        assert verify_store(source).ok

    def test_a_folder_gets_a_timestamped_name_and_never_a_clash(
        self, source: Store, tmp_path: Path
    ) -> None:
        folder = tmp_path / "backups"
        folder.mkdir()
        first = backup(source, folder, now=MOMENT)
        second = backup(source, folder, now=MOMENT)
        assert first.path == folder / "qmm-backup-20260301T123045Z.tar"
        assert second.path == folder / "qmm-backup-20260301T123045Z-2.tar"
        assert leftovers(folder) == []

    def test_the_backup_file_is_readable_by_its_owner_only(self, archive: Path) -> None:
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    def test_progress_counts_the_files_copied(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        seen: list[tuple[str, int, int]] = []

        def tell(name: str, done: int, total: int) -> None:
            seen.append((name, done, total))

        made = backup(source, tmp_path / "b.tar", progress=tell)
        names = [
            "app.sqlite3",
            "events/2026/03/deviations.parquet",
            "events/capa.parquet",
            *archived_evidence(source),
        ]
        total = len(names)
        assert seen == [(name, done, total) for done, name in enumerate(names, start=1)]
        seen.clear()
        restore(made.path, target, progress=tell)
        assert [(done, n) for _, done, n in seen] == [(done, total) for done in range(1, total + 1)]

    def test_a_backup_made_before_evidence_files_were_backed_up_restores(
        self, source: Store, target: Store, archive: Path, tmp_path: Path
    ) -> None:
        old = as_format_1(archive, tmp_path / "format-1.tar")
        with tarfile.open(old) as tar:
            assert not [n for n in tar.getnames() if n.startswith("evidence-files")]
        assert "evidence" not in json.loads(member_bytes(old, "manifest.json"))

        restored = restore(old, target)

        assert restored.ok
        assert restored.manifest.format_version == 1
        assert restored.evidence is None
        assert not target.evidence.exists()
        assert table_rows(target.url) == table_rows(source.url)
        assert restored.events == target.events
        assert set(files_under(target.events)) == {"2026/03/deviations.parquet", "capa.parquet"}

    def test_an_older_schema_is_brought_up_to_date_on_restore(
        self, tmp_path: Path, target: Store
    ) -> None:
        old = Store(tmp_path / "old")
        command.upgrade(alembic_config(old.url), "0001")
        made = backup(old, tmp_path / "old.tar")
        assert made.manifest.schema_revision == "0001"

        restored = restore(made.path, target)

        assert restored.restored_revision == "0001"
        assert restored.revision == head_revision()
        assert restored.ok


@sqlite_only
class TestBackupRefusals:
    def test_an_existing_file_is_never_overwritten(self, source: Store, tmp_path: Path) -> None:
        out = tmp_path / "precious.tar"
        out.write_bytes(b"keep me")
        with pytest.raises(Conflict, match=r"precious\.tar already exists") as caught:
            backup(source, out, now=MOMENT)
        assert "qmm-backup-20260301T123045Z.tar" in str(caught.value)
        assert out.read_bytes() == b"keep me"
        assert leftovers(tmp_path) == []

    def test_a_missing_folder_is_named(self, source: Store, tmp_path: Path) -> None:
        with pytest.raises(NotFound, match="nowhere"):
            backup(source, tmp_path / "nowhere" / "b.tar")

    def test_a_missing_database_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(NotFound, match="no database at"):
            backup(Store(tmp_path / "empty"), tmp_path / "b.tar")
        assert not (tmp_path / "empty").exists()

    def test_an_uninitialised_database_is_refused(self, tmp_path: Path) -> None:
        store = Store(tmp_path)
        sqlite3.connect(store.database).close()
        with pytest.raises(InvalidInput, match="qmm init"):
            backup(store, tmp_path / "b.tar")

    def test_a_trail_that_does_not_verify_is_refused(self, source: Store, tmp_path: Path) -> None:
        tamper_site_name(source)
        out = tmp_path / "b.tar"
        with pytest.raises(TrailDoesNotVerify, match="--allow-unverified") as caught:
            backup(source, out)
        assert "sites #" in str(caught.value)
        assert not out.exists()
        assert leftovers(tmp_path) == []

    @pytest.mark.parametrize("allow_unverified", [False, True])
    def test_a_damaged_evidence_file_is_refused_naming_it(
        self, source: Store, tmp_path: Path, allow_unverified: bool
    ) -> None:
        damaged = sorted(p for p in source.evidence.rglob("*") if p.is_file())[0]
        damaged.write_bytes(damaged.read_bytes() + b" changed on disk")
        out = tmp_path / "b.tar"
        with pytest.raises(EvidenceDoesNotVerify, match="no longer match their SHA-256") as caught:
            backup(source, out, allow_unverified=allow_unverified)
        message = str(caught.value)
        assert str(damaged) in message
        assert hashlib.sha256(damaged.read_bytes()).hexdigest() in message
        assert "Put the original file back" in message
        assert not out.exists()
        assert leftovers(tmp_path) == []

    def test_allow_unverified_records_the_problems_and_restore_reports_them(
        self, source: Store, target: Store, tmp_path: Path
    ) -> None:
        tamper_site_name(source)
        made = backup(source, tmp_path / "b.tar", allow_unverified=True)
        assert made.manifest.audit.verified is False
        assert any("Renamed quietly" in p for p in made.manifest.audit.problems)

        restored = restore(made.path, target)

        assert not restored.ok
        assert any("Renamed quietly" in p for p in restored.report.problems)
        assert table_rows(target.url) == table_rows(source.url)


@sqlite_only
class TestRestoreRefusals:
    """Each refusal names what is wrong and leaves the target exactly as it was."""

    def refused(self, archive: Path, target: Store, error: type[Exception], match: str) -> str:
        def listing() -> list[str]:
            return sorted(str(p.relative_to(target.data_dir)) for p in target.data_dir.rglob("*"))

        rows = table_rows(target.url) if target.database.exists() else None
        files = listing()
        with pytest.raises(error, match=match) as caught:
            restore(archive, target)
        assert (table_rows(target.url) if target.database.exists() else None) == rows
        assert listing() == files  # nothing added, moved aside or left half-written
        return str(caught.value)

    def test_a_missing_file(self, tmp_path: Path, target: Store) -> None:
        self.refused(tmp_path / "nope.tar", target, NotFound, "no backup file at")

    def test_a_file_that_is_not_an_archive(self, tmp_path: Path, target: Store) -> None:
        junk = tmp_path / "junk.tar"
        junk.write_bytes(os.urandom(4096))
        self.refused(junk, target, InvalidInput, "not a readable QMM backup")

    @pytest.mark.parametrize("name", ["backup.tar", "backup.tar.gz"])
    def test_a_truncated_archive(
        self, source: Store, target: Store, tmp_path: Path, name: str
    ) -> None:
        whole = backup(source, tmp_path / name).path
        cut = tmp_path / f"cut-{name}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        self.refused(cut, target, InvalidInput, "not a readable QMM backup|has no manifest")
        assert not target.database.exists()

    def test_an_altered_database_is_named(
        self, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        data = bytearray(member_bytes(archive, "app.sqlite3"))
        data[len(data) // 2] ^= 0xFF
        bad = rewrite_archive(archive, tmp_path / "bad.tar", replace={"app.sqlite3": bytes(data)})
        message = self.refused(bad, target, InvalidInput, "app.sqlite3 was altered or damaged")
        assert "events/" not in message
        assert not target.database.exists()

    def test_an_altered_event_file_is_named(
        self, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        bad = rewrite_archive(
            archive, tmp_path / "bad.tar", replace={"events/capa.parquet": b"PAR1 CAPA"}
        )
        message = self.refused(bad, target, InvalidInput, "events/capa.parquet was altered")
        assert "app.sqlite3" not in message
        assert not target.events.exists()

    def test_a_missing_file_is_named(self, archive: Path, target: Store, tmp_path: Path) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", drop=("events/capa.parquet",))
        self.refused(
            bad, target, InvalidInput, "events/capa.parquet is listed in the manifest but missing"
        )

    def test_an_extra_event_file_is_named(
        self, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", add={"events/smuggled.parquet": b"x"})
        self.refused(
            bad, target, InvalidInput, "events/smuggled.parquet is in the archive but not listed"
        )

    def test_a_foreign_file_is_named(self, archive: Path, target: Store, tmp_path: Path) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", add={"notes.txt": b"hello"})
        self.refused(bad, target, InvalidInput, "'notes.txt' is not part of a QMM backup")

    def test_a_path_escaping_the_data_dir_is_refused(
        self, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", add={"events/../../escape": b"x"})
        self.refused(bad, target, InvalidInput, "not a plain relative path")
        assert not (tmp_path / "escape").exists()

    def test_a_link_is_refused(self, archive: Path, target: Store, tmp_path: Path) -> None:
        bad = tmp_path / "bad.tar"
        shutil.copyfile(archive, bad)
        with tarfile.open(bad, "a") as tar:
            link = tarfile.TarInfo("events/passwd")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            tar.addfile(link)
        self.refused(bad, target, InvalidInput, "events/passwd is a link")

    def test_a_missing_manifest(self, archive: Path, target: Store, tmp_path: Path) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", drop=("manifest.json",))
        self.refused(bad, target, InvalidInput, "has no manifest.json")

    def test_a_manifest_that_is_not_json(
        self, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", replace={"manifest.json": b"{oops"})
        self.refused(bad, target, InvalidInput, "manifest.json .* is not valid JSON")

    def test_a_manifest_missing_fields_names_them(
        self, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        def strip(manifest: dict[str, Any]) -> dict[str, Any]:
            del manifest["schema_revision"]
            manifest["files"][0]["sha256"] = "not-a-hash"
            return manifest

        bad = rewrite_archive(archive, tmp_path / "bad.tar", manifest=strip)
        message = self.refused(bad, target, InvalidInput, "not a QMM backup manifest")
        assert "schema_revision" in message
        assert "files.0.sha256" in message

    def test_a_newer_schema_is_refused(self, archive: Path, target: Store, tmp_path: Path) -> None:
        work = tmp_path / "future.sqlite3"
        work.write_bytes(member_bytes(archive, "app.sqlite3"))
        with sqlite3.connect(work) as connection:
            connection.execute("UPDATE alembic_version SET version_num = '0999'")
        connection.close()
        data = work.read_bytes()

        def future(manifest: dict[str, Any]) -> dict[str, Any]:
            manifest["schema_revision"] = "0999"
            manifest["qmm_version"] = "9.0.0"
            manifest["files"][0].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
            return manifest

        bad = rewrite_archive(
            archive, tmp_path / "bad.tar", replace={"app.sqlite3": data}, manifest=future
        )
        message = self.refused(bad, target, InvalidInput, "schema revision 0999")
        assert "newer than this version" in message
        assert "9.0.0" in message

    def test_a_newer_format_is_refused(self, archive: Path, target: Store, tmp_path: Path) -> None:
        def future(manifest: dict[str, Any]) -> dict[str, Any]:
            return {**manifest, "format_version": 3, "qmm_version": "9.0.0"}

        bad = rewrite_archive(archive, tmp_path / "bad.tar", manifest=future)
        self.refused(bad, target, InvalidInput, "backup format 3")

    @pytest.mark.parametrize("listed_anew", [False, True], ids=["as-archived", "manifest-updated"])
    def test_an_evidence_file_that_does_not_match_its_name_is_refused(
        self, source: Store, archive: Path, target: Store, tmp_path: Path, listed_anew: bool
    ) -> None:
        name = archived_evidence(source)[0]
        data = bytearray(member_bytes(archive, name))
        data[len(data) // 2] ^= 0x01  # same size: only the content's hash tells

        def relist(manifest: dict[str, Any]) -> dict[str, Any]:
            if listed_anew:
                [entry] = [f for f in manifest["files"] if f["path"] == name]
                entry["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
            return manifest

        bad = rewrite_archive(
            archive, tmp_path / "bad.tar", replace={name: bytes(data)}, manifest=relist
        )
        message = self.refused(bad, target, InvalidInput, f"{name} does not match its name")
        assert hashlib.sha256(bytes(data)).hexdigest() in message
        assert "nothing was restored" in message
        assert "app.sqlite3" not in message
        assert not target.database.exists()
        assert not target.evidence.exists()

    def test_a_tampered_evidence_file_leaves_existing_data_untouched(
        self, source: Store, archive: Path, tmp_path: Path
    ) -> None:
        target = busy_target(tmp_path / "busy")
        name = archived_evidence(source)[-1]
        data = member_bytes(archive, name) + b"%% appended"

        def relist(manifest: dict[str, Any]) -> dict[str, Any]:
            [entry] = [f for f in manifest["files"] if f["path"] == name]
            entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
            return manifest

        bad = rewrite_archive(archive, tmp_path / "bad.tar", replace={name: data}, manifest=relist)
        rows, files = table_rows(target.url), listing(target)

        with pytest.raises(InvalidInput, match=f"{name} does not match its name"):
            restore(bad, target, force=True, now=MOMENT)

        assert table_rows(target.url) == rows
        assert listing(target) == files  # nothing moved aside, added or half-written

    @pytest.mark.parametrize(
        ("member", "problem"),
        [
            ("evidence-files/ab/not-a-hash.pdf", "is not where an evidence file is kept"),
            (f"evidence-files/00/{'ab' * 32}", "is not where an evidence file is kept"),
            (f"evidence-files/{'ab' * 32}", "is not where an evidence file is kept"),
        ],
        ids=["not-a-hash", "wrong-folder", "no-folder"],
    )
    def test_a_file_out_of_place_in_the_evidence_folder_is_named(
        self, archive: Path, target: Store, tmp_path: Path, member: str, problem: str
    ) -> None:
        bad = rewrite_archive(archive, tmp_path / "bad.tar", add={member: b"%PDF-1.4 x"})
        self.refused(bad, target, InvalidInput, f"'{member}' {problem}")

    def test_evidence_files_listed_for_an_absent_folder_are_named(
        self, source: Store, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        def absent(manifest: dict[str, Any]) -> dict[str, Any]:
            manifest["evidence"] = {"present": False, "files": 0}
            return manifest

        bad = rewrite_archive(archive, tmp_path / "bad.tar", manifest=absent)
        name = archived_evidence(source)[0]
        self.refused(
            bad, target, InvalidInput, f"lists {name}, yet says there was no evidence-files/"
        )

    @pytest.mark.parametrize("old_format", [False, True], ids=["format-2", "format-1"])
    def test_evidence_files_in_the_target_need_force_and_are_moved_aside(
        self, source: Store, archive: Path, tmp_path: Path, old_format: bool
    ) -> None:
        if old_format:
            archive = as_format_1(archive, tmp_path / "format-1.tar")
        target = busy_target(tmp_path / "busy")
        before = files_under(target.evidence)
        shutil.rmtree(target.events)
        target.database.unlink()

        message = self.refused(archive, target, Conflict, "--force")
        assert f"{target.evidence}: 2 files" in message
        assert "evidence-files.before-restore-<time>" in message

        restored = restore(archive, target, force=True, now=MOMENT)

        assert restored.ok
        aside = target.data_dir / "evidence-files.before-restore-20260301T123045Z"
        assert aside in restored.moved_aside
        assert files_under(aside) == before
        if old_format:
            assert not target.evidence.exists()
        else:
            assert files_under(target.evidence) == files_under(source.evidence)
        assert leftovers(target.data_dir) == []

    def test_a_target_with_data_needs_force(
        self, source: Store, archive: Path, tmp_path: Path
    ) -> None:
        target = Store(tmp_path / "busy")
        target.data_dir.mkdir()
        engine = make_engine(target.url)
        upgrade(engine)
        with unit_of_work(engine) as session:
            create_site(session, code="SITE-OLD", name="Only here")
        engine.dispose()
        (target.events).mkdir()
        (target.events / "old.parquet").write_bytes(b"old")

        message = self.refused(archive, target, Conflict, "--force")
        assert "sites: 1 rows" in message
        assert "events" in message

        old_rows = table_rows(target.url)
        restored = restore(archive, target, force=True, now=MOMENT)

        assert restored.ok
        assert table_rows(target.url) == table_rows(source.url)
        aside = target.data_dir / "qmm.sqlite3.before-restore-20260301T123045Z"
        assert aside in restored.moved_aside
        assert table_rows(f"sqlite:///{aside}") == old_rows
        old_events = target.data_dir / "events.before-restore-20260301T123045Z"
        assert (old_events / "old.parquet").read_bytes() == b"old"
        assert leftovers(target.data_dir) == []

    @pytest.mark.parametrize("in_transaction", [True, False], ids=["reading", "idle"])
    def test_a_database_open_elsewhere_is_not_replaced(
        self,
        source: Store,
        archive: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        in_transaction: bool,
    ) -> None:
        monkeypatch.setattr(backup_service, "IN_USE_TIMEOUT", 0.2)
        target = Store(tmp_path / "busy")
        target.data_dir.mkdir()
        shutil.copyfile(source.database, target.database)
        before = table_rows(target.url)
        other = sqlite3.connect(target.database, isolation_level=None)  # e.g. the web server
        try:
            if in_transaction:
                other.execute("BEGIN")
            other.execute("SELECT count(*) FROM sites").fetchone()
            with pytest.raises(Conflict, match="is open in another process"):
                restore(archive, target, force=True)
        finally:
            other.close()
        assert table_rows(target.url) == before
        assert not list(target.data_dir.glob("*before-restore*"))
        assert leftovers(target.data_dir) == []

    def test_this_process_own_idle_connections_are_closed_first(
        self, source: Store, archive: Path, tmp_path: Path
    ) -> None:
        target = Store(tmp_path / "mine")
        target.data_dir.mkdir()
        shutil.copyfile(source.database, target.database)
        engine = get_engine(target.url)
        try:
            with unit_of_work(engine) as session:  # leaves an idle connection in the pool
                create_site(session, code="SITE-NEW", name="Only in the target")

            assert restore(archive, target, force=True).ok

            with engine.connect() as connection:  # reconnects to the restored file
                assert connection.execute(text("SELECT count(*) FROM sites")).scalar() == len(
                    table_rows(source.url)["sites"]
                )
        finally:
            _engines.pop(target.url, None)
            engine.dispose()


class TestPostgreSQL:
    """PostgreSQL has its own tools; both commands say so and point to the procedure."""

    URL = "postgresql+psycopg://qmm:hunter2@db.example:5432/qmm"

    def test_backup_points_to_pg_dump(self, tmp_path: Path) -> None:
        with pytest.raises(UnsupportedBackend, match=r"docs/operations\.md") as caught:
            create_backup(database_url=self.URL, data_dir=tmp_path, out=tmp_path / "b.tar")
        assert "pg_dump" in str(caught.value)
        assert "hunter2" not in str(caught.value)
        assert list(tmp_path.iterdir()) == []

    def test_restore_points_to_pg_restore(self, tmp_path: Path) -> None:
        with pytest.raises(UnsupportedBackend, match="pg_restore") as caught:
            restore_backup(source=tmp_path / "b.tar", database_url=self.URL, data_dir=tmp_path)
        assert "docs/operations.md" in str(caught.value)


@sqlite_only
def test_a_store_whose_data_file_was_rewritten_is_not_sealed(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    store.data_dir.mkdir()
    engine = make_engine(store.url)
    upgrade(engine)
    extract = tmp_path / "capa.csv"
    extract.write_text(
        "capa_id,site,opened_on,due_on,root_cause_category,voe_done_on,voe_result\n"
        "CAPA-1,SITE-A,2025-01-06,2025-02-06,training,2025-03-02,not_effective\n",
        encoding="utf-8",
    )
    with unit_of_work(engine) as session:
        [batch] = import_files(session, paths=[extract], store=EventStore(store.events))
    engine.dispose()
    assert backup(store, tmp_path / "good.tar").manifest.audit.verified
    data_file = store.events / (batch.data_files or [])[0]["path"]  # the version's data file
    data_file.write_bytes(data_file.read_bytes().replace(b"not_effective", b"effective____"))
    with pytest.raises(StoreDoesNotVerify, match=rf"batch #{batch.id} \(capa.csv\)"):
        backup(store, tmp_path / "bad.tar")
    assert not (tmp_path / "bad.tar").exists()
    kept = backup(store, tmp_path / "kept.tar", allow_unverified=True).manifest.audit
    assert not kept.verified
    assert any("event store" in p and "was changed" in p for p in kept.problems)


# Issue 17, L5 and L6: what a killed backup or restore leaves, who may read it, who removes it.

KILLED_AT_FIRST_FILE = """
import os, sys
from pathlib import Path
import qmm.audit.trail
from qmm.backup import create_backup, restore_backup

def die(_name, _done, _total):
    os._exit(9)  # as kill -9: no cleanup of any kind runs

url, data_dir, path = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
if sys.argv[1] == "backup":
    create_backup(database_url=url, data_dir=data_dir, out=path, progress=die)
else:
    restore_backup(source=path, database_url=url, data_dir=data_dir, progress=die)
"""


def killed_midway(command: str, store: Store, path: Path) -> None:
    """Run a backup or restore in a process of its own and kill it after its first file."""
    env = {**os.environ, "QMM_DATA_DIR": str(store.data_dir)}
    args = [command, store.url, str(store.data_dir), str(path)]
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AT_FIRST_FILE, *args], env=env, capture_output=True
    )
    assert done.returncode == 9, done.stderr.decode()


def documented_cleanup_patterns() -> list[str]:
    """The `-name` patterns of the cleanup that docs/operations.md gives for cron."""
    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("### Leftovers of an interrupted backup or restore", 1)[1]
    return re.findall(r"-name '([^']+)'", block.split("\n## ", 1)[0])


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual umask, which leaves new files readable by everybody."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@sqlite_only
@pytest.mark.usefixtures("lax_umask")
class TestLeftovers:
    def test_a_killed_backup_leaves_nothing_others_can_read_and_the_next_one_removes_it(
        self, source: Store, tmp_path: Path
    ) -> None:
        folder = tmp_path / "backups"
        folder.mkdir()
        killed_midway("backup", source, folder)
        left = list(folder.iterdir())
        assert [p.name.startswith(".qmm-backup-") and p.is_dir() for p in left] == [True]
        inside = [p for p in left[0].rglob("*") if p.is_file()]
        assert any(p.name == "app.sqlite3" for p in inside)  # a copy of the database
        assert all(owner_only(p) for p in [left[0], *inside]), [
            (p.name, oct(p.stat().st_mode)) for p in inside
        ]

        made = backup(source, folder)

        assert made.removed_leftovers == left
        assert sorted(p.name for p in folder.iterdir()) == [made.path.name]

    def test_a_backup_running_beside_is_not_taken_for_leftovers(
        self, source: Store, tmp_path: Path
    ) -> None:
        folder = tmp_path / "backups"
        folder.mkdir()
        with backup_service._scratch_folder(folder, ".qmm-backup-") as running:
            made = backup(source, folder)
            assert running.is_dir()
        assert made.removed_leftovers == []

    def test_a_killed_restore_leaves_nothing_others_can_read_and_the_next_one_removes_it(
        self, archive: Path, target: Store
    ) -> None:
        target.data_dir.mkdir()
        killed_midway("restore", target, archive)
        left = sorted(p for p in target.data_dir.iterdir() if p.name.startswith("."))
        assert [p.name.split("restore-")[0] for p in left] == [
            ".events.",
            ".evidence-files.",
            ".qmm.sqlite3.",
        ]
        assert all(owner_only(p) for p in left)
        assert not target.database.exists()  # the target was never touched

        restored = restore(archive, target)

        assert restored.ok
        assert sorted(restored.removed_leftovers) == left
        assert leftovers(target.data_dir) == []

    def test_the_documented_cleanup_matches_every_leftover(
        self, source: Store, archive: Path, target: Store, tmp_path: Path
    ) -> None:
        folder = tmp_path / "backups"
        folder.mkdir()
        target.data_dir.mkdir()
        killed_midway("backup", source, folder)
        killed_midway("restore", target, archive)
        left = [p.name for p in [*folder.iterdir(), *target.data_dir.iterdir()]]
        patterns = documented_cleanup_patterns()
        assert len(left) == 4
        assert patterns
        assert [n for n in left if not any(fnmatch.fnmatch(n, p) for p in patterns)] == []


@sqlite_only
@pytest.mark.usefixtures("lax_umask")
class TestFileModes:
    def test_the_restored_database_is_readable_by_its_owner_only(
        self, archive: Path, target: Store
    ) -> None:
        restore(archive, target)
        files = [p for p in target.data_dir.iterdir() if p.name.startswith("qmm.sqlite3")]
        assert target.database in files
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
            p.name: oct(0o600) for p in files
        }

    def test_a_database_moved_aside_is_readable_by_its_owner_only(
        self, source: Store, archive: Path, tmp_path: Path
    ) -> None:
        target = busy_target(tmp_path / "busy")
        os.chmod(target.database, 0o644)  # as an earlier version left it
        restored = restore(archive, target, force=True, now=MOMENT)
        aside = [p for p in restored.moved_aside if p.name.startswith("qmm.sqlite3.")]
        assert aside
        assert all(owner_only(p) for p in aside)
