"""The event store: one Delta Lake table per record type, read through an in-process DuckDB.

Each import is one MERGE on the record key, committed as one table version and recorded on its
ImportBatch row. Readers read the version the app database records, never the table's latest: a
version committed by an import whose batch row was not (a crash, a rollback) is invisible, and
the next import restores the table to the recorded version before it writes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import unquote

import duckdb
import ibis  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
from deltalake import DeltaTable, WriterProperties
from deltalake.transaction import AddAction, RemoveAction
from sqlalchemy import Connection, event, func, select
from sqlalchemy.orm import Session

from qmm.audit.trail import system_actor
from qmm.config import get_settings
from qmm.errors import InvalidInput, QMMError
from qmm.events.extract_dates import check_extract_date
from qmm.events.record_types import RECORD_TYPES, ColumnType, RecordType, get_record_type
from qmm.models import ImportBatch, Site

if TYPE_CHECKING:
    from ibis.backends import BaseBackend  # type: ignore[import-untyped,unused-ignore]
    from ibis.expr.types import Table as IbisTable  # type: ignore[import-untyped,unused-ignore]

ARROW_TYPES: Final[dict[ColumnType, Any]] = {
    ColumnType.string: pa.string(),
    ColumnType.date: pa.date32(),
    ColumnType.timestamp: pa.timestamp("us", tz="UTC"),
    ColumnType.integer: pa.int64(),
    ColumnType.number: pa.float64(),
    ColumnType.boolean: pa.bool_(),
    ColumnType.month: pa.string(),
}
SQL_TYPES: Final[dict[ColumnType, str]] = {
    ColumnType.string: "VARCHAR",
    ColumnType.date: "DATE",
    ColumnType.timestamp: "TIMESTAMPTZ",
    ColumnType.integer: "BIGINT",
    ColumnType.number: "DOUBLE",
    ColumnType.boolean: "BOOLEAN",
    ColumnType.month: "VARCHAR",
}
EXTRA: Final = "_extra"  # the source's columns outside the contract, as a JSON object
BATCH: Final = "_batch"  # the ImportBatch id the row came in with
ROW: Final = "_row"  # the row's number in its source file (header = row 1)
SYSTEM_COLUMNS: Final = (EXTRA, BATCH, ROW)
BATCH_FILE: Final = re.compile(r"^batch-(\d+)\.parquet$")
DEFAULT_ORPHAN_AGE: Final = timedelta(hours=1)
TABLES: Final = "tables"  # the folder of the Delta tables, one per record type
PART: Final = "_part"  # the partition column: the record's site
LOG: Final = "_delta_log"
#: Rows per Parquet row group: the table writer holds a row group per partition in memory.
ROW_GROUP_ROWS: Final = 128 * 1024
WRITER_LOCK: Final = ".qmm-writer.lock"
LOCKS_KEY: Final = "qmm_table_writer_locks"
WRITER: Final = WriterProperties(compression="SNAPPY", max_row_group_size=ROW_GROUP_ROWS)
STAGING: Final = ".staging"  # an import's checked rows, until they are written to a table
STREAM_ROWS: Final = 64 * 1024  # rows handed to the table writer at a time
READ_MEMORY: Final = "128MB"  # DuckDB's memory to stream a staged file back
COMPARE_MEMORY: Final = "512MB"  # DuckDB's memory to compare a file with the current records
#: A site partition's files of fewer rows than this are folded into the next append's file
#: once there are FOLD_FILES of them, so the files a query opens stay few.
SMALL_FILE_ROWS: Final = ROW_GROUP_ROWS
FOLD_FILES: Final = 8
BUFFER_BYTES: Final = 16 << 20  # new rows waiting for their partition's row group, at most

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one importing process at a time
    fcntl = None  # type: ignore[assignment]


class MissingBatchFiles(QMMError):
    """Committed batches whose Parquet files are gone: the store cannot be read faithfully."""

    status_code = 500
    exit_code = 1


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted so any header text is safe."""
    return '"' + name.replace('"', '""') + '"'


def quote_text(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def arrow_schema(record_type: RecordType, *, with_batch: bool = True) -> Any:
    """The Parquet schema of a record type: contract columns, then _extra, _batch and _row."""
    fields = [pa.field(c.name, ARROW_TYPES[c.type]) for c in record_type.columns]
    fields.append(pa.field(EXTRA, pa.string()))
    if with_batch:
        fields.append(pa.field(BATCH, pa.int64()))
    fields.append(pa.field(ROW, pa.int64()))
    return pa.schema(fields)


def conform(record_type: RecordType, table: Any) -> Any:
    """The table with exactly the contract's columns and types, missing optional ones as null."""
    schema = arrow_schema(record_type, with_batch=False)
    unknown = [n for n in table.column_names if n not in schema.names and n != BATCH]
    if unknown:
        raise InvalidInput(
            f"columns {', '.join(unknown)} are not in record type {record_type.name}; "
            "put a source's other columns in _extra"
        )
    rows = table.num_rows
    arrays = []
    for f in schema:
        if f.name in table.column_names:
            column = table.column(f.name)
            if not column.type.equals(f.type):
                try:
                    column = column.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InvalidInput(
                        f"{record_type.name}.{f.name}: {column.type} cannot be stored as "
                        f"{f.type} ({exc})"
                    ) from None
            arrays.append(column)
        elif f.name == ROW:
            arrays.append(pa.array(np.arange(2, rows + 2, dtype=np.int64)))
        elif f.name in record_type.required:
            raise InvalidInput(f"{record_type.name}: required column {f.name} is missing")
        else:
            arrays.append(pa.nulls(rows, f.type))
    result = pa.Table.from_arrays(arrays, schema=schema)
    for key in record_type.key:
        if result.column(key).null_count:
            raise InvalidInput(f"{record_type.name}: key column {key} has missing values")
    return result


def file_digest(path: Path) -> tuple[int, str]:
    """A file's size and SHA-256, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def actor_label(session: Session) -> str:
    """Who an import is recorded as: the session's audit actor, else the operator."""
    actor = session.info.get("audit_actor") or system_actor()
    return str(actor.label)


def has_import_batches(session: Session) -> bool:
    """Whether anything was ever imported: the demo imports its extracts only into a new store."""
    return session.scalar(select(ImportBatch.id).limit(1)) is not None


def is_legacy_path(store_path: str | None) -> bool:
    """Whether a batch is of the earlier layout, its rows in a file of its own."""
    return bool(store_path) and str(store_path).endswith(".parquet")


@dataclass(frozen=True)
class _Comparison:
    """A staged file against the current records: the counts, and the file of rows to write."""

    counts: VersionCounts
    written: Path
    rows: int
    sites: list[str]


@dataclass(frozen=True)
class VersionCounts:
    """How a batch's rows compare with the current version of each record."""

    new: int
    changed: int
    unchanged: int


class StoreNeedsMigration(QMMError):
    """Batches of the one-file-per-batch layout that `qmm init` has not moved to tables yet."""

    status_code = 503
    exit_code = 1


class TableBusy(QMMError):
    """Another import of the same record type holds the table's writer lock too long."""

    status_code = 503
    exit_code = 1


def table_file_entry(table_dir: Path, store_dir: Path, relative: str) -> dict[str, Any]:
    """What a batch records of one file of its table version: path in the store, size, SHA-256."""
    path = table_dir / unquote(relative)
    size, sha256 = file_digest(path)
    return {"path": path.relative_to(store_dir).as_posix(), "size": size, "sha256": sha256}


class EventStore:
    """Delta tables under one directory, their versions listed by the import_batches table."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def from_settings(cls) -> EventStore:
        """The store the settings name (QMM_EVENTS_URL, else QMM_DATA_DIR/events)."""
        return cls(get_settings().events_dir)

    # -- layout -----------------------------------------------------------------------------

    def table_path(self, record_type: str) -> str:
        """Where a record type's table lives, relative to the store (kept in store_path)."""
        return f"{TABLES}/{record_type}"

    def table_dir(self, record_type: str) -> Path:
        return self.directory / self.table_path(record_type)

    def relative_path(self, record_type: str, batch_id: int) -> str:
        """Where a batch's file lived in the earlier one-file-per-batch layout."""
        return f"{record_type}/batch-{batch_id:08d}.parquet"

    def recorded_versions(
        self, session: Session, *, after_batch: int | None = None
    ) -> dict[str, int]:
        """Each record type's table version as the batches this session sees record it."""
        query = (
            select(ImportBatch.record_type, func.max(ImportBatch.delta_version))
            .where(ImportBatch.delta_version.is_not(None))
            .group_by(ImportBatch.record_type)
        )
        if after_batch is not None:
            query = query.where(ImportBatch.id <= after_batch)
        return {str(t): int(v) for t, v in session.execute(query).all() if v is not None}

    def _committed_versions(self, session: Session) -> dict[str, int]:
        """The versions other sessions committed, which a long-open session may not see yet."""
        bind = session.get_bind()
        engine = bind.engine if isinstance(bind, Connection) else bind
        query = (
            select(ImportBatch.record_type, func.max(ImportBatch.delta_version))
            .where(ImportBatch.delta_version.is_not(None))
            .group_by(ImportBatch.record_type)
        )
        with engine.connect() as connection:
            return {str(t): int(v) for t, v in connection.execute(query).all() if v is not None}

    def files_at(self, record_type: str, version: int) -> list[Path]:
        """The data files of one version of a record type's table (a version never changes)."""
        return [Path(p) for p in _version_files(str(self.table_dir(record_type)), version)]

    def _legacy_batches(self, session: Session) -> int:
        rows = session.execute(
            select(ImportBatch.store_path).where(ImportBatch.store_path.like("%.parquet"))
        ).all()
        return len(rows)

    # -- writing ----------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A new folder for one import's staged files, beside the tables (same disk)."""
        folder = self.directory / STAGING
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="import-", dir=folder))

    def write_batch(
        self,
        session: Session,
        *,
        record_type: str,
        table: Any = None,
        staged: Path | None = None,
        source_name: str,
        source_sha256: str,
        profile: str | None = None,
        rows: int | None = None,
        imported_by: str | None = None,
        keys_checked: bool = False,
        extracted_on: date | None = None,
    ) -> ImportBatch:
        """Store a typed table (or the Parquet file STAGED holding one, as the importer's
        checks wrote it) as one version: only new and changed records are written, an
        unchanged one keeps its version, and a file that changes nothing adds no version.
        The caller's commit makes it visible. ``extracted_on`` is the day the extract was
        taken (default: today in UTC)."""
        extracted_on = check_extract_date(extracted_on)
        rt = _record_type(record_type)
        scratch = self.staging_dir()
        try:
            if staged is None:
                typed = conform(rt, table)
                if not keys_checked:
                    _refuse_duplicate_keys(rt, typed)
                staged = scratch / "incoming.parquet"
                pq.write_table(typed, staged, compression="snappy")
                del typed, table
            return self._write_staged(
                session,
                rt,
                staged,
                scratch,
                source_name=source_name,
                source_sha256=source_sha256,
                profile=profile,
                rows=rows,
                imported_by=imported_by,
                extracted_on=extracted_on,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _write_staged(
        self,
        session: Session,
        rt: RecordType,
        staged: Path,
        scratch: Path,
        *,
        source_name: str,
        source_sha256: str,
        profile: str | None,
        rows: int | None,
        imported_by: str | None,
        extracted_on: date | None,
    ) -> ImportBatch:
        if self._legacy_batches(session):
            from qmm.events.migration import migrate_legacy_batches

            migrate_legacy_batches(session, self)
        base = self.prepare(session, rt)
        comparison = self._compare(rt, staged, base, scratch)
        batch = ImportBatch(
            record_type=rt.name,
            source_name=source_name[:400],
            source_sha256=source_sha256,
            profile=profile,
            rows=comparison.rows if rows is None else rows,
            rows_new=comparison.counts.new,
            rows_changed=comparison.counts.changed,
            rows_unchanged=comparison.counts.unchanged,
            sites=comparison.sites,
            store_path=self.table_path(rt.name),
            imported_by=(imported_by or actor_label(session))[:120],
            extracted_on=extracted_on,
        )
        if comparison.counts.new + comparison.counts.changed == 0:
            # Nothing new: the import is recorded, the table gets no version.
            batch.data_files = []
            session.add(batch)
            session.flush()
            return batch
        # The batch row is written after the merge: on SQLite its INSERT takes the database's
        # write lock until commit, and on PostgreSQL its audit entry takes the audit chain's
        # lock; merging millions of rows under either would make the web app's writes wait.
        # The id is taken ahead (the table's writer lock keeps other imports of the type out).
        batch.id = _next_batch_id(session)
        merged_to: int | None = None
        try:
            merged_to = self.merge(
                rt,
                comparison.written,
                batch_id=batch.id,
                version=base,
                only_new=comparison.counts.changed == 0,
            )
            session.add(batch)
            session.flush()
            batch.delta_version = merged_to
            # Audited with the batch: `qmm audit verify` re-hashes the files against it.
            batch.data_files = self.version_files(rt.name, merged_to)
            session.flush()
        except BaseException:
            if merged_to is not None:
                self._restore(rt, base)
            raise
        return batch

    def merge(
        self,
        rt: RecordType,
        changed: Any,
        *,
        batch_id: int,
        version: int,
        only_new: bool = False,
    ) -> int:
        """Write new and changed rows (a table, or a Parquet file of them) as one version of
        the table; its number. Rows all new (ONLY_NEW) are appended, streamed from the file;
        others are MERGEd on the key."""
        table = DeltaTable(str(self.table_dir(rt.name)))
        if table.version() != version:
            raise QMMError(f"the {rt.name} table moved from version {version} during an import")
        if only_new and isinstance(changed, Path):
            actions = append_new_rows(table, self.table_dir(rt.name), rt, changed, batch_id)
            table.create_write_transaction(
                actions, mode="append", schema=delta_schema(rt), partition_by=[PART]
            )
            table.update_incremental()
            return int(table.version())
        with ExitStack() as stack:
            if isinstance(changed, Path):
                reader = stack.enter_context(_staged_reader(changed))
                source = _stamped_stream(rt, reader, batch_id)
            else:
                source = _stamped(rt, changed, batch_id)
            on = " AND ".join(
                [
                    f"t.{PART} = s.{PART}",
                    *(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in rt.key),
                ]
            )
            (
                table.merge(
                    source,
                    predicate=on,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    writer_properties=WRITER,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        return int(table.version())

    def version_files(self, record_type: str, version: int) -> list[dict[str, Any]]:
        """The files one version added, and its commit, each with size and SHA-256."""
        table_dir = self.table_dir(record_type)
        commit = f"{LOG}/{version:020d}.json"
        added: list[str] = []
        with (table_dir / commit).open("r", encoding="utf-8") as handle:
            for line in handle:
                action = json.loads(line)
                if "add" in action:
                    added.append(str(action["add"]["path"]))
        return [table_file_entry(table_dir, self.directory, p) for p in [*sorted(added), commit]]

    def _ensure_table(self, rt: RecordType) -> DeltaTable:
        """The record type's table, created empty as version 0 the first time."""
        path = self.table_dir(rt.name)
        if DeltaTable.is_deltatable(str(path)):
            return DeltaTable(str(path))
        path.mkdir(parents=True, exist_ok=True)
        return DeltaTable.create(
            str(path), schema=delta_schema(rt), partition_by=[PART], name=rt.name
        )

    def prepare(self, session: Session, rt: RecordType) -> int:
        """Take the table's writer lock and roll back a version no batch records; the version
        to write on, whose records are the recorded version's.

        Under the lock no other import is between its merge and its commit: a version later
        than the recorded one is of an import that crashed or rolled back.
        """
        hold_writer_lock(session, self.table_dir(rt.name))
        table = self._ensure_table(rt)
        recorded = max(
            self.recorded_versions(session).get(rt.name, 0),
            self._committed_versions(session).get(rt.name, 0),
        )
        if table.version() > recorded and not _restored_to(table, recorded):
            return self._restore(rt, recorded)
        return int(table.version())

    def _restore(self, rt: RecordType, version: int) -> int:
        """Make the table's records those of VERSION again, as a new version; its number."""
        table = DeltaTable(str(self.table_dir(rt.name)))
        if table.version() != version:
            table.restore(version)
        return int(table.version())

    def _compare(self, rt: RecordType, staged: Path, version: int, scratch: Path) -> _Comparison:
        """Count new, changed and unchanged rows, and write the new and changed ones to a
        Parquet file in SCRATCH (the staged file itself when every row is to be written).
        DuckDB joins on the key, spilling to SCRATCH rather than holding the file."""
        files = self.files_at(rt.name, version)
        incoming = f"read_parquet({quote_text(str(staged))})"
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET temp_directory = {quote_text(str(scratch))}")
            con.execute(f"SET memory_limit = '{COMPARE_MEMORY}'")
            con.execute("SET preserve_insertion_order = false")
            (rows,) = con.execute(f"SELECT count(*) FROM {incoming}").fetchone() or (0,)
            sites = sorted(
                str(r[0])
                for r in con.execute(
                    f"SELECT DISTINCT site FROM {incoming} WHERE site IS NOT NULL"
                ).fetchall()
            )
            if not files or rows == 0:
                return _Comparison(VersionCounts(int(rows), 0, 0), staged, int(rows), sites)
            join = " AND ".join(f"n.{quote_ident(k)} = c.{quote_ident(k)}" for k in rt.key)
            if not _keys_stored(con, rt, incoming, files, join):
                return _Comparison(VersionCounts(int(rows), 0, 0), staged, int(rows), sites)
            _create_current_view(con, rt, files)
            differs = " OR ".join(
                f"n.{quote_ident(n)} IS DISTINCT FROM c.{quote_ident(n)}"
                for n in [*(c.name for c in rt.columns), EXTRA]
            )
            written = scratch / "written.parquet"
            columns = ", ".join(
                f"n.{quote_ident(n)}" for n in arrow_schema(rt, with_batch=False).names
            )
            con.execute(
                f"CREATE TEMP TABLE kept AS SELECT n.{ROW} AS row_number, "
                f"c.{BATCH} IS NULL AS is_new FROM {incoming} n "
                f"LEFT JOIN {quote_ident(rt.name)} c ON {join} "
                f"WHERE c.{BATCH} IS NULL OR {differs}"
            )
            (kept, new) = con.execute(
                "SELECT count(*), coalesce(sum(is_new::INTEGER), 0) FROM kept"
            ).fetchone() or (0, 0)
            counts = VersionCounts(int(new), int(kept) - int(new), int(rows) - int(kept))
            if kept == rows:
                return _Comparison(counts, staged, int(rows), sites)
            con.execute(
                f"COPY (SELECT {columns} FROM {incoming} n SEMI JOIN kept k "
                f"ON n.{ROW} = k.row_number) TO {quote_text(str(written))} "
                "(FORMAT PARQUET, COMPRESSION SNAPPY)"
            )
        return _Comparison(counts, written, int(rows), sites)

    # -- reading ----------------------------------------------------------------------------

    def _present(self, record_type: str, files: list[Path]) -> list[Path]:
        """The files, or an error naming those missing: fewer records must not pass silently."""
        missing = [f for f in files if not f.is_file()]
        if missing:
            listed = ", ".join(str(f) for f in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise MissingBatchFiles(
                f"the event store at {self.directory} lacks {len(missing)} data file(s) of "
                f"the current {record_type} table: {listed}{more}; restore them from a backup "
                "(qmm restore) before reading or importing"
            )
        return files

    def attach(
        self,
        con: duckdb.DuckDBPyConnection,
        session: Session,
        *,
        after_batch: int | None = None,
    ) -> None:
        """Create the store's views in a DuckDB connection: current records, history, sites.

        AFTER_BATCH shows the records as they were once that batch was imported.
        """
        if self._legacy_batches(session):
            raise StoreNeedsMigration(
                f"the event store at {self.directory} holds import batches of the earlier "
                "one-file-per-batch layout: run `qmm init` to move them into its tables"
            )
        con.execute("SET TimeZone = 'UTC'")
        versions = self.recorded_versions(session, after_batch=after_batch)
        history = _history_files(session, after_batch)
        _create_batches_table(con, session)
        for rt in RECORD_TYPES.values():
            version = versions.get(rt.name)
            files = self.files_at(rt.name, version) if version else []
            _create_current_view(con, rt, self._present(rt.name, files))
            older = [self.directory / p for p in history.get(rt.name, [])]
            _create_history_view(con, rt, [p for p in older if p.is_file()])
        _create_sites_view(con, session)

    def state(self, session: Session) -> tuple[Any, ...]:
        """What the store's views show for this session: its batches and the app's sites.

        Two connections made with equal states hold the same views over the same files (a
        batch id reused after a rolled-back import on SQLite comes with another import time).
        """
        batches = session.execute(
            select(
                ImportBatch.id,
                ImportBatch.record_type,
                ImportBatch.store_path,
                ImportBatch.delta_version,
                ImportBatch.imported_at,
            ).order_by(ImportBatch.id)
        ).all()
        sites = session.execute(select(Site.code, Site.name, Site.headcount).order_by(Site.code))
        return (
            str(self.directory.resolve()),
            tuple(tuple(row) for row in batches),
            tuple(tuple(row) for row in sites.all()),
        )

    def connect(self, session: Session, *, after_batch: int | None = None) -> BaseBackend:
        """An in-process DuckDB with one view per record type holding its current records."""
        backend = ibis.duckdb.connect()
        self.attach(backend.con, session, after_batch=after_batch)
        return cast("BaseBackend", backend)

    def history(
        self, session: Session, record_type: str, *, con: BaseBackend | None = None
    ) -> IbisTable:
        """Every stored version of a record type's records, oldest batch first per key."""
        rt = _record_type(record_type)
        backend = con if con is not None else self.connect(session)
        table = backend.table(f"{rt.name}_history")
        return cast("IbisTable", table.order_by([*rt.key, BATCH]))

    def batch_footprint(self, session: Session, batch: ImportBatch) -> BatchFootprint:
        """The sites and days a batch's new and changed records span, their earlier versions
        included, and the ids those records name in other record types (a deviation's CAPA)."""
        rt = _record_type(batch.record_type)
        if batch.delta_version is None:
            return BatchFootprint(rt.name, {}, {})
        earlier = self.recorded_versions(session, after_batch=batch.id - 1).get(rt.name)
        now_files = self.files_at(rt.name, batch.delta_version)
        before_files = self.files_at(rt.name, earlier) if earlier is not None else []
        added = sorted(set(now_files) - set(before_files))
        keys = ", ".join(quote_ident(k) for k in rt.key)
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(
                f"CREATE TEMP TABLE written AS SELECT * FROM ({_typed_source(con, rt, added)}) "
                f"WHERE {BATCH} = {int(batch.id)}"
            )
            earlier_rows = ""
            if batch.rows_changed and before_files:
                earlier_rows = (
                    f" UNION ALL SELECT p.* FROM ({_typed_source(con, rt, before_files)}) p "
                    f"SEMI JOIN written USING ({keys})"
                )
            con.execute(f"CREATE TEMP TABLE touched AS SELECT * FROM written{earlier_rows}")
            return _footprint_of(con, rt)

    # -- housekeeping -----------------------------------------------------------------------

    def owned_files(self, session: Session) -> set[str]:
        """Every data file a committed batch recorded, relative to the store."""
        owned: set[str] = set()
        query = select(
            ImportBatch.id, ImportBatch.record_type, ImportBatch.store_path, ImportBatch.data_files
        )
        for batch_id, record_type, store_path, data_files in session.execute(query).all():
            if data_files is not None:
                owned.update(str(entry["path"]) for entry in data_files)
            elif is_legacy_path(store_path):
                owned.add(str(store_path))
            else:
                owned.add(self.relative_path(record_type, batch_id))
        return owned

    def data_file_paths(self) -> list[Path]:
        """Every data file under the store: tables' files (not their logs) and earlier ones."""
        found: list[Path] = []
        if not self.directory.is_dir():
            return found
        for folder in sorted(p for p in self.directory.iterdir() if p.is_dir()):
            if folder.name in RECORD_TYPES:
                found.extend(sorted(p for p in folder.iterdir() if p.is_file()))
        tables = self.directory / TABLES
        if tables.is_dir():
            for folder in sorted(p for p in tables.iterdir() if p.is_dir()):
                if folder.name not in RECORD_TYPES:
                    continue
                found.extend(
                    sorted(
                        p
                        for p in folder.rglob("*.parquet")
                        if p.is_file() and LOG not in p.relative_to(folder).parts
                    )
                )
        return found

    def collect_orphans(
        self,
        session: Session,
        *,
        remove: bool = True,
        min_age: timedelta = DEFAULT_ORPHAN_AGE,
    ) -> list[Path]:
        """Data files no committed batch owns (left by killed or rolled-back imports), removed.

        Files younger than min_age are left alone: they may belong to an import in progress
        in another process that has not committed yet.
        """
        owned = self.owned_files(session)
        now = time.time()
        orphans: list[Path] = []
        for path in self.data_file_paths():
            relative = path.relative_to(self.directory).as_posix()
            is_temporary = path.name.startswith(".batch-") and path.name.endswith(".tmp")
            in_table = relative.startswith(f"{TABLES}/")
            if not (is_temporary or in_table or BATCH_FILE.match(path.name)):
                continue
            if relative in owned:
                continue
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < min_age.total_seconds():
                continue
            orphans.append(path)
            if remove:
                path.unlink(missing_ok=True)
        return orphans


# -- the table format ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFootprint:
    """What a batch can change: per site the first and last day its records (new, changed and
    their earlier versions) hold in any date column, and the ids they name by column."""

    record_type: str
    days: dict[str, tuple[date, date]]
    references: dict[str, frozenset[str]]


def _day_expressions(rt: RecordType) -> list[str]:
    """Each date-like column of a record type as a DATE (a month as its first and last day)."""
    out: list[str] = []
    for column in rt.columns:
        name = quote_ident(column.name)
        if column.type is ColumnType.date:
            out.append(name)
        elif column.type is ColumnType.timestamp:
            out.append(f"CAST({name} AS DATE)")
        elif column.type is ColumnType.month:
            first = f"TRY_CAST({name} || '-01' AS DATE)"
            out.extend([first, f"last_day({first})"])
    return out


def _footprint_of(con: duckdb.DuckDBPyConnection, rt: RecordType) -> BatchFootprint:
    """The footprint of the rows in the temporary table ``touched``."""
    days_sql = _day_expressions(rt)
    picks = ", ".join(f"min({d}), max({d})" for d in days_sql)
    query = f"SELECT site{', ' + picks if picks else ''} FROM touched GROUP BY site"
    days: dict[str, tuple[date, date]] = {}
    for row in con.execute(query).fetchall():
        if row[0] is None:
            continue
        found = [d for d in row[1:] if d is not None]
        # A record type without dates (or with none filled in) can change any period.
        days[str(row[0])] = (min(found), max(found)) if found else (date.min, date.max)
    references: dict[str, frozenset[str]] = {}
    for column in rt.columns:
        if column.name.endswith("_id") and column.name not in rt.key:
            name = quote_ident(column.name)
            values = con.execute(
                f"SELECT DISTINCT {name} FROM touched WHERE {name} IS NOT NULL"
            ).fetchall()
            references[column.name] = frozenset(str(v[0]) for v in values)
    return BatchFootprint(rt.name, days, references)


def delta_schema(rt: RecordType) -> Any:
    """A record type's table schema: its stored columns, then the partition column."""
    return arrow_schema(rt).append(pa.field(PART, pa.string()))


def _stamped(rt: RecordType, table: Any, batch_id: int) -> Any:
    """The rows as the table keeps them: with their batch, and partitioned by site."""
    typed = table.cast(arrow_schema(rt, with_batch=False))
    rows = typed.num_rows
    with_batch = typed.add_column(
        typed.schema.get_field_index(ROW),
        pa.field(BATCH, pa.int64()),
        pa.array(np.full(rows, batch_id, dtype=np.int64)),
    )
    return with_batch.append_column(pa.field(PART, pa.string()), with_batch.column("site"))


class _PartitionFiles:
    """Parquet files of new rows, one per site partition, written a row group at a time:
    the rows wait in memory only until a partition has a row group's worth, or until all the
    waiting rows pass BUFFER_BYTES, when the largest waiting partition is written out."""

    def __init__(self, table_dir: Path, schema: Any) -> None:
        self.table_dir = table_dir
        self.schema = schema
        self.waiting: dict[str, list[Any]] = {}
        self.writers: dict[str, tuple[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.nulls: dict[str, dict[str, int]] = {}
        self.flushed: list[int] = []  # rows of each row group written, for tests

    def add(self, table: Any) -> None:
        sites = table.column("site")
        for site in pc.unique(sites).to_pylist():
            part = table.filter(pc.equal(sites, site))
            self.waiting.setdefault(str(site), []).append(part)
            if sum(t.num_rows for t in self.waiting[str(site)]) >= ROW_GROUP_ROWS:
                self._flush(str(site))
        while self.waiting and self.waiting_bytes() > BUFFER_BYTES:
            largest = max(self.waiting, key=lambda s: sum(t.nbytes for t in self.waiting[s]))
            self._flush(largest)

    def waiting_bytes(self) -> int:
        return sum(t.nbytes for parts in self.waiting.values() for t in parts)

    def _flush(self, site: str) -> None:
        parts = self.waiting.pop(site, [])
        if not parts:
            return
        rows = pa.concat_tables(parts).combine_chunks()
        if site not in self.writers:
            relative = f"{PART}={_partition_folder(site)}/part-{uuid.uuid4().hex}.snappy.parquet"
            path = self.table_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, self.schema, compression="snappy")
            self.writers[site] = (relative, writer)
        self.writers[site][1].write_table(rows, row_group_size=ROW_GROUP_ROWS)
        self.flushed.append(rows.num_rows)
        self.counts[site] = self.counts.get(site, 0) + rows.num_rows
        nulls = self.nulls.setdefault(site, {})
        for name in rows.column_names:
            nulls[name] = nulls.get(name, 0) + rows.column(name).null_count

    def fold(self, rt: RecordType, small: dict[str, list[str]]) -> list[AddAction | RemoveAction]:
        """Copy the rows of each written partition's SMALL files (paths in the table) into its
        new file, unchanged, batch and all, and remove those files from the version: appends
        would otherwise leave one small file per site and import, which every query opens."""
        for site in list(self.waiting):
            self._flush(site)
        removed: list[AddAction | RemoveAction] = []
        now = int(time.time() * 1000)
        for site in list(self.writers):
            paths = small.get(site, [])
            if len(paths) + 1 < FOLD_FILES:
                continue
            files = [self.table_dir / p for p in paths]
            with duckdb.connect() as con:
                con.execute(f"SET memory_limit = '{READ_MEMORY}'")
                con.execute("SET threads = 1")
                con.execute("SET TimeZone = 'UTC'")
                reader = con.execute(_typed_source(con, rt, files)).to_arrow_reader(STREAM_ROWS)
                for batch in reader:
                    self.waiting.setdefault(site, []).append(
                        pa.Table.from_batches([batch]).cast(self.schema)
                    )
                    if sum(t.num_rows for t in self.waiting[site]) >= ROW_GROUP_ROWS:
                        self._flush(site)
            self._flush(site)
            for path in paths:
                removed.append(
                    RemoveAction(
                        path=path,
                        data_change=False,
                        deletion_timestamp=now,
                        partition_values={PART: site},
                    )
                )
        return removed

    def close(self) -> list[AddAction | RemoveAction]:
        """Write what waits, close every file, and describe each as the commit adds it."""
        for site in list(self.waiting):
            self._flush(site)
        actions: list[AddAction | RemoveAction] = []
        for site, (relative, writer) in self.writers.items():
            writer.close()
            stat = (self.table_dir / relative).stat()
            stats = {"numRecords": self.counts[site], "nullCount": self.nulls[site]}
            actions.append(
                AddAction(
                    path=relative,
                    size=stat.st_size,
                    partition_values={PART: site},
                    modification_time=int(stat.st_mtime * 1000),
                    data_change=True,
                    stats=json.dumps(stats),
                )
            )
        return actions

    def abandon(self) -> None:
        for relative, writer in self.writers.values():
            writer.close()
            (self.table_dir / relative).unlink(missing_ok=True)


def _small_files(table: DeltaTable) -> dict[str, list[str]]:
    """Per site partition, the current version's files of fewer than SMALL_FILE_ROWS rows."""
    actions = pa.table(table.get_add_actions(flatten=True))
    small: dict[str, list[str]] = {}
    if actions.num_rows == 0:
        return small
    for row in actions.select(["path", "num_records", f"partition.{PART}"]).to_pylist():
        records = row["num_records"]
        # A path the log writes escaped (a site code with spaces) is left alone.
        if records is not None and records < SMALL_FILE_ROWS and "%" not in str(row["path"]):
            small.setdefault(str(row[f"partition.{PART}"]), []).append(str(row["path"]))
    return small


def _partition_folder(site: str) -> str:
    """A folder name for a site's partition: the code itself when it is plain, else a digest
    (the commit, not the folder, says which site a file holds)."""
    if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", site):
        return site
    return "h" + hashlib.sha256(site.encode("utf-8")).hexdigest()[:32]


def append_new_rows(
    table: DeltaTable, table_dir: Path, rt: RecordType, staged: Path, batch_id: int
) -> list[AddAction | RemoveAction]:
    """Write STAGED's rows, all new to the table, as Parquet files in its site partitions,
    a record batch at a time, folding in a partition's small files once there are
    FOLD_FILES of them; the actions a commit makes them part of the table with."""
    schema = arrow_schema(rt)
    files = _PartitionFiles(table_dir, schema)
    try:
        with _staged_reader(staged) as reader:
            for batch in reader:
                files.add(_with_batch(rt, pa.Table.from_batches([batch]), batch_id))
        removed = files.fold(rt, _small_files(table))
        return [*files.close(), *removed]
    except BaseException:
        files.abandon()
        raise


def _with_batch(rt: RecordType, table: Any, batch_id: int) -> Any:
    typed = table.cast(arrow_schema(rt, with_batch=False))
    return typed.add_column(
        typed.schema.get_field_index(ROW),
        pa.field(BATCH, pa.int64()),
        pa.array(np.full(typed.num_rows, batch_id, dtype=np.int64)),
    )


@contextmanager
def _staged_reader(staged: Path) -> Iterator[Any]:
    """A staged file's rows in record batches, read by DuckDB within a small memory budget
    (Arrow's Parquet reader reads ahead and holds more)."""
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{READ_MEMORY}'")
        con.execute("SET threads = 1")
        yield con.execute(f"SELECT * FROM read_parquet({quote_text(str(staged))})").to_arrow_reader(
            STREAM_ROWS
        )


def _keys_stored(
    con: duckdb.DuckDBPyConnection, rt: RecordType, incoming: str, files: Sequence[Path], join: str
) -> bool:
    """Whether any incoming key is stored already. Only the key columns are read, and only
    the row groups whose key range meets the incoming keys' range: a periodic extract of new
    records, whose ids follow the stored ones, skips the stored files by their statistics."""
    keys = [quote_ident(k) for k in rt.key]
    bounds = con.execute(
        f"SELECT {', '.join(f'min({k}), max({k})' for k in keys)} FROM {incoming}"
    ).fetchone()
    if bounds is None or bounds[0] is None:
        return False
    ranges = " AND ".join(f"{k} BETWEEN ? AND ?" for k in keys)
    listing = "[" + ", ".join(quote_text(str(f)) for f in files) + "]"
    stored = f"(SELECT {', '.join(keys)} FROM read_parquet({listing}) WHERE {ranges})"
    found = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM {incoming} n SEMI JOIN {stored} c ON {join})",
        list(bounds),
    ).fetchone()
    return bool(found and found[0])


def _stamped_stream(rt: RecordType, reader: Any, batch_id: int) -> Any:
    """A staged file's record batches as the table keeps them, for a streamed MERGE."""
    schema = _stamped(rt, arrow_schema(rt, with_batch=False).empty_table(), batch_id).schema

    def batches() -> Iterator[Any]:
        for batch in reader:
            yield from _stamped(rt, pa.Table.from_batches([batch]), batch_id).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _next_batch_id(session: Session) -> int:
    """The id the next batch row gets, taken without writing (PostgreSQL: from its sequence)."""
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence("import_batches", "id")
        return int(session.scalar(select(func.nextval(sequence))) or 0)
    return int(session.scalar(select(func.max(ImportBatch.id))) or 0) + 1


def _restored_to(table: DeltaTable, version: int) -> bool:
    """Whether the table's latest version is a restore of VERSION's records."""
    [latest] = table.history(1)
    parameters = latest.get("operationParameters") or {}
    return latest.get("operation") == "RESTORE" and str(parameters.get("version")) == str(version)


@lru_cache(maxsize=256)
def _version_files_cached(path: str, version: int, log_stamp: tuple[int, int]) -> tuple[str, ...]:
    del log_stamp  # part of the key only: a store restored from a backup reads afresh
    return tuple(DeltaTable(path, version=version).file_uris())


def _version_files(path: str, version: int) -> tuple[str, ...]:
    commit = Path(path) / LOG / f"{version:020d}.json"
    try:
        stat = commit.stat()
    except FileNotFoundError:
        raise MissingBatchFiles(
            f"the event store's table {path} lacks its version {version} ({commit}); restore "
            "it from a backup (qmm restore) before reading or importing"
        ) from None
    return _version_files_cached(path, version, (stat.st_size, stat.st_mtime_ns))


def _history_files(session: Session, after_batch: int | None) -> dict[str, list[str]]:
    """Per record type, every data file its committed batches added, oldest first."""
    query = (
        select(ImportBatch.record_type, ImportBatch.data_files)
        .where(ImportBatch.delta_version.is_not(None))
        .order_by(ImportBatch.id)
    )
    if after_batch is not None:
        query = query.where(ImportBatch.id <= after_batch)
    found: dict[str, list[str]] = {}
    for record_type, data_files in session.execute(query).all():
        found.setdefault(str(record_type), []).extend(
            str(e["path"]) for e in data_files or [] if str(e["path"]).endswith(".parquet")
        )
    return found


class _WriterLock:
    """An exclusive lock on a table's directory, held by one session until it ends."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.handle = (directory / WRITER_LOCK).open("a+b")

    def acquire(self, timeout: float) -> bool:
        if fcntl is None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        if fcntl is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        self.handle.close()


def _release_writer_locks(session: Session, transaction: Any) -> None:
    if transaction.parent is not None:
        return
    for held in session.info.pop(LOCKS_KEY, {}).values():
        held.release()


def hold_writer_lock(session: Session, directory: Path, timeout: float = 120.0) -> None:
    """Keep other imports of a table out until this session commits or rolls back."""
    held: dict[str, _WriterLock] = session.info.setdefault(LOCKS_KEY, {})
    key = str(directory.resolve())
    if key in held:
        return
    lock = _WriterLock(directory)
    if not lock.acquire(timeout):
        lock.handle.close()
        raise TableBusy(
            f"another import into {directory.name} has not finished within {timeout:.0f} s; "
            "nothing was imported: try again once it has"
        )
    held[key] = lock
    if not event.contains(session, "after_transaction_end", _release_writer_locks):
        event.listen(session, "after_transaction_end", _release_writer_locks)


def _record_type(name: str) -> RecordType:
    try:
        return get_record_type(name)
    except KeyError as exc:
        raise InvalidInput(str(exc.args[0])) from None


def _refuse_duplicate_keys(rt: RecordType, table: Any) -> None:
    if table.num_rows < 2:
        return
    with duckdb.connect() as con:
        con.register("incoming", table)
        keys = ", ".join(quote_ident(k) for k in rt.key)
        found = con.execute(
            f"SELECT {keys}, count(*) FROM incoming GROUP BY ALL HAVING count(*) > 1 LIMIT 5"
        ).fetchall()
    if found:
        listed = "; ".join(" / ".join(str(v) for v in row[:-1]) for row in found)
        raise InvalidInput(f"{rt.name}: keys ({', '.join(rt.key)}) repeat in the batch: {listed}")


def _typed_select(rt: RecordType, present: Sequence[str]) -> str:
    """Contract columns in contract order and type; absent ones (older files) as null."""
    parts = []
    for column in rt.columns:
        sql_type = SQL_TYPES[column.type]
        name = quote_ident(column.name)
        if column.name in present:
            parts.append(f"CAST({name} AS {sql_type}) AS {name}")
        else:
            parts.append(f"CAST(NULL AS {sql_type}) AS {name}")
    for name, sql_type in ((EXTRA, "VARCHAR"), (BATCH, "BIGINT"), (ROW, "BIGINT")):
        if name in present:
            parts.append(f"CAST({name} AS {sql_type}) AS {name}")
        else:
            parts.append(f"CAST(NULL AS {sql_type}) AS {name}")
    return ", ".join(parts)


def _typed_source(con: duckdb.DuckDBPyConnection, rt: RecordType, files: Sequence[Path]) -> str:
    """A typed SELECT over data files, or over nothing when there are none."""
    if not files:
        return f"SELECT {_typed_select(rt, [])} WHERE false"
    listing = "[" + ", ".join(quote_text(str(f)) for f in files) + "]"
    source = f"read_parquet({listing}, union_by_name = true)"
    present = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    return f"SELECT {_typed_select(rt, present)} FROM {source}"


def _create_current_view(
    con: duckdb.DuckDBPyConnection, rt: RecordType, files: Sequence[Path]
) -> None:
    """`<type>`: the table version's files, which hold each key once."""
    con.execute(f"CREATE OR REPLACE VIEW {quote_ident(rt.name)} AS {_typed_source(con, rt, files)}")


def _create_history_view(
    con: duckdb.DuckDBPyConnection, rt: RecordType, files: Sequence[Path]
) -> None:
    """`<type>_history`: every version of every record, from every file a batch added.

    A merge rewrites a file with the unchanged rows it holds: those copies keep their batch,
    so one row per key and batch is each version once.
    """
    history = quote_ident(f"{rt.name}_history")
    typed = _typed_source(con, rt, files)
    if not files:
        con.execute(f"CREATE OR REPLACE VIEW {history} AS {typed}")
        return
    keys = ", ".join(quote_ident(k) for k in rt.key)
    con.execute(
        f"CREATE OR REPLACE VIEW {history} AS {typed} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys}, {BATCH} ORDER BY {ROW}) = 1"
    )


def _create_batches_table(con: duckdb.DuckDBPyConnection, session: Session) -> None:
    """`_batches`: each committed batch's provenance, for drill-down and history."""
    rows = session.execute(
        select(
            ImportBatch.id,
            ImportBatch.record_type,
            ImportBatch.source_name,
            ImportBatch.source_sha256,
            ImportBatch.profile,
            ImportBatch.imported_by,
            ImportBatch.imported_at,
        ).order_by(ImportBatch.id)
    ).all()
    columns: list[Sequence[Any]] = [list(c) for c in zip(*rows, strict=True)] or [[]] * 7
    table = pa.table(
        {
            "id": pa.array(columns[0], pa.int64()),
            "record_type": pa.array(columns[1], pa.string()),
            "source_name": pa.array(columns[2], pa.string()),
            "source_sha256": pa.array(columns[3], pa.string()),
            "profile": pa.array(columns[4], pa.string()),
            "imported_by": pa.array(columns[5], pa.string()),
            "imported_at": pa.array(columns[6], pa.timestamp("us", tz="UTC")),
        }
    )
    con.register("_batches_arrow", table)
    con.execute("CREATE OR REPLACE TABLE _batches AS SELECT * FROM _batches_arrow")
    con.unregister("_batches_arrow")


def _create_sites_view(con: duckdb.DuckDBPyConnection, session: Session) -> None:
    """`sites`: the app's sites with their headcount, completed by imported `site` records."""
    rows = session.execute(select(Site.code, Site.name, Site.headcount).order_by(Site.code)).all()
    table = pa.table(
        {
            "site": pa.array([r[0] for r in rows], pa.string()),
            "name": pa.array([r[1] for r in rows], pa.string()),
            "headcount": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    con.register("_app_sites_arrow", table)
    con.execute("CREATE OR REPLACE TABLE _app_sites AS SELECT * FROM _app_sites_arrow")
    con.unregister("_app_sites_arrow")
    con.execute(
        "CREATE OR REPLACE VIEW sites AS "
        "SELECT coalesce(a.site, s.site) AS site, coalesce(a.name, s.name) AS name, "
        "coalesce(a.headcount, s.headcount) AS headcount "
        "FROM _app_sites a FULL OUTER JOIN site s ON a.site = s.site"
    )
