"""Tamper evidence of the event store: each batch's data files against the SHA-256 it recorded.

The import batch rows are covered by the audit trail, so a data file changed, removed or added
behind the application's back shows here, named with the batch it belongs to.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.events.store import (
    BATCH_FILE,
    DEFAULT_ORPHAN_AGE,
    LOG,
    EventStore,
    MissingBatchFiles,
    file_digest,
    is_legacy_path,
)
from qmm.models import ImportBatch


def data_file_entry(store: EventStore, path: Path) -> dict[str, Any]:
    """What a batch records of one data file: its path in the store, size and SHA-256."""
    size, sha256 = file_digest(path)
    return {"path": path.relative_to(store.directory).as_posix(), "size": size, "sha256": sha256}


@dataclass
class StoreReport:
    """What re-hashing the event store found; empty problems means every data file is intact."""

    directory: str
    batches: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": self.directory,
            "batches": self.batches,
            "files": self.files,
            "problems": self.problems,
            "notes": self.notes,
        }


def _batch_name(batch_id: int, source_name: str) -> str:
    return f"batch #{batch_id} ({source_name})"


def _owned_files(store: EventStore, row: Any) -> list[dict[str, Any]]:
    """The files a batch owns: those it recorded, else (stored before hashing) its one file."""
    if row.data_files is not None:
        return list(row.data_files)
    path = row.store_path if is_legacy_path(row.store_path) else None
    path = path or store.relative_path(row.record_type, row.id)
    return [{"path": path, "size": None, "sha256": None}]


def verify_store(
    session: Session, store: EventStore, *, extra_min_age: timedelta = DEFAULT_ORPHAN_AGE
) -> StoreReport:
    """Re-hash every committed batch's data files and look for files no batch owns.

    Files younger than EXTRA_MIN_AGE that no batch owns may belong to an import still in
    progress: they are noted, not reported.
    """
    report = StoreReport(directory=str(store.directory))
    rows = session.execute(
        select(
            ImportBatch.id,
            ImportBatch.record_type,
            ImportBatch.source_name,
            ImportBatch.store_path,
            ImportBatch.data_files,
        ).order_by(ImportBatch.id)
    ).all()
    owned: set[str] = set()
    unhashed = 0
    superseded = 0
    current = _current_files(session, store, report)
    for row in rows:
        report.batches += 1
        if row.data_files is None:
            unhashed += 1
        for entry in _owned_files(store, row):
            relative = str(entry["path"])
            owned.add(relative)
            report.files += 1
            path = store.directory / relative
            batch = _batch_name(row.id, row.source_name)
            if not path.is_file():
                if _superseded(relative, current):
                    superseded += 1  # removed by a later version, then vacuumed
                    continue
                report.problems.append(
                    f"{batch}: its data file {relative} is missing from {store.directory}: "
                    "restore it from a backup (qmm restore)"
                )
                continue
            if entry.get("sha256") is None:
                continue
            size, sha256 = file_digest(path)
            if sha256 != entry["sha256"] or size != entry.get("size", size):
                report.problems.append(
                    f"{batch}: its data file {relative} was changed after it was committed "
                    f"(SHA-256 now {sha256[:16]}..., recorded {str(entry['sha256'])[:16]}...): "
                    "its records are not those imported; restore it from a backup (qmm restore)"
                )
    _check_extra_files(store, owned, report, extra_min_age)
    if superseded:
        report.notes.append(
            f"{superseded} data file(s) that later table versions replaced are gone (vacuumed): "
            "the current records are complete, the history of those versions is not"
        )
    if unhashed:
        report.notes.append(
            f"{unhashed} batch(es) were stored before data files were hashed: their files are "
            "checked for presence only (`qmm init` records their hashes)"
        )
    return report


def _current_files(session: Session, store: EventStore, report: StoreReport) -> set[str] | None:
    """The files of each table's recorded version, relative to the store (None if unreadable)."""
    current: set[str] = set()
    try:
        for record_type, version in store.recorded_versions(session).items():
            current.update(
                p.relative_to(store.directory).as_posix()
                for p in store.files_at(record_type, version)
            )
    except (MissingBatchFiles, OSError, ValueError) as exc:
        report.problems.append(f"the event store's table log cannot be read: {exc}")
        return None
    return current


def _superseded(relative: str, current: set[str] | None) -> bool:
    """A table file no recorded version reads now (a later merge replaced it)."""
    if current is None or not relative.startswith("tables/"):
        return False
    return LOG not in relative.split("/") and relative not in current


def _check_extra_files(
    store: EventStore, owned: set[str], report: StoreReport, min_age: timedelta
) -> None:
    now = time.time()
    young = 0
    for path in store.data_file_paths():
        if path.suffix != ".parquet":
            continue
        relative = path.relative_to(store.directory).as_posix()
        if relative in owned:
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < min_age.total_seconds():
            young += 1
            continue
        claimed = BATCH_FILE.match(path.name)
        claim = f" (its name says batch #{int(claimed.group(1))})" if claimed else ""
        report.problems.append(
            f"{relative} is in the event store but no committed batch owns it{claim}: it "
            "was left by a rolled-back import (`qmm store-orphans --remove` removes it) or "
            "put there behind the application's back"
        )
    if young:
        report.notes.append(
            f"{young} recent data file(s) belong to no committed batch yet: an import may be "
            "in progress"
        )


def record_missing_hashes(session: Session, store: EventStore) -> int:
    """Record the files of batches stored before hashing as they are now; how many batches.

    Run once on upgrade: it vouches for the files as found, so later changes show.
    """
    batches = session.scalars(
        select(ImportBatch).where(ImportBatch.data_files.is_(None)).order_by(ImportBatch.id)
    ).all()
    recorded = 0
    for batch in batches:
        if not is_legacy_path(batch.store_path) and batch.delta_version is not None:
            batch.data_files = store.version_files(batch.record_type, batch.delta_version)
            recorded += 1
            continue
        path = store.directory / (
            batch.store_path
            if is_legacy_path(batch.store_path)
            else store.relative_path(batch.record_type, batch.id)
        )
        if not path.is_file():
            continue
        batch.data_files = [data_file_entry(store, path)]
        recorded += 1
    session.flush()
    return recorded


_checked: dict[tuple[Any, ...], StoreReport] = {}
_checked_lock = threading.Lock()


def _fingerprint(session: Session, store: EventStore) -> tuple[Any, ...]:
    """The batches and every data file's size and modification time: cheap to read."""
    files: list[tuple[str, int, int]] = []
    for path in store.data_file_paths():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        files.append((path.as_posix(), stat.st_size, stat.st_mtime_ns))
    return (store.state(session)[:2], tuple(files))


def store_problems(session: Session, store: EventStore) -> StoreReport:
    """The store's verification for a page: re-hashed only when a file or batch changed.

    A file rewritten with its old size and time shows at the next `qmm audit verify`, which
    always re-hashes everything.
    """
    key = _fingerprint(session, store)
    with _checked_lock:
        found = _checked.get(key)
    if found is not None:
        return found
    report = verify_store(session, store)
    with _checked_lock:
        _checked.clear()
        _checked[key] = report
    return report
