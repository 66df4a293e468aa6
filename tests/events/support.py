"""Small builders for event-store tests: extract files in every format, and reading back."""

from __future__ import annotations

import csv
import json
import re
import struct
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook
from sqlalchemy.orm import Session

from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import EventStore

CAPA_HEADER = ["capa_id", "site", "opened_on", "due_on", "root_cause_category", "closed_on"]
CAPA_ROWS = [
    ["CAPA-1", "SITE-A", "2025-01-06", "2025-02-06", "training", "2025-01-30"],
    ["CAPA-2", "SITE-A", "2025-01-10", "2025-03-10", "equipment", ""],
    ["CAPA-3", "SITE-B", "2025-02-01", "2025-03-01", "procedure", "2025-02-20"],
]
EM_HEADER = [
    "sample_id",
    "site",
    "room",
    "grade",
    "method",
    "sampled_at",
    "cfu",
    "alert_limit",
    "action_limit",
    "result_at",
    "response_at",
]
EM_ROWS = [
    [
        "EM-1",
        "SITE-A",
        "FILL-1",
        "A",
        "active_air",
        "2025-03-04T10:15:00+01:00",
        "0",
        "1",
        "1",
        "2025-03-06T10:00:00Z",
        "",
    ],
    [
        "EM-2",
        "SITE-A",
        "FILL-1",
        "B",
        "settle_plate",
        "2025-03-04T23:30:00-05:00",
        "3",
        "1",
        "5",
        "2025-03-07T08:00:00",
        "2025-03-07T09:30:00+00:00",
    ],
]


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], *, delimiter: str = ","
) -> Path:
    """A CSV file as a spreadsheet program would save it (UTF-8, quoted where needed)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """One JSON object per line; empty cells are left out, as most exporters do."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {k: v for k, v in zip(header, row, strict=True) if v != ""}
            handle.write(json.dumps(record) + "\n")
    return path


def write_parquet(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """A Parquet file of text columns; empty cells are nulls."""
    columns = {
        name: pa.array([row[i] or None for row in rows], pa.string())
        for i, name in enumerate(header)
    }
    pq.write_table(pa.table(columns), path)
    return path


def write_xlsx(
    path: Path, sheets: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]
) -> Path:
    """A workbook with one sheet per entry; empty cells are left blank."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(header))
        for row in rows:
            sheet.append([None if v == "" else v for v in row])
    workbook.save(path)
    return path


def rewrite_sheets(path: Path, change: Callable[[str], str]) -> Path:
    """Rewrite the XML of every worksheet of a workbook in place, keeping its other parts."""
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                data = change(data.decode()).encode()
            target.writestr(info, data)
    return path


def with_stale_dimension(path: Path, ref: str) -> Path:
    """The workbook with its sheets' <dimension> set to `ref`, as exporters that never update
    it leave it."""
    dimension = re.compile(r'<dimension ref="[^"]*"\s*/>')
    return rewrite_sheets(path, lambda xml: dimension.sub(f'<dimension ref="{ref}"/>', xml, 1))


def with_padding(path: Path, size: int, name: str = "xl/media/padding.bin") -> Path:
    """Add a part of `size` zero bytes: a small file that unpacks to far more (a zip bomb)."""
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(name, "w") as part,
    ):
        for start in range(0, size, len(chunk)):
            part.write(chunk[: size - start])
    return path


def with_declared_size(path: Path, name: str, size: int) -> Path:
    """The workbook with one part's declared unpacked size forged to `size` bytes."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    struct.pack_into("<I", data, local + 22, size)
    entry = data.find(b"PK\x01\x02")
    while entry != -1:
        length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46 : entry + 46 + length] == name.encode():
            struct.pack_into("<I", data, entry + 24, size)
        entry = data.find(b"PK\x01\x02", entry + 46)
    path.write_bytes(bytes(data))
    return path


def with_duplicate_part(path: Path, name: str, content: bytes) -> Path:
    """Add a second part under a name the workbook already has, which readers resolve apart."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate name
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, content)
    return path


def without_part(path: Path, name: str) -> Path:
    """The workbook with one of its parts left out, as a damaged copy would be."""
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            if info.filename != name:
                target.writestr(info, data)
    return path


def current(
    store: EventStore, session: Session, record_type: str, *, keep: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The current records of a type in key order, without _batch and _row unless kept."""
    key = RECORD_TYPES[record_type].key
    rows = store.connect(session).table(record_type).to_pyarrow().to_pylist()
    dropped = {"_batch", "_row"} - set(keep)
    trimmed = [{k: v for k, v in row.items() if k not in dropped} for row in rows]
    return sorted(trimmed, key=lambda r: tuple(str(r[k]) for k in key))


def history(store: EventStore, session: Session, record_type: str) -> list[dict[str, Any]]:
    return store.history(session, record_type).to_pyarrow().to_pylist()
