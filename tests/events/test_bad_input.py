"""Values the contract's types would take but no extract means: impossible offsets, year 0,
dates past the horizon, control characters in ids, unknown sites, overlong lines. Each is
named by file, row, column, value and reason, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

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
)
from factories import create_site_a, create_site_b
from qmm.config import get_settings
from qmm.errors import InvalidFile, InvalidInput, RowProblem
from qmm.events.importer import import_files, sources_of
from qmm.events.record_types import record_type_from_name
from qmm.events.store import EventStore
from qmm.models import ImportBatch, Site


def refused(session: Session, store: EventStore, path: Path, **options: Any) -> list[RowProblem]:
    """Import a file that must be refused; check nothing was stored; return its problems."""
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store, **options)
    assert caught.value.path == str(path)
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert [p for p in store.directory.rglob("*") if p.is_file()] == []
    return caught.value.problems


def with_cell(
    rows: Sequence[Sequence[str]], row: int, column: str, value: str, header: Sequence[str]
) -> list[list[str]]:
    """The rows with one cell changed; row is the file row number (header = row 1)."""
    copy = [list(r) for r in rows]
    copy[row - 2][list(header).index(column)] = value
    return copy


def em_file(tmp_path: Path, column: str, value: str) -> Path:
    return write_csv(
        tmp_path / "em_sample.csv", EM_HEADER, with_cell(EM_ROWS, 3, column, value, EM_HEADER)
    )


def capa_file(tmp_path: Path, column: str, value: str, name: str = "capa.csv") -> Path:
    return write_csv(
        tmp_path / name, CAPA_HEADER, with_cell(CAPA_ROWS, 3, column, value, CAPA_HEADER)
    )


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set a QMM_ setting for one test."""

    def setting(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield setting
    get_settings.cache_clear()


class TestOffsets:
    @pytest.mark.parametrize(
        "value",
        [
            "2025-03-04T10:15:00+99:99",
            "2025-03-04T10:15:00+25:00",
            "2025-03-04T10:15:00+14:30",
            "2025-03-04T10:15:00-14:01",
            "2025-03-04T10:15:00+15",
            "2025-03-04T10:15:00+2300",
            "2025-03-04T10:15:00+10:75",
            "2025-03-04T10:15+16:00",
        ],
    )
    def test_an_offset_outside_14_hours_is_refused_not_shifted(
        self, session: Session, store: EventStore, tmp_path: Path, value: str
    ) -> None:
        [problem] = refused(session, store, em_file(tmp_path, "sampled_at", value))
        assert (problem.row, problem.column, problem.value) == (3, "sampled_at", value)
        assert "offset" in problem.reason
        assert "±14:00" in problem.reason

    @pytest.mark.parametrize(
        ("value", "utc"),
        [
            ("2025-03-04T23:30:00+14:00", "2025-03-04 09:30:00"),
            ("2025-03-04T08:00:00-14:00", "2025-03-04 22:00:00"),
            ("2025-03-04T08:00:00-1200", "2025-03-04 20:00:00"),
            ("2025-03-04T08:00:00+05", "2025-03-04 03:00:00"),
        ],
    )
    def test_an_offset_within_14_hours_is_stored_in_utc(
        self, session: Session, store: EventStore, tmp_path: Path, value: str, utc: str
    ) -> None:
        rows = with_cell(EM_ROWS, 3, "sampled_at", value, EM_HEADER)
        rows = with_cell(rows, 3, "result_at", "2025-03-06T10:00:00Z", EM_HEADER)
        rows = with_cell(rows, 3, "response_at", "", EM_HEADER)
        path = write_csv(tmp_path / "em_sample.csv", EM_HEADER, rows)
        import_files(session, paths=[path], store=store)
        sampled = {r["sample_id"]: r["sampled_at"] for r in current(store, session, "em_sample")}
        assert sampled["EM-2"].strftime("%Y-%m-%d %H:%M:%S") == utc


class TestYearZero:
    def test_a_date_in_year_zero_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        [problem] = refused(session, store, capa_file(tmp_path, "opened_on", "0000-01-02"))
        assert (problem.row, problem.column, problem.value) == (3, "opened_on", "0000-01-02")
        assert "year 0" in problem.reason

    def test_a_timestamp_in_year_zero_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        value = "0000-10-02T10:00:00Z"
        [problem] = refused(session, store, em_file(tmp_path, "sampled_at", value))
        assert (problem.row, problem.column, problem.value) == (3, "sampled_at", value)
        assert "year 0" in problem.reason

    def test_year_one_is_a_real_year(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        path = capa_file(tmp_path, "opened_on", "0001-01-02")
        import_files(session, paths=[path], store=store)
        opened = {r["capa_id"]: r["opened_on"] for r in current(store, session, "capa")}
        assert opened["CAPA-2"] == date(1, 1, 2)


class TestHorizon:
    def test_a_date_past_a_year_after_the_extract_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        path = capa_file(tmp_path, "due_on", "2026-03-02")
        [problem] = refused(session, store, path, extracted_on=date(2025, 3, 1))
        assert (problem.row, problem.column, problem.value) == (3, "due_on", "2026-03-02")
        assert "2026-03-01" in problem.reason
        assert "QMM_IMPORT_DATE_HORIZON_DAYS" in problem.reason

    def test_the_last_day_of_the_horizon_is_accepted(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        path = capa_file(tmp_path, "due_on", "2026-03-01")
        import_files(session, paths=[path], store=store, extracted_on=date(2025, 3, 1))
        due = {r["capa_id"]: r["due_on"] for r in current(store, session, "capa")}
        assert due["CAPA-2"] == date(2026, 3, 1)

    def test_without_an_extract_date_the_horizon_starts_today(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        [problem] = refused(session, store, capa_file(tmp_path, "due_on", "2099-01-01"))
        assert (problem.row, problem.column, problem.value) == (3, "due_on", "2099-01-01")
        assert "after" in problem.reason

    def test_a_timestamp_on_the_last_day_in_utc_is_accepted(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        value = "2025-04-02T00:30:00+01:00"  # 2025-04-01 23:30 UTC: the last day
        path = em_file(tmp_path, "response_at", value)
        [batch] = import_files(session, paths=[path], store=store, extracted_on=date(2024, 4, 1))
        assert batch.rows == 2

    def test_a_timestamp_past_the_horizon_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        late = "2025-04-02T00:30:00Z"
        path = em_file(tmp_path, "response_at", late)
        [problem] = refused(session, store, path, extracted_on=date(2024, 4, 1))
        assert (problem.row, problem.column, problem.value) == (3, "response_at", late)
        assert "2025-04-01" in problem.reason

    def test_the_horizon_is_a_setting(
        self, session: Session, store: EventStore, tmp_path: Path, settings_env: Any
    ) -> None:
        settings_env("QMM_IMPORT_DATE_HORIZON_DAYS", "30")
        path = capa_file(tmp_path, "due_on", "2025-04-01")
        [problem] = refused(session, store, path, extracted_on=date(2025, 3, 1))
        assert problem.column == "due_on"
        assert "2025-03-31" in problem.reason


class TestControlCharacters:
    @pytest.mark.parametrize(
        ("column", "value", "code"),
        [
            ("capa_id", "CAPA\x002", "U+0000"),
            ("capa_id", "CAPA\x1b2", "U+001B"),
            ("capa_id", "CAPA\x7f2", "U+007F"),
            ("capa_id", "CAPA\x852", "U+0085"),
            ("capa_id", "CAPA\u20282", "U+2028"),
            ("capa_id", "CAPA\u20292", "U+2029"),
            ("capa_id", "CAPA\t2", "U+0009"),
            ("site", "SITE\x00A", "U+0000"),
        ],
    )
    def test_a_control_character_in_an_id_or_key_is_refused(
        self,
        session: Session,
        store: EventStore,
        tmp_path: Path,
        column: str,
        value: str,
        code: str,
    ) -> None:
        rows = with_cell(CAPA_ROWS, 3, column, value, CAPA_HEADER)
        path = write_jsonl(tmp_path / "capa.jsonl", CAPA_HEADER, rows)
        [problem] = refused(session, store, path)
        # JSON lines have no header: the second record is line 2.
        assert (problem.row, problem.column, problem.value) == (2, column, value)
        assert "control character" in problem.reason
        assert code in problem.reason

    def test_a_nul_in_a_csv_id_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        [problem] = refused(session, store, capa_file(tmp_path, "capa_id", "CAPA-\x002"))
        assert (problem.row, problem.column, problem.value) == (3, "capa_id", "CAPA-\x002")
        assert "\\x00" in str(problem)

    def test_a_nul_in_a_parquet_source_id_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        header = [*CAPA_HEADER, "source_id"]
        rows = [[*r, ""] for r in CAPA_ROWS]
        rows[1][-1] = "DEV-\x001"
        [problem] = refused(session, store, write_parquet(tmp_path / "capa.parquet", header, rows))
        assert (problem.row, problem.column, problem.value) == (3, "source_id", "DEV-\x001")

    def test_a_control_character_elsewhere_is_kept(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        path = capa_file(tmp_path, "root_cause_category", "training\tand SOP")
        import_files(session, paths=[path], store=store)
        causes = {r["capa_id"]: r["root_cause_category"] for r in current(store, session, "capa")}
        assert causes["CAPA-2"] == "training\tand SOP"


class TestSiteCodes:
    def test_an_unknown_site_is_refused_naming_the_known_ones(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        create_site_a(session)
        create_site_b(session)
        path = capa_file(tmp_path, "site", "SITE-Z")
        [problem] = refused(session, store, path, site_codes="known")
        assert (problem.row, problem.column, problem.value) == (3, "site", "SITE-Z")
        assert "not a site known to the app" in problem.reason
        assert "SITE-A, SITE-B" in problem.reason
        assert "--create-sites" in problem.reason

    @pytest.mark.parametrize(
        "look_alike",
        ["SITE\u2010A", "SITE\u2013A", "SITE_A", "site-a", "SITE-\u0410", "SITE\u2011A"],
    )
    def test_a_look_alike_names_the_code_it_resembles(
        self, session: Session, store: EventStore, tmp_path: Path, look_alike: str
    ) -> None:
        create_site_a(session)
        create_site_b(session)
        path = capa_file(tmp_path, "site", look_alike)
        [problem] = refused(session, store, path, site_codes="known")
        assert (problem.row, problem.column, problem.value) == (3, "site", look_alike)
        assert "looks like SITE-A" in problem.reason

    def test_every_row_of_unknown_sites_is_named(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        create_site_a(session)
        path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
        [problem] = refused(session, store, path, site_codes="known")
        assert (problem.row, problem.column, problem.value) == (4, "site", "SITE-B")

    def test_known_sites_import(self, session: Session, store: EventStore, tmp_path: Path) -> None:
        create_site_a(session)
        create_site_b(session)
        path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
        [batch] = import_files(session, paths=[path], store=store, site_codes="known")
        assert batch.rows_new == 3

    def test_creating_sites_registers_new_codes(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        create_site_a(session)
        path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
        import_files(session, paths=[path], store=store, site_codes="create")
        codes = {s.code: s.name for s in session.scalars(select(Site))}
        assert codes["SITE-B"] == "SITE-B"
        assert set(codes) == {"SITE-A", "SITE-B"}

    def test_creating_sites_still_refuses_a_look_alike_or_a_bad_code(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        create_site_a(session)
        rows = with_cell(CAPA_ROWS, 2, "site", "SITE\u2010A", CAPA_HEADER)
        rows = with_cell(rows, 4, "site", "Plant 2", CAPA_HEADER)
        path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
        problems = refused(session, store, path, site_codes="create")
        assert [(p.row, p.value) for p in problems] == [(2, "SITE\u2010A"), (4, "Plant 2")]
        assert "looks like SITE-A" in problems[0].reason
        assert "not a valid site code" in problems[1].reason
        assert session.scalars(select(Site.code)).all() == ["SITE-A"]


class TestLineLength:
    def test_a_csv_line_past_the_limit_is_refused_with_its_number(
        self, session: Session, store: EventStore, tmp_path: Path, settings_env: Any
    ) -> None:
        settings_env("QMM_IMPORT_MAX_LINE_BYTES", "1000")
        path = capa_file(tmp_path, "root_cause_category", "x" * 5000)
        [problem] = refused(session, store, path)
        assert problem.row == 3
        assert "line 3" in problem.reason
        assert "1,000 bytes" in problem.reason
        assert "QMM_IMPORT_MAX_LINE_BYTES" in problem.reason
        assert problem.value.startswith("CAPA-2,SITE-A")

    def test_a_single_line_file_past_the_limit_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path, settings_env: Any
    ) -> None:
        settings_env("QMM_IMPORT_MAX_LINE_BYTES", "1000")
        path = tmp_path / "capa.csv"
        path.write_text(",".join(f"column{n}" for n in range(2000)))
        [problem] = refused(session, store, path)
        assert problem.row == 1
        assert "line 1" in problem.reason

    def test_a_line_within_the_limit_imports(
        self, session: Session, store: EventStore, tmp_path: Path, settings_env: Any
    ) -> None:
        settings_env("QMM_IMPORT_MAX_LINE_BYTES", "1000")
        path = capa_file(tmp_path, "root_cause_category", "x" * 900)
        [batch] = import_files(session, paths=[path], store=store)
        assert batch.rows == 3

    def test_a_json_line_past_the_limit_is_refused(
        self, session: Session, store: EventStore, tmp_path: Path, settings_env: Any
    ) -> None:
        settings_env("QMM_IMPORT_MAX_LINE_BYTES", "1000")
        rows = with_cell(CAPA_ROWS, 3, "root_cause_category", "x" * 5000, CAPA_HEADER)
        path = write_jsonl(tmp_path / "capa.jsonl", CAPA_HEADER, rows)
        [problem] = refused(session, store, path)
        assert problem.row == 2
        assert "line 2" in problem.reason
        assert problem.value.startswith(json.dumps({"capa_id": "CAPA-2"})[:-1])


class TestNaming:
    @pytest.mark.parametrize(
        ("name", "record_type"),
        [
            ("capa.csv", "capa"),
            ("capa-2025-11.csv", "capa"),
            ("capa_2025_11.csv", "capa"),
            ("capa.2025-03.csv", "capa"),
            ("CAPA-2025-11.csv", "capa"),
            ("change_control_2025.csv", "change_control"),
            ("change_control.csv", "change_control"),
            ("em_sample_2021-01.parquet", "em_sample"),
            ("em_sample-2021-01.parquet", "em_sample"),
            ("supplier_car-q1.csv", "supplier_car"),
            ("site_list.csv", "site"),
            ("capacity.csv", None),
            ("em_samples.csv", None),
            ("changes.csv", None),
            ("2025-capa.csv", None),
        ],
    )
    def test_the_type_is_the_leading_type_name(self, name: str, record_type: str | None) -> None:
        assert record_type_from_name(name) == record_type

    def test_a_dated_file_imports_as_its_type(
        self, session: Session, store: EventStore, tmp_path: Path
    ) -> None:
        path = write_csv(tmp_path / "capa-2025-11.csv", CAPA_HEADER, CAPA_ROWS)
        [source] = sources_of(path)
        assert (source.record_type, source.type_from) == ("capa", "file name")
        [batch] = import_files(session, paths=[path], store=store)
        assert batch.record_type == "capa"

    def test_a_name_without_a_type_is_refused(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "capacity.csv", CAPA_HEADER, CAPA_ROWS)
        with pytest.raises(InvalidInput, match="cannot tell the record type"):
            sources_of(path)


def test_the_fast_parsers_and_the_sql_rules_agree_at_the_limits(
    session: Session, store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Values at the very edge of the rules stay on the fast path, with the SQL rules' values.
    import qmm.events.importer as importer

    em = [list(EM_ROWS[0]), list(EM_ROWS[1])]
    em[0][EM_HEADER.index("sampled_at")] = "2025-03-04T23:30:00+14:00"
    em[1][EM_HEADER.index("sampled_at")] = "2025-03-04T08:00:00-1400"
    em[1][EM_HEADER.index("response_at")] = "2026-03-01T23:59:59Z"
    em[1][EM_HEADER.index("result_at")] = "2025-03-07T08:00:00Z"  # one form per column
    capa = [list(r) for r in CAPA_ROWS]
    capa[0][CAPA_HEADER.index("opened_on")] = "0001-01-01"
    capa[1][CAPA_HEADER.index("due_on")] = "2026-03-01"
    capa[2][CAPA_HEADER.index("capa_id")] = "CAPA-\u00e9\u2027\u202f3"  # not controls
    files = {
        "em_sample": write_csv(tmp_path / "em_sample.csv", EM_HEADER, em),
        "capa": write_csv(tmp_path / "capa.csv", CAPA_HEADER, capa),
    }
    fast_results: list[bool] = []
    original = importer._fast_types

    def spy(*args: Any) -> Any:
        result = original(*args)
        fast_results.append(result is not None)
        return result

    def read_all() -> dict[str, list[dict[str, Any]]]:
        savepoint = session.begin_nested()
        import_files(
            session, paths=list(files.values()), store=store, extracted_on=date(2025, 3, 1)
        )
        found = {name: current(store, session, name) for name in files}
        savepoint.rollback()
        return found

    monkeypatch.setattr(importer, "_fast_types", spy)
    fast = read_all()
    assert fast_results == [True, True]
    monkeypatch.setattr(importer, "_fast_types", lambda *args: None)
    assert read_all() == fast
