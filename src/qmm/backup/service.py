"""One-file backups of the embedded default, and restores that check everything before replacing.

A backup is a tar archive (gzip-compressed when its name ends in .gz or .tgz) holding:

- `app.sqlite3`: a consistent copy of the app database made with SQLite's online backup API, so
  a running web server or import neither blocks it nor tears it;
- `events/`: the event store's finished files as listed when the backup started (an empty
  folder when there is no event store yet);
- `evidence-files/`: the stored evidence files, each at `<ab>/<sha256>` (format 2 on; an empty
  folder when there are none), listed after the database copy so every file it refers to is in;
- `manifest.json`: what was backed up, by which version, the schema revision, the audit trail's
  entry count and head hash, and the size and SHA-256 of every other file.

A restore reads format 1 (before evidence files were backed up) and format 2.

PostgreSQL is backed up with its own tools (pg_dump, pg_restore): see docs/operations.md.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final, Literal

from alembic.script import ScriptDirectory
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from qmm import __version__
from qmm.audit.verify import VerificationReport, seal_verified_head, verify
from qmm.db import OWNER_ONLY, _engines, make_engine
from qmm.errors import Conflict, InvalidInput, NotFound, QMMError
from qmm.events.integrity import StoreReport, verify_store
from qmm.events.store import EventStore
from qmm.migrate import alembic_config, current_revision, head_revision, upgrade
from qmm.models import AuditEntry
from qmm.search.index import is_index_table

FORMAT: Final = "qmm-backup"
FORMAT_VERSION: Final = 2
MANIFEST: Final = "manifest.json"
DATABASE: Final = "app.sqlite3"
EVENTS: Final = "events"
# The same folder as Settings.evidence_dir; each file is <data dir>/evidence-files/<ab>/<sha256>.
EVIDENCE: Final = "evidence-files"
FOLDERS: Final = (EVENTS, EVIDENCE)
SHA256_NAME: Final = re.compile(r"[0-9a-f]{64}")
EVIDENCE_SHARD: Final = re.compile(r"[0-9a-f]{2}")
OPERATIONS_DOC: Final = "docs/operations.md"
# The event store's importer writes each file under a temporary name, then renames it: files
# with these names are still being written and are left out.
TEMPORARY_SUFFIXES: Final = (".tmp", ".part", ".partial")
# SQLite keeps a database's uncommitted and un-checkpointed state in files beside it.
SIDE_FILES: Final = ("-wal", "-shm", "-journal")
# How long a restore waits for other connections to finish before calling the database in use.
IN_USE_TIMEOUT: float = 5.0
CHUNK: Final = 1024 * 1024
#: Scratch folders: a backup's beside its archive, a restore's beside the database and folders.
BACKUP_SCRATCH: Final = ".qmm-backup-"
RESTORE_SCRATCH: Final = ".{name}.restore-"
#: A running backup or restore holds this file of its scratch folder locked; a scratch folder
#: whose lock is free was left by a run that was killed.
SCRATCH_LOCK: Final = ".in-use"
#: A scratch folder without a lock file (from an earlier version, or one that is just being
#: made) counts as left over once it has not changed for this many seconds.
UNLOCKED_GRACE: float = 60.0

ProgressCallback = Callable[[str, int, int], None]
"""Told after each file is copied: its name, how many files are done, and how many in all."""


class UnsupportedBackend(QMMError):
    """The app database is not the embedded SQLite file; its own tools back it up."""


class TrailDoesNotVerify(Conflict):
    """The audit trail does not verify, and a backup would carry the damage silently."""


class StoreDoesNotVerify(Conflict):
    """An event store data file differs from its batch's recorded SHA-256, is gone or is extra."""


class EvidenceDoesNotVerify(Conflict):
    """A stored evidence file no longer matches its SHA-256 name, so no restore would accept it."""


class ManifestFile(BaseModel):
    """One file of the archive, as it was when the backup was written."""

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class AuditSummary(BaseModel):
    """What audit verify found in the copy that was archived."""

    verified: bool
    entries: int = Field(ge=0)
    records: int = Field(ge=0)
    head_hash: str
    problems: list[str]
    #: The seal of the audit checkpoint that sealed the copy's head in the checkpoint sink
    #: (None: the copy did not verify, or was of an older schema).
    checkpoint_seal: str | None = None


class FolderSummary(BaseModel):
    """Whether a data folder (events, evidence files) existed, and how many files it gave."""

    present: bool
    files: int = Field(ge=0)


class Manifest(BaseModel):
    """The archive's table of contents; a restore trusts nothing it does not check against it."""

    format: Literal["qmm-backup"]
    format_version: int
    created_at: datetime
    qmm_version: str
    schema_revision: str
    sqlite_version: str
    audit: AuditSummary
    events: FolderSummary
    evidence: FolderSummary
    files: list[ManifestFile]

    @model_validator(mode="before")
    @classmethod
    def _format_1_has_no_evidence(cls, data: Any) -> Any:
        """Backups made before evidence files were backed up say nothing about them."""
        if isinstance(data, dict) and data.get("format_version") == 1 and "evidence" not in data:
            return {**data, "evidence": {"present": False, "files": 0}}
        return data


@dataclass(frozen=True)
class BackupResult:
    """The file a backup wrote, its size, its manifest, and what it removed of killed runs."""

    path: Path
    size: int
    manifest: Manifest
    removed_leftovers: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "manifest": self.manifest.model_dump(mode="json"),
            "removed_leftovers": [str(p) for p in self.removed_leftovers],
        }


@dataclass(frozen=True)
class RestoreResult:
    """What a restore put in place, what it moved aside, and what audit verify then found."""

    database: Path
    events: Path | None
    evidence: Path | None
    manifest: Manifest
    restored_revision: str | None
    revision: str | None
    report: VerificationReport
    moved_aside: list[Path] = field(default_factory=list)
    removed_leftovers: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "database": str(self.database),
            "events": str(self.events) if self.events else None,
            "evidence": str(self.evidence) if self.evidence else None,
            "backup_created_at": self.manifest.model_dump(mode="json")["created_at"],
            "backup_qmm_version": self.manifest.qmm_version,
            "restored_revision": self.restored_revision,
            "revision": self.revision,
            "moved_aside": [str(p) for p in self.moved_aside],
            "removed_leftovers": [str(p) for p in self.removed_leftovers],
            "audit": self.report.to_json(),
        }


def _no_progress(_name: str, _done: int, _total: int) -> None:
    return None


@contextmanager
def _scratch_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A folder beside the target for work in progress: its owner's only (0700), locked while in
    use so that no other run takes it for a leftover, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        descriptor = os.open(folder / SCRATCH_LOCK, os.O_WRONLY | os.O_CREAT, OWNER_ONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield folder
        finally:
            os.close(descriptor)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _in_use(folder: Path) -> bool:
    """Whether a run that is still alive holds this scratch folder."""
    try:
        descriptor = os.open(folder / SCRATCH_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return time.time() - folder.stat().st_mtime < UNLOCKED_GRACE
    except OSError:
        return True  # cannot tell: leave it
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return False


def _remove_leftovers(parent: Path, prefix: str) -> list[Path]:
    """Remove the scratch folders that runs killed earlier (kill -9, power loss) left behind."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for folder in sorted(parent.glob(f"{glob.escape(prefix)}*")):
        try:
            if folder.is_symlink() or not folder.is_dir() or _in_use(folder):
                continue
        except FileNotFoundError:
            continue  # its own run has just removed it
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def _owner_only_file(path: Path) -> Path:
    """An empty new file that only its owner can read, for a copy of the database."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))
    return path


def utc_stamp(moment: datetime) -> str:
    """A moment as a compact UTC timestamp that sorts and fits in a file name."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def suggested_name(moment: datetime) -> str:
    """The name a backup gets when only a directory is given."""
    return f"qmm-backup-{utc_stamp(moment)}.tar"


def sqlite_path(database_url: str) -> Path:
    """The embedded database file a URL names; any other database is refused with where to look."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise InvalidInput(f"the database URL {database_url!r} is not valid: {exc}") from None
    backend = url.get_backend_name()
    shown = url.render_as_string(hide_password=True)
    if backend != "sqlite":
        name = "PostgreSQL" if backend == "postgresql" else backend
        raise UnsupportedBackend(
            f"the app database is {name} ({shown}): `qmm backup` and `qmm restore` cover the "
            "embedded SQLite default only. Back it up with pg_dump -Fc and restore it with "
            "pg_restore --clean --if-exists, copy the events and evidence-files folders "
            "alongside, then run "
            f"`qmm audit verify`, as {OPERATIONS_DOC} describes."
        )
    if not url.database or url.database == ":memory:":
        raise InvalidInput(f"{shown} is an in-memory database: there is no file to back up")
    return Path(url.database)


def _connect(path: Path, *, timeout: float = 10.0) -> closing[sqlite3.Connection]:
    """A connection to an existing database file; never creates one by mistake."""
    uri = f"{path.resolve().as_uri()}?mode=rw"
    return closing(sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None))


def _is_in_use(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _settle(path: Path, *, timeout: float) -> bool:
    """Take the database alone for a moment and fold its write-ahead log into the file.

    False when another connection has it open: in WAL mode every connection that has read the
    database holds a shared lock that an exclusive one cannot get past.
    """
    try:
        with _connect(path, timeout=timeout) as conn:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        # Locked or busy means in use; any other error means not a database nobody can use.
        return not _is_in_use(exc)
    return bool(busy == 0)


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {revision.revision for revision in script.walk_revisions()}


class _HashingReader:
    """Hashes what passes through, so each file is read once while it is archived."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data


def _file_info(name: str, size: int, moment: datetime) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(moment.timestamp())
    return info


def _add_file(tar: tarfile.TarFile, path: Path, name: str, moment: datetime) -> ManifestFile | None:
    """Archive one file and describe it; None when it vanished before it could be opened."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        return None
    with raw:
        size = os.fstat(raw.fileno()).st_size
        reader = _HashingReader(raw)
        tar.addfile(_file_info(name, size, moment), reader)
    return ManifestFile(path=name, size=size, sha256=reader.sha256.hexdigest())


def _backup_target(out: Path, moment: datetime) -> Path:
    """Where the backup goes: OUT itself, or a timestamped file inside OUT when it is a folder."""
    if out.is_dir():
        target = out / suggested_name(moment)
        counter = 1
        while target.exists():
            counter += 1
            target = out / suggested_name(moment).replace(".tar", f"-{counter}.tar")
        return target
    if out.exists() or out.is_symlink():
        raise Conflict(
            f"{out} already exists, and a backup never overwrites a file: name a new one, "
            f"e.g. {out.parent / suggested_name(moment)}"
        )
    if not out.parent.is_dir():
        raise NotFound(f"the folder {out.parent} does not exist: create it, or name another")
    return out


def _snapshot(database: Path, copy: Path) -> None:
    """Copy the live database with SQLite's online backup: consistent, and writers carry on."""
    _owner_only_file(copy)
    try:
        with _connect(database) as src, closing(sqlite3.connect(copy)) as dst:
            src.backup(dst)
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{database} cannot be read as a SQLite database: {exc}") from None


def _inspect_snapshot(
    snapshot: Path, database: Path, scratch: Path, *, seal_as: str, events_dir: Path
) -> tuple[str, VerificationReport, StoreReport, str | None]:
    """The copy's schema revision, what audit verify finds in it and in the event store, and
    the seal of the checkpoint that then seals its head in the sink (none for a copy that fails,
    whose store does not verify, or that needed upgrading)."""
    engine = make_engine(f"sqlite:///{snapshot}")
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if revision is None:
        raise InvalidInput(
            f"{database} holds no QMM Workbench schema, so there is nothing to back up "
            "(`qmm init` creates it)"
        )
    if revision not in _known_revisions():
        raise InvalidInput(
            f"{database} is at schema revision {revision}, which this version of QMM Workbench "
            f"({__version__}) does not know: back it up with the version that wrote it"
        )
    checked = snapshot
    if revision != head_revision():
        # An older schema: verify a scratch copy brought up to date; archive the copy as it was.
        checked = _owner_only_file(scratch / "verify.sqlite3")
        shutil.copyfile(snapshot, checked)
    engine = make_engine(f"sqlite:///{checked}")
    try:
        if checked != snapshot:
            upgrade(engine)
        with Session(engine) as session:
            report = verify(session)
            store = verify_store(session, EventStore(events_dir))
            seal = None
            if report.ok and store.ok and checked == snapshot:
                seal = seal_verified_head(session, report, reason=seal_as, in_database=False).seal
    finally:
        engine.dispose()
    _settle(snapshot, timeout=10)
    return revision, report, store, seal


def _event_files(events_dir: Path) -> list[Path]:
    """The event store's finished files at this moment; files still being written are left out."""
    if not events_dir.is_dir():
        return []
    found = []
    for path in events_dir.rglob("*"):
        relative = path.relative_to(events_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.name.endswith(TEMPORARY_SUFFIXES) or path.is_symlink() or not path.is_file():
            continue
        found.append(path)
    return sorted(found)


def _is_evidence_file(relative: PurePosixPath) -> bool:
    """True for `<ab>/<sha256>`, the only place the evidence store puts a file."""
    return (
        len(relative.parts) == 2
        and SHA256_NAME.fullmatch(relative.name) is not None
        and relative.parts[0] == relative.name[:2]
    )


def _evidence_files(evidence_dir: Path) -> list[Path]:
    """The stored evidence files; files being written (`.incoming-...`) and strays are left out."""
    if not evidence_dir.is_dir():
        return []
    return sorted(
        path
        for path in evidence_dir.glob("*/*")
        if _is_evidence_file(PurePosixPath(path.relative_to(evidence_dir).as_posix()))
        and path.is_file()
        and not path.is_symlink()
    )


def _folder_info(name: str, moment: datetime) -> tarfile.TarInfo:
    folder = tarfile.TarInfo(name)
    folder.type = tarfile.DIRTYPE
    folder.mode = 0o700
    folder.mtime = int(moment.timestamp())
    return folder


def _publish(partial: Path, target: Path) -> None:
    """Give the finished archive its name, never replacing a file that appeared meanwhile."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise Conflict(
            f"{target} appeared while the backup was written, and a backup never overwrites a "
            "file: run it again with a new name"
        ) from None
    except OSError:
        # A filesystem without hard links: the same check, with a rename.
        if target.exists():
            raise Conflict(f"{target} already exists; back up again with a new name") from None
        os.replace(partial, target)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def create_backup(
    *,
    database_url: str,
    data_dir: Path,
    out: Path,
    allow_unverified: bool = False,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Write one file holding a consistent copy of the database, the event store and a manifest."""
    database = sqlite_path(database_url)
    moment = now or datetime.now(UTC)
    target = _backup_target(out, moment)
    if not database.is_file():
        raise NotFound(
            f"there is no database at {database}, so nothing to back up (`qmm init` creates it)"
        )
    tell = progress or _no_progress
    removed = _remove_leftovers(target.parent, BACKUP_SCRATCH)
    with _scratch_folder(target.parent, BACKUP_SCRATCH) as scratch:
        snapshot = scratch / DATABASE
        _snapshot(database, snapshot)
        revision, report, store, checkpoint = _inspect_snapshot(
            snapshot,
            database,
            scratch,
            seal_as=f"backup to {target.name}",
            events_dir=data_dir / EVENTS,
        )
        if not store.ok and not allow_unverified:
            shown = "\n".join(f"  - {p}" for p in store.problems[:5])
            more = len(store.problems) - 5
            raise StoreDoesNotVerify(
                f"the event store at {data_dir / EVENTS} does not verify "
                f"({len(store.problems)} problem(s)), and a backup must not seal altered "
                f"records:\n{shown}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\nRun `qmm audit verify` to see them all, restore the files from a backup, "
                "or back up anyway with --allow-unverified (the manifest then records "
                "verified: false and the problems)."
            )
        report.problems.extend(f"event store: {p}" for p in store.problems)
        if not report.ok and not allow_unverified:
            shown = "\n".join(f"  - {p}" for p in report.problems[:5])
            more = len(report.problems) - 5
            raise TrailDoesNotVerify(
                f"the audit trail of {database} does not verify ({len(report.problems)} "
                f"problem(s)), and a backup should not silently carry a damaged trail:\n{shown}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\nRun `qmm audit verify` to see them all, or back up anyway with "
                "--allow-unverified (the manifest then records verified: false and the problems)."
            )
        # Listed after the snapshot: evidence is stored before the row that names it is committed,
        # so every file the copied database refers to is already there.
        present = {folder: (data_dir / folder).is_dir() for folder in FOLDERS}
        sources = {
            EVENTS: (data_dir / EVENTS, _event_files(data_dir / EVENTS)),
            EVIDENCE: (data_dir / EVIDENCE, _evidence_files(data_dir / EVIDENCE)),
        }
        total = 1 + sum(len(paths) for _, paths in sources.values())
        partial = scratch / "backup.partial"
        partial.touch(mode=0o600)  # it holds password hashes: readable by its owner only
        compressed = target.name.endswith((".gz", ".tgz"))
        with (
            partial.open("r+b") as raw,
            (
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT)
                if compressed
                else tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
            ) as tar,
        ):
            database_entry = _add_file(tar, snapshot, DATABASE, moment)
            assert database_entry is not None
            files = [database_entry]
            tell(DATABASE, 1, total)
            done = 1
            counts = dict.fromkeys(FOLDERS, 0)
            damaged = []
            for folder, (root, paths) in sources.items():
                tar.addfile(_folder_info(folder, moment))
                for path in paths:
                    name = f"{folder}/{path.relative_to(root).as_posix()}"
                    entry = _add_file(tar, path, name, moment)
                    done += 1
                    if entry is not None:
                        files.append(entry)
                        counts[folder] += 1
                        if folder == EVIDENCE and entry.sha256 != path.name:
                            damaged.append(f"{path}: its content's SHA-256 is {entry.sha256}")
                    tell(name, done, total)
            if damaged:
                shown = "\n".join(f"  - {problem}" for problem in damaged)
                raise EvidenceDoesNotVerify(
                    f"{len(damaged)} stored evidence file(s) no longer match their SHA-256 name, "
                    f"and a restore would refuse them, so no backup was written:\n{shown}\n"
                    "Put the original file back under its name (attaching it again to an "
                    "evidence item does), or move the damaged file out of the folder (its items "
                    "then show it missing); then back up again."
                )
            manifest = Manifest(
                format=FORMAT,
                format_version=FORMAT_VERSION,
                created_at=moment.astimezone(UTC),
                qmm_version=__version__,
                schema_revision=revision,
                sqlite_version=sqlite3.sqlite_version,
                audit=AuditSummary(
                    verified=report.ok,
                    entries=report.entries,
                    records=report.records,
                    head_hash=report.head_hash,
                    problems=report.problems,
                    checkpoint_seal=checkpoint,
                ),
                events=FolderSummary(present=present[EVENTS], files=counts[EVENTS]),
                evidence=FolderSummary(present=present[EVIDENCE], files=counts[EVIDENCE]),
                files=files,
            )
            data = (manifest.model_dump_json(indent=2) + "\n").encode("utf-8")
            tar.addfile(_file_info(MANIFEST, len(data), moment), io.BytesIO(data))
        _fsync(partial)
        _publish(partial, target)
    return BackupResult(
        path=target, size=target.stat().st_size, manifest=manifest, removed_leftovers=removed
    )


# Restore ----------------------------------------------------------------------------------------


@contextmanager
def _reading(source: Path) -> Iterator[None]:
    """Turn any failure to read the archive into one clear error that names it."""
    try:
        yield
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InvalidInput(
            f"{source} is not a readable QMM backup (a tar archive, optionally gzip-compressed): "
            f"{exc or type(exc).__name__}; nothing was restored"
        ) from None


def _name_problem(name: str, *, folder: bool = False) -> str | None:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or str(path) != name:
        return "is not a plain relative path"
    if name in (MANIFEST, DATABASE, EVENTS, EVIDENCE) or (
        path.parts[0] == EVENTS and len(path.parts) > 1
    ):
        return None
    if path.parts[0] == EVIDENCE:
        relative = path.relative_to(EVIDENCE)
        if folder and len(relative.parts) == 1 and EVIDENCE_SHARD.fullmatch(relative.name):
            return None
        if not folder and _is_evidence_file(relative):
            return None
        return (
            f"is not where an evidence file is kept ({EVIDENCE}/<ab>/<its SHA-256>, "
            "<ab> being the SHA-256's first two characters)"
        )
    return "is not part of a QMM backup"


def _archive_members(tar: tarfile.TarFile, source: Path) -> dict[str, tarfile.TarInfo]:
    """Every entry of the archive by name, refusing anything a QMM backup never holds."""
    with _reading(source):
        infos = tar.getmembers()
    members: dict[str, tarfile.TarInfo] = {}
    problems = []
    for info in infos:
        name = info.name
        problem = _name_problem(name, folder=info.isdir())
        if problem is not None:
            problems.append(f"{name!r} {problem}")
        elif name in members:
            problems.append(f"{name} appears twice")
        elif info.isdir() and not name.startswith(tuple(f"{f}/" for f in FOLDERS) + FOLDERS):
            problems.append(f"{name} is a folder where a file belongs")
        elif not (info.isfile() or info.isdir()):
            problems.append(f"{name} is a link or device; a QMM backup holds only files")
        members[name] = info
    if problems:
        raise InvalidInput(_listing(f"{source} holds entries no QMM backup has", problems))
    return members


def _listing(headline: str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {p}" for p in problems)
    return f"{headline}; nothing was restored:\n{lines}"


def _read_manifest(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], source: Path
) -> Manifest:
    """The archive's manifest, refused when missing, unreadable or from a newer format."""
    info = members.get(MANIFEST)
    if info is None or not info.isfile():
        raise InvalidInput(
            f"{source} has no {MANIFEST}: it is not a QMM backup, or it is damaged; "
            "nothing was restored"
        )
    with _reading(source):
        reader = tar.extractfile(info)
        raw = reader.read() if reader else b""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(
            f"{MANIFEST} in {source} is not valid JSON ({exc}); nothing was restored"
        ) from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise InvalidInput(
            f"{source} is in backup format {version}, written by QMM Workbench "
            f"{data.get('qmm_version', '(unknown)')}; this version ({__version__}) reads formats "
            f"up to {FORMAT_VERSION}: install a newer QMM Workbench to restore it"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise InvalidInput(
            _listing(f"{MANIFEST} in {source} is not a QMM backup manifest", problems)
        ) from None


def _check_listing(
    manifest: Manifest, members: dict[str, tarfile.TarInfo], source: Path
) -> dict[str, ManifestFile]:
    """Every file the manifest lists is in the archive at its size, and nothing else is."""
    listed: dict[str, ManifestFile] = {}
    problems = []
    for entry in manifest.files:
        problem = _name_problem(entry.path)
        if problem is None and entry.path in (MANIFEST, *FOLDERS):
            problem = "is not a data file"
        if problem is not None:
            problems.append(f"the manifest lists {entry.path!r}, which {problem}")
        elif entry.path in listed:
            problems.append(f"the manifest lists {entry.path} twice")
        listed[entry.path] = entry
    if DATABASE not in listed:
        problems.append(f"the manifest does not list {DATABASE}")
    summaries = {EVENTS: manifest.events, EVIDENCE: manifest.evidence}
    for name in sorted(listed):
        folder = name.split("/", 1)[0]
        if folder in summaries and not summaries[folder].present:
            problems.append(f"the manifest lists {name}, yet says there was no {folder}/")
    archived = {name for name, info in members.items() if info.isfile() and name != MANIFEST}
    for name in sorted(listed.keys() - archived):
        problems.append(f"{name} is listed in the manifest but missing from the archive")
    for name in sorted(archived - listed.keys()):
        problems.append(f"{name} is in the archive but not listed in the manifest")
    for name in sorted(archived & listed.keys()):
        if members[name].size != listed[name].size:
            problems.append(
                f"{name} is {members[name].size} bytes; the manifest says {listed[name].size}"
            )
    if problems:
        raise InvalidInput(_listing(f"{source} does not match its manifest", problems))
    return listed


def _check_revision(manifest: Manifest, source: Path) -> None:
    """A backup from a newer schema cannot be read by this version: refuse, saying why."""
    if manifest.schema_revision not in _known_revisions():
        raise InvalidInput(
            f"{source} holds schema revision {manifest.schema_revision}, written by QMM "
            f"Workbench {manifest.qmm_version}; it is newer than this version ({__version__}, "
            f"newest revision {head_revision()}). Install QMM Workbench {manifest.qmm_version} "
            "or later to restore it; nothing was restored"
        )


def _existing_data(database: Path, folders: list[Path]) -> list[str]:
    """What a restore would replace: tables with rows, unreadable files, files in the folders."""
    found = []
    if database.exists():
        try:
            with _connect(database, timeout=IN_USE_TIMEOUT) as conn:
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' AND name <> 'alembic_version' ORDER BY name"
                    )
                    if not is_index_table(row[0])  # the search index: derived from the tables
                ]
                for table in tables:
                    quoted = '"' + table.replace('"', '""') + '"'
                    count = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
                    if count:
                        found.append(f"{table}: {count} rows")
        except sqlite3.DatabaseError as exc:
            found.append(f"{database.name} cannot be read ({exc}), so it may hold data")
    for folder in folders:
        if folder.is_dir():
            count = sum(1 for path in folder.rglob("*") if not path.is_dir())
            if count:
                found.append(f"{folder}: {count} files")
    return found


@contextmanager
def _staging(database: Path, data_dir: Path) -> Iterator[tuple[Path, dict[str, Path]]]:
    """Temporary places beside the targets, so putting them in place is a rename."""
    with ExitStack() as stack:
        staged_database = stack.enter_context(
            _scratch_folder(database.parent, RESTORE_SCRATCH.format(name=database.name))
        )
        staged = {
            folder: stack.enter_context(
                _scratch_folder(data_dir, RESTORE_SCRATCH.format(name=folder))
            )
            / folder
            for folder in FOLDERS
        }
        yield staged_database / database.name, staged


def _remove_restore_leftovers(database: Path, data_dir: Path) -> list[Path]:
    """The staging folders of restores killed earlier, removed."""
    return [
        *_remove_leftovers(database.parent, RESTORE_SCRATCH.format(name=database.name)),
        *(
            path
            for folder in FOLDERS
            for path in _remove_leftovers(data_dir, RESTORE_SCRATCH.format(name=folder))
        ),
    ]


def _copy_out(
    tar: tarfile.TarFile, info: tarfile.TarInfo, dest: Path, source: Path, *, mode: int = 0o666
) -> str:
    """Write one archived file to a new file dest (MODE, less the umask); return its SHA-256."""
    sha256 = hashlib.sha256()
    with _reading(source):
        reader = tar.extractfile(info)
    if reader is None:
        raise InvalidInput(f"{info.name} in {source} cannot be read; nothing was restored")
    descriptor = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with reader, os.fdopen(descriptor, "wb") as out:
        while True:
            with _reading(source):
                chunk = reader.read(CHUNK)
            if not chunk:
                break
            sha256.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return sha256.hexdigest()


def _extract(
    tar: tarfile.TarFile,
    source: Path,
    members: dict[str, tarfile.TarInfo],
    listed: dict[str, ManifestFile],
    staged_database: Path,
    staged_folders: dict[str, Path],
    tell: ProgressCallback,
) -> None:
    """Copy every file to the staging places, then refuse if any differs from the manifest.

    An evidence file must also hash to its own name, as the evidence store reads it by that name:
    a file altered and listed anew in the manifest is caught here.
    """
    for staged in staged_folders.values():
        staged.mkdir()
    problems = []
    done = 0
    for name, info in members.items():
        if name == MANIFEST:
            continue
        if name == DATABASE:
            dest = staged_database
        else:
            path = PurePosixPath(name)
            dest = staged_folders[path.parts[0]].joinpath(*path.parts[1:])
        if info.isdir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            # The database holds password hashes: its copy is its owner's only from the start.
            digest = _copy_out(
                tar, info, dest, source, mode=OWNER_ONLY if name == DATABASE else 0o666
            )
        except (FileExistsError, NotADirectoryError):
            raise InvalidInput(
                _listing(f"{source} is damaged", [f"{name} clashes with another entry"])
            ) from None
        if name.startswith(f"{EVIDENCE}/") and digest != PurePosixPath(name).name:
            problems.append(
                f"{name} does not match its name: its content's SHA-256 is {digest}, and an "
                "evidence file is named by the SHA-256 of its content"
            )
        elif digest != listed[name].sha256:
            problems.append(
                f"{name} was altered or damaged: its SHA-256 is {digest}, "
                f"the manifest says {listed[name].sha256}"
            )
        done += 1
        tell(name, done, len(listed))
    if problems:
        raise InvalidInput(_listing(f"{source} does not match its manifest", problems))


def _check_staged_database(staged: Path, manifest: Manifest, source: Path) -> None:
    """The archived database opens, passes SQLite's own check, and is at the manifest's revision."""
    try:
        with _connect(staged) as conn:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(
            f"{DATABASE} in {source} is not a usable SQLite database ({exc}); nothing was restored"
        ) from None
    if check != "ok":
        raise InvalidInput(
            f"{DATABASE} in {source} fails SQLite's check ({check}); nothing was restored"
        )
    if row is None or row[0] != manifest.schema_revision:
        raise InvalidInput(
            f"{DATABASE} in {source} is at schema revision {row[0] if row else None}, "
            f"the manifest says {manifest.schema_revision}; nothing was restored"
        )


def _free_name(folder: Path, base: str) -> Path:
    candidate = folder / base
    counter = 1
    while any(Path(f"{candidate}{suffix}").exists() for suffix in ("", *SIDE_FILES)):
        counter += 1
        candidate = folder / f"{base}-{counter}"
    return candidate


def _move_aside(database: Path, folders: dict[Path, bool], moment: datetime) -> list[Path]:
    """Rename what is there out of the way, with its SQLite side files; nothing is deleted.

    FOLDERS maps each data folder to whether the backup brings one to put in its place.
    """
    for url, engine in list(_engines.items()):
        # This process's own idle pooled connections would otherwise keep the old file open.
        parsed = make_url(url)
        if (
            parsed.get_backend_name() == "sqlite"
            and parsed.database not in (None, "", ":memory:")
            and Path(parsed.database or "").resolve() == database.resolve()
        ):
            engine.dispose()
    if database.exists() and not _settle(database, timeout=IN_USE_TIMEOUT):
        raise Conflict(
            f"{database} is open in another process or connection (the web server, another "
            "`qmm` command?): stop it, then restore again; nothing was restored"
        )
    moved = []
    aside = _free_name(database.parent, f"{database.name}.before-restore-{utc_stamp(moment)}")
    for suffix in ("", *SIDE_FILES):
        path = Path(f"{database}{suffix}")
        if path.exists():
            dest = Path(f"{aside}{suffix}")
            os.replace(path, dest)
            dest.chmod(OWNER_ONLY)  # a copy of the database: never readable by others
            moved.append(dest)
    for folder, replaced in folders.items():
        if folder.is_dir() and not any(folder.iterdir()):
            if replaced:
                folder.rmdir()  # empty, so nothing to keep: the backup's folder goes here
            continue
        if folder.exists():
            dest = _free_name(folder.parent, f"{folder.name}.before-restore-{utc_stamp(moment)}")
            os.replace(folder, dest)
            moved.append(dest)
    return moved


def _check_head(session: Session, manifest: Manifest, report: VerificationReport) -> None:
    """The restored chain still holds the backup's head entry, at the same place."""
    entries, head = manifest.audit.entries, manifest.audit.head_hash
    if entries == 0:
        return
    stored = session.get(AuditEntry, entries)
    if stored is None or stored.entry_hash != head:
        report.problems.append(
            f"the restored audit trail does not hold the backup's head: entry #{entries} should "
            f"have hash {head}"
        )


def _accept_replaced_history(
    session: Session, manifest: Manifest, source: Path
) -> VerificationReport | None:
    """When only checkpoints of the history the restore replaced disagree, record the restore.

    A checkpoint in the sink notes how many sink lines came before it, so later verifications
    check only the restored history; None when anything else is wrong. The restored database
    itself is left exactly as the backup holds it.
    """
    session.rollback()
    report = verify(session, after_restore=True)
    _check_head(session, manifest, report)
    if not report.ok:
        return None
    seal_verified_head(
        session, report, reason=f"restore of {source.name}", after_restore=True, in_database=False
    )
    session.rollback()
    return report


def restore_backup(
    *,
    source: Path,
    database_url: str,
    data_dir: Path,
    force: bool = False,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> RestoreResult:
    """Replace the database, event store and evidence files with a backup's, once all check out."""
    database = sqlite_path(database_url)
    moment = now or datetime.now(UTC)
    if not source.is_file():
        raise NotFound(f"there is no backup file at {source}")
    targets = {folder: data_dir / folder for folder in FOLDERS}
    try:
        tar = tarfile.open(source, "r:*")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        raise InvalidInput(
            f"{source} is not a readable QMM backup: it is not a tar archive, plain or "
            "gzip-compressed; nothing was restored"
        ) from None
    with tar:
        members = _archive_members(tar, source)
        manifest = _read_manifest(tar, members, source)
        listed = _check_listing(manifest, members, source)
        _check_revision(manifest, source)
        existing = _existing_data(database, list(targets.values()))
        if existing and not force:
            more = f"; and {len(existing) - 4} more" if len(existing) > 4 else ""
            shown = "; ".join(existing[:4]) + more
            raise Conflict(
                f"the target already holds data ({shown}), and a restore would replace it. "
                f"Run again with --force to move it aside first ({database.name} to "
                f"{database.name}.before-restore-<time>, {EVENTS}/ and {EVIDENCE}/ to "
                f"{EVENTS}.before-restore-<time> and {EVIDENCE}.before-restore-<time>); "
                "nothing is deleted"
            )
        brought = {EVENTS: manifest.events.present, EVIDENCE: manifest.evidence.present}
        database.parent.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        removed = _remove_restore_leftovers(database, data_dir)
        with _staging(database, data_dir) as (staged_database, staged_folders):
            _extract(
                tar,
                source,
                members,
                listed,
                staged_database,
                staged_folders,
                progress or _no_progress,
            )
            _check_staged_database(staged_database, manifest, source)
            moved = _move_aside(database, {targets[f]: brought[f] for f in FOLDERS}, moment)
            os.replace(staged_database, database)
            for folder in FOLDERS:
                if brought[folder]:
                    os.replace(staged_folders[folder], targets[folder])
    engine = make_engine(database_url)
    try:
        restored_revision = current_revision(engine)
        upgrade(engine)
        revision = current_revision(engine)
        with Session(engine) as session:
            report = verify(session)
            _check_head(session, manifest, report)
            if not report.ok:
                report = _accept_replaced_history(session, manifest, source) or report
    finally:
        engine.dispose()
    return RestoreResult(
        database=database,
        events=targets[EVENTS] if manifest.events.present else None,
        evidence=targets[EVIDENCE] if manifest.evidence.present else None,
        manifest=manifest,
        restored_revision=restored_revision,
        revision=revision,
        report=report,
        moved_aside=moved,
        removed_leftovers=removed,
    )
