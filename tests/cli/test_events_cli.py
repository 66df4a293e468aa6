"""Demo extracts, import, metrics, drill-down and control charts from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()
CONTRACT_KEYS = [
    "kpi",
    "site",
    "period",
    "group",
    "value",
    "numerator",
    "denominator",
    "complete",
    "as_of",
]


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("extracts")
    result = runner.invoke(app, ["demo-data", "--out", str(out), "--sites", "2", "--years", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_import_then_metrics_drill_down_and_charts(cli_database: str, extracts: Path) -> None:
    qmm("init")
    imported = json.loads(
        qmm(
            "import",
            str(extracts),
            "--create-sites",
            "--extracted-on",
            "2026-10-31",
            "--format",
            "json",
        )
    )
    assert {b["record_type"] for b in imported} >= {"capa", "deviation", "em_sample"}
    assert all(b["rows"] == b["rows_new"] for b in imported)
    assert {b["extracted_on"] for b in imported} == {"2026-10-31"}

    values = json.loads(
        qmm(
            "metrics",
            "--kpi",
            "capa_on_time_closure",
            "--site",
            "SITE-A",
            "--period",
            "quarter",
            "--format",
            "json",
        )
    )
    assert values
    assert all(list(v) == CONTRACT_KEYS for v in values)
    # As of the extract date, not today: no period after it, and its quarter is partial.
    assert {v["as_of"] for v in values} == {"2026-10-31"}
    assert max(v["period"] for v in values) == "2026-Q4"
    assert [v["complete"] for v in values if v["period"] == "2026-Q4"] == [False]
    assert all(v["complete"] for v in values if v["period"] != "2026-Q4")
    voe = json.loads(qmm("metrics", "--kpi", "capa_voe_on_time", "--format", "json"))
    assert max(v["period"] for v in voe) <= "2026-10"
    with_data = next(v for v in values if v["denominator"])
    assert with_data["value"] == pytest.approx(with_data["numerator"] / with_data["denominator"])

    rows = json.loads(
        qmm(
            "metrics",
            "records",
            "--kpi",
            "capa_on_time_closure",
            "--site",
            "SITE-A",
            "--period",
            with_data["period"],
            "--format",
            "json",
        )
    )
    assert (
        sum(r["role"] == "denominator" or r["role"] == "numerator" for r in rows)
        >= (with_data["denominator"])
    )

    chart = json.loads(
        qmm(
            "metrics",
            "chart",
            "--kpi",
            "capa_on_time_closure",
            "--site",
            "SITE-A",
            "--format",
            "json",
        )
    )
    assert chart["kind"] == "p"
    vega = json.loads(
        qmm(
            "metrics",
            "chart",
            "--kpi",
            "change_cycle_time_days",
            "--site",
            "SITE-A",
            "--group",
            "high",
            "--format",
            "vega",
        )
    )
    assert "vega-lite" in vega["$schema"]

    # A baseline: its limits, both phases named, and every month on the axis.
    based = json.loads(
        qmm(
            "metrics",
            "chart",
            "--kpi",
            "capa_on_time_closure",
            "--site",
            "SITE-A",
            "--baseline",
            f"{chart['labels'][0]}:{chart['labels'][5]}",
            "--format",
            "json",
        )
    )
    assert based["baseline"] == {"from": chart["labels"][0], "to": chart["labels"][5]}
    assert set(based["phases"]) == {"baseline", "monitoring"}
    assert based["labels"] == chart["labels"]
    table = qmm("metrics", "chart", "--kpi", "em_open_excursions", "--site", "SITE-A")
    assert "monitoring" not in table
    for bad, message in (
        ("2025-01", "must be FROM:TO"),
        ("1999-01:1999-06", "'1999-01' is not a period of this chart"),
        (f"{chart['labels'][5]}:{chart['labels'][0]}", "after its end"),
    ):
        said = " ".join(
            qmm(
                "metrics",
                "chart",
                "--kpi",
                "capa_on_time_closure",
                "--site",
                "SITE-A",
                "--baseline",
                bad,
                code=2,
            ).split()
        )
        assert message in said
    assert "B-FILL-02" in qmm("metrics", "em-trend", "--site", "SITE-A")
    csv_text = qmm("metrics", "--kpi", "em_recovery_rate", "--site", "SITE-A", "--format", "csv")
    assert csv_text.splitlines()[0] == ",".join(CONTRACT_KEYS)

    again = json.loads(qmm("import", str(extracts / "capa.csv"), "--format", "json"))
    assert again[0]["rows_unchanged"] == again[0]["rows"]
    said = " ".join(qmm("import", str(extracts / "capa.csv")).split())
    assert "capa.csv: no change, every row is identical to the stored records" in said


def test_a_bad_or_future_extract_date_imports_nothing(cli_database: str, extracts: Path) -> None:
    qmm("init")
    bad = qmm("import", str(extracts / "capa.csv"), "--extracted-on", "31/10/2026", code=2)
    assert "--extracted-on '31/10/2026' must be a date as YYYY-MM-DD" in bad
    future = qmm("import", str(extracts / "capa.csv"), "--extracted-on", "2999-01-01", code=2)
    assert "extracted_on 2999-01-01 is after today" in " ".join(future.split())
    assert json.loads(qmm("metrics", "--format", "json")) == []


def test_a_bad_file_imports_nothing_and_lists_every_error(
    cli_database: str, tmp_path: Path
) -> None:
    qmm("init")
    bad = tmp_path / "capa.csv"
    bad.write_text(
        "capa_id,site,opened_on,due_on,root_cause_category,closed_on\n"
        "C-1,SITE-A,2025-01-10,2025-02-10,equipment,2025-01-05\n"
        "C-2,SITE-A,2025-13-01,2025-02-10,equipment,\n"
        "C-3,SITE-A,2025-01-10,2025-02-10,,\n"
    )
    output = qmm("import", str(bad), code=2)
    assert "row 2" in output
    assert "row 3" in output
    assert "row 4" in output
    assert json.loads(qmm("metrics", "--kpi", "capa_on_time_closure", "--format", "json")) == []
    log = json.loads(qmm("audit", "log", "--table", "import_batches", "--format", "json"))
    assert log == []


def test_an_unknown_record_type_is_named(cli_database: str, tmp_path: Path) -> None:
    qmm("init")
    odd = tmp_path / "widgets.csv"
    odd.write_text("a,b\n1,2\n")
    assert "widgets" in qmm("import", str(odd), code=2)


def test_store_orphans_lists_then_removes_files_no_import_owns(
    cli_database: str, tmp_path: Path
) -> None:
    qmm("init")
    good = tmp_path / "capa.csv"
    good.write_text(
        "capa_id,site,opened_on,due_on,root_cause_category,closed_on\n"
        "C-1,SITE-A,2025-01-10,2025-02-10,equipment,2025-01-30\n"
    )
    qmm("import", str(good), "--create-sites")
    assert "No orphaned files" in qmm("store-orphans", "--min-age-hours", "0")
    folder = Path(os.environ["QMM_DATA_DIR"]) / "events" / "tables" / "capa"
    owned = sorted(folder.rglob("*"))
    # A data file of a table version whose import was killed before its batch was recorded.
    left_by_a_killed_import = folder / "_part=SITE-A" / "part-00000-0123abcd-c000.snappy.parquet"
    left_by_a_killed_import.write_bytes(b"half a file")
    assert "No orphaned files" in qmm("store-orphans")  # younger than an hour: left alone
    listed = qmm("store-orphans", "--min-age-hours", "0")
    assert "1 orphaned file" in listed
    assert left_by_a_killed_import.exists()
    assert "Removed: 1 orphaned file" in qmm("store-orphans", "--min-age-hours", "0", "--remove")
    assert sorted(folder.rglob("*")) == owned
    rows = json.loads(qmm("metrics", "--kpi", "capa_on_time_closure", "--format", "json"))
    assert [(r["numerator"], r["denominator"]) for r in rows] == [(1, 1)]


def test_store_orphans_refuses_a_negative_age(cli_database: str) -> None:
    qmm("init")
    assert "min-age-hours" in qmm("store-orphans", "--min-age-hours", "-1", code=2)


@pytest.mark.parametrize(
    ("kpi", "period", "message"),
    [
        ("capa_on_time_closure", "2025-13", "not a month label '2025-13'"),
        ("capa_on_time_closure", "2025-Q7", "not a quarter label '2025-Q7'"),
        ("nope", "2025-03", "unknown KPI 'nope'"),
    ],
)
def test_metrics_records_names_a_bad_period_or_kpi(
    cli_database: str, kpi: str, period: str, message: str
) -> None:
    qmm("init")
    output = qmm("metrics", "records", "--kpi", kpi, "--site", "SITE-A", "--period", period, code=2)
    assert message in output


def test_an_import_whose_database_changed_meanwhile_is_run_again(
    cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program commits while the import merges: the import retries, not fails.

    On SQLite a transaction that read before another connection's commit cannot then write
    ("database is locked" at once, no waiting); the command starts its work again.
    """
    from events.support import CAPA_HEADER, CAPA_ROWS, write_csv
    from factories import create_site_b
    from qmm.db import make_engine, unit_of_work
    from qmm.events import store as store_module

    qmm("init")
    extract = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    other = make_engine(cli_database)
    real_merge = store_module.EventStore.merge
    writes: list[int] = []

    def merge_while_another_commits(*args: Any, **kwargs: Any) -> int:
        version = real_merge(*args, **kwargs)
        writes.append(1)
        if len(writes) == 1:
            with unit_of_work(other) as session:
                create_site_b(session)
        return version

    monkeypatch.setattr(store_module.EventStore, "merge", merge_while_another_commits)
    output = qmm("import", str(extract), "--create-sites", "--format", "json")
    imported = json.loads(output[output.index("[") :])
    other.dispose()
    assert [b["rows"] for b in imported] == [len(CAPA_ROWS)]
    assert "SITE-B" in qmm("site", "list")  # the other program's write stands
    if cli_database.startswith("sqlite"):
        assert "Importing again (attempt 2 of 3)" in output


def test_an_import_checks_its_files_holding_no_transaction(
    cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program commits while the import checks its file: the import stores at once.

    The checks (the slow part) run before the import's transaction begins, so a commit made
    meanwhile neither waits for the import nor makes it start again.
    """
    from events.support import CAPA_HEADER, CAPA_ROWS, write_csv
    from factories import create_site_b
    from qmm.db import make_engine, unit_of_work
    from qmm.events import importer

    qmm("init")
    extract = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    other = make_engine(cli_database)
    real_validate = importer._validate
    checks: list[int] = []

    def validate_while_another_commits(*args: Any, **kwargs: Any) -> Any:
        checks.append(1)
        if len(checks) == 1:
            with unit_of_work(other) as session:
                create_site_b(session)  # would wait, or fail, were the write lock held
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(importer, "_validate", validate_while_another_commits)
    output = qmm("import", str(extract), "--create-sites", "--format", "json")
    imported = json.loads(output[output.index("[") :])
    other.dispose()
    assert [b["rows"] for b in imported] == [len(CAPA_ROWS)]
    assert "SITE-B" in qmm("site", "list")
    assert "Importing again" not in output
    assert checks == [1]  # the file was read and checked once


def test_records_as_csv_neutralise_text_a_spreadsheet_would_run(
    cli_database: str, tmp_path: Path
) -> None:
    from events.support import CAPA_HEADER, write_csv

    qmm("init")
    extract = write_csv(
        tmp_path / "capa.csv",
        CAPA_HEADER,
        [["=2+3", "SITE-A", "2025-01-06", "2025-02-06", "training", "2025-01-30"]],
    )
    qmm("import", str(extract), "--create-sites")
    out = qmm(
        "metrics", "records", "--kpi", "capa_on_time_closure", "--site", "SITE-A",
        "--period", "2025-01", "--format", "csv",
    )  # fmt: skip
    text = out[out.index("role") :]
    assert "'=2+3" in text
    assert ",=2+3" not in text
