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

from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import BATCH_FILE, DEFAULT_ORPHAN_AGE, EventStore, file_digest
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
    path = row.store_path or store.relative_path(row.record_type, row.id)
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
    if unhashed:
        report.notes.append(
            f"{unhashed} batch(es) were stored before data files were hashed: their files are "
            "checked for presence only (`qmm init` records their hashes)"
        )
    return report


def _check_extra_files(
    store: EventStore, owned: set[str], report: StoreReport, min_age: timedelta
) -> None:
    if not store.directory.is_dir():
        return
    now = time.time()
    young = 0
    for folder in sorted(p for p in store.directory.iterdir() if p.is_dir()):
        if folder.name not in RECORD_TYPES:
            continue
        for path in sorted(folder.rglob("*.parquet")):
            relative = path.relative_to(store.directory).as_posix()
            if relative in owned or not path.is_file():
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
        path = store.directory / (
            batch.store_path or store.relative_path(batch.record_type, batch.id)
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
    if store.directory.is_dir():
        for folder in sorted(p for p in store.directory.iterdir() if p.is_dir()):
            if folder.name not in RECORD_TYPES:
                continue
            for path in sorted(folder.rglob("*.parquet")):
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
