"""Every validation rule of the data contract names the bad value and the row it is in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import CAPA_HEADER, CAPA_ROWS, EM_HEADER, EM_ROWS, current, write_csv
from qmm.errors import InvalidFile, RowProblem
from qmm.events.importer import MAX_PROBLEMS, import_files, validate_file
from qmm.events.store import EventStore
from qmm.models import ImportBatch

Rows = Sequence[Sequence[str]]


def problems_of(
    session: Session,
    store: EventStore,
    path: Path,
) -> list[RowProblem]:
    """Import a file that must be refused; check nothing was stored; return its problems."""
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store)
    assert caught.value.path == str(path)
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    stored = [p for p in store.directory.rglob("*") if p.is_file()]
    assert stored == []
    return caught.value.problems


def replaced(
    rows: Rows, row: int, column: str, value: str, header: Sequence[str]
) -> list[list[str]]:
    """The rows with one cell changed; row is the file row number (header = row 1)."""
    copy = [list(r) for r in rows]
    copy[row - 2][list(header).index(column)] = value
    return copy


CAPA_CASES = [
    ("opened_on", "2025-13-01", "not a date in the form YYYY-MM-DD"),
    ("opened_on", "2025/01/06", "not a date in the form YYYY-MM-DD"),
    ("opened_on", "2025-1-6", "not a date in the form YYYY-MM-DD"),
    ("due_on", "06.02.2025", "not a date in the form YYYY-MM-DD"),
    ("due_on", "2025-02-30", "not a date in the form YYYY-MM-DD"),
    ("root_cause_category", "", "required value is missing"),
    ("capa_id", "   ", "required value is missing"),
]


@pytest.mark.parametrize(("column", "value", "reason"), CAPA_CASES)
def test_a_bad_capa_value_is_named_with_its_row(
    session: Session, store: EventStore, tmp_path: Path, column: str, value: str, reason: str
) -> None:
    rows = replaced(CAPA_ROWS, 3, column, value, CAPA_HEADER)
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
    assert problems_of(session, store, path) == [RowProblem(3, column, value.strip(), reason)]


EM_CASES = [
    ("sampled_at", "2025-03-04", "not an ISO 8601 timestamp"),
    ("sampled_at", "2025-03-04T10:15:00 Europe/Paris", "not an ISO 8601 timestamp"),
    ("sampled_at", "04/03/2025 10:15", "not an ISO 8601 timestamp"),
    ("result_at", "2025-03-06T25:00:00Z", "not an ISO 8601 timestamp"),
    ("cfu", "three", "not a number"),
    ("cfu", "nan", "not a number"),
    ("alert_limit", "1_000", "not a number"),
    ("action_limit", "1,5", "not a number"),
    ("grade", "E", "not one of: A, B, C, D"),
    ("grade", "a", "not one of: A, B, C, D"),
    ("method", "swab", "not one of: active_air, settle_plate, contact_plate, glove"),
    ("room", "", "required value is missing"),
]


@pytest.mark.parametrize(("column", "value", "reason"), EM_CASES)
def test_a_bad_em_sample_value_is_named_with_its_row(
    session: Session, store: EventStore, tmp_path: Path, column: str, value: str, reason: str
) -> None:
    rows = replaced(EM_ROWS, 2, column, value, EM_HEADER)
    path = write_csv(tmp_path / "em_sample.csv", EM_HEADER, rows)
    [problem] = problems_of(session, store, path)
    assert (problem.row, problem.column, problem.value) == (2, column, value)
    assert problem.reason.startswith(reason)


CC = ["change_id", "site", "opened_on", "risk_tier", "target_days"]
CC_GOOD = ["CC-0", "SITE-A", "2025-01-01", "high", "30"]
COMPLAINT = ["complaint_id", "site", "product", "received_on", "quality_related"]
COMPLAINT_GOOD = ["CMP-0", "SITE-A", "Tablets", "2025-01-01", "yes"]
DISTRIBUTION = ["site", "product", "month", "units"]
DISTRIBUTION_GOOD = ["SITE-A", "Capsules", "2025-03", "1000"]


@pytest.mark.parametrize(
    ("record_type", "header", "good", "bad", "column", "reason"),
    [
        (
            "change_control",
            CC,
            CC_GOOD,
            ["CC-1", "SITE-A", "2025-01-01", "high", "1.5"],
            "target_days",
            "not a whole number",
        ),
        (
            "change_control",
            CC,
            CC_GOOD,
            ["CC-1", "SITE-A", "2025-01-01", "high", "0x10"],
            "target_days",
            "not a whole number",
        ),
        (
            "change_control",
            CC,
            CC_GOOD,
            ["CC-1", "SITE-A", "2025-01-01", "severe", ""],
            "risk_tier",
            "not one of: high, medium, low",
        ),
        (
            "complaint",
            COMPLAINT,
            COMPLAINT_GOOD,
            ["CMP-1", "SITE-A", "Tablets", "2025-01-01", "maybe"],
            "quality_related",
            "not a boolean (true/false, yes/no or 1/0)",
        ),
        (
            "distribution",
            DISTRIBUTION,
            DISTRIBUTION_GOOD,
            ["SITE-A", "Tablets", "2025-13", "1000"],
            "month",
            "not a month in the form YYYY-MM",
        ),
        (
            "distribution",
            DISTRIBUTION,
            DISTRIBUTION_GOOD,
            ["SITE-A", "Tablets", "2025-3", "1000"],
            "month",
            "not a month in the form YYYY-MM",
        ),
        (
            "distribution",
            DISTRIBUTION,
            DISTRIBUTION_GOOD,
            ["SITE-A", "Tablets", "2025-03", "many"],
            "units",
            "not a number",
        ),
    ],
)
def test_integers_booleans_months_and_allowed_values_are_checked(
    session: Session,
    store: EventStore,
    tmp_path: Path,
    record_type: str,
    header: list[str],
    good: list[str],
    bad: list[str],
    column: str,
    reason: str,
) -> None:
    path = write_csv(tmp_path / f"{record_type}.csv", header, [good, bad])
    value = bad[header.index(column)]
    assert problems_of(session, store, path) == [RowProblem(3, column, value, reason)]


def test_a_date_before_the_date_it_must_follow_is_invalid(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = replaced(CAPA_ROWS, 2, "closed_on", "2025-01-05", CAPA_HEADER)
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
    assert problems_of(session, store, path) == [
        RowProblem(2, "closed_on", "2025-01-05", "is before opened_on 2025-01-06")
    ]


def test_timestamp_order_compares_instants_across_offsets(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    # 09:30+00:00 is after 08:00 UTC, but 09:30+02:00 (07:30 UTC) is before it.
    rows = replaced(EM_ROWS, 3, "response_at", "2025-03-07T09:30:00+02:00", EM_HEADER)
    path = write_csv(tmp_path / "em_sample.csv", EM_HEADER, rows)
    [problem] = problems_of(session, store, path)
    assert (problem.row, problem.column) == (3, "response_at")
    assert problem.reason == "is before result_at 2025-03-07T08:00:00"


def test_a_repeated_key_names_the_row_it_repeats(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = [*CAPA_ROWS, CAPA_ROWS[0]]
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
    assert problems_of(session, store, path) == [
        RowProblem(
            5,
            "site, capa_id",
            "SITE-A / CAPA-1",
            "duplicate key: row 2 has the same (site, capa_id)",
        )
    ]


def test_the_same_id_at_two_sites_is_two_records(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = [*CAPA_ROWS, ["CAPA-1", "SITE-B", "2025-01-06", "2025-02-06", "training", ""]]
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
    [batch] = import_files(session, paths=[path], store=store)
    assert batch.rows == 4


def test_a_missing_required_column_is_one_problem_at_row_1(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = [h for h in CAPA_HEADER if h != "due_on"]
    rows = [[v for h, v in zip(CAPA_HEADER, r, strict=True) if h != "due_on"] for r in CAPA_ROWS]
    path = write_csv(tmp_path / "capa.csv", header, rows)
    assert problems_of(session, store, path) == [
        RowProblem(1, "due_on", "", "required column is missing")
    ]


def test_a_column_given_twice_is_refused(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = [*CAPA_HEADER, "Site"]
    rows = [[*r, r[1]] for r in CAPA_ROWS]
    path = write_csv(tmp_path / "capa.csv", header, rows)
    [problem] = problems_of(session, store, path)
    assert (problem.row, problem.column, problem.value) == (1, "site", "Site")
    assert "given twice" in problem.reason


def test_a_row_with_the_wrong_number_of_cells_is_named(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    lines = path.read_text().splitlines()
    lines.insert(2, "CAPA-9,SITE-A,2025-01-01")
    lines.append("CAPA-8,SITE-A,2025-01-01,2025-01-02,x,,surplus")
    path.write_text("\n".join(lines) + "\n")
    problems = problems_of(session, store, path)
    assert [(p.row, p.value) for p in problems] == [
        (3, "CAPA-9,SITE-A,2025-01-01"),
        (6, "CAPA-8,SITE-A,2025-01-01,2025-01-02,x,,surplus"),
    ]
    assert problems[0].reason == "has 3 cells where the header has 6"


def test_every_problem_of_every_row_is_reported_at_once_in_row_order(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = [
        ["CAPA-1", "SITE-A", "2025-01-06", "2025-02-06", "training", "2025-01-01"],
        ["CAPA-2", "SITE-A", "yesterday", "2025-03-10", "", ""],
        ["CAPA-3", "", "2025-02-01", "soon", "procedure", ""],
        ["CAPA-1", "SITE-A", "2025-01-06", "2025-02-06", "training", ""],
    ]
    path = write_csv(
        tmp_path / "capa.csv", [*CAPA_HEADER, "severity"], [[*r, "major"] for r in rows]
    )
    problems = problems_of(session, store, path)
    assert [(p.row, p.column, p.value) for p in problems] == [
        (2, "closed_on", "2025-01-01"),
        (3, "opened_on", "yesterday"),
        (3, "root_cause_category", ""),
        (4, "site", ""),
        (4, "due_on", "soon"),
        (5, "site, capa_id", "SITE-A / CAPA-1"),
    ]


def test_a_long_list_of_problems_is_cut_and_says_how_many_more(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    rows = [[f"CAPA-{i}", "SITE-A", "bad", "2025-02-06", "x", ""] for i in range(1500)]
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
    with pytest.raises(InvalidFile) as caught:
        import_files(session, paths=[path], store=store)
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert caught.value.problems[0].row == 2
    assert "and 500 more problems not listed (1500 in all)" in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    path.write_bytes(
        path.read_bytes() + "CAPA-4,SITE-A,2025-01-01,2025-01-02,Ursache ä,\n".encode("latin-1")
    )
    [problem] = problems_of(session, store, path)
    assert problem.row == 5
    assert "not UTF-8" in problem.reason


def test_validate_file_checks_without_storing(store: EventStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    validated = validate_file(path, record_type=None, profile=None)
    assert (validated.record_type, validated.rows) == ("capa", 3)
    assert validated.table.column("capa_id").to_pylist() == ["CAPA-1", "CAPA-2", "CAPA-3"]
    assert validated.table.column("_row").to_pylist() == [2, 3, 4]
    assert not store.directory.exists()


# -- what is accepted, and how it is stored ---------------------------------------------------


def test_booleans_accept_true_false_yes_no_1_0_in_any_case(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = ["complaint_id", "site", "product", "received_on", "quality_related"]
    values = ["TRUE", "False", "yes", "No", "1", "0", "tRuE"]
    rows = [[f"C-{i}", "SITE-A", "Tablets", "2025-01-01", v] for i, v in enumerate(values)]
    import_files(session, paths=[write_csv(tmp_path / "complaint.csv", header, rows)], store=store)
    stored = [r["quality_related"] for r in current(store, session, "complaint")]
    assert stored == [True, False, True, False, True, False, True]


def test_whole_numbers_may_be_written_as_decimals_and_numbers_in_any_notation(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = ["change_id", "site", "opened_on", "risk_tier", "target_days"]
    rows = [
        ["CC-1", "SITE-A", "2025-01-01", "high", "90.0"],
        ["CC-2", "SITE-A", "2025-01-01", "low", "30"],
    ]
    import_files(
        session, paths=[write_csv(tmp_path / "change_control.csv", header, rows)], store=store
    )
    assert [r["target_days"] for r in current(store, session, "change_control")] == [90, 30]
    header = ["site", "product", "month", "units"]
    rows = [["SITE-A", "Tablets", "2025-03", "1.5e6"], ["SITE-A", "Capsules", "2025-03", "-0.25"]]
    import_files(
        session, paths=[write_csv(tmp_path / "distribution.csv", header, rows)], store=store
    )
    stored = {r["product"]: r["units"] for r in current(store, session, "distribution")}
    assert stored == {"Tablets": 1_500_000.0, "Capsules": -0.25}


def test_timestamps_with_offsets_are_stored_in_utc_and_without_an_offset_taken_as_utc(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "em_sample.csv", EM_HEADER, EM_ROWS)
    import_files(session, paths=[path], store=store)
    em1, em2 = current(store, session, "em_sample")
    assert em1["sampled_at"] == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert em1["result_at"] == datetime(2025, 3, 6, 10, 0, tzinfo=UTC)
    assert em1["response_at"] is None
    assert em2["sampled_at"] == datetime(2025, 3, 5, 4, 30, tzinfo=UTC)
    assert em2["result_at"] == datetime(2025, 3, 7, 8, 0, tzinfo=UTC)
    assert em2["response_at"] == datetime(2025, 3, 7, 9, 30, tzinfo=UTC)
    assert em2["cfu"] == 3.0


def test_unusual_but_valid_iso_forms_give_the_same_values_as_the_common_ones(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    # Arrow's fast parser refuses these forms; the SQL rules accept and type them.
    rows = [list(r) for r in EM_ROWS]
    rows[0][EM_HEADER.index("sampled_at")] = "2025-03-04T10:15+0100"
    rows[1][EM_HEADER.index("sampled_at")] = "2025-03-04 23:30:00.123456789-05"
    path = write_csv(tmp_path / "em_sample.csv", EM_HEADER, rows)
    import_files(session, paths=[path], store=store)
    em1, em2 = current(store, session, "em_sample")
    assert em1["sampled_at"] == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert em2["sampled_at"] == datetime(2025, 3, 5, 4, 30, 0, 123456, tzinfo=UTC)
    assert em2["result_at"] == datetime(2025, 3, 7, 8, 0, tzinfo=UTC)


def test_a_bom_a_semicolon_delimiter_spaces_and_header_case_are_tolerated(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = ["CAPA_ID", " Site ", *CAPA_HEADER[2:]]
    rows = [[f" {r[0]} ", *r[1:]] for r in CAPA_ROWS]
    path = write_csv(tmp_path / "capa.csv", header, rows, delimiter=";")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    [batch] = import_files(session, paths=[path], store=store)
    assert batch.rows == 3
    stored = current(store, session, "capa")
    assert [r["capa_id"] for r in stored] == ["CAPA-1", "CAPA-2", "CAPA-3"]
    assert stored[0]["opened_on"] == date(2025, 1, 6)
    assert stored[1]["closed_on"] is None


def test_extra_columns_are_kept_as_json_and_a_quoted_line_break_is_one_value(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    header = [*CAPA_HEADER, "owner", "title"]
    rows = [[*r, "Bob", f"Title of {r[0]}"] for r in CAPA_ROWS]
    rows[1][-2] = ""
    rows[1][-1] = "first line\nsecond line"
    path = write_csv(tmp_path / "capa.csv", header, rows)
    import_files(session, paths=[path], store=store)
    stored = current(store, session, "capa", keep=["_row"])
    assert stored[0]["_extra"] == '{"owner":"Bob","title":"Title of CAPA-1"}'
    assert stored[1]["_extra"] == '{"owner":null,"title":"first line\\nsecond line"}'
    assert [r["_row"] for r in stored] == [2, 3, 4]


def test_the_fast_parsers_and_the_sql_rules_agree_on_every_valid_form(
    session: Session, store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Valid files take Arrow's fast parsers; the SQL rules are the reference. On forms the fast
    # parsers accept, the rules must accept too, with the same values.
    offsets = [
        "2025-03-04T10:15:00Z",
        "2025-03-04T10:15:00+01:00",
        "2025-03-04 10:15:00-0530",
        "2025-03-04T10:15:00.5+01",
        "2025-03-04T10:15:00.123456Z",
    ]
    naive = [
        "2025-03-06T10:00:00",
        "2025-03-06 10:00:00",
        "2025-03-06T10:00:00.25",
        "2025-03-07T00:00:00",
        "2025-03-06T23:59:59.999999",
    ]
    numbers = ["0", "1e3", ".5", "5.", "+3"]
    em = [
        [f"EM-{i}", "SITE-A", "R1", "A", "glove", offsets[i], numbers[i], "-0", "007", naive[i], ""]
        for i in range(5)
    ]
    files = {
        "em_sample": write_csv(tmp_path / "em_sample.csv", EM_HEADER, em),
        "change_control": write_csv(
            tmp_path / "change_control.csv",
            ["change_id", "site", "opened_on", "risk_tier", "target_days", "risk_assessment_done"],
            [
                [f"CC-{i}", "SITE-A", "2024-02-29", "low", days, flag]
                for i, (days, flag) in enumerate(
                    [("90", "TRUE"), ("90.0", "no"), ("1e2", "1"), ("-0", "")]
                )
            ],
        ),
        "distribution": write_csv(
            tmp_path / "distribution.csv",
            ["site", "product", "month", "units"],
            [["SITE-A", "T", "2025-01", "1"], ["SITE-A", "T", "2025-12", "2.5e6"]],
        ),
    }

    import qmm.events.importer as importer

    fast_results = []
    original = importer._fast_types

    def spy(*args: object) -> object:
        result = original(*args)  # type: ignore[arg-type]
        fast_results.append(result is not None)
        return result

    def read_all() -> dict[str, list[dict[str, object]]]:
        savepoint = session.begin_nested()
        import_files(session, paths=list(files.values()), store=store)
        found = {name: current(store, session, name) for name in files}
        savepoint.rollback()
        return found

    monkeypatch.setattr(importer, "_fast_types", spy)
    fast = read_all()
    assert fast_results == [True, True, True]
    monkeypatch.setattr(importer, "_fast_types", lambda *args: None)
    assert read_all() == fast
