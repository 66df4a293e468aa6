"""A store of the earlier layout (one Parquet file per batch) moves into its Delta tables."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.demo.extracts import write_demo_extracts
from qmm.events.importer import import_files
from qmm.events.integrity import verify_store
from qmm.events.migration import migrate_legacy_batches, remove_migrated_files
from qmm.events.store import BATCH, PART, TABLES, EventStore
from qmm.metrics.service import kpi_values
from qmm.models import ImportBatch


def as_earlier_layout(session: Session, store: EventStore) -> None:
    """Rewrite the store as the one-file-per-batch layout kept it: each batch's own rows."""
    batches = session.scalars(select(ImportBatch).order_by(ImportBatch.id)).all()
    for batch in batches:
        path = store.directory / store.relative_path(batch.record_type, batch.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if batch.delta_version is None:
            rows = DeltaTable(store.table_dir(batch.record_type), version=0).to_pyarrow_table()
        else:
            table = DeltaTable(store.table_dir(batch.record_type), version=batch.delta_version)
            rows = table.to_pyarrow_table()
            rows = rows.filter(pc.equal(rows.column(BATCH), batch.id))
        pq.write_table(rows.drop_columns([BATCH, PART]), path)
        batch.store_path = path.relative_to(store.directory).as_posix()
        batch.delta_version = None
        batch.data_files = None
    session.flush()
    shutil.rmtree(store.directory / TABLES)


def kpis(session: Session, store: EventStore) -> list[tuple[object, ...]]:
    values = kpi_values(session, store=store, as_of=date(2026, 10, 31))
    return sorted((v.kpi, v.site, v.period, v.value, v.numerator, v.denominator) for v in values)


def test_the_demo_kpis_are_identical_before_and_after_the_move(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    written = write_demo_extracts(tmp_path / "one", sites=2, years=1)
    import_files(session, paths=sorted(written.values()), store=store)
    again = write_demo_extracts(tmp_path / "two", sites=2, years=1, seed=7)
    import_files(session, paths=[again["capa"], again["deviation"]], store=store)
    before = kpis(session, store)
    history = store.history(session, "capa").to_pyarrow()
    as_earlier_layout(session, store)
    assert not (store.directory / TABLES).exists()
    moved = migrate_legacy_batches(session, store)
    assert moved == session.query(ImportBatch).count()
    assert kpis(session, store) == before
    assert store.history(session, "capa").to_pyarrow().equals(history)
    assert len(remove_migrated_files(session, store)) == moved
    assert verify_store(session, store).ok
