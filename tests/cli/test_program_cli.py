"""The program's commands: the decision log from the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
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
    for user, role in (("alice", "site_quality_lead"), ("vera", "viewer")):
        qmm("user", "add", user, "--name", user.title(), "--password-stdin", input=PASSWORD + "\n")
        qmm("user", "grant", user, role, "--site", "SITE-A")
    return cli_database


DECISION = (
    "--title",
    "Hold lot 24-118",
    "--context",
    "Deviation on filling line 2.",
    "--option",
    "Ship Friday",
    "--option",
    "Hold until closed",
    "--decision",
    "Hold the lot.",
    "--quality-won",
    "yes",
    "--trade-off",
    "One week late to the customer.",
    "--rationale",
    "Sterility assurance.",
    "--owner",
    "Site Quality Head",
    "--decided-on",
    "2026-10-05",
    "--sub-element",
    "deviations_investigations",
)


def sign(ref: str, *, code: int = 0, password: str = PASSWORD, user: str = "alice") -> str:
    return qmm(
        "decision",
        "sign",
        "SITE-A",
        ref,
        "--user",
        user,
        "--password-stdin",
        input=password + "\n",
        code=code,
    )


class TestDecisionCommands:
    def test_add_sign_show_and_list(self, workspace: str) -> None:
        assert "DEC-0001 (draft)" in qmm("--as", "alice", "decision", "add", "SITE-A", *DECISION)
        assert "filed as evidence EV-0001" in sign("DEC-0001")
        shown = as_json("decision", "show", "SITE-A", "dec-0001")
        assert shown["status"] == "signed"
        assert shown["chain"] == ["DEC-0001"]
        assert shown["signatures"][0]["valid"] is True
        assert "Approved by Alice" in qmm("decision", "show", "SITE-A", "DEC-0001")
        [row] = as_json("decision", "list", "SITE-A", "--status", "signed")
        assert row["ref"] == "DEC-0001"

    def test_a_missing_field_is_named_and_nothing_stored(self, workspace: str) -> None:
        output = qmm("decision", "add", "SITE-A", "--title", "Half a decision", code=2)
        assert "context is required" in output
        assert "quality won is required" in output
        assert as_json("decision", "list", "SITE-A") == []

    def test_a_bad_yes_no_or_date_is_refused(self, workspace: str) -> None:
        assert "--quality-won 'perhaps'" in qmm(
            "decision", "list", "SITE-A", "--quality-won", "perhaps", code=2
        )
        assert "--from '5 Oct'" in qmm("decision", "list", "SITE-A", "--from", "5 Oct", code=2)

    def test_a_viewer_may_not_add(self, workspace: str) -> None:
        output = qmm("--as", "vera", "decision", "add", "SITE-A", *DECISION, code=2)
        assert "vera has no program:manage permission at SITE-A" in output

    def test_a_viewer_may_not_sign(self, workspace: str) -> None:
        qmm("decision", "add", "SITE-A", *DECISION)
        assert "record:sign" in sign("DEC-0001", user="vera", code=2)
        assert as_json("decision", "show", "SITE-A", "DEC-0001")["status"] == "draft"

    def test_a_wrong_password_signs_nothing(self, workspace: str) -> None:
        qmm("decision", "add", "SITE-A", *DECISION)
        sign("DEC-0001", password="not the password", code=2)
        assert as_json("decision", "show", "SITE-A", "DEC-0001")["signatures"] == []

    def test_edit_a_draft_then_refuse_after_signing(self, workspace: str) -> None:
        qmm("decision", "add", "SITE-A", *DECISION)
        qmm("decision", "edit", "SITE-A", "DEC-0001", "--rationale", "Sterility first.")
        assert "nothing to change" in qmm("decision", "edit", "SITE-A", "DEC-0001", code=2)
        sign("DEC-0001")
        output = qmm("decision", "edit", "SITE-A", "DEC-0001", "--title", "Changed", code=2)
        assert "supersede it" in output
        assert as_json("decision", "show", "SITE-A", "DEC-0001")["rationale"] == "Sterility first."

    def test_supersede_and_follow_the_chain(self, workspace: str) -> None:
        qmm("decision", "add", "SITE-A", *DECISION)
        assert "is a draft" in qmm(
            "decision", "supersede", "SITE-A", "DEC-0001", "--title", "x", code=2
        )
        sign("DEC-0001")
        assert "DEC-0002 (draft) superseding DEC-0001" in qmm(
            "decision", "supersede", "SITE-A", "DEC-0001", "--decision", "Release the lot."
        )
        sign("DEC-0002")
        old = as_json("decision", "show", "SITE-A", "DEC-0001")
        assert (old["status"], old["superseded_by"]) == ("superseded", "DEC-0002")
        assert as_json("decision", "show", "SITE-A", "DEC-0002")["chain"] == [
            "DEC-0001",
            "DEC-0002",
        ]

    def test_export_csv_and_json(self, workspace: str, tmp_path: Path) -> None:
        qmm("decision", "add", "SITE-A", *DECISION)
        sign("DEC-0001")
        rows = list(csv.DictReader(io.StringIO(qmm("decision", "export", "SITE-A"))))
        assert [(r["ref"], r["status"], r["quality_won"]) for r in rows] == [
            ("DEC-0001", "signed", "yes")
        ]
        out = tmp_path / "log.json"
        qmm("decision", "export", "SITE-A", "--format", "json", "--out", str(out))
        assert json.loads(out.read_text())[0]["evidence_item"] == "EV-0001"
        assert "export format 'xml'" in qmm(
            "decision", "export", "SITE-A", "--format", "xml", code=2
        )
        assert qmm("decision", "export", "SITE-A", "--quality-won", "no").count("\n") == 1

    def test_an_unknown_decision_is_named(self, workspace: str) -> None:
        assert "no decision DEC-0009 at SITE-A" in qmm(
            "decision", "show", "SITE-A", "DEC-0009", code=2
        )
