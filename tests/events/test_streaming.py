"""An import checks and stores a file in record batches: memory holds one batch, never the file,
and a bad row in any batch still stores nothing (issue 14, bounded-memory import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import current, history, write_csv, write_parquet, write_xlsx
from factories import create_site_a
from qmm.errors import InvalidFile
from qmm.events import importer
from qmm.events import store as store_module
from qmm.events.importer import import_files
from qmm.events.integrity import verify_store
from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import EventStore
from qmm.models import ImportBatch

HEADER = ["capa_id", "site", "opened_on", "due_on", "root_cause_category", "closed_on"]
ROWS = 300
BATCH = 40


def capa_rows(count: int = ROWS, site: str = "SITE-A") -> list[list[str]]:
    return [
        [f"CAPA-{n}", site, "2025-01-06", "2025-02-06", "training", "2025-01-30"]
        for n in range(1, count + 1)
    ]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches of at most BATCH rows (CSV blocks of 1 KiB), and the size of each batch checked."""
    monkeypatch.setenv("QMM_IMPORT_MAX_LINE_BYTES", "256")
    from qmm.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(importer, "BATCH_ROWS", BATCH)
    monkeypatch.setattr(importer, "CSV_BLOCK_BYTES", 1024)
    monkeypatch.setattr(store_module, "STREAM_ROWS", BATCH)
    sizes: list[int] = []
    checked = importer._check_text

    def spy(text: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(text.rows))
        return checked(text, *args, **kwargs)

    monkeypatch.setattr(importer, "_check_text", spy)
    yield sizes
    get_settings.cache_clear()


def batches_stored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ImportBatch)) or 0)


def data_files(store: EventStore) -> list[Path]:
    return [p for p in store.directory.rglob("*.parquet") if p.is_file()]


def test_a_file_is_checked_in_batches_never_whole(
    session: Session, store: EventStore, tmp_path: Path, small_batches: list[int]
) -> None:
    path = write_csv(tmp_path / "capa.csv", HEADER, capa_rows())
    [batch] = import_files(session, paths=[path], store=store)
    assert len(small_batches) > 3
    assert max(small_batches) <= BATCH + 64  # a batch is the reader's blocks up to BATCH rows
    assert sum(small_batches) == ROWS
    assert batch.rows == batch.rows_new == ROWS
    rows = current(store, session, "capa", keep=["_row"])
    assert sorted(int(r["_row"]) for r in rows) == list(range(2, ROWS + 2))


def test_a_bad_row_in_the_last_batch_stores_nothing_of_the_earlier_ones(
    session: Session, store: EventStore, tmp_path: Path, small_batches: list[int]
) -> None:
    rows = capa_rows()
    rows[-1][2] = "someday"
    path = write_csv(tmp_path / "capa.csv", HEADER, rows)
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store)
    assert len(small_batches) > 3
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [
        (ROWS + 1, "opened_on", "someday")
    ]
    assert batches_stored(session) == 0
    assert data_files(store) == []  # neither table files nor staged ones are left


def test_problems_of_every_batch_are_listed_together_with_keys_repeated_across_batches(
    session: Session, store: EventStore, tmp_path: Path, small_batches: list[int]
) -> None:
    rows = capa_rows()
    rows[4][3] = "soon"  # row 6, first batch
    rows[150][1] = "SITE-Z"  # row 152: a site the app does not know
    rows[250][0] = "CAPA-3"  # row 252 repeats row 4's key, batches apart
    rows[298][4] = ""  # row 300, last batch
    path = write_csv(tmp_path / "capa.csv", HEADER, rows)
    create_site_a(session)
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store, site_codes="known")
    found = [(p.row, p.column) for p in caught.value.problems]
    assert (6, "due_on") in found
    assert (152, "site") in found
    assert (252, "capa_id, site") in found or (252, "site, capa_id") in found
    assert (300, "root_cause_category") in found
    repeated = next(p for p in caught.value.problems if p.row == 252)
    assert "row 4" in repeated.reason
    assert len(small_batches) > 3
    assert batches_stored(session) == 0
    assert data_files(store) == []


def test_a_row_with_the_wrong_number_of_cells_in_a_late_batch_is_numbered(
    session: Session, store: EventStore, tmp_path: Path, small_batches: list[int]
) -> None:
    path = write_csv(tmp_path / "capa.csv", HEADER, capa_rows())
    lines = path.read_text().splitlines()
    lines.insert(250, "CAPA-999,SITE-A")  # becomes row 251
    lines[280] = lines[280].replace("training", "nonsense-cause-that-is-fine,") + ","
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store)
    rows = [(p.row, p.value.split(",")[0]) for p in caught.value.problems]
    assert rows[0] == (251, "CAPA-999")
    assert rows[1][0] == 281
    assert batches_stored(session) == 0


def test_an_identical_reimport_of_a_file_of_many_batches_changes_nothing(
    session: Session, store: EventStore, tmp_path: Path, small_batches: list[int]
) -> None:
    path = write_csv(tmp_path / "capa.csv", HEADER, capa_rows())
    [first] = import_files(session, paths=[path], store=store)
    [again] = import_files(session, paths=[path], store=store)
    assert again.rows_unchanged == ROWS
    assert again.rows_new == again.rows_changed == 0
    assert again.delta_version is None
    assert again.data_files == []
    assert first.delta_version is not None


def test_a_reimport_with_some_rows_changed_merges_only_those(
    session: Session, store: EventStore, tmp_path: Path, small_batches: list[int]
) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    first = write_csv(tmp_path / "1" / "capa.csv", HEADER, capa_rows())
    import_files(session, paths=[first], store=store)
    rows = capa_rows(ROWS + 5)
    rows[7][5] = "2025-02-01"
    [batch] = import_files(
        session, paths=[write_csv(tmp_path / "2" / "capa.csv", HEADER, rows)], store=store
    )
    assert (batch.rows_new, batch.rows_changed, batch.rows_unchanged) == (5, 1, ROWS - 1)
    stored = {r["capa_id"]: r for r in current(store, session, "capa")}
    assert len(stored) == ROWS + 5
    assert str(stored["CAPA-8"]["closed_on"]) == "2025-02-01"


def test_parquet_and_workbooks_are_read_in_batches_too(
    session: Session,
    store: EventStore,
    tmp_path: Path,
    small_batches: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = capa_rows(120)
    (tmp_path / "p").mkdir()
    (tmp_path / "x").mkdir()
    parquet = write_parquet(tmp_path / "p" / "capa.parquet", HEADER, rows)
    [from_parquet] = import_files(session, paths=[parquet], store=store)
    parquet_batches = len(small_batches)
    assert parquet_batches >= 3
    rows[119][2] = "later"
    workbook = write_xlsx(tmp_path / "x" / "capa.xlsx", {"capa": (HEADER, rows)})
    xlsx_batches = importer._xlsx_batches

    def in_small_batches(*args: Any, **kwargs: Any) -> Any:
        return xlsx_batches(*args, **kwargs, batch_rows=BATCH)

    monkeypatch.setattr(importer, "_xlsx_batches", in_small_batches)
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[workbook], store=store)
    assert [(p.row, p.value) for p in caught.value.problems] == [(121, "later")]
    assert len(small_batches) - parquet_batches >= 3
    assert from_parquet.rows == 120
    assert batches_stored(session) == 1


def test_new_rows_wait_in_memory_only_up_to_a_row_group_or_the_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", 50)
    monkeypatch.setattr(store_module, "BUFFER_BYTES", 4096)
    rt = RECORD_TYPES["capa"]
    files = store_module._PartitionFiles(tmp_path, store_module.arrow_schema(rt))
    schema = store_module.arrow_schema(rt)
    for start in range(0, 400, 30):
        sites = ["SITE-A", "SITE-B", "SITE-C"]
        rows = [
            {
                "capa_id": f"CAPA-{n}",
                "site": sites[n % 3],
                "opened_on": None,
                "_batch": 1,
                "_row": n + 2,
            }
            for n in range(start, start + 30)
        ]
        files.add(pa.Table.from_pylist(rows, schema=schema))
        assert files.waiting_bytes() <= 4096
        for parts in files.waiting.values():
            assert sum(p.num_rows for p in parts) < 50
    actions = files.close()
    assert max(files.flushed) <= 50 + 30
    assert sum(files.flushed) == 420
    assert sorted(a.partition_values["_part"] for a in actions) == ["SITE-A", "SITE-B", "SITE-C"]
    assert all((tmp_path / a.path).is_file() for a in actions)


def test_appends_fold_a_partitions_small_files_keeping_records_history_and_hashes(
    session: Session, store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FOLD_FILES", 3)
    for month in range(1, 6):
        folder = tmp_path / f"m{month}"
        folder.mkdir()
        rows = [
            [f"CAPA-{month}-{n}", "SITE-A", f"2025-0{month}-06", "2025-09-06", "training", ""]
            for n in range(10)
        ]
        path = write_csv(folder / "capa.csv", HEADER, rows)
        [batch] = import_files(session, paths=[path], store=store)
        assert batch.rows_new == 10
    version = store.recorded_versions(session)["capa"]
    assert len(store.files_at("capa", version)) < 3  # five appends, folded
    stored = current(store, session, "capa", keep=["_batch"])
    assert len(stored) == 50
    batch_of = {r["capa_id"]: r["_batch"] for r in stored}
    assert len(set(batch_of.values())) == 5  # folded rows keep the batch they came in with
    versions = history(store, session, "capa")
    assert len(versions) == 50
    assert verify_store(session, store).ok
