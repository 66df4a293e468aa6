"""`qmm clause`: the library, vendor documents and their coverage from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def test_documents_coverage_and_clause_versions(cli_database: str) -> None:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    made = json.loads(
        qmm(
            "clause",
            "document-add",
            "--site",
            "SITE-A",
            "--type",
            "quality_agreement",
            "--vendor",
            "Halden Closures AG",
            "--title",
            "QA stoppers rev 3",
            "--owner",
            "Supplier Quality Manager",
            "--effective-on",
            "2026-01-05",
            "--link",
            "https://eqms.example.invalid/QA-3",
            "--clause",
            "maturity_reviews",
            "--clause",
            "reciprocal_capa",
            "--format",
            "json",
        )
    )
    assert made["clauses"] == ["maturity_reviews", "reciprocal_capa"]
    coverage = json.loads(qmm("clause", "coverage", "--site", "SITE-A", "--format", "json"))
    assert coverage[0]["missing"] == ["joint_drills"]
    qmm("clause", "edit", "joint_drills", "--site", "SITE-A", "--text", "Drill yearly.")
    shown = json.loads(
        qmm("clause", "show", "joint_drills", "--site", "SITE-A", "--format", "json")
    )
    assert (shown["version"], shown["text"]) == (2, "Drill yearly.")
    assert shown["history"][0]["version"] == 1
    refused = qmm(
        "clause",
        "plan",
        "--site",
        "SITE-A",
        "--vendor",
        "Halden Closures AG",
        "--type",
        "quality_agreement",
        "--clause",
        "joint_drills",
        code=2,
    )
    assert "no draft 90-day plan" in refused
    bad = qmm(
        "clause",
        "document-add",
        "--site",
        "SITE-A",
        "--type",
        "memo",
        "--vendor",
        "V",
        "--title",
        "T",
        "--owner",
        "O",
        "--effective-on",
        "2026-01-05",
        "--link",
        "ftp://x",
        code=2,
    )
    assert "document type 'memo' is not one of" in bad
