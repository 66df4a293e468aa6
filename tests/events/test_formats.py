"""CSV, XLSX, Parquet and JSON lines import the same content identically; folders and names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import (
    CAPA_HEADER,
    CAPA_ROWS,
    EM_HEADER,
    EM_ROWS,
    current,
    write_csv,
    write_jsonl,
    write_parquet,
    write_xlsx,
)
from qmm.errors import InvalidFile, InvalidInput, NotFound
from qmm.events.importer import InvalidFiles, import_files, plan_sources
from qmm.events.store import EventStore
from qmm.models import ImportBatch

Writer = Callable[[Path, Sequence[str], Sequence[Sequence[str]]], Path]


def xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    return write_xlsx(path, {"Sheet1": (header, rows)})


WRITERS: dict[str, Writer] = {
    "csv": write_csv,
    "xlsx": xlsx,
    "parquet": write_parquet,
    "jsonl": write_jsonl,
}


def imported(
    session: Session, store: EventStore, path: Path, record_type: str
) -> list[dict[str, Any]]:
    import_files(session, paths=[path], store=store)
    return current(store, session, record_type)


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_imports_the_same_content_identically(
    session: Session, store: EventStore, tmp_path: Path, fmt: str
) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    savepoint = session.begin_nested()
    capa_csv = write_csv(reference / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    expected_capa = imported(session, store, capa_csv, "capa")
    em_csv = write_csv(reference / "em_sample.csv", EM_HEADER, EM_ROWS)
    expected_em = imported(session, store, em_csv, "em_sample")
    savepoint.rollback()
    capa = WRITERS[fmt](tmp_path / f"capa.{fmt}", CAPA_HEADER, CAPA_ROWS)
    em = WRITERS[fmt](tmp_path / f"em_sample.{fmt}", EM_HEADER, EM_ROWS)
    assert imported(session, store, capa, "capa") == expected_capa
    assert imported(session, store, em, "em_sample") == expected_em
    assert expected_em[0]["sampled_at"] == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)


def test_row_numbers_are_what_the_user_sees_in_each_format(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = [list(r) for r in CAPA_ROWS]
    rows[1][CAPA_HEADER.index("due_on")] = "later"
    for fmt, row in (("csv", 3), ("xlsx", 3), ("parquet", 3), ("jsonl", 2)):
        path = WRITERS[fmt](tmp_path / f"capa.{fmt}", CAPA_HEADER, rows)
        with pytest.raises(InvalidFile) as caught:
            import_files(session, paths=[path], store=store)
        assert [(p.row, p.column, p.value) for p in caught.value.problems] == [
            (row, "due_on", "later")
        ], fmt


def test_a_json_line_that_is_not_an_object_is_named_by_its_line(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "capa.jsonl", CAPA_HEADER, CAPA_ROWS)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "", '["not", "an object"]', lines[1], "{oops"]) + "\n")
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store)
    assert [(p.row, p.reason) for p in caught.value.problems] == [
        (3, "not a JSON object on one line"),
        (5, "not a JSON object on one line"),
    ]


def test_a_jsonl_file_skips_blank_lines_and_keeps_line_numbers(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "capa.ndjson", CAPA_HEADER, CAPA_ROWS)
    lines = path.read_text().splitlines()
    path.write_text("\n\n".join(lines) + "\n")
    import_files(session, paths=[path], store=store)
    stored = current(store, session, "capa", keep=["_row"])
    assert [r["_row"] for r in stored] == [1, 3, 5]


def test_spreadsheet_cells_of_any_type_are_read_as_their_text(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = [*EM_HEADER, "deviation_id"]
    rows: list[list[Any]] = [
        [
            "EM-1",
            "SITE-A",
            "FILL-1",
            "A",
            "active_air",
            datetime(2025, 3, 4, 10, 15),  # noqa: DTZ001 (a workbook has no time zone)
            0,
            1.5,
            5,
            datetime(2025, 3, 6),  # noqa: DTZ001
            None,
            1234,
        ]
    ]
    path = write_xlsx(tmp_path / "em_sample.xlsx", {"em_sample": (header, rows)})
    [record] = imported(session, store, path, "em_sample")
    assert record["sampled_at"] == datetime(2025, 3, 4, 10, 15, tzinfo=UTC)
    assert record["result_at"] == datetime(2025, 3, 6, tzinfo=UTC)
    assert (record["cfu"], record["alert_limit"], record["action_limit"]) == (0.0, 1.5, 5.0)
    assert record["deviation_id"] == "1234"
    capa: list[list[Any]] = [
        ["CAPA-1", "SITE-A", datetime(2025, 1, 6), date(2025, 2, 6), "x", None]  # noqa: DTZ001
    ]
    path = write_xlsx(tmp_path / "capa.xlsx", {"Export": (CAPA_HEADER, capa)})
    [record] = imported(session, store, path, "capa")
    assert (record["opened_on"], record["due_on"]) == (date(2025, 1, 6), date(2025, 2, 6))


def test_typed_parquet_columns_are_read_as_their_text(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    table = pa.table(
        {
            "sample_id": ["EM-1"],
            "site": ["SITE-A"],
            "room": ["FILL-1"],
            "grade": ["A"],
            "method": ["glove"],
            "sampled_at": pa.array(
                [datetime(2025, 3, 4, 9, 15, tzinfo=UTC)], pa.timestamp("ms", "UTC")
            ),
            "cfu": pa.array([2], pa.int32()),
            "alert_limit": pa.array([1.0]),
            "action_limit": pa.array([5.0]),
            "result_at": pa.array([datetime(2025, 3, 6, 10)], pa.timestamp("us")),  # noqa: DTZ001
        }
    )
    pq.write_table(table, tmp_path / "em_sample.parquet")
    [record] = imported(session, store, tmp_path / "em_sample.parquet", "em_sample")
    assert record["sampled_at"] == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert record["result_at"] == datetime(2025, 3, 6, 10, tzinfo=UTC)
    assert record["cfu"] == 2.0


def test_a_workbook_with_one_sheet_per_record_type_imports_each_sheet(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_xlsx(
        tmp_path / "qms-export.xlsx",
        {
            "Notes": (["text"], [["read me"]]),
            "capa": (CAPA_HEADER, CAPA_ROWS),
            "EM_Sample": (EM_HEADER, EM_ROWS),
        },
    )
    batches = import_files(session, paths=[path], store=store)
    assert [(b.record_type, b.source_name, b.rows) for b in batches] == [
        ("capa", "qms-export.xlsx#capa", 3),
        ("em_sample", "qms-export.xlsx#EM_Sample", 2),
    ]


def test_a_folder_imports_every_supported_file_in_it(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    folder = tmp_path / "extracts"
    folder.mkdir()
    write_csv(folder / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    write_jsonl(folder / "em_sample.jsonl", EM_HEADER, EM_ROWS)
    write_xlsx(
        folder / "deviation.xlsx",
        {
            "Sheet1": (
                ["deviation_id", "site", "opened_on", "root_cause_category"],
                [["DEV-1", "SITE-A", "2025-01-02", "training"]],
            )
        },
    )
    (folder / "README.txt").write_text("not an extract")
    write_csv(folder / ".capa.csv", CAPA_HEADER, [["x"] * 6])  # hidden: skipped
    batches = import_files(session, paths=[folder], store=store)
    assert sorted((b.record_type, b.rows) for b in batches) == [
        ("capa", 3),
        ("deviation", 1),
        ("em_sample", 2),
    ]


def test_a_folder_with_invalid_files_stores_nothing_and_reports_them_all(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    folder = tmp_path / "extracts"
    folder.mkdir()
    write_csv(folder / "capa.csv", CAPA_HEADER, [[*CAPA_ROWS[0][:2], "bad", *CAPA_ROWS[0][3:]]])
    write_csv(folder / "deviation.csv", ["deviation_id", "site"], [["DEV-1", "SITE-A"]])
    write_jsonl(folder / "em_sample.jsonl", EM_HEADER, EM_ROWS)
    with pytest.raises(InvalidFiles) as caught:
        import_files(session, paths=[folder], store=store)
    assert [Path(e.path).name for e in caught.value.errors] == ["capa.csv", "deviation.csv"]
    assert "opened_on" in str(caught.value)
    assert "required column is missing" in str(caught.value)
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert not store.directory.exists() or not any(store.directory.rglob("*.parquet"))


def test_the_record_type_comes_from_the_type_or_the_file_name(tmp_path: Path) -> None:
    dated = write_csv(tmp_path / "capa.2025-03.csv", CAPA_HEADER, CAPA_ROWS)
    assert [s.record_type for s in plan_sources([dated])] == ["capa"]
    other = write_csv(tmp_path / "export-2025.csv", CAPA_HEADER, CAPA_ROWS)
    assert [s.record_type for s in plan_sources([other], "capa")] == ["capa"]
    with pytest.raises(InvalidInput) as caught:
        plan_sources([other])
    assert "cannot tell the record type" in str(caught.value)
    assert "known: capa, change_control, complaint, deviation, distribution, em_sample" in str(
        caught.value
    )
    with pytest.raises(InvalidInput, match="unknown record type 'capas'; known: capa"):
        plan_sources([other], "capas")


def test_unsupported_and_missing_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "capa.txt"
    text.write_text("capa_id\n")
    with pytest.raises(InvalidInput, match=r"unsupported format \.txt; supported: \.csv, \.xlsx"):
        plan_sources([text])
    with pytest.raises(NotFound):
        plan_sources([tmp_path / "capa.csv"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="holds no file to import"):
        plan_sources([empty])


def test_a_progress_display_follows_each_file_to_the_end(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    from rich.progress import Progress

    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    with Progress(disable=True) as progress:
        import_files(session, paths=[path], store=store, progress=progress)
        [task] = progress.tasks
    assert task.completed == 100
    assert task.description == "capa.csv: stored"


def test_a_header_only_file_imports_no_rows_and_blank_columns_are_ignored(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "capa.csv"
    path.write_text(",".join(CAPA_HEADER) + ",\n")
    [batch] = import_files(session, paths=[path], store=store)
    assert (batch.rows, batch.rows_new, batch.sites) == (0, 0, [])
    path.write_text(",".join(CAPA_HEADER) + ",\n" + ",".join(CAPA_ROWS[0]) + ",\n")
    [batch] = import_files(session, paths=[path], store=store)
    assert batch.rows_new == 1
    assert current(store, session, "capa")[0]["_extra"] is None
