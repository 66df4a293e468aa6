"""`qmm week examples` and `qmm week questionnaire`: the examples library, the questionnaire
from start to signature and export, and the refusals, from the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()
PASSWORD = "correct horse battery"


def qmm(*args: str, code: int = 0, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def as_json(*args: str) -> Any:
    return json.loads(qmm(*args, "--format", "json"))


@pytest.fixture
def workspace(cli_database: str) -> str:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    for user, role in (
        ("alice", "site_quality_lead"),
        ("bob", "site_quality_lead"),
        ("hana", "site_quality_lead"),
        ("vera", "viewer"),
    ):
        qmm("user", "add", user, "--name", user.title(), "--password-stdin", input=PASSWORD + "\n")
        qmm("user", "grant", user, role, "--site", "SITE-A")
    qmm(
        "week", "plan", "--site", "SITE-A", "--title", "FDA QMM assessment 2027",
        "--starts-on", "2027-03-08", "--ends-on", "2027-03-12",
        "--time-zone", "America/New_York", "--owner", "Dana Whitfield",
    )  # fmt: skip
    return cli_database


STORY = (
    "--title", "Air handler repeat deviations stopped",
    "--situation", "Three deviations in a quarter from one air handler.",
    "--action", "Filters replaced and changed quarterly.",
    "--result", "Repeat deviation rate from 40 % to 0 %.",
    "--owner", "QA Engineer",
    "--sub-element", "capa_effectiveness",
    "--kpi", "deviation_repeat_rate",
)  # fmt: skip


def test_an_example_from_draft_to_approved_and_chosen(workspace: str) -> None:
    made = as_json("--as", "alice", "week", "examples", "add", "--site", "SITE-A", *STORY)
    assert (made["ref"], made["status"], made["practice_areas"]) == (
        "EX-001",
        "draft",
        ["advanced_pqs"],
    )
    output = qmm(
        "--as", "alice", "week", "examples", "review", "--site", "SITE-A", "EX-001", code=2
    )
    assert "a second person reviews it, not its author" in output
    qmm("--as", "bob", "week", "examples", "review", "--site", "SITE-A", "EX-001")
    qmm("--as", "hana", "week", "examples", "approve", "--site", "SITE-A", "EX-001")
    shown = as_json("week", "examples", "show", "--site", "SITE-A", "EX-001")
    assert (shown["status"], shown["reviewed_by"], shown["approved_by"]) == (
        "approved",
        "bob",
        "hana",
    )
    assert (
        as_json("week", "examples", "list", "--site", "SITE-A", "--status", "approved")[0]["ref"]
        == "EX-001"
    )
    qmm("--as", "alice", "week", "examples", "choose", "--fda-assessment", "1", "EX-001")
    assert as_json("week", "examples", "candidates", "--site", "SITE-A") == []
    edited = as_json(
        "--as", "alice", "week", "examples", "edit", "--site", "SITE-A", "EX-001",
        "--result", "No repeat in nine months.",
    )  # fmt: skip
    assert edited["status"] == "draft"


def test_bad_example_input_is_refused_by_name(workspace: str) -> None:
    output = qmm(
        "--as", "alice", "week", "examples", "add", "--site", "SITE-A", *STORY,
        "--sub-element", "nonsense", "--evidence", "EV-0404", code=2,
    )  # fmt: skip
    assert "nonsense is not in any published framework" in output
    assert as_json("week", "examples", "list", "--site", "SITE-A") == []
    output = qmm("--as", "vera", "week", "examples", "add", "--site", "SITE-A", *STORY, code=2)
    assert "program:manage" in output
    assert "no candidate" in qmm(
        "--as", "alice", "week", "examples", "add", "--site", "SITE-A", *STORY,
        "--from", "capa:NOPE", code=2,
    )  # fmt: skip
    assert "no example 'EX-009'" in qmm(
        "week", "examples", "show", "--site", "SITE-A", "EX-009", code=2
    )


def test_the_questionnaire_from_start_to_signature_and_export(
    workspace: str, tmp_path: Path
) -> None:
    started = as_json("--as", "alice", "week", "questionnaire", "start", "1")
    assert [a["practice_area"] for a in started["answers"]] == [
        "management_commitment",
        "business_continuity",
        "advanced_pqs",
        "technical_excellence",
        "employee_engagement",
    ]
    assert "no assessment 99" in qmm(
        "--as", "alice", "week", "questionnaire", "self-assessment", "1", "--assessment", "99",
        code=2,
    )  # fmt: skip
    answer = tmp_path / "answer.txt"
    answer.write_text("Our drills meet their targets.\n\nSee EX-001.", encoding="utf-8")
    qmm(
        "--as", "bob", "week", "questionnaire", "answer", "1",
        "--area", "business_continuity", "--from-file", str(answer),
    )  # fmt: skip
    assert "bob wrote part" in qmm("--as", "bob", "week", "questionnaire", "review", "1", code=2)
    qmm("--as", "vera", "week", "questionnaire", "show", "1")
    qmm("--as", "hana", "week", "questionnaire", "review", "1", "--note", "Checked.")
    qmm("site", "two-person-rule", "SITE-A", "on")
    assert "alice drafted" in qmm(
        "week", "questionnaire", "sign", "1", "--user", "alice", "--password-stdin",
        input=PASSWORD + "\n", code=2,
    )  # fmt: skip
    qmm(
        "week", "questionnaire", "sign", "1", "--user", "hana", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    shown = as_json("week", "questionnaire", "show", "1")
    assert shown["status"] == "signed"
    assert shown["signatures"][0]["username"] == "hana"
    out = tmp_path / "q.docx"
    qmm("week", "questionnaire", "export", "1", "--format", "docx", "--out", str(out))
    doc = Document(io.BytesIO(out.read_bytes()))
    assert "Our drills meet their targets." in [p.text for p in doc.paragraphs]
    pdf = tmp_path / "q.pdf"
    qmm("week", "questionnaire", "export", "1", "--format", "pdf", "--out", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "signed off" in qmm(
        "--as", "bob", "week", "questionnaire", "answer", "1",
        "--area", "business_continuity", "--text", "late", code=2,
    )  # fmt: skip


def test_questions_are_tagged_and_bad_input_is_refused(workspace: str, tmp_path: Path) -> None:
    before = as_json("week", "questionnaire", "questions", "--site", "SITE-A")
    assert "capa_effectiveness.q2" not in [q["code"] for q in before]
    qmm(
        "--as", "alice", "week", "questionnaire", "tag", "--site", "SITE-A", "capa_effectiveness.q2"
    )
    after = as_json("week", "questionnaire", "questions", "--site", "SITE-A")
    assert len(after) == len(before) + 1
    assert "is not in qmm-default" in qmm(
        "--as", "alice", "week", "questionnaire", "tag", "--site", "SITE-A", "x.q1", code=2
    )
    qmm("--as", "alice", "week", "questionnaire", "reset-questions", "--site", "SITE-A")
    assert as_json("week", "questionnaire", "questions", "--site", "SITE-A") == before
    assert "no questionnaire yet" in qmm("week", "questionnaire", "show", "1", code=2)
    assert "--text or --from-file" in qmm(
        "week", "questionnaire", "answer", "1", "--area", "x", code=2
    )
    assert "is a folder" in qmm(
        "week", "questionnaire", "export", "1", "--out", str(tmp_path), code=2
    )
