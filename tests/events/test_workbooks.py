"""XLSX extracts are read whole whatever their sheet's size information says, and a workbook
that unpacks past the limits, or is damaged, is refused in words with nothing stored."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import (
    CAPA_HEADER,
    CAPA_ROWS,
    current,
    rewrite_sheets,
    with_declared_size,
    with_duplicate_part,
    with_padding,
    with_stale_dimension,
    without_part,
    write_csv,
    write_xlsx,
)
from qmm.config import get_settings
from qmm.errors import InvalidFile, InvalidInput
from qmm.events.importer import import_files, validate_file
from qmm.events.store import EventStore
from qmm.models import ImportBatch

SIX_CAPAS = [
    [f"CAPA-{n}", "SITE-A", "2025-01-06", "2025-02-06", "training", ""] for n in range(1, 7)
]
SHEET = "xl/worksheets/sheet1.xml"


def capa_workbook(folder: Path, rows: list[list[str]] = SIX_CAPAS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_xlsx(folder / "capa.xlsx", {"Sheet1": (CAPA_HEADER, rows)})


def set_limit(monkeypatch: pytest.MonkeyPatch, name: str, value: int) -> None:
    monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()


def batch_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ImportBatch)) or 0


def refused(session: Session, store: EventStore, path: Path) -> str:
    """Import a file that must be refused; the message, once nothing was stored."""
    before = batch_count(session)
    with pytest.raises(InvalidInput) as caught:
        import_files(session, paths=[path], store=store)
    assert batch_count(session) == before
    message = " ".join(str(caught.value).split())
    assert str(path) in message
    assert "nothing was stored" in message
    return message


@pytest.fixture
def earlier(session: Session, store: EventStore, tmp_path: Path) -> list[dict[str, object]]:
    """A batch imported before, which a refused workbook must leave as it was."""
    import_files(
        session, paths=[write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)], store=store
    )
    return current(store, session, "capa")


@pytest.mark.parametrize("ref", ["A1:C2", "A1", "A1:F3", "C3:D4", "A1:Z100"])
def test_a_stale_dimension_hides_no_row(
    session: Session, store: EventStore, tmp_path: Path, ref: str
) -> None:
    path = with_stale_dimension(capa_workbook(tmp_path), ref)
    [batch] = import_files(session, paths=[path], store=store)
    assert batch.rows == 6
    records = current(store, session, "capa")
    assert [r["capa_id"] for r in records] == [f"CAPA-{n}" for n in range(1, 7)]
    assert all(r["root_cause_category"] == "training" for r in records)


def test_a_sheet_without_a_dimension_is_read_whole(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    dimension = re.compile(r"<dimension [^>]*>")
    path = rewrite_sheets(capa_workbook(tmp_path), lambda xml: dimension.sub("", xml))
    with zipfile.ZipFile(path) as archive:
        assert b"<dimension" not in archive.read(SHEET)
    assert validate_file(path).rows == 6


def test_row_numbers_stay_the_sheets_own_past_a_stale_dimension(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = [list(r) for r in SIX_CAPAS]
    rows[4][CAPA_HEADER.index("due_on")] = "later"
    path = with_stale_dimension(capa_workbook(tmp_path, rows), "A1:C2")
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(6, "due_on", "later")]


def test_a_workbook_that_unpacks_past_the_limit_is_refused(
    session: Session,
    store: EventStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    earlier: list[dict[str, object]],
) -> None:
    set_limit(monkeypatch, "QMM_XLSX_MAX_UNPACKED_BYTES", 10_000_000)
    bomb = with_padding(capa_workbook(tmp_path / "bomb"), 50 << 20)
    assert bomb.stat().st_size < 200_000
    message = refused(session, store, bomb)
    assert "more than the limit of 10,000,000 bytes" in message
    assert "QMM_XLSX_MAX_UNPACKED_BYTES" in message
    assert current(store, session, "capa") == earlier


def test_a_part_compressed_like_a_zip_bomb_is_refused_under_the_default_limits(
    session: Session, store: EventStore, tmp_path: Path, earlier: list[dict[str, object]]
) -> None:
    bomb = with_padding(capa_workbook(tmp_path / "bomb"), 20 << 20, "xl/worksheets/sheet9.xml")
    message = refused(session, store, bomb)
    assert "xl/worksheets/sheet9.xml" in message
    assert "more than the limit of 100 times" in message
    assert "QMM_XLSX_MAX_RATIO" in message
    assert current(store, session, "capa") == earlier


def test_a_sheet_over_the_cell_limit_is_refused(
    session: Session, store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_limit(monkeypatch, "QMM_XLSX_MAX_CELLS", 30)
    assert validate_file(capa_workbook(tmp_path / "ok", SIX_CAPAS[:4])).rows == 4
    message = refused(session, store, capa_workbook(tmp_path / "big"))
    assert "more than 30 cells" in message
    assert "QMM_XLSX_MAX_CELLS" in message


def test_a_row_numbered_past_the_sheet_limit_is_refused_without_walking_to_it(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = rewrite_sheets(
        capa_workbook(tmp_path),
        lambda xml: xml.replace('<row r="7"', '<row r="900000000"').replace(
            'r="A7"', 'r="A900000000"'
        ),
    )
    message = refused(session, store, path)
    assert "past row 1,048,576" in message


def test_a_part_whose_declared_size_is_false_is_refused(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = with_declared_size(capa_workbook(tmp_path), SHEET, 600)
    message = refused(session, store, path)
    assert "damaged" in message


def test_a_workbook_with_two_parts_of_one_name_is_refused(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = with_duplicate_part(capa_workbook(tmp_path), SHEET, b"<worksheet/>")
    message = refused(session, store, path)
    assert f"two parts named {SHEET}" in message


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ("xl/workbook.xml", "not a readable .xlsx workbook"),
        ("[Content_Types].xml", "not a readable .xlsx workbook"),
        (SHEET, "holds no readable sheet of rows (is a part missing?)"),
    ],
)
def test_a_workbook_missing_a_part_is_refused(
    session: Session, store: EventStore, tmp_path: Path, part: str, reason: str
) -> None:
    message = refused(session, store, without_part(capa_workbook(tmp_path), part))
    assert reason in message


@pytest.mark.parametrize(
    "content",
    [b"capa_id,site\nCAPA-1,SITE-A\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), b"PK"],
)
def test_a_file_that_is_not_a_workbook_is_refused(
    session: Session, store: EventStore, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "capa.xlsx"
    path.write_bytes(content)
    message = refused(session, store, path)
    assert "not an .xlsx workbook" in message


def test_damaged_sheet_xml_is_refused(session: Session, store: EventStore, tmp_path: Path) -> None:
    path = rewrite_sheets(capa_workbook(tmp_path), lambda xml: xml.replace("</sheetData>", ""))
    message = refused(session, store, path)
    assert "not a readable .xlsx workbook" in message


def test_a_refusal_names_an_upload_by_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_limit(monkeypatch, "QMM_XLSX_MAX_UNPACKED_BYTES", 10_000_000)
    bomb = with_padding(capa_workbook(tmp_path / "qmm-upload-x"), 20 << 20)
    with pytest.raises(InvalidInput) as caught:
        validate_file(bomb, record_type="capa", shown_as="capa.xlsx")
    assert str(caught.value).startswith("capa.xlsx: the workbook unpacks to ")
    assert str(tmp_path) not in str(caught.value)


def test_entities_that_expand_without_end_are_refused(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10)
    )

    def laughs(xml: str) -> str:
        xml = f"<?xml version='1.0'?><!DOCTYPE worksheet [{entities}]>{xml}"
        return xml.replace("<t>CAPA-1</t>", "<t>&a9;</t>", 1)

    message = refused(session, store, rewrite_sheets(capa_workbook(tmp_path), laughs))
    assert "not a readable .xlsx workbook" in message
