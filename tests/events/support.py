"""Small builders for event-store tests: extract files in every format, and reading back."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
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
