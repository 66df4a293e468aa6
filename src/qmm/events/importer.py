"""Importing eQMS extracts: read as text, map with a profile, validate every row, store a batch.

Validation runs as whole-column DuckDB SQL over an Arrow table of text, never a Python loop per
row (spreadsheets aside, whose reader has to walk the cells), so ten million EM samples import
in a small multiple of the time DuckDB takes just to read the CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy.orm import Session

from qmm.config import get_settings
from qmm.errors import InvalidFile, InvalidInput, NotFound, RowProblem
from qmm.events.after_import import after_import
from qmm.events.extract_dates import check_extract_date
from qmm.events.profiles import TIMESTAMP_DATE, Profile, TypeMapping, fold, load_profile
from qmm.events.record_types import (
    RECORD_TYPES,
    Column,
    ColumnType,
    RecordType,
    record_type_from_name,
)
from qmm.events.site_codes import (
    SiteCodes,
    known_site_codes,
    register_new_sites,
    site_code_refusal,
)
from qmm.events.store import (
    ARROW_TYPES,
    EXTRA,
    ROW,
    SQL_TYPES,
    EventStore,
    arrow_schema,
    quote_ident,
    quote_text,
)
from qmm.events.workbooks import (
    RefusedWorkbook,
    WorkbookLimits,
    check_cells,
    open_workbook,
    sheet_rows,
    worksheet_of,
)
from qmm.models import ImportBatch

FORMATS: Final = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
MAX_PROBLEMS: Final = 1000
#: Rows checked at a time: memory holds one batch of the file, never the whole of it.
BATCH_ROWS: Final = 256 * 1024
#: Bytes of CSV parsed at a time (the reader's block), when lines are shorter than that.
CSV_BLOCK_BYTES: Final = 2 << 20  # larger blocks cost memory: the reader reads ahead
#: DuckDB's memory for the exact check of repeated keys; past it, it spills to disk.
DUPLICATE_CHECK_MEMORY: Final = "256MB"
CSV_DELIMITERS: Final = (",", ";", "\t", "|")

DATE_GLOB: Final = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
TIMESTAMP_PATTERN: Final = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?"
)
BOOLEAN_TRUE: Final = ("true", "yes", "1")
BOOLEAN_FALSE: Final = ("false", "no", "0")
MONTH_PATTERN: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
SAFE_INTEGER: Final = 9007199254740992.0  # 2**53: larger whole numbers lose digits as doubles
# A timestamp given to the minute: DuckDB needs its seconds written out before an offset.
MINUTES_ONLY: Final = r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2})(Z|[+-]\d{2}(:?\d{2})?)?$"
# A timestamp's offset, at its end: sign, hours, then minutes with or without a colon.
OFFSET_PATTERN: Final = r"[+-](\d{2}):?(\d{2})?$"
#: The largest time zone offset there is (Kiribati's +14:00), in minutes.
MAX_OFFSET_MINUTES: Final = 14 * 60
# Characters no id or key may hold: C0 and C1 controls, DEL, and the line and paragraph
# separators (U+2028, U+2029), which break lines in some readers and are invisible in others.
CONTROL_PATTERN: Final = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]"
FIRST_DAY: Final = date(1, 1, 1)
YEAR_ZERO: Final = (
    "year 0 does not exist (it would be read as 1 BC); years start at 0001: a typing error?"
)
REASONS: Final = {
    "required": "required value is missing",
    ColumnType.date: "not a date in the form YYYY-MM-DD",
    ColumnType.timestamp: (
        "not an ISO 8601 timestamp (YYYY-MM-DDTHH:MM[:SS], then Z, ±HH:MM or nothing for UTC)"
    ),
    ColumnType.number: "not a number",
    ColumnType.integer: "not a whole number",
    ColumnType.boolean: "not a boolean (true/false, yes/no or 1/0)",
    ColumnType.month: "not a month in the form YYYY-MM",
}


class ProgressLike(Protocol):
    """What the importer needs of a progress display; a rich.progress.Progress fits."""

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> Any: ...

    def update(self, task_id: Any, *args: Any, **kwargs: Any) -> None: ...


class InvalidImport(InvalidFile):
    """An invalid file whose problem list was cut short; the message says how many are left."""

    def __init__(self, path: str, problems: list[RowProblem], total: int) -> None:
        super().__init__(path, problems)
        self.total = total
        if total > len(problems):
            self.args = (
                f"{self.args[0]}\n  ... and {total - len(problems)} more problems not listed "
                f"({total} in all)",
            )


class InvalidFiles(InvalidInput):
    """Several files with invalid rows in one import; nothing of any of them was stored."""

    def __init__(self, errors: list[InvalidFile]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class ValueChecks:
    """What an import accepts beyond the contract's types: how late a date, how long a line,
    which site codes."""

    extracted_on: date
    horizon_days: int
    max_line_bytes: int
    known_sites: frozenset[str] | None = None  # None: any site code
    new_sites: bool = False  # well-formed codes the app does not know are accepted too
    only_site: str | None = None  # an upload on a site's page: that site's rows only

    @property
    def latest_day(self) -> date:
        """The last day a date of the extract may fall on."""
        return self.extracted_on + timedelta(days=self.horizon_days)

    @classmethod
    def from_settings(
        cls,
        *,
        extracted_on: date | None = None,
        known_sites: frozenset[str] | None = None,
        new_sites: bool = False,
    ) -> ValueChecks:
        """The checks set by QMM_IMPORT_DATE_HORIZON_DAYS and QMM_IMPORT_MAX_LINE_BYTES; without
        an extract date, the horizon starts at the import's date."""
        settings = get_settings()
        return cls(
            extracted_on=extracted_on or datetime.now(UTC).date(),
            horizon_days=settings.import_date_horizon_days,
            max_line_bytes=settings.import_max_line_bytes,
            known_sites=known_sites,
            new_sites=new_sites,
        )

    def horizon_reason(self, kind: ColumnType) -> str:
        in_utc = " (in UTC)" if kind == ColumnType.timestamp else ""
        return (
            f"is after {self.latest_day.isoformat()}{in_utc}, the latest date accepted: "
            f"{self.horizon_days} days after the extract date {self.extracted_on.isoformat()} "
            "(QMM_IMPORT_DATE_HORIZON_DAYS); a typing error?"
        )


@dataclass(frozen=True)
class Source:
    """One thing to import as one batch: a file, or one sheet of a workbook."""

    path: Path
    record_type: str
    sheet: str | None = None
    type_from: str = "file name"  # what the record type was taken from, to show the user

    @property
    def name(self) -> str:
        """The name recorded in the batch: the file name, and the sheet of a workbook."""
        return f"{self.path.name}#{self.sheet}" if self.sheet else self.path.name

    @property
    def format(self) -> str:
        return FORMATS[self.path.suffix.lower()]


@dataclass(frozen=True)
class ValidatedFile:
    """A file that passed every check, typed and ready to be stored as one batch: its rows
    staged in a Parquet file (an import) or held in memory (validate_file)."""

    source: Source
    profile: str | None
    sha256: str
    rows: int
    staged: Path | None = None  # the typed rows: contract columns, _extra, _row
    table: Any = None  # pyarrow.Table of the same, when held in memory

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def record_type(self) -> str:
        return self.source.record_type


@dataclass
class TextTable:
    """A file read as text: its headers and, per column, an Arrow array of strings."""

    headers: list[str]
    columns: list[Any]
    rows: Any  # int64 Arrow array: each row's number as the user sees it (header = row 1)
    problems: list[RowProblem] = field(default_factory=list)
    trimmed: bool = False  # spreadsheet cells come trimmed already
    header_row: int = 1


class _Progress:
    """Advance an optional progress display through the phases of one file."""

    def __init__(self, progress: ProgressLike | None, name: str) -> None:
        self.progress = progress
        self.name = name
        self.task = progress.add_task(f"{name}: reading", total=100) if progress else None

    def step(self, completed: float, phase: str) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task, completed=completed, description=f"{self.name}: {phase}"
            )


class _Hasher(threading.Thread):
    """SHA-256 of a file, computed beside the reading (hashlib releases the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.digest = ""
        self.error: OSError | None = None

    def run(self) -> None:
        digest = hashlib.sha256()
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            self.error = exc
            return
        self.digest = digest.hexdigest()

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise InvalidInput(f"{self.path}: cannot be read ({self.error.strerror})")
        return self.digest


# -- which files, which record types ----------------------------------------------------------


def _known_types() -> str:
    return ", ".join(sorted(RECORD_TYPES))


def _check_type(name: str, where: str) -> str:
    if name not in RECORD_TYPES:
        raise InvalidInput(f"{where}: unknown record type {name!r}; known: {_known_types()}")
    return name


def _sheet_names(path: Path) -> list[str]:
    with open_workbook(path) as workbook:
        return [str(n) for n in workbook.sheetnames]


def sources_of(path: Path, record_type: str | None = None) -> list[Source]:
    """The batches one file yields: its record type from --type or its name; a workbook may
    hold one sheet per record type."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(
            f"{path}: unsupported format {suffix or '(no extension)'}; "
            f"supported: {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise NotFound(f"{path} does not exist")
    wanted = _check_type(record_type, "--type") if record_type else None
    type_from = "--type" if wanted else "file name"
    from_name = record_type_from_name(path.name)
    if FORMATS[suffix] != "xlsx":
        wanted = wanted or from_name
        if wanted is None:
            raise InvalidInput(
                f"{path}: cannot tell the record type: the name does not start with one; name "
                "the file after its type, then -, _ or . (capa.csv, capa-2025-11.csv) or give "
                f"the type; known: {_known_types()}"
            )
        return [Source(path, wanted, type_from=type_from)]
    sheets = _sheet_names(path)
    by_type = {s.strip().lower(): s for s in sheets if s.strip().lower() in RECORD_TYPES}
    # A workbook named exactly after a type (capa.xlsx) is that type; one merely starting with
    # a type's name (site_extracts.xlsx) is read by its sheets' names when they name types.
    exact = path.name.split(".")[0].strip().lower() == from_name
    if wanted is None and from_name is not None and (exact or not by_type):
        wanted = from_name
    if wanted is not None:
        sheet = by_type.get(wanted, sheets[0] if sheets else None)
        return [Source(path, wanted, sheet, type_from)]
    if not by_type:
        raise InvalidInput(
            f"{path}: cannot tell the record type: neither the file nor a sheet is named after "
            f"one (sheets: {', '.join(sheets)}); known: {_known_types()}"
        )
    return [Source(path, rt, sheet, "sheet name") for rt, sheet in by_type.items()]


def plan_sources(paths: Sequence[Path], record_type: str | None = None) -> list[Source]:
    """Every batch an import of these paths makes; a folder means its supported files."""
    sources: list[Source] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and p.suffix.lower() in FORMATS
                and not p.name.startswith((".", "~$"))
            )
            if not files:
                raise InvalidInput(
                    f"{path}: the folder holds no file to import ({', '.join(FORMATS)})"
                )
            for file in files:
                sources.extend(sources_of(file, record_type))
        elif not path.exists():
            raise NotFound(f"{path} does not exist")
        else:
            sources.extend(sources_of(path, record_type))
    return sources


# -- reading files as text --------------------------------------------------------------------


def _first_bad_utf8_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _not_utf8(path: Path) -> InvalidFile:
    return InvalidFile(
        str(path),
        [
            RowProblem(
                _first_bad_utf8_line(path),
                "",
                "",
                "not UTF-8 text: save the file as CSV UTF-8 (a BOM is fine)",
            )
        ],
    )


def _line_number_at(path: Path, position: int) -> int:
    """The number of the line a byte position falls in."""
    newlines = 0
    with path.open("rb") as handle:
        while position > 0 and (chunk := handle.read(min(1 << 20, position))):
            newlines += chunk.count(b"\n")
            position -= len(chunk)
    return newlines + 1


def _check_line_lengths(path: Path, limit: int) -> None:
    """Refuse a file with a line longer than the limit, naming its number, before a reader
    meets it (Arrow would fail on it with words about block boundaries).

    Each step looks for the last line break within the limit of the current line's start, so
    the file is read once, in chunks, at memory-search speed, whatever its lines' lengths.
    """
    since = 0  # bytes of the current line before this chunk
    offset = 0  # where this chunk starts in the file
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            start, size = 0, len(chunk)
            while True:
                end = start + (limit - since) + 1  # the line break must come before this
                if end > size:
                    last = chunk.rfind(b"\n", start, size)
                    since = since + size - start if last == -1 else size - last - 1
                    break
                last = chunk.rfind(b"\n", start, end)
                if last == -1:
                    line_start = offset + start - since
                    raise _long_line(path, _line_number_at(path, line_start), line_start, limit)
                since, start = 0, last + 1
            offset += size


def _long_line(path: Path, line: int, line_start: int, limit: int) -> InvalidFile:
    with path.open("rb") as handle:
        handle.seek(line_start)
        head = handle.read(200).decode("utf-8", errors="replace")
    return InvalidFile(
        str(path),
        [
            RowProblem(
                line,
                "",
                head,
                f"line {line} is longer than the limit of {limit:,} bytes "
                "(QMM_IMPORT_MAX_LINE_BYTES): the file is not a record per line, or the limit "
                "is too low for it",
            )
        ],
    )


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """The delimiter and the header cells, read from the first line."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if not first.strip():
        raise InvalidFile(
            str(path), [RowProblem(1, "", "", "no header row: the first line is empty")]
        )
    counts = {d: first.count(d) for d in CSV_DELIMITERS}
    delimiter = max(CSV_DELIMITERS, key=lambda d: (counts[d], d == ","))
    if counts[delimiter] == 0:
        delimiter = ","
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    return delimiter, header


class _Renumber(Exception):
    """The streamed CSV had rows with the wrong number of cells: read it again, numbered."""


def _csv_options(
    names: list[str], delimiter: str, max_line_bytes: int, on_invalid: Callable[[Any], str]
) -> tuple[Any, Any, Any]:
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1,
        encoding="utf8",
        # Every line within the limit fits in a block, so only a record spanning several
        # lines can be too long for the reader.
        block_size=max(CSV_BLOCK_BYTES, max_line_bytes + 2),
    )
    parse = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
    )
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    return read, parse, convert


def _csv_refusal(path: Path, exc: Exception, max_line_bytes: int) -> InvalidFile:
    if "utf8" in str(exc).lower():
        return _not_utf8(path)
    if "straddl" in str(exc):
        return InvalidFile(
            str(path),
            [
                RowProblem(
                    1,
                    "",
                    "",
                    "a record spans more than "
                    f"{max(CSV_BLOCK_BYTES, max_line_bytes + 2):,} bytes over several lines (a "
                    "quoted value with line breaks); raise QMM_IMPORT_MAX_LINE_BYTES to read it",
                )
            ],
        )
    return InvalidFile(str(path), [RowProblem(1, "", "", f"not readable as CSV: {exc}")])


def _csv_misshapen_rows(path: Path, delimiter: str, width: int) -> list[RowProblem]:
    """Rows whose number of cells differs from the header's, numbered as the reader counts
    records (a blank line is not one), read in one streamed pass."""
    problems: list[RowProblem] = []
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        records = csv.reader(handle, delimiter=delimiter)
        next(records, None)
        number = 1
        for cells in records:
            if not cells:
                continue
            number += 1
            if len(cells) != width:
                problems.append(
                    RowProblem(
                        number,
                        "",
                        delimiter.join(cells)[:200],
                        f"has {len(cells)} cells where the header has {width}",
                    )
                )
    return problems


def _csv_batches(
    path: Path, max_line_bytes: int, misshapen: list[RowProblem] | None = None
) -> Iterator[TextTable]:
    """The file in record batches of text. Rows with the wrong number of cells are skipped
    and named; the streaming reader does not number them, so on meeting one it raises
    _Renumber, and the caller reads the file again with them numbered (MISSHAPEN)."""
    _check_line_lengths(path, max_line_bytes)
    delimiter, header = _csv_header(path)
    names = [f"c{i}" for i in range(len(header))]
    skipped = {p.row for p in misshapen or []}

    met: list[bool] = []

    def on_invalid(row: Any) -> str:
        met.append(True)
        return "skip"

    first = True
    number = 2  # the next record's number (the header is 1)
    waiting: list[Any] = []  # the reader's small batches, gathered into one of BATCH_ROWS
    numbered: list[Any] = []

    def gathered() -> TextTable:
        nonlocal first
        table = pa.Table.from_batches(waiting, schema=waiting[0].schema)
        text = TextTable(
            headers=[h.strip() for h in header],
            columns=[table.column(i) for i in range(table.num_columns)],
            rows=pa.array(np.concatenate(numbered)),
            problems=list(misshapen or []) if first else [],
        )
        first = False
        waiting.clear()
        numbered.clear()
        return text

    try:
        reader = pacsv.open_csv(path, *_csv_options(names, delimiter, max_line_bytes, on_invalid))
        for batch in reader:
            if met and misshapen is None:
                raise _Renumber
            if skipped:
                numbers = np.empty(batch.num_rows, dtype=np.int64)
                for i in range(batch.num_rows):
                    while number in skipped:
                        number += 1
                    numbers[i] = number
                    number += 1
            else:
                numbers = np.arange(number, number + batch.num_rows, dtype=np.int64)
                number += batch.num_rows
            waiting.append(batch)
            numbered.append(numbers)
            if sum(len(n) for n in numbered) >= BATCH_ROWS:
                yield gathered()
        if met and misshapen is None:
            raise _Renumber
        if waiting:
            yield gathered()
    except pa.ArrowInvalid as exc:
        raise _csv_refusal(path, exc, max_line_bytes) from None
    if first:
        yield TextTable(
            headers=[h.strip() for h in header],
            columns=[pa.array([], pa.string()) for _ in names],
            rows=pa.array([], pa.int64()),
            problems=list(misshapen or []),
        )


def _parquet_batches(path: Path) -> Iterator[TextTable]:
    """The file as text, streamed out of DuckDB in record batches."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            described = con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]
            ).fetchall()
            headers = [str(row[0]) for row in described]
            casts = ", ".join(
                f"CAST({quote_ident(h)} AS VARCHAR) AS c{i}" for i, h in enumerate(headers)
            )
            reader = con.execute(
                f"SELECT {casts} FROM read_parquet({quote_text(str(path))})"
            ).to_arrow_reader(BATCH_ROWS)
            number = 2
            first = True
            for batch in reader:
                yield TextTable(
                    headers=[h.strip() for h in headers],
                    columns=[batch.column(i) for i in range(batch.num_columns)],
                    rows=pa.array(np.arange(number, number + batch.num_rows, dtype=np.int64)),
                )
                number += batch.num_rows
                first = False
        except duckdb.Error as exc:
            raise InvalidFile(
                str(path), [RowProblem(1, "", "", f"not a readable Parquet file ({exc})")]
            ) from None
    if first:
        yield TextTable(
            headers=[h.strip() for h in headers],
            columns=[pa.array([], pa.string()) for _ in headers],
            rows=pa.array([], pa.int64()),
        )


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _jsonl_batches(path: Path, max_line_bytes: int) -> Iterator[TextTable]:
    """One JSON object per line; a line's number is its row, blank lines are skipped. The
    lines are held by DuckDB and come out in record batches."""
    _check_line_lengths(path, max_line_bytes)
    lines = (
        "WITH f AS (SELECT string_split(content, chr(10)) AS lines FROM read_text(?)), "
        "l AS (SELECT generate_subscripts(lines, 1) AS line, "
        "trim(unnest(lines), chr(13) || chr(32) || chr(9) || chr(65279)) AS text FROM f) "
        "SELECT line, text FROM l WHERE text <> ''"
    )
    with duckdb.connect() as con:
        try:
            con.execute(f"CREATE TEMP TABLE lines AS {lines}", [str(path)])
        except duckdb.Error as exc:
            if "UTF" in str(exc) or "utf" in str(exc):
                raise _not_utf8(path) from None
            raise InvalidFile(
                str(path), [RowProblem(1, "", "", f"cannot be read ({exc})")]
            ) from None
        bad = con.execute(
            "SELECT line, left(text, 200) FROM lines "
            "WHERE NOT json_valid(text) OR json_type(text::JSON) <> 'OBJECT' ORDER BY line"
        ).fetchall()
        if bad:
            raise InvalidFile(
                str(path),
                [RowProblem(int(n), "", str(t), "not a JSON object on one line") for n, t in bad],
            )
        keys = [
            str(row[0])
            for row in con.execute(
                "SELECT key FROM (SELECT line, unnest(json_keys(text)) AS key, "
                "generate_subscripts(json_keys(text), 1) AS position FROM lines) "
                "GROUP BY key ORDER BY min(line), min(position)"
            ).fetchall()
        ]
        extracts = ", ".join(
            f"json_extract_string(text, {quote_text(_json_pointer(k))}) AS c{i}"
            for i, k in enumerate(keys)
        )
        select = f"SELECT {extracts + ', ' if extracts else ''}line FROM lines ORDER BY line"
        reader = con.execute(select).to_arrow_reader(BATCH_ROWS)
        first = True
        for batch in reader:
            yield TextTable(
                headers=[k.strip() for k in keys],
                columns=[batch.column(i) for i in range(len(keys))],
                rows=batch.column(batch.num_columns - 1).cast(pa.int64()),
            )
            first = False
    if first:
        yield TextTable(
            headers=[k.strip() for k in keys],
            columns=[pa.array([], pa.string()) for _ in keys],
            rows=pa.array([], pa.int64()),
        )


def _cell_text(value: Any, kind: ColumnType | None) -> str | None:
    """A spreadsheet cell as the text a CSV export of it would hold."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if kind == ColumnType.timestamp:
            return value.isoformat()
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip() or None


def _xlsx_batches(
    path: Path,
    sheet: str | None,
    kinds: Callable[[list[str]], list[ColumnType | None]],
    batch_rows: int = BATCH_ROWS,
) -> Iterator[TextTable]:
    """One sheet, read whole, in batches of rows; its row numbers are the sheet's own, and
    empty rows are skipped."""
    limits = WorkbookLimits.from_settings()
    with open_workbook(path, data_only=True) as workbook:
        worksheet = worksheet_of(path, workbook, sheet)
        header: list[str] = []
        header_row = 0
        values: list[list[str | None]] = []
        rows: list[int] = []
        total = 0  # rows read before this batch
        column_kinds: list[ColumnType | None] = []
        yielded = False
        for number, cells in sheet_rows(path, worksheet):
            if not header:
                if any(c is not None and str(c).strip() for c in cells):
                    header = ["" if c is None else str(c).strip() for c in cells]
                    header_row = number
                    column_kinds = kinds(header)
                    values = [[] for _ in header]
                continue
            texts = [
                _cell_text(c, column_kinds[i] if i < len(column_kinds) else None)
                for i, c in enumerate(cells)
            ]
            if not any(texts):
                continue
            if len(texts) > len(header):
                check_cells(path, worksheet.title, len(texts) * (total + len(rows) + 1), limits)
                for _ in range(len(header), len(texts)):
                    header.append("")
                    column_kinds.append(None)
                    values.append([None] * len(rows))
            texts.extend([None] * (len(header) - len(texts)))
            for column, text in zip(values, texts, strict=True):
                column.append(text)
            rows.append(number)
            check_cells(path, worksheet.title, len(header) * (total + len(rows)), limits)
            if len(rows) >= batch_rows:
                yield _xlsx_batch(header, values, rows, header_row)
                yielded = True
                total += len(rows)
                values = [[] for _ in header]
                rows = []
    if not header:
        raise InvalidFile(str(path), [RowProblem(1, "", "", "the sheet is empty: no header row")])
    if rows or not yielded:
        yield _xlsx_batch(header, values, rows, header_row)


def _xlsx_batch(
    header: list[str], values: list[list[str | None]], rows: list[int], header_row: int
) -> TextTable:
    return TextTable(
        headers=list(header),
        columns=[pa.array(v, pa.string()) for v in values],
        rows=pa.array(rows, pa.int64()),
        trimmed=True,
        header_row=header_row,
    )


# -- mapping and validating -------------------------------------------------------------------


@dataclass
class _Plan:
    """Which source column feeds which contract column, and which are kept as extras."""

    contract: dict[str, int]  # contract column -> source column index
    extras: list[tuple[str, int]]  # extra column name -> source column index
    problems: list[RowProblem]


def _map_headers(
    headers: list[str], rt: RecordType, mapping: TypeMapping, header_row: int = 1
) -> _Plan:
    names = {c.name for c in rt.columns}
    contract: dict[str, int] = {}
    extras: list[tuple[str, int]] = []
    problems: list[RowProblem] = []
    for index, header in enumerate(headers):
        target = mapping.target(header) if header else None
        if target is None and fold(header) in names:
            target = fold(header)
        if target is None:
            extras.append((header or f"column {index + 1}", index))
            continue
        if target in contract:
            first = headers[contract[target]]
            problems.append(
                RowProblem(
                    header_row,
                    target,
                    header,
                    f"column {target} is given twice (by headers {first!r} and {header!r})",
                )
            )
            continue
        contract[target] = index
    for column in rt.columns:
        if column.required and column.name not in contract:
            problems.append(RowProblem(header_row, column.name, "", "required column is missing"))
    return _Plan(contract, extras, problems)


def _kinds_for(
    rt: RecordType, mapping: TypeMapping
) -> Callable[[list[str]], list[ColumnType | None]]:
    def kinds(headers: list[str]) -> list[ColumnType | None]:
        plan = _map_headers(headers, rt, mapping)
        by_index = {index: rt.column(name).type for name, index in plan.contract.items()}
        return [by_index.get(i) for i in range(len(headers))]

    return kinds


def _text_expr(column: Column, index: int, mapping: TypeMapping) -> str:
    """The column's text after the profile: empty as null, values mapped, dates reformatted."""
    expr = f"nullif(c{index}, '')"
    value_map = mapping.values.get(column.name)
    if value_map:
        cases = " ".join(
            f"WHEN {quote_text(fold(vendor))} THEN "
            f"{quote_text(target) if target is not None else 'NULL'}"
            for vendor, target in value_map.items()
        )
        expr = f"(CASE lower({expr}) {cases} ELSE {expr} END)"
    formats = mapping.date_formats.get(column.name)
    if formats:
        parsed: list[str] = []
        patterns = [f for f in formats if f != TIMESTAMP_DATE]
        if patterns:
            listing = "[" + ", ".join(quote_text(f) for f in patterns) + "]"
            parsed_value = f"try_strptime({expr}, {listing})"
            if column.type == ColumnType.date:
                parsed_value = f"CAST({parsed_value} AS DATE)"
            parsed.append(f"CAST({parsed_value} AS VARCHAR)")
        if TIMESTAMP_DATE in formats:
            parsed.append(f"CAST(CAST(try_cast({expr} AS TIMESTAMPTZ) AS DATE) AS VARCHAR)")
        expr = f"coalesce({', '.join(parsed)}, {expr})"
    return expr


def _typed_expr(column: Column, text: str) -> str:
    """The stored value of a column's text; null where the text does not parse."""
    kind = column.type
    if kind == ColumnType.date:
        return f"try_cast({text} AS DATE)"
    if kind == ColumnType.timestamp:
        # DuckDB wants seconds before an offset; ISO 8601 lets them be left out.
        with_seconds = f"regexp_replace({text}, {quote_text(MINUTES_ONLY)}, '\\1:00\\2')"
        return f"coalesce(try_cast({text} AS TIMESTAMPTZ), try_cast({with_seconds} AS TIMESTAMPTZ))"
    if kind == ColumnType.number:
        return f"try_cast({text} AS DOUBLE)"
    if kind == ColumnType.integer:
        number = f"try_cast({text} AS DOUBLE)"
        return (
            f"(CASE WHEN {number} = floor({number}) AND abs({number}) < {SAFE_INTEGER} "
            f"THEN CAST({number} AS BIGINT) END)"
        )
    if kind == ColumnType.boolean:
        return (
            f"(CASE lower({text}) WHEN 'true' THEN true WHEN 'yes' THEN true WHEN '1' THEN true "
            f"WHEN 'false' THEN false WHEN 'no' THEN false WHEN '0' THEN false END)"
        )
    if kind == ColumnType.month:
        return (
            f"(CASE WHEN {text} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]' "
            f"AND substr({text}, 6, 2) BETWEEN '01' AND '12' THEN {text} END)"
        )
    return text


def _bad_value(column: Column, text: str, typed: str) -> str | None:
    """SQL true where a present value is unacceptable for its column."""
    kind = column.type
    checks: list[str] = []
    if kind == ColumnType.date:
        checks.append(f"{typed} IS NULL OR NOT ({text} GLOB '{DATE_GLOB}')")
    elif kind == ColumnType.timestamp:
        pattern = quote_text(TIMESTAMP_PATTERN)
        checks.append(f"{typed} IS NULL OR NOT regexp_full_match({text}, {pattern})")
    elif kind == ColumnType.number:
        checks.append(f"{typed} IS NULL OR NOT isfinite({typed}) OR contains({text}, '_')")
    elif kind == ColumnType.integer:
        checks.append(f"{typed} IS NULL OR contains({text}, '_')")
    elif kind in (ColumnType.boolean, ColumnType.month):
        checks.append(f"{typed} IS NULL")
    if not checks:
        return None
    return f"({text} IS NOT NULL AND ({' OR '.join(checks)}))"


def _is_id(rt: RecordType, column: Column) -> bool:
    """Ids and key columns: what a record is found and joined by, so nothing invisible in it."""
    return column.type == ColumnType.string and (
        column.name in rt.key or column.name.endswith("_id")
    )


def _value_rules(
    column: Column, text: str, typed: str, checks: ValueChecks, is_id: bool
) -> str | None:
    """SQL: why a present value of the right form is still refused, or null when it is not.

    The fast path keeps the same rules in _fast_rules_broken.
    """
    kind = column.type
    cases: list[tuple[str, str]] = []
    if kind == ColumnType.timestamp:
        pattern = quote_text(OFFSET_PATTERN)
        hours = f"try_cast(regexp_extract({text}, {pattern}, 1) AS INTEGER)"
        minutes = f"coalesce(try_cast(regexp_extract({text}, {pattern}, 2) AS INTEGER), 0)"
        offset = f"regexp_extract({text}, {pattern})"
        cases.append(
            (
                f"{hours} * 60 + {minutes} > {MAX_OFFSET_MINUTES} OR {minutes} > 59",
                f"'the offset ' || {offset} || ' is outside ±14:00 (hours up to 14, minutes up "
                "to 59): no time zone is that far from UTC, and the time is not shifted by it'",
            )
        )
        cases.append((f"{typed} < TIMESTAMPTZ '0001-01-01 00:00:00+00'", quote_text(YEAR_ZERO)))
        day_after = (checks.latest_day + timedelta(days=1)).isoformat()
        cases.append(
            (
                f"{typed} >= TIMESTAMPTZ '{day_after} 00:00:00+00'",
                quote_text(checks.horizon_reason(kind)),
            )
        )
    elif kind == ColumnType.date:
        cases.append((f"{typed} < DATE '0001-01-01'", quote_text(YEAR_ZERO)))
        cases.append(
            (
                f"{typed} > DATE '{checks.latest_day.isoformat()}'",
                quote_text(checks.horizon_reason(kind)),
            )
        )
    elif is_id:
        pattern = quote_text(CONTROL_PATTERN)
        char = f"printf('U+%04X', unicode(regexp_extract({text}, {pattern})))"
        cases.append(
            (
                f"regexp_matches({text}, {pattern})",
                f"'holds the control character ' || {char} || ': ids and keys must be plain "
                "text (an invisible character would make a second record)'",
            )
        )
    if not cases:
        return None
    whens = " ".join(f"WHEN {condition} THEN {reason}" for condition, reason in cases)
    return f"(CASE WHEN {text} IS NULL THEN NULL {whens} END)"


def _site_refusals(values: Any, checks: ValueChecks) -> Any | None:
    """The site codes of a file the import refuses, each with its reason, as an Arrow table
    (value, reason); None when every code is accepted or sites are not checked."""
    if values is None:
        return None
    if checks.only_site is not None:
        others = [
            v for v in pc.unique(values).to_pylist() if v is not None and v != checks.only_site
        ]
        if not others:
            return None
        why = f"belongs to another site; this page imports records of {checks.only_site} only"
        return pa.table(
            {
                "value": pa.array([str(v) for v in others], pa.string()),
                "reason": pa.array([why] * len(others), pa.string()),
            }
        )
    if checks.known_sites is None:
        return None
    known = checks.known_sites
    distinct = pc.unique(values)
    listed = pc.is_in(distinct, value_set=pa.array(sorted(known), pa.string()))
    unknown = distinct.filter(pc.invert(pc.fill_null(listed, True))).to_pylist()
    refused = {
        str(v): reason
        for v in unknown
        if (reason := site_code_refusal(str(v), known, create=checks.new_sites)) is not None
    }
    if not refused:
        return None
    return pa.table(
        {
            "value": pa.array(list(refused), pa.string()),
            "reason": pa.array(list(refused.values()), pa.string()),
        }
    )


def _not_allowed(column: Column, text: str) -> str | None:
    if not column.allowed:
        return None
    enum = "ENUM(" + ", ".join(quote_text(v) for v in column.allowed) + ")"
    return f"({text} IS NOT NULL AND try_cast({text} AS {enum}) IS NULL)"


def _all_in(values: Any, allowed: Sequence[str]) -> bool:
    """Is every present value one of the allowed ones?"""
    found = pc.index_in(values, value_set=pa.array(allowed, pa.string()))
    return bool(found.null_count == values.null_count)


def _fast_column(column: Column, text: Any) -> Any | None:
    """A column's values by Arrow's strict parsers, or None when any value needs the full rules.

    Arrow accepts a subset of what the rules accept, with the same values, so a column that
    passes here is valid; one that does not goes to the SQL rules, which name each bad row.
    """
    kind = column.type
    if column.required and text.null_count:
        return None
    if column.allowed and not _all_in(text, column.allowed):
        return None
    try:
        if kind == ColumnType.date:
            return pc.cast(text, pa.date32())
        if kind == ColumnType.timestamp:
            try:
                return pc.cast(text, pa.timestamp("us", tz="UTC"))
            except pa.ArrowInvalid:
                # No offset anywhere in the column: the times are UTC.
                return pc.cast(pc.cast(text, pa.timestamp("us")), pa.timestamp("us", tz="UTC"))
        if kind in (ColumnType.number, ColumnType.integer):
            numbers = pc.cast(text, pa.float64())
            if pc.any(pc.invert(pc.is_finite(numbers))).as_py():
                return None
            if kind == ColumnType.number:
                return numbers
            whole = pc.and_(
                pc.equal(pc.floor(numbers), numbers), pc.less(pc.abs(numbers), SAFE_INTEGER)
            )
            if pc.any(pc.invert(whole)).as_py():
                return None
            return pc.cast(numbers, pa.int64())
        if kind == ColumnType.boolean:
            lowered = pc.utf8_lower(text)
            if not _all_in(lowered, (*BOOLEAN_TRUE, *BOOLEAN_FALSE)):
                return None
            return pc.if_else(
                pc.is_null(lowered), None, pc.is_in(lowered, value_set=pa.array(BOOLEAN_TRUE))
            )
        if kind == ColumnType.month:
            if pc.any(pc.invert(pc.match_substring_regex(text, MONTH_PATTERN))).as_py():
                return None
            return text
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return text


def _string_buffers(values: Any) -> Any:
    """Per chunk of a string column, its value offsets and its bytes, without copying them."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.string())
        _, offsets, data = chunk.buffers()[:3]
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        starts = np.frombuffer(offsets, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        yield starts, (np.frombuffer(data, dtype=np.uint8) if data is not None else None)


def _may_hold_control_characters(values: Any) -> bool:
    """Whether any value may hold a character CONTROL_PATTERN names, from its UTF-8 bytes: a
    C0 control or DEL byte, C2 80-9F (C1), or E2 80 A8/A9 (the line and paragraph separators).

    Two reductions settle plain ASCII text, the usual ids; other text is looked at closely.
    """
    step = 8 << 20
    for starts, data in _string_buffers(values):
        if data is None:
            continue
        body = data[int(starts[0]) : int(starts[-1])]
        for begin in range(0, len(body), step):
            part = body[begin : begin + step + 2]
            if not len(part):
                continue
            if part.min() < 0x20:
                return True
            if part.max() < 0x7F:
                continue
            lead, follow = part[:-1], part[1:]
            if np.any(part == 0x7F) or np.any((lead == 0xC2) & (follow >= 0x80) & (follow <= 0x9F)):
                return True
            if np.any((part[:-2] == 0xE2) & (part[1:-1] == 0x80) & ((part[2:] | 1) == 0xA9)):
                return True
    return False


def _two_digits(data: Any, at: Any) -> Any:
    """The numbers written by the two bytes at each position (garbage where they are not
    digits, which only sends a column to the SQL rules)."""
    return (data[at].astype(np.int16) - 48) * 10 + data[at + 1].astype(np.int16) - 48


def _may_hold_far_offsets(values: Any) -> bool:
    """Whether any timestamp Arrow parsed may end in an offset past 14:00 (Arrow takes up to
    23:59): those go to the SQL rules, which decide and name them."""
    for starts, data in _string_buffers(values):
        if data is None:
            continue
        ends = starts[1:][(starts[1:] - starts[:-1]) >= 6].astype(np.int64)
        # The sign's distance from the end: ±HH:MM, ±HHMM, ±HH.
        for sign_at, with_minutes in ((6, True), (5, True), (3, False)):
            marks = data[ends - sign_at]
            signed = ends[(marks == ord("+")) | (marks == ord("-"))]
            if not len(signed):
                continue
            minutes = _two_digits(data, signed - 2) if with_minutes else 0
            hours = _two_digits(data, signed - sign_at + 1)
            far = hours * 60 + minutes > MAX_OFFSET_MINUTES
            if np.any(far) or (with_minutes and np.any(minutes >= 60)):
                return True
    return False


def _outside(typed: Any, first: Any, after: Any) -> bool:
    """Whether any value is before `first` or at or after `after` (scalars of its type)."""
    bounds = pc.min_max(typed)
    low, high = bounds["min"], bounds["max"]
    if not low.is_valid:
        return False
    return bool(low.value < first.value or high.value >= after.value)


def _fast_rules_broken(
    column: Column, text: Any, typed: Any, checks: ValueChecks, is_id: bool
) -> bool:
    """Whether a column may break a rule of _value_rules; if so the SQL rules decide."""
    kind = column.type
    if kind == ColumnType.date:
        first = pa.scalar(FIRST_DAY, pa.date32())
        after = pa.scalar(checks.latest_day + timedelta(days=1), pa.date32())
        return _outside(typed, first, after)
    if kind == ColumnType.timestamp:
        instant = pa.timestamp("us", tz="UTC")
        first = pa.scalar(datetime(1, 1, 1, tzinfo=UTC), instant)
        day_after = datetime.combine(checks.latest_day + timedelta(days=1), time(), tzinfo=UTC)
        after = pa.scalar(day_after, instant)
        return _outside(typed, first, after) or _may_hold_far_offsets(text)
    if is_id:
        return _may_hold_control_characters(text)
    return False


def _fast_types(
    texts: dict[str, Any], rt: RecordType, checks: ValueChecks
) -> dict[str, Any] | None:
    """Every column typed by the fast parsers and every rule and date order kept, or None."""
    typed: dict[str, Any] = {}
    for name, text in texts.items():
        column = rt.column(name)
        values = _fast_column(column, text)
        if values is None or _fast_rules_broken(column, text, values, checks, _is_id(rt, column)):
            return None
        typed[name] = values
    for earlier, later in rt.date_order:
        both = earlier in typed and later in typed
        if both and pc.any(pc.less(typed[later], typed[earlier])).as_py():
            return None
    return typed


class _Query:
    """The SQL rules for one file: the reference for what is valid, and what names each problem.

    It reads a table `texts` holding each contract column's text after the profile and _row;
    `checked` adds per column its parsed value (t) and whether the value breaks its type's
    rule (b), so that each rule below is a cheap scan.
    """

    def __init__(
        self, rt: RecordType, plan: _Plan, checks: ValueChecks, site_refusals: bool = False
    ) -> None:
        self.rt = rt
        self.plan = plan
        self.checks = checks
        self.site_refusals = site_refusals  # a table site_refusals(value, reason) is registered
        order = [c.name for c in rt.columns]
        self.columns = sorted(plan.contract, key=order.index)
        self.position = {name: i for i, name in enumerate(self.columns)}
        # Columns with a w<i> flag: why a value of the right form is still refused.
        self.ruled = {
            name
            for name in self.columns
            if _value_rules(rt.column(name), "m", "t", checks, _is_id(rt, rt.column(name)))
        }

    def text(self, name: str) -> str:
        return f"m{self.position[name]}"

    def parsed(self, name: str) -> str:
        return f"t{self.position[name]}"

    def broken(self, name: str) -> str:
        return f"b{self.position[name]}"

    def why(self, name: str) -> str:
        return f"w{self.position[name]}"

    def valid(self, name: str) -> str:
        """The column's value where its text is valid, else null."""
        broken = self.broken(name)
        if name in self.ruled:
            broken = f"{broken} OR {self.why(name)} IS NOT NULL"
        return f"(CASE WHEN {broken} THEN NULL ELSE {self.parsed(name)} END)"

    def checked(self) -> str:
        """Parse each column once, then flag the values that break their rule."""
        parsed = [ROW]
        flags = ["*"]
        for name in self.columns:
            column = self.rt.column(name)
            text = self.text(name)
            parsed.extend([text, f"{_typed_expr(column, text)} AS {self.parsed(name)}"])
            bad = f"coalesce({_bad_value(column, text, self.parsed(name)) or 'false'}, false)"
            flags.append(f"{bad} AS {self.broken(name)}")
            why = _value_rules(
                column, text, self.parsed(name), self.checks, _is_id(self.rt, column)
            )
            if why is not None:
                flags.append(f"(CASE WHEN {bad} THEN NULL ELSE {why} END) AS {self.why(name)}")
        return f"SELECT {', '.join(flags)} FROM (SELECT {', '.join(parsed)} FROM texts)"

    def output_columns(self) -> str:
        parts = []
        for column in self.rt.columns:
            name = quote_ident(column.name)
            if column.name in self.position:
                parts.append(f"{self.valid(column.name)} AS {name}")
            else:
                parts.append(f"CAST(NULL AS {SQL_TYPES[column.type]}) AS {name}")
        parts.append(ROW)
        return ", ".join(parts)

    def problems(self) -> str:
        """Every failing rule of every row, with the value and the reason."""
        selects: list[str] = []

        def rule(order: int, name: str, condition: str, reason: str) -> None:
            selects.append(
                f"SELECT {ROW}, {order} AS ord, {quote_text(name)} AS col, "
                f"coalesce({self.text(name)}, '') AS value, {reason} AS reason "
                f"FROM checked WHERE {condition}"
            )

        for name in self.columns:
            column = self.rt.column(name)
            order = self.position[name] * 10
            if column.required:
                rule(order, name, f"{self.text(name)} IS NULL", quote_text(REASONS["required"]))
            if column.type in REASONS:
                rule(order + 1, name, self.broken(name), quote_text(REASONS[column.type]))
            allowed = _not_allowed(column, self.text(name))
            if allowed:
                reason = quote_text(f"not one of: {', '.join(column.allowed)}")
                rule(order + 2, name, allowed, reason)
            if name in self.ruled:
                rule(order + 3, name, f"{self.why(name)} IS NOT NULL", self.why(name))
        if self.site_refusals and "site" in self.position:
            text = self.text("site")
            selects.append(
                f"SELECT {ROW}, {self.position['site'] * 10 + 4} AS ord, 'site' AS col, "
                f"{text} AS value, r.reason AS reason "
                f"FROM checked JOIN site_refusals r ON {text} = r.value"
                + (f" WHERE {self.why('site')} IS NULL" if "site" in self.ruled else "")
            )
        for earlier, later in self.rt.date_order:
            if earlier in self.position and later in self.position:
                reason = f"{quote_text(f'is before {earlier} ')} || {self.text(earlier)}"
                condition = f"{self.valid(later)} < {self.valid(earlier)}"
                rule(self.position[later] * 10 + 5, later, condition, reason)
        if not selects:
            return (
                f"SELECT NULL::BIGINT AS {ROW}, 0 AS ord, '' AS col, '' AS value, "
                "'' AS reason WHERE false"
            )
        return " UNION ALL ".join(selects)


def _without_blank_columns(text: TextTable) -> TextTable:
    """Drop columns with neither a header nor a value (a trailing delimiter, unused cells)."""
    keep = [
        i
        for i, (header, column) in enumerate(zip(text.headers, text.columns, strict=True))
        if header or column.null_count < len(column)
    ]
    if len(keep) == len(text.headers):
        return text
    return replace(
        text, headers=[text.headers[i] for i in keep], columns=[text.columns[i] for i in keep]
    )


def _raw_relation(text: TextTable, plan: _Plan) -> Any:
    """The Arrow table DuckDB scans: one text column per source column, plus _row.

    It takes the columns over from the text table, so untrimmed copies are freed as it goes.
    """
    arrays = {}
    contract_indexes = set(plan.contract.values())
    for index in range(len(text.columns)):
        column = text.columns[index]
        if index in contract_indexes and not text.trimmed:
            column = pc.ascii_trim_whitespace(column)
            text.columns[index] = None
        arrays[f"c{index}"] = column
    arrays[ROW] = text.rows
    text.columns = []
    return pa.table(arrays)


def _empty_as_null(values: Any) -> Any:
    empty = pc.equal(values, "")
    if not pc.any(empty).as_py():
        return values
    return pc.if_else(empty, pa.scalar(None, pa.string()), values)


def _mapped_texts(
    con: duckdb.DuckDBPyConnection, raw: Any, plan: _Plan, rt: RecordType, mapping: TypeMapping
) -> dict[str, Any]:
    """Each contract column's text after the profile's value maps and date formats."""
    texts: dict[str, Any] = {}
    mapped = [n for n in plan.contract if n in mapping.values or n in mapping.date_formats]
    if mapped:
        exprs = ", ".join(
            f"{_text_expr(rt.column(n), plan.contract[n], mapping)} AS {quote_ident(n)}"
            for n in mapped
        )
        table = con.execute(f"SELECT {exprs} FROM raw").to_arrow_table()
        texts.update({n: table.column(n) for n in mapped})
    for name, index in plan.contract.items():
        if name not in texts:
            texts[name] = _empty_as_null(raw.column(f"c{index}"))
    return texts


def _extra_json(con: duckdb.DuckDBPyConnection, raw: Any, plan: _Plan) -> Any:
    """The columns outside the contract as one JSON object per row (null when all empty)."""
    if not plan.extras:
        return pa.nulls(raw.num_rows, pa.string())
    pairs = ", ".join(f"{quote_text(name)}, c{index}" for name, index in plan.extras)
    empty = " AND ".join(f"c{index} IS NULL" for _, index in plan.extras)
    table = con.execute(
        f"SELECT CASE WHEN {empty} THEN NULL ELSE CAST(json_object({pairs}) AS VARCHAR) END "
        "AS extra FROM raw"
    ).to_arrow_table()
    return table.column("extra")


def _may_have_duplicate_keys(con: duckdb.DuckDBPyConnection, typed: Any, rt: RecordType) -> bool:
    """False when every (present) key is distinct, proven by distinct 64-bit hashes; a hash
    collision only sends the file to the exact check."""
    con.register("keys", typed.select(list(rt.key)))
    keys = ", ".join(quote_ident(k) for k in rt.key)
    present = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in rt.key)
    counted = con.execute(
        f"SELECT count(*), count(DISTINCT hash({keys})) FROM keys WHERE {present}"
    ).fetchone()
    con.unregister("keys")
    return counted is None or counted[0] != counted[1]


def _duplicate_problems(
    con: duckdb.DuckDBPyConnection, rt: RecordType, limit: int
) -> tuple[list[RowProblem], int]:
    """Rows whose key repeats an earlier row's key, naming that row."""
    keys = ", ".join(quote_ident(k) for k in rt.key)
    not_null = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in rt.key)
    con.execute(
        f"CREATE TEMP TABLE dups AS SELECT {keys}, {ROW}, "
        f"min({ROW}) OVER (PARTITION BY {keys}) AS first_row FROM typed "
        f"WHERE {not_null} QUALIFY count(*) OVER (PARTITION BY {keys}) > 1"
    )
    counted = con.execute(f"SELECT count(*) FROM dups WHERE {ROW} > first_row").fetchone()
    total = int(counted[0]) if counted else 0
    label = ", ".join(rt.key)
    found = con.execute(
        f"SELECT {ROW}, first_row, {keys} FROM dups WHERE {ROW} > first_row "
        f"ORDER BY {ROW} LIMIT {int(limit)}"
    ).fetchall()
    problems = [
        RowProblem(
            int(row[0]),
            label,
            " / ".join(str(v) for v in row[2:]),
            f"duplicate key: row {int(row[1])} has the same ({label})",
        )
        for row in found
    ]
    return problems, total


def _assemble(rt: RecordType, columns: dict[str, Any], extra: Any, rows: Any) -> Any:
    """The typed table in the store's column order; absent optional columns are null."""
    arrays = []
    fields = []
    for column in rt.columns:
        kind = ARROW_TYPES[column.type]
        values = columns.get(column.name)
        arrays.append(values if values is not None else pa.nulls(len(rows), kind))
        fields.append(pa.field(column.name, kind))
    arrays.extend([extra, rows])
    fields.extend([pa.field(EXTRA, pa.string()), pa.field(ROW, pa.int64())])
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


@dataclass
class _BatchCheck:
    """One record batch checked: its typed rows (null where a value is invalid) and problems."""

    typed: Any
    problems: list[RowProblem]
    total: int  # problems found, of which at most MAX_PROBLEMS are listed


def _check_text(
    text: TextTable,
    rt: RecordType,
    mapping: TypeMapping,
    checks: ValueChecks,
    *,
    first: bool,
) -> _BatchCheck:
    """Map, type and check every row of one batch; duplicate keys are the caller's to find,
    across batches. The header's problems are reported with the FIRST batch only.

    Valid batches take the fast path (Arrow's parsers over whole columns); one that fails it
    goes through the SQL rules, which either name every problem or, for unusual but valid
    forms (a timestamp without seconds), type the columns themselves.
    """
    text = _without_blank_columns(text)
    plan = _map_headers(text.headers, rt, mapping, text.header_row)
    raw = _raw_relation(text, plan)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("raw", raw)
        texts = _mapped_texts(con, raw, plan, rt, mapping)
        extra = _extra_json(con, raw, plan)
        header_problems = [*text.problems, *(plan.problems if first else [])]
        refusals = _site_refusals(texts.get("site"), checks)
        if not header_problems and not plan.problems and refusals is None:
            fast = _fast_types(texts, rt, checks)
            if fast is not None:
                return _BatchCheck(_assemble(rt, fast, extra, raw.column(ROW)), [], 0)
        query = _Query(rt, plan, checks, site_refusals=refusals is not None)
        if refusals is not None:
            con.register("site_refusals", refusals)
        arrays = {query.text(name): values for name, values in texts.items()}
        arrays[ROW] = raw.column(ROW)
        con.register("texts", pa.table(arrays))
        # Into Arrow rather than a DuckDB table: materialising text in DuckDB costs more.
        con.register("checked", con.execute(query.checked()).to_arrow_table())
        con.execute(f"CREATE TEMP TABLE problems AS {query.problems()}")
        counted = con.execute("SELECT count(*) FROM problems").fetchone()
        cell_total = int(counted[0]) if counted else 0
        cell_problems = [
            RowProblem(int(r[0]), str(r[1]), str(r[2]), str(r[3]))
            for r in con.execute(
                f"SELECT {ROW}, col, value, reason FROM problems ORDER BY {ROW}, ord "
                f"LIMIT {MAX_PROBLEMS}"
            ).fetchall()
        ]
        result = con.execute(
            f"SELECT {query.output_columns()} FROM checked ORDER BY {ROW}"
        ).to_arrow_table()
    typed = _assemble(rt, {n: result.column(n) for n in plan.contract}, extra, result.column(ROW))
    return _BatchCheck(typed, [*header_problems, *cell_problems], len(header_problems) + cell_total)


class _KeyLedger:
    """The 64-bit hashes of every key of a file, eight bytes a row, to find a key repeated
    in another batch without holding the rows."""

    def __init__(self, rt: RecordType) -> None:
        self.rt = rt
        self.parts: list[Any] = []

    def add(self, typed: Any) -> None:
        keys = ", ".join(quote_ident(k) for k in self.rt.key)
        present = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in self.rt.key)
        with duckdb.connect() as con:
            con.register("batch", typed.select(list(self.rt.key)))
            found = con.execute(f"SELECT hash({keys}) AS h FROM batch WHERE {present}").fetchnumpy()
        self.parts.append(np.asarray(found["h"], dtype=np.uint64))

    def may_repeat(self) -> bool:
        """False when every present key is distinct, proven by distinct hashes; a collision
        only sends the file to the exact check."""
        if not self.parts:
            return False
        hashes = np.concatenate(self.parts)
        self.parts = []
        hashes.sort()
        return bool(np.any(hashes[1:] == hashes[:-1]))


def _staged_duplicates(staged: Path, rt: RecordType, scratch: Path) -> tuple[list[RowProblem], int]:
    """Rows of the staged file whose key repeats an earlier row's, by DuckDB, which spills to
    SCRATCH rather than hold the file."""
    with duckdb.connect() as con:
        con.execute(f"SET temp_directory = {quote_text(str(scratch))}")
        con.execute(f"SET memory_limit = '{DUPLICATE_CHECK_MEMORY}'")
        con.execute(f"CREATE VIEW typed AS SELECT * FROM read_parquet({quote_text(str(staged))})")
        return _duplicate_problems(con, rt, MAX_PROBLEMS)


def _batches(
    source: Source,
    rt: RecordType,
    mapping: TypeMapping,
    checks: ValueChecks,
    misshapen: list[RowProblem] | None,
) -> Iterator[TextTable]:
    kind = source.format
    if kind == "csv":
        return _csv_batches(source.path, checks.max_line_bytes, misshapen)
    if kind == "parquet":
        return _parquet_batches(source.path)
    if kind == "jsonl":
        return _jsonl_batches(source.path, checks.max_line_bytes)
    return _xlsx_batches(source.path, source.sheet, _kinds_for(rt, mapping))


def validate_source(
    source: Source,
    *,
    profile: Profile | None = None,
    progress: ProgressLike | None = None,
    extracted_on: date | None = None,
    only_site: str | None = None,
) -> ValidatedFile:
    """Read, map and check one source; raise InvalidFile naming every invalid row (and, with
    ONLY_SITE, every row of another site, in the same list). The checked rows are returned in
    memory (for a small file, as an upload is)."""
    checks = replace(ValueChecks.from_settings(extracted_on=extracted_on), only_site=only_site)
    with tempfile.TemporaryDirectory(prefix="qmm-import-") as scratch:
        staged = _validate(source, profile, _Progress(progress, source.name), checks, Path(scratch))
        return replace(staged, table=pq.read_table(staged.staged), staged=None)


def _validate(
    source: Source, profile: Profile | None, steps: _Progress, checks: ValueChecks, scratch: Path
) -> ValidatedFile:
    """Check SOURCE batch by batch, writing the typed rows to a Parquet file in SCRATCH; the
    file stands only when every row of every batch passed. Every problem of the file is
    listed at once, duplicate keys across batches included."""
    rt = RECORD_TYPES[source.record_type]
    mapping = profile.mapping(rt.name) if profile else TypeMapping()
    hasher = _Hasher(source.path)
    hasher.start()
    try:
        try:
            staged = _stage(source, rt, mapping, checks, steps, scratch, None)
        except _Renumber:
            delimiter, header = _csv_header(source.path)
            misshapen = _csv_misshapen_rows(source.path, delimiter, len(header))
            staged = _stage(source, rt, mapping, checks, steps, scratch, misshapen)
    finally:
        hasher.join()
    digest = hasher.result()
    steps.step(80, "validated")
    return ValidatedFile(
        source=source,
        profile=profile.name if profile else None,
        sha256=digest,
        rows=staged[1],
        staged=staged[0],
    )


def _stage(
    source: Source,
    rt: RecordType,
    mapping: TypeMapping,
    checks: ValueChecks,
    steps: _Progress,
    scratch: Path,
    misshapen: list[RowProblem] | None,
) -> tuple[Path, int]:
    """The staged Parquet file of SOURCE's typed rows and their count, or InvalidImport."""
    scratch.mkdir(parents=True, exist_ok=True)
    staged = scratch / f"staged-{uuid.uuid4().hex}.parquet"
    problems: list[RowProblem] = []
    total = 0
    rows = 0
    ledger = _KeyLedger(rt)
    writer = pq.ParquetWriter(staged, arrow_schema(rt, with_batch=False), compression="snappy")
    try:
        try:
            for number, text in enumerate(_batches(source, rt, mapping, checks, misshapen)):
                checked = _check_text(text, rt, mapping, checks, first=number == 0)
                del text
                total += checked.total
                if len(problems) < MAX_PROBLEMS:
                    problems.extend(checked.problems[: MAX_PROBLEMS - len(problems)])
                ledger.add(checked.typed)
                writer.write_table(checked.typed)
                rows += checked.typed.num_rows
                del checked
                steps.step(min(65.0, 5.0 + number), f"checking ({rows:,} rows)")
        finally:
            writer.close()
        steps.step(70, "checking keys")
        if ledger.may_repeat():
            duplicates, repeated = _staged_duplicates(staged, rt, scratch)
            total += repeated
            problems.extend(duplicates)
        if total:
            listed = sorted(problems, key=lambda p: p.row)[:MAX_PROBLEMS]
            raise InvalidImport(str(source.path), listed, total)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged, rows


def validate_file(
    path: Path,
    *,
    record_type: str | None = None,
    profile: Profile | None = None,
    sheet: str | None = None,
    progress: ProgressLike | None = None,
    shown_as: str | None = None,
    extracted_on: date | None = None,
    only_site: str | None = None,
) -> ValidatedFile:
    """Check one file (or one sheet of a workbook) without storing anything.

    `shown_as` names the file in a refusal of the whole file, as an upload's own name rather
    than the temporary path it was saved under. Dates past the horizon after `extracted_on`
    (else today) are refused; with `only_site`, so are rows of any other site.
    """
    path = Path(path)
    try:
        return _validate_file(path, record_type, profile, sheet, progress, extracted_on, only_site)
    except RefusedWorkbook as exc:
        if shown_as is None:
            raise
        raise RefusedWorkbook(shown_as, exc.reason) from None


def stage_file(
    path: Path,
    *,
    scratch: Path,
    record_type: str | None = None,
    profile: Profile | None = None,
    shown_as: str | None = None,
    extracted_on: date | None = None,
    only_site: str | None = None,
) -> ValidatedFile:
    """Check one file as validate_file does, its checked rows staged in a Parquet file in
    SCRATCH (the caller removes it), so that storing them later (write_batch) is the only
    step left: an upload does this slow part before its turn to write."""
    path = Path(path)
    checks = replace(ValueChecks.from_settings(extracted_on=extracted_on), only_site=only_site)
    try:
        source = _only_source(path, record_type, None)
        return _validate(source, profile, _Progress(None, source.name), checks, scratch)
    except RefusedWorkbook as exc:
        if shown_as is None:
            raise
        raise RefusedWorkbook(shown_as, exc.reason) from None


def _validate_file(
    path: Path,
    record_type: str | None,
    profile: Profile | None,
    sheet: str | None,
    progress: ProgressLike | None,
    extracted_on: date | None,
    only_site: str | None = None,
) -> ValidatedFile:
    return validate_source(
        _only_source(path, record_type, sheet),
        profile=profile,
        progress=progress,
        extracted_on=extracted_on,
        only_site=only_site,
    )


def _only_source(path: Path, record_type: str | None, sheet: str | None) -> Source:
    """The one source a file (or one sheet of it) holds; a workbook of several types is refused."""
    if sheet is not None:
        if record_type is None:
            raise InvalidInput(f"{path}: give the record type of sheet {sheet!r}")
        sources = [Source(path, _check_type(record_type, "record type"), sheet)]
    else:
        sources = sources_of(path, record_type)
    if len(sources) > 1:
        names = ", ".join(s.record_type for s in sources)
        raise InvalidInput(
            f"{path}: the workbook has sheets for several record types ({names}); "
            "give the record type, or import the whole workbook"
        )
    return sources[0]


def import_files(
    session: Session,
    *,
    paths: Sequence[Path],
    record_type: str | None = None,
    profile: str | None = None,
    store: EventStore,
    progress: ProgressLike | None = None,
    extracted_on: date | None = None,
    site_codes: SiteCodes | str = SiteCodes.any,
) -> list[ImportBatch]:
    """Import files as one batch each (flushed; the caller commits).

    Every file is checked before any is stored, so a folder with one bad file stores nothing
    and reports the problems of all its files at once. ``extracted_on`` is the day the
    extracts were taken (default: today in UTC); KPIs are computed as of it, and dates past
    the horizon after it are refused. `site_codes` says which site codes are accepted (any,
    the app's known ones, or those and new ones registered as sites).
    """
    sites = SiteCodes(site_codes)
    known = known_site_codes(session) if sites is not SiteCodes.any else None
    with staged_import(
        paths=paths,
        record_type=record_type,
        profile=profile,
        store=store,
        progress=progress,
        extracted_on=extracted_on,
        site_codes=sites,
        known_sites=known,
    ) as staged:
        return store_staged(session, staged=staged, store=store)


@dataclass(frozen=True)
class StagedImport:
    """Files that passed every check, their rows staged: storing them is all that is left."""

    files: list[ValidatedFile]
    steps: list[_Progress]
    checks: ValueChecks
    sites: SiteCodes


@contextmanager
def staged_import(
    *,
    paths: Sequence[Path],
    record_type: str | None = None,
    profile: str | None = None,
    store: EventStore,
    progress: ProgressLike | None = None,
    extracted_on: date | None = None,
    site_codes: SiteCodes | str = SiteCodes.any,
    known_sites: frozenset[str] | None = None,
) -> Iterator[StagedImport]:
    """Read and check every file, staging its rows, holding no database session: the slow
    part of an import, done before any write lock is asked for. KNOWN_SITES are the app's
    site codes (needed unless any code is accepted). The staged files go when the block ends.
    """
    extracted_on = check_extract_date(extracted_on)
    sites = SiteCodes(site_codes)
    if sites is not SiteCodes.any and known_sites is None:
        raise ValueError("the app's site codes are needed to check them")
    checks = ValueChecks.from_settings(
        extracted_on=extracted_on,
        known_sites=known_sites if sites is not SiteCodes.any else None,
        new_sites=sites is SiteCodes.create,
    )
    loaded = load_profile(profile) if profile else None
    sources = plan_sources(paths, record_type)
    scratch = store.staging_dir()
    try:
        validated: list[ValidatedFile] = []
        errors: list[InvalidFile] = []
        steps = [_Progress(progress, source.name) for source in sources]
        for source, step in zip(sources, steps, strict=True):
            try:
                validated.append(_validate(source, loaded, step, checks, scratch))
            except InvalidFile as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise InvalidFiles(errors)
        yield StagedImport(files=validated, steps=steps, checks=checks, sites=sites)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def store_staged(session: Session, *, staged: StagedImport, store: EventStore) -> list[ImportBatch]:
    """Store each staged file as a batch, then the new sites and the after-import hooks
    (flushed; the caller commits). The staged files stay, so a retry can store them again."""
    batches = []
    for result, step in zip(staged.files, staged.steps, strict=True):
        step.step(90, "storing")
        batches.append(
            store.write_batch(
                session,
                record_type=result.record_type,
                staged=result.staged,
                source_name=result.source.name,
                source_sha256=result.sha256,
                profile=result.profile,
                rows=result.rows,
                keys_checked=True,
                extracted_on=staged.checks.extracted_on,
            )
        )
        step.step(100, "stored")
    if staged.sites is SiteCodes.create:
        register_new_sites(session, batches=batches, known=staged.checks.known_sites or frozenset())
    after_import(session, store, batches)
    return batches
