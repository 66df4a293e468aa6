"""`qmm export`: each table as CSV on stdout or a file, XLSX to a file, clear refusals, and never
a partial file."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from factories import (
    create_alice,
    create_assessment_of,
    create_bob,
    create_evidence,
    create_site_a,
    create_site_b,
    create_tiny_framework,
)
from qmm.assessment.service import get_question, record_rating
from qmm.auth.service import grant_role
from qmm.cli.main import app
from qmm.db import unit_of_work
from web.support import CAPA_COLUMNS, capa_rows, csv_bytes

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder for the exports alone (the command's database lives in tmp_path)."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


@pytest.fixture
def assessment_id(cli_database: str) -> int:
    """SITE-A with an assessment rated by Bob, evidence, and Alice viewing SITE-B only."""
    qmm("init")
    with unit_of_work() as session:
        site_a = create_site_a(session)
        site_b = create_site_b(session)
        alice, bob = create_alice(session), create_bob(session)
        grant_role(session, user=alice, role="viewer", site=site_b)
        grant_role(session, user=bob, role="site_quality_lead", site=site_a)
        assessment = create_assessment_of(
            session, site_a, bob, framework=create_tiny_framework(session)
        )
        record_rating(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code="m1.q1"),
            assessor=bob,
            score=4,
            rationale='=HYPERLINK("https://evil.example.invalid")',
            evidence_refs=["EV-0001"],
        )
        create_evidence(session, site_a, title="@Deviation SOP")
        return assessment.id


@pytest.fixture
def capas(assessment_id: int, tmp_path: Path) -> None:
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    qmm("import", str(path))


def test_every_export_command_has_help() -> None:
    assert "ratings" in qmm("export", "--help")
    for command in ("ratings", "evidence", "kpis"):
        output = qmm("export", command, "--help")
        assert "--format" in output
        assert "--out" in output


def test_ratings_go_to_stdout_as_csv_with_formulas_neutralised(assessment_id: int) -> None:
    header, row = rows_of(qmm("export", "ratings", "--assessment", str(assessment_id)))
    assert header[:3] == ["site", "assessment_id", "framework"]
    named = dict(zip(header, row, strict=True))
    assert (named["question"], named["assessor"], named["score"]) == ("m1.q1", "bob", "4")
    assert named["rationale"] == '\'=HYPERLINK("https://evil.example.invalid")'
    assert named["evidence_refs"] == "EV-0001"


def test_the_evidence_index_goes_to_an_xlsx_file(assessment_id: int, folder: Path) -> None:
    out = folder / "evidence.xlsx"
    output = qmm(
        "export",
        "evidence",
        "SITE-A",
        "--as-of",
        "2026-06-30",
        "--format",
        "xlsx",
        "--out",
        str(out),
    )
    assert f"Wrote 1 row(s) to {out}" in output
    sheet = openpyxl.load_workbook(out).active
    assert sheet.title == "Evidence index"
    title = sheet["C2"]
    assert (title.value, title.data_type, title.quotePrefix) == ("@Deviation SOP", "s", True)
    assert os.listdir(folder) == ["evidence.xlsx"]


def test_the_same_export_twice_gives_the_same_file(assessment_id: int, folder: Path) -> None:
    first, second = folder / "a.xlsx", folder / "b.xlsx"
    for out in (first, second):
        qmm(
            "export",
            "ratings",
            "--assessment",
            str(assessment_id),
            "--format",
            "xlsx",
            "--out",
            str(out),
        )
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.usefixtures("capas")
def test_kpi_series_have_limits_and_signals(folder: Path) -> None:
    out = folder / "kpis.csv"
    qmm(
        "export",
        "kpis",
        "SITE-A",
        "--kpi",
        "capa_effectiveness",
        "--as-of",
        "2026-06-30",
        "--out",
        str(out),
    )
    header, *rows = rows_of(out.read_text(encoding="utf-8"))
    assert len(rows) == 12
    june = dict(zip(header, rows[5], strict=True))
    assert (june["period"], june["numerator"], june["denominator"]) == ("2025-06", "6", "30")
    assert "rule 1" in june["signal_rules"]
    quarters = rows_of(
        qmm("export", "kpis", "SITE-A", "--kpi", "capa_effectiveness", "--period", "quarter")
    )
    assert [r[4] for r in quarters[1:]] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ratings", "--assessment", "999"), "no assessment 999"),
        (("evidence", "SITE-Z"), "no site with code 'SITE-Z'"),
        (("kpis", "SITE-Z"), "no site with code 'SITE-Z'"),
        (("kpis", "SITE-A", "--kpi", "capa_speed"), "unknown KPI 'capa_speed'"),
        (("evidence", "SITE-A", "--as-of", "June"), "--as-of 'June' must be a date"),
        (("evidence", "SITE-A", "--format", "xlsx"), "name it with --out FILE"),
    ],
)
def test_bad_input_is_refused_with_exit_2(
    assessment_id: int, args: tuple[str, ...], message: str
) -> None:
    output = qmm("export", *args, code=2)
    assert message in " ".join(output.split())


@pytest.mark.parametrize(
    "args",
    [("evidence", "SITE-A", "--format", "pdf"), ("kpis", "SITE-A", "--period", "week")],
)
def test_an_unknown_choice_is_a_usage_error(assessment_id: int, args: tuple[str, ...]) -> None:
    qmm("export", *args, code=2)


def test_an_unwritable_out_is_refused_and_leaves_no_file(assessment_id: int, folder: Path) -> None:
    missing = folder / "no-such-folder" / "evidence.csv"
    output = qmm("export", "evidence", "SITE-A", "--out", str(missing), code=2)
    assert "cannot write" in output
    assert not missing.parent.exists()
    output = qmm("export", "evidence", "SITE-A", "--out", str(folder), code=2)
    assert "is a folder" in output


def test_a_failed_write_keeps_the_previous_file_whole(
    assessment_id: int, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = folder / "evidence.csv"
    out.write_text("the previous export\n")

    def full_disk(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    output = qmm("export", "evidence", "SITE-A", "--out", str(out), code=2)
    assert "No space left on device" in output
    assert out.read_text() == "the previous export\n"
    assert os.listdir(folder) == ["evidence.csv"]


def test_the_acting_user_needs_read_permission_there(assessment_id: int) -> None:
    output = qmm("--as", "alice", "export", "evidence", "SITE-A", code=2)
    assert "alice has no site:read permission at SITE-A" in output
    output = qmm("--as", "alice", "export", "ratings", "--assessment", str(assessment_id), code=2)
    assert f"alice has no assessment:read permission on assessment {assessment_id}" in " ".join(
        output.split()
    )
    assert "EV-0001" in qmm("--as", "bob", "export", "evidence", "SITE-A")
