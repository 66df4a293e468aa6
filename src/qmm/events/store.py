"""The event store: one Parquet file per import batch, read through an in-process DuckDB.

Why Parquet files and not one DuckDB database file: DuckDB locks its file per process, so a web
server reading and a CLI importing could not share it. A batch file is written under a name
readers ignore, fsynced and renamed; it only counts once its ImportBatch row is committed in the
app database, so a crash at any moment leaves the store reading exactly as before.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import duckdb
import ibis  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy import select
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


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush a file (or a directory entry) to disk, so a power cut cannot undo a rename."""
    if directory and os.name == "nt":
        return
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


@dataclass(frozen=True)
class BatchFile:
    """One committed batch as a reader sees it: its id, record type and file."""

    id: int
    record_type: str
    path: Path


@dataclass(frozen=True)
class VersionCounts:
    """How a batch's rows compare with the current version of each record."""

    new: int
    changed: int
    unchanged: int


class EventStore:
    """Parquet batches under one directory, listed by the import_batches table."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def from_settings(cls) -> EventStore:
        """The store the settings name (QMM_EVENTS_URL, else QMM_DATA_DIR/events)."""
        return cls(get_settings().events_dir)

    # -- layout -----------------------------------------------------------------------------

    def relative_path(self, record_type: str, batch_id: int) -> str:
        """Where a batch's file lives, relative to the store (kept in ImportBatch.store_path)."""
        return f"{record_type}/batch-{batch_id:08d}.parquet"

    def batch_path(self, record_type: str, batch_id: int) -> Path:
        return self.directory / self.relative_path(record_type, batch_id)

    def batch_files(
        self, session: Session, record_types: Iterable[str] | None = None
    ) -> list[BatchFile]:
        """The batches this session can see (committed ones, plus its own), oldest first."""
        query = select(ImportBatch.id, ImportBatch.record_type, ImportBatch.store_path).order_by(
            ImportBatch.id
        )
        if record_types is not None:
            query = query.where(ImportBatch.record_type.in_(list(record_types)))
        return [
            BatchFile(
                id=batch_id,
                record_type=record_type,
                path=self.directory / store_path
                if store_path
                else self.batch_path(record_type, batch_id),
            )
            for batch_id, record_type, store_path in session.execute(query).all()
        ]

    # -- writing ----------------------------------------------------------------------------

    def write_batch(
        self,
        session: Session,
        *,
        record_type: str,
        table: Any,
        source_name: str,
        source_sha256: str,
        profile: str | None = None,
        rows: int | None = None,
        imported_by: str | None = None,
        keys_checked: bool = False,
        extracted_on: date | None = None,
    ) -> ImportBatch:
        """Store a typed table as a new batch; the caller's commit makes it visible.

        Only new and changed records are written: an unchanged record keeps its version.
        ``extracted_on`` is the day the extract was taken (default: today in UTC).
        """
        extracted_on = check_extract_date(extracted_on)
        rt = _record_type(record_type)
        typed = conform(rt, table)
        if not keys_checked:
            _refuse_duplicate_keys(rt, typed)
        counts, changed = self._compare(session, rt, typed)
        sites = sorted(str(s) for s in pc.unique(typed.column("site")).to_pylist() if s)
        batch = ImportBatch(
            record_type=rt.name,
            source_name=source_name[:400],
            source_sha256=source_sha256,
            profile=profile,
            rows=typed.num_rows if rows is None else rows,
            rows_new=counts.new,
            rows_changed=counts.changed,
            rows_unchanged=counts.unchanged,
            sites=sites,
            store_path="",
            imported_by=(imported_by or actor_label(session))[:120],
            extracted_on=extracted_on,
        )
        # The file is written before the batch row exists: on SQLite the row's INSERT takes the
        # database's write lock until commit, and writing millions of rows under it would make
        # the web app's writes wait. The lock then covers only a rename.
        pending = self._write_pending(rt, changed)
        final: Path | None = None
        try:
            size, sha256 = file_digest(pending)
            session.add(batch)
            session.flush()
            final = self.batch_path(rt.name, batch.id)
            os.replace(pending, final)
            _fsync_path(final.parent, directory=True)
            batch.store_path = self.relative_path(rt.name, batch.id)
            # Audited with the batch: `qmm audit verify` re-hashes the file against it.
            batch.data_files = [{"path": batch.store_path, "size": size, "sha256": sha256}]
            session.flush()
        except BaseException:
            pending.unlink(missing_ok=True)
            if final is not None and final.exists():
                final.unlink(missing_ok=True)
            raise
        return batch

    def _write_pending(self, rt: RecordType, table: Any) -> Path:
        """Write under a hidden temporary name and fsync; the batch's id names it later.

        The file holds no batch id: the views read it from the file name (``batch-N.parquet``).
        """
        folder = self.directory / rt.name
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".batch-pending-{uuid.uuid4().hex}.parquet.tmp"
        try:
            pq.write_table(
                table.cast(arrow_schema(rt, with_batch=False)), temporary, compression="snappy"
            )
            _fsync_path(temporary)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return temporary

    def _compare(self, session: Session, rt: RecordType, typed: Any) -> tuple[VersionCounts, Any]:
        """Count new, changed and unchanged rows, and keep only the new and changed ones."""
        files = self._present(self.batch_files(session, [rt.name]))
        if not files or typed.num_rows == 0:
            return VersionCounts(typed.num_rows, 0, 0), typed
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            _create_record_views(con, rt, files)
            con.register("incoming", typed)
            join = " AND ".join(f"n.{quote_ident(k)} = c.{quote_ident(k)}" for k in rt.key)
            differs = " OR ".join(
                f"n.{quote_ident(n)} IS DISTINCT FROM c.{quote_ident(n)}"
                for n in [*(c.name for c in rt.columns), EXTRA]
            )
            # Only the rows to keep come back (few, when an extract is re-imported unchanged).
            kept = con.execute(
                f"SELECT n.{ROW} AS row_number, c.{BATCH} IS NULL AS is_new "
                f"FROM incoming n LEFT JOIN {quote_ident(rt.name)} c ON {join} "
                f"WHERE c.{BATCH} IS NULL OR {differs}"
            ).to_arrow_table()
        new = int(pc.sum(kept.column("is_new")).as_py() or 0)
        counts = VersionCounts(new, kept.num_rows - new, typed.num_rows - kept.num_rows)
        if kept.num_rows == typed.num_rows:
            return counts, typed
        keep = pc.is_in(typed.column(ROW), value_set=kept.column("row_number"))
        return counts, typed.filter(keep)

    # -- reading ----------------------------------------------------------------------------

    def _present(self, files: list[BatchFile]) -> list[BatchFile]:
        """The files, or an error naming those missing: fewer records must not pass silently."""
        missing = [f for f in files if not f.path.is_file()]
        if missing:
            listed = ", ".join(str(f.path) for f in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise MissingBatchFiles(
                f"the event store at {self.directory} lacks the files of "
                f"{len(missing)} committed import batch(es): {listed}{more}; restore them from "
                "a backup (qmm restore) before reading or importing"
            )
        return files

    def attach(self, con: duckdb.DuckDBPyConnection, session: Session) -> None:
        """Create the store's views in a DuckDB connection: current records, history, sites."""
        con.execute("SET TimeZone = 'UTC'")
        files = self._present(self.batch_files(session))
        _create_batches_table(con, session)
        for rt in RECORD_TYPES.values():
            _create_record_views(con, rt, [f for f in files if f.record_type == rt.name])
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
                ImportBatch.imported_at,
            ).order_by(ImportBatch.id)
        ).all()
        sites = session.execute(select(Site.code, Site.name, Site.headcount).order_by(Site.code))
        return (
            str(self.directory.resolve()),
            tuple(tuple(row) for row in batches),
            tuple(tuple(row) for row in sites.all()),
        )

    def connect(self, session: Session) -> BaseBackend:
        """An in-process DuckDB with one view per record type holding its current records."""
        backend = ibis.duckdb.connect()
        self.attach(backend.con, session)
        return cast("BaseBackend", backend)

    def history(
        self, session: Session, record_type: str, *, con: BaseBackend | None = None
    ) -> IbisTable:
        """Every stored version of a record type's records, oldest batch first per key."""
        rt = _record_type(record_type)
        backend = con if con is not None else self.connect(session)
        table = backend.table(f"{rt.name}_history")
        return cast("IbisTable", table.order_by([*rt.key, BATCH]))

    # -- housekeeping -----------------------------------------------------------------------

    def collect_orphans(
        self,
        session: Session,
        *,
        remove: bool = True,
        min_age: timedelta = DEFAULT_ORPHAN_AGE,
    ) -> list[Path]:
        """Files no committed batch owns (left by killed or rolled-back imports), removed.

        Files younger than min_age are left alone: they may belong to an import in progress
        in another process that has not committed yet.
        """
        if not self.directory.is_dir():
            return []
        owned = {f.path.resolve() for f in self.batch_files(session)}
        now = time.time()
        orphans: list[Path] = []
        for folder in sorted(p for p in self.directory.iterdir() if p.is_dir()):
            if folder.name not in RECORD_TYPES:
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file():
                    continue
                is_temporary = path.name.startswith(".batch-") and path.name.endswith(".tmp")
                if not is_temporary and not BATCH_FILE.match(path.name):
                    continue
                if path.resolve() in owned:
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


#: A row's batch id, from the name of the file it is read from (constant per file, so cheap).
_BATCH_FROM_FILE_NAME: Final = (
    "CAST(regexp_extract(filename, 'batch-([0-9]+)[.]parquet$', 1) AS BIGINT)"
)


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
        if name == BATCH:
            parts.append(f"{_BATCH_FROM_FILE_NAME} AS {name}")
        elif name in present:
            parts.append(f"CAST({name} AS {sql_type}) AS {name}")
        else:
            parts.append(f"CAST(NULL AS {sql_type}) AS {name}")
    return ", ".join(parts)


def _create_record_views(
    con: duckdb.DuckDBPyConnection, rt: RecordType, files: Sequence[BatchFile]
) -> None:
    """`<type>` holds each key's row from its highest batch; `<type>_history` every version."""
    current = quote_ident(rt.name)
    history = quote_ident(f"{rt.name}_history")
    if not files:
        empty = f"SELECT {_typed_select(rt, [])} FROM (SELECT NULL AS filename) WHERE false"
        con.execute(f"CREATE OR REPLACE VIEW {current} AS {empty}")
        con.execute(f"CREATE OR REPLACE VIEW {history} AS {empty}")
        return
    listing = "[" + ", ".join(quote_text(str(f.path)) for f in files) + "]"
    source = f"read_parquet({listing}, union_by_name = true, filename = true)"
    present = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    typed = f"SELECT {_typed_select(rt, present)} FROM {source}"
    con.execute(f"CREATE OR REPLACE VIEW {history} AS {typed}")
    if len(files) == 1:
        # One batch holds each key once: it is its own current version.
        con.execute(f"CREATE OR REPLACE VIEW {current} AS {typed}")
        return
    keys = ", ".join(quote_ident(k) for k in rt.key)
    con.execute(
        f"CREATE OR REPLACE VIEW {current} AS {typed} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {BATCH} DESC) = 1"
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
