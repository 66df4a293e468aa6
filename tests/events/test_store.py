"""The event store: batches, versions and history, the views readers get, and orphan files."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.support import CAPA_HEADER, CAPA_ROWS, current, history, write_csv
from factories import create_site_a, create_site_b
from qmm.audit.trail import Actor, set_actor, system_actor
from qmm.audit.verify import verify
from qmm.errors import InvalidInput
from qmm.events.importer import import_files
from qmm.events.integrity import verify_store
from qmm.events.migration import migrate_legacy_batches, remove_migrated_files
from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import (
    ARROW_TYPES,
    LOG,
    EventStore,
    MissingBatchFiles,
    StoreNeedsMigration,
    arrow_schema,
    conform,
)
from qmm.models import AuditEntry, ImportBatch


def import_capa(
    session: Session, store: EventStore, folder: Path, rows: list[list[str]], name: str = "capa.csv"
) -> ImportBatch:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_csv(folder / name, CAPA_HEADER, rows)
    [batch] = import_files(session, paths=[path], store=store)
    return batch


def test_a_batch_records_the_file_its_hash_who_and_where_its_rows_are(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    set_actor(session, Actor(label="user:alice", user_id=None))
    batch = import_capa(session, store, tmp_path, [list(r) for r in CAPA_ROWS])
    source = (tmp_path / "capa.csv").read_bytes()
    assert batch.record_type == "capa"
    assert batch.source_name == "capa.csv"
    assert batch.source_sha256 == hashlib.sha256(source).hexdigest()
    assert batch.profile is None
    assert (batch.rows, batch.rows_new, batch.rows_changed, batch.rows_unchanged) == (3, 3, 0, 0)
    assert batch.sites == ["SITE-A", "SITE-B"]
    assert batch.imported_by == "user:alice"
    assert batch.store_path == "tables/capa"
    assert batch.delta_version == DeltaTable(store.directory / batch.store_path).version() == 1
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == "import_batches").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in audited] == ["create", "update"]  # then its version and files
    files = batch.data_files or []
    assert audited[-1].new_values == {"delta_version": 1, "data_files": files}
    # One file per site partition, and the version's commit in the table's log.
    assert [f["path"].split("/")[2] for f in files] == ["_part=SITE-A", "_part=SITE-B", LOG]
    for entry in files:
        stored = (store.directory / entry["path"]).read_bytes()
        assert entry["size"] == len(stored)
        assert entry["sha256"] == hashlib.sha256(stored).hexdigest()
    assert all(e.actor == "user:alice" for e in audited)
    assert verify(session).ok


def test_without_an_actor_the_operator_is_recorded(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    batch = import_capa(session, store, tmp_path, [list(r) for r in CAPA_ROWS])
    assert batch.imported_by == system_actor().label


def test_the_table_holds_the_typed_rows_with_extra_batch_row_partitioned_by_site(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    batch = import_capa(session, store, tmp_path, [list(r) for r in CAPA_ROWS])
    table = DeltaTable(store.directory / batch.store_path).to_pyarrow_table().sort_by("_row")
    assert table.schema.names == [*arrow_schema(RECORD_TYPES["capa"]).names, "_part"]
    assert table.column("_row").to_pylist() == [2, 3, 4]
    assert table.column("_batch").to_pylist() == [batch.id] * 3
    assert table.column("_part").to_pylist() == ["SITE-A", "SITE-A", "SITE-B"]
    assert [r["_batch"] for r in current(store, session, "capa", keep=["_batch"])] == [batch.id] * 3
    assert table.column("opened_on").to_pylist()[0] == date(2025, 1, 6)
    assert ARROW_TYPES[RECORD_TYPES["em_sample"].column("sampled_at").type] == pa.timestamp(
        "us", tz="UTC"
    )


def test_a_changed_record_adds_a_version_current_shows_the_latest_history_both(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    first = import_capa(session, store, tmp_path / "1", [list(r) for r in CAPA_ROWS])
    rows = [list(r) for r in CAPA_ROWS]
    rows[1][CAPA_HEADER.index("closed_on")] = "2025-03-01"  # CAPA-2 closed since
    rows.append(["CAPA-4", "SITE-B", "2025-03-02", "2025-04-02", "training", ""])
    second = import_capa(session, store, tmp_path / "2", rows)
    assert (second.rows, second.rows_new, second.rows_changed, second.rows_unchanged) == (
        4,
        1,
        1,
        2,
    )
    now = {r["capa_id"]: r for r in current(store, session, "capa", keep=["_batch"])}
    assert sorted(now) == ["CAPA-1", "CAPA-2", "CAPA-3", "CAPA-4"]
    assert now["CAPA-2"]["closed_on"] == date(2025, 3, 1)
    assert now["CAPA-2"]["_batch"] == second.id
    assert now["CAPA-1"]["_batch"] == first.id  # unchanged: its version stays
    versions = [
        (r["capa_id"], r["closed_on"], r["_batch"]) for r in history(store, session, "capa")
    ]
    assert versions == [
        ("CAPA-1", date(2025, 1, 30), first.id),
        ("CAPA-2", None, first.id),
        ("CAPA-2", date(2025, 3, 1), second.id),
        ("CAPA-3", date(2025, 2, 20), first.id),
        ("CAPA-4", None, second.id),
    ]


def test_an_unchanged_re_import_counts_rows_unchanged_and_adds_no_version(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    import_capa(session, store, tmp_path / "1", [list(r) for r in CAPA_ROWS])
    before = current(store, session, "capa", keep=["_batch"])
    again = import_capa(session, store, tmp_path / "2", [list(r) for r in CAPA_ROWS])
    assert (again.rows, again.rows_new, again.rows_changed, again.rows_unchanged) == (3, 0, 0, 3)
    # Recorded as an import that changed nothing: no table version, no data file.
    assert (again.delta_version, again.data_files) == (None, [])
    assert DeltaTable(store.directory / again.store_path).version() == 1
    assert current(store, session, "capa", keep=["_batch"]) == before
    assert len(history(store, session, "capa")) == 3


def test_an_extra_column_that_changes_makes_a_new_version(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = [*CAPA_HEADER, "owner"]
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    first = write_csv(tmp_path / "1" / "capa.csv", header, [[*CAPA_ROWS[0], "Bob"]])
    second = write_csv(tmp_path / "2" / "capa.csv", header, [[*CAPA_ROWS[0], "Carol"]])
    import_files(session, paths=[first], store=store)
    [batch] = import_files(session, paths=[second], store=store)
    assert batch.rows_changed == 1
    assert current(store, session, "capa")[0]["_extra"] == '{"owner":"Carol"}'


def test_every_record_type_has_a_view_with_its_schema_even_when_never_imported(
    session: Session, store: EventStore
) -> None:
    con = store.connect(session)
    for rt in RECORD_TYPES.values():
        schema = con.table(rt.name).schema()
        assert list(schema.names) == [*(c.name for c in rt.columns), "_extra", "_batch", "_row"]
        assert con.table(rt.name).count().execute() == 0
        assert con.table(f"{rt.name}_history").count().execute() == 0
    em = con.table("em_sample").schema()
    assert str(em["sampled_at"]) == "timestamp('UTC', 6)"
    assert str(em["cfu"]) == "float64"
    assert str(con.table("capa").schema()["opened_on"]) == "date"
    assert str(con.table("complaint").schema()["quality_related"]) == "boolean"
    assert str(con.table("site").schema()["headcount"]) == "int64"


def test_sites_joins_the_app_sites_with_imported_site_records_the_app_winning(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    create_site_a(session)  # headcount 640
    create_site_b(session)  # no headcount
    rows = [
        ["SITE-A", "Riverside (imported)", "100"],
        ["SITE-B", "Northfield", "300"],
        ["SITE-C", "Lakeside", "55"],
    ]
    path = write_csv(tmp_path / "site.csv", ["site", "name", "headcount"], rows)
    import_files(session, paths=[path], store=store)
    sites = store.connect(session).table("sites").to_pyarrow().to_pylist()
    assert sorted(sites, key=lambda r: r["site"]) == [
        {"site": "SITE-A", "name": "Riverside Sterile", "headcount": 640},
        {"site": "SITE-B", "name": "Northfield Solids", "headcount": 300},
        {"site": "SITE-C", "name": "Lakeside", "headcount": 55},
    ]


def test_write_batch_takes_a_typed_table_and_refuses_what_it_cannot_store(
    session: Session, store: EventStore
) -> None:
    table = pa.table(
        {
            "site": ["SITE-A", "SITE-B"],
            "product": ["Tablets", "Tablets"],
            "month": ["2025-03", "2025-03"],
            "units": pa.array([1000, 2500], pa.int32()),
        }
    )
    batch = store.write_batch(
        session, record_type="distribution", table=table, source_name="api", source_sha256="0" * 64
    )
    assert (batch.rows, batch.rows_new, batch.sites) == (2, 2, ["SITE-A", "SITE-B"])
    stored = current(store, session, "distribution", keep=["_row"])
    assert [(r["units"], r["_row"]) for r in stored] == [(1000.0, 2), (2500.0, 3)]
    with pytest.raises(InvalidInput, match="repeat in the batch"):
        store.write_batch(
            session,
            record_type="distribution",
            table=pa.concat_tables([table, table]),
            source_name="api",
            source_sha256="0" * 64,
        )
    with pytest.raises(InvalidInput, match="not in record type distribution"):
        store.write_batch(
            session,
            record_type="distribution",
            table=table.append_column("colour", pa.array(["red", "blue"])),
            source_name="api",
            source_sha256="0" * 64,
        )
    with pytest.raises(InvalidInput, match="unknown record type 'distributions'"):
        store.write_batch(
            session, record_type="distributions", table=table, source_name="x", source_sha256=""
        )


def test_readers_ignore_a_version_whose_batch_was_rolled_back_and_the_next_import_undoes_it(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    import_capa(session, store, tmp_path / "1", [list(r) for r in CAPA_ROWS])
    before = current(store, session, "capa", keep=["_batch"])
    savepoint = session.begin_nested()
    rows = [["CAPA-9", "SITE-A", "2025-01-01", "2025-02-01", "training", ""]]
    rolled_back = import_capa(session, store, tmp_path / "2", rows)
    savepoint.rollback()
    table = DeltaTable(store.directory / "tables" / "capa")
    assert table.version() == 2  # committed to the table, its batch row was not
    assert current(store, session, "capa", keep=["_batch"]) == before
    later = import_capa(session, store, tmp_path / "3", [CAPA_ROWS[0]])
    assert (later.rows_new, later.rows_unchanged) == (0, 1)  # CAPA-9 was never stored
    rows = [["CAPA-8", "SITE-A", "2025-01-01", "2025-02-01", "training", ""]]
    merged = import_capa(session, store, tmp_path / "4", rows)
    assert merged.delta_version == 4  # version 3 restored version 1's records
    assert "CAPA-9" not in DeltaTable(table.table_uri).to_pyarrow_table()["capa_id"].to_pylist()
    assert merged.id > rolled_back.id or later.id == rolled_back.id  # an id may come again
    assert sorted(r["capa_id"] for r in current(store, session, "capa")) == [
        "CAPA-1",
        "CAPA-2",
        "CAPA-3",
        "CAPA-8",
    ]


def test_orphans_are_files_no_committed_batch_owns_and_young_ones_are_left(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    kept = import_capa(session, store, tmp_path / "1", [list(r) for r in CAPA_ROWS])
    savepoint = session.begin_nested()
    rows = [["CAPA-9", "SITE-A", "2025-01-01", "2025-02-01", "training", ""]]
    import_capa(session, store, tmp_path / "2", rows)
    savepoint.rollback()
    owned = {store.directory / f["path"] for f in kept.data_files or []}
    [orphan] = [p for p in store.data_file_paths() if p not in owned]
    legacy = store.directory / "capa" / "batch-00000099.parquet"
    legacy.parent.mkdir()
    legacy.write_bytes(b"a file of the earlier layout no batch owns")
    unrelated = store.directory / "capa" / "notes.txt"
    unrelated.write_text("not ours")
    assert store.collect_orphans(session) == []  # all younger than an hour
    old = time.time() - 7200
    for path in (orphan, legacy, unrelated):
        os.utime(path, (old, old))
    assert store.collect_orphans(session, remove=False) == [legacy, orphan]
    assert orphan.exists()
    assert store.collect_orphans(session, min_age=timedelta(0)) == [legacy, orphan]
    assert not orphan.exists()
    assert not legacy.exists()
    assert unrelated.exists()
    assert all(path.exists() for path in owned)
    assert store.collect_orphans(session, min_age=timedelta(0)) == []


def test_a_missing_data_file_is_an_error_not_silently_fewer_records(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    batch = import_capa(session, store, tmp_path, [list(r) for r in CAPA_ROWS])
    (store.directory / (batch.data_files or [])[0]["path"]).unlink()
    with pytest.raises(MissingBatchFiles, match="lacks 1 data file"):
        store.connect(session)


def test_as_it_was_after_a_batch_comes_from_the_table_version_it_recorded(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    first = import_capa(session, store, tmp_path / "1", [list(r) for r in CAPA_ROWS])
    rows = [list(r) for r in CAPA_ROWS]
    rows[1][CAPA_HEADER.index("closed_on")] = "2025-03-01"
    import_capa(session, store, tmp_path / "2", rows)
    then = store.connect(session, after_batch=first.id).table("capa").to_pyarrow().to_pylist()
    assert {r["capa_id"]: r["closed_on"] for r in then}["CAPA-2"] is None
    assert len(current(store, session, "capa")) == 3
    assert {r["capa_id"]: r["closed_on"] for r in current(store, session, "capa")}[
        "CAPA-2"
    ] == date(2025, 3, 1)


def test_the_batch_table_is_in_the_connection_for_drill_down(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    batch = import_capa(session, store, tmp_path, [list(r) for r in CAPA_ROWS])
    [row] = store.connect(session).table("_batches").to_pyarrow().to_pylist()
    assert row["id"] == batch.id
    assert row["source_name"] == "capa.csv"
    assert row["imported_at"] == batch.imported_at.astimezone(UTC)
    assert isinstance(row["imported_at"], datetime)


def test_current_takes_the_highest_batch_per_key_across_many_batches(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    for n in range(1, 5):
        rows = [["CAPA-1", "SITE-A", "2025-01-01", f"2025-02-0{n}", "training", ""]]
        import_capa(session, store, tmp_path / str(n), rows)
    [record] = current(store, session, "capa")
    assert record["due_on"] == date(2025, 2, 4)
    assert len(history(store, session, "capa")) == 4
    changed = select(ImportBatch.rows_changed).order_by(ImportBatch.id)
    assert session.scalars(changed).all() == [0, 1, 1, 1]


def legacy_batch(session: Session, store: EventStore, rows: list[list[str]]) -> ImportBatch:
    """A batch as the one-file-per-batch layout stored it: its new and changed rows."""
    text = pa.table({h: [r[i] or None for r in rows] for i, h in enumerate(CAPA_HEADER)})
    typed = conform(
        RECORD_TYPES["capa"], text.cast(pa.schema([(h, pa.string()) for h in CAPA_HEADER]))
    )
    batch = ImportBatch(
        record_type="capa",
        source_name="capa.csv",
        source_sha256="0" * 64,
        rows=len(rows),
        rows_new=len(rows),
        rows_changed=0,
        rows_unchanged=0,
        sites=["SITE-A"],
        store_path="",
        imported_by="operator",
    )
    session.add(batch)
    session.flush()
    batch.store_path = store.relative_path("capa", batch.id)
    path = store.directory / batch.store_path
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(typed, path)
    session.flush()
    return batch


def test_a_store_of_the_earlier_layout_moves_into_its_table_keeping_every_version(
    session: Session, store: EventStore
) -> None:
    first = legacy_batch(session, store, [list(r) for r in CAPA_ROWS])
    changed = [list(CAPA_ROWS[1]), ["CAPA-4", "SITE-B", "2025-03-02", "2025-04-02", "x", ""]]
    changed[0][CAPA_HEADER.index("closed_on")] = "2025-03-01"
    second = legacy_batch(session, store, changed)
    with pytest.raises(StoreNeedsMigration, match="run `qmm init`"):
        store.connect(session)
    assert migrate_legacy_batches(session, store) == 2
    assert (first.delta_version, second.delta_version) == (1, 2)
    assert first.store_path == second.store_path == "tables/capa"
    versions = [
        (r["capa_id"], r["closed_on"], r["_batch"]) for r in history(store, session, "capa")
    ]
    assert versions == [
        ("CAPA-1", date(2025, 1, 30), first.id),
        ("CAPA-2", None, first.id),
        ("CAPA-2", date(2025, 3, 1), second.id),
        ("CAPA-3", date(2025, 2, 20), first.id),
        ("CAPA-4", None, second.id),
    ]
    now = {
        r["capa_id"]: (r["_batch"], r["_row"])
        for r in current(store, session, "capa", keep=["_batch", "_row"])
    }
    assert now == {
        "CAPA-1": (first.id, 2),
        "CAPA-2": (second.id, 2),
        "CAPA-3": (first.id, 4),
        "CAPA-4": (second.id, 3),
    }
    assert verify_store(session, store).problems == [
        p for p in verify_store(session, store).problems if "no committed batch owns" in p
    ]
    assert [p.name for p in remove_migrated_files(session, store)] == [
        f"batch-{first.id:08d}.parquet",
        f"batch-{second.id:08d}.parquet",
    ]
    assert verify_store(session, store).ok
    audited = session.scalars(
        select(AuditEntry.new_values)
        .where(AuditEntry.table_name == "import_batches", AuditEntry.record_id == str(first.id))
        .order_by(AuditEntry.id)
    ).all()
    assert audited[-1]["delta_version"] == 1
    assert audited[-1]["store_path"] == "tables/capa"


def test_another_engine_reads_the_table_duckdbs_own_delta_reader_offline(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    extension = pytest.importorskip("duckdb_extension_delta")
    import duckdb

    import_capa(session, store, tmp_path / "1", [list(r) for r in CAPA_ROWS])
    rows = [list(r) for r in CAPA_ROWS]
    rows[1][CAPA_HEADER.index("closed_on")] = "2025-03-01"
    import_capa(session, store, tmp_path / "2", rows)
    [binary] = Path(extension.__file__).parent.rglob("delta.duckdb_extension")
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as con:
        con.execute("SET autoload_known_extensions = false")
        con.execute(f"LOAD '{binary}'")
        read = con.execute(
            "SELECT capa_id, closed_on, _batch FROM delta_scan(?) ORDER BY capa_id",
            [str(store.table_dir("capa"))],
        ).fetchall()
    ours = [
        (r["capa_id"], r["closed_on"], r["_batch"])
        for r in current(store, session, "capa", keep=["_batch"])
    ]
    assert sorted(read) == sorted(ours)
