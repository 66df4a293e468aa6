"""`qmm report`: the readiness report to an HTML or PDF file, clear refusals before any work,
the acting user's rights, and never a partial file."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import (
    create_alice,
    create_assessment_of,
    create_bob,
    create_evidence,
    create_site_a,
    create_site_b,
    rate_sub_elements,
)
from qmm.auth.service import grant_role
from qmm.cli.main import app
from qmm.db import unit_of_work

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return " ".join(result.output.split())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "reports"
    path.mkdir()
    return path


@pytest.fixture
def assessment_id(cli_database: str) -> int:
    """SITE-A with an assessment led by Bob; Alice may read SITE-B only."""
    qmm("init")
    with unit_of_work() as session:
        site_a = create_site_a(session)
        site_b = create_site_b(session)
        alice, bob = create_alice(session), create_bob(session)
        grant_role(session, user=alice, role="viewer", site=site_b)
        grant_role(session, user=bob, role="site_quality_lead", site=site_a)
        assessment = create_assessment_of(session, site_a, bob)
        rate_sub_elements(session, assessment, bob, {"management_review": 2.0})
        create_evidence(session, site_a)
        return assessment.id


def test_it_writes_the_html_report(assessment_id: int, folder: Path) -> None:
    out = folder / "SITE-A.html"
    output = qmm("report", "--site", "SITE-A", "--format", "html", "--out", str(out))
    assert f"Wrote the readiness report of SITE-A (assessment A-{assessment_id}" in output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Management review and oversight" in html
    assert "2.00" in html


def test_it_writes_the_pdf_report(assessment_id: int, folder: Path) -> None:
    out = folder / "SITE-A.pdf"
    qmm("report", "--site", "SITE-A", "--out", str(out), "--as-of", "2026-11-01")
    assert out.read_bytes().startswith(b"%PDF-")


def test_it_writes_the_one_page_summary(assessment_id: int, folder: Path) -> None:
    out = folder / "SITE-A-summary.pdf"
    output = qmm("report", "--site", "SITE-A", "--summary", "--out", str(out))
    assert f"Wrote the readiness summary of SITE-A (assessment A-{assessment_id}" in output
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+1$", info.stdout, re.MULTILINE), info.stdout
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "At a glance: SITE-A" in text
    assert "Management Commitment to Quality" in text
    assert "Top gaps" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--site", "SITE-Z"), "no site with code 'SITE-Z'"),
        (("--site", "SITE-B"), "SITE-B has no assessment yet"),
        (("--site", "SITE-A", "--assessment", "999"), "no assessment 999"),
        (("--site", "SITE-A", "--as-of", "June"), "--as-of 'June' must be a date"),
        (("--site", "SITE-A", "--as-of", "2999-01-01"), "is after today"),
        (
            ("--site", "SITE-A", "--as-of", "2026-01-01", "--since", "2026-02-01"),
            "the period's first day 2026-02-01 is after the report date 2026-01-01",
        ),
    ],
)
def test_bad_input_is_refused_with_exit_2_and_no_file(
    assessment_id: int, folder: Path, args: tuple[str, ...], message: str
) -> None:
    out = folder / "report.pdf"
    output = qmm("report", *args, "--out", str(out), code=2)
    assert message in output
    assert os.listdir(folder) == []


def test_an_unknown_format_is_a_usage_error(assessment_id: int, folder: Path) -> None:
    qmm("report", "--site", "SITE-A", "--format", "docx", "--out", str(folder / "r"), code=2)


def test_an_unwritable_out_is_refused_before_any_work(assessment_id: int, folder: Path) -> None:
    output = qmm("report", "--site", "SITE-A", "--out", str(folder), code=2)
    assert "is a folder" in output
    output = qmm("report", "--site", "SITE-A", "--out", str(folder / "no" / "r.pdf"), code=2)
    assert "does not exist" in output


def test_a_failed_write_keeps_the_previous_file_whole(
    assessment_id: int, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = folder / "report.html"
    out.write_text("the previous report\n")

    def full_disk(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    output = qmm("report", "--site", "SITE-A", "--format", "html", "--out", str(out), code=2)
    assert "No space left on device" in output
    assert out.read_text() == "the previous report\n"
    assert os.listdir(folder) == ["report.html"]


def test_the_acting_user_needs_to_read_the_site_and_the_assessment(
    assessment_id: int, folder: Path
) -> None:
    out = folder / "r.html"
    output = qmm("--as", "alice", "report", "--site", "SITE-A", "--out", str(out), code=2)
    assert "alice has no site:read permission at SITE-A" in output
    qmm("--as", "bob", "report", "--site", "SITE-A", "--format", "html", "--out", str(out))
    assert out.exists()
