"""Moving a store of the earlier layout (one Parquet file per batch) into its Delta tables.

Each earlier batch is replayed, oldest first, as the MERGE it would have been: one table
version per batch, so every record's versions, its batch and its source row stay as they were,
and the batch rows (audited) record their version and its files' hashes.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.events.record_types import RECORD_TYPES, get_record_type
from qmm.events.store import (
    BATCH,
    EventStore,
    MissingBatchFiles,
    conform,
    is_legacy_path,
)
from qmm.models import ImportBatch


def legacy_batches(session: Session) -> list[ImportBatch]:
    """The batches still of the earlier layout, oldest first."""
    found = session.scalars(
        select(ImportBatch).where(ImportBatch.store_path.like("%.parquet")).order_by(ImportBatch.id)
    ).all()
    return [b for b in found if is_legacy_path(b.store_path)]


def migrate_legacy_batches(session: Session, store: EventStore) -> int:
    """Replay every earlier batch into its table (flushed; the caller commits); how many.

    The earlier files stay until `remove_migrated_files` runs after the commit: a failed commit
    leaves the store as it was.
    """
    batches = legacy_batches(session)
    if not batches:
        return 0
    missing = [b for b in batches if not (store.directory / b.store_path).is_file()]
    if missing:
        listed = ", ".join(f"#{b.id} ({b.store_path})" for b in missing[:10])
        raise MissingBatchFiles(
            f"the event store at {store.directory} lacks the files of {len(missing)} import "
            f"batch(es) to move into its tables: {listed}; restore them from a backup "
            "(qmm restore), then run `qmm init`"
        )
    for batch in batches:
        rt = get_record_type(batch.record_type)
        base = store.prepare(session, rt)
        table = pq.read_table(store.directory / batch.store_path)
        if BATCH in table.column_names:
            table = table.drop_columns([BATCH])
        typed = conform(rt, table)
        batch.store_path = store.table_path(rt.name)
        if typed.num_rows == 0:
            batch.data_files = []
            continue
        version = store.merge(rt, typed, batch_id=batch.id, version=base)
        batch.delta_version = version
        batch.data_files = store.version_files(rt.name, version)
        session.flush()
    session.flush()
    return len(batches)


def remove_migrated_files(session: Session, store: EventStore) -> list[Path]:
    """Delete the earlier layout's batch files once every batch's move is committed."""
    removed: list[Path] = []
    if legacy_batches(session) or not store.directory.is_dir():
        return removed
    for folder in sorted(p for p in store.directory.iterdir() if p.is_dir()):
        if folder.name not in RECORD_TYPES:
            continue
        for path in sorted(folder.glob("batch-*.parquet")):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
