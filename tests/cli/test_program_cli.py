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
    for user, role in (
        ("alice", "site_quality_lead"),
        ("bob", "site_quality_lead"),
        ("vera", "viewer"),
    ):
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
        refused = sign("DEC-0001", code=2)
        assert "two-person rule at SITE-A: alice drafted DEC-0001" in refused
        assert as_json("decision", "show", "SITE-A", "DEC-0001")["signatures"] == []
        assert "filed as evidence EV-0001" in sign("DEC-0001", user="bob")
        shown = as_json("decision", "show", "SITE-A", "dec-0001")
        assert shown["status"] == "signed"
        assert shown["chain"] == ["DEC-0001"]
        assert shown["signatures"][0]["valid"] is True
        assert "Approved by Bob" in qmm("decision", "show", "SITE-A", "DEC-0001")
        # Once approved by a second person, the author may add a signature of their own.
        qmm(
            "decision",
            "sign",
            "SITE-A",
            "DEC-0001",
            "--user",
            "alice",
            "--meaning",
            "authored",
            "--password-stdin",
            input=PASSWORD + "\n",
        )
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

    def test_discard_a_draft_and_refuse_a_signed_one(self, workspace: str) -> None:
        qmm("decision", "add", "SITE-A", *DECISION)
        qmm("decision", "add", "SITE-A", *DECISION)
        assert "Discarded SITE-A DEC-0001" in qmm(
            "decision", "discard", "SITE-A", "DEC-0001", "--reason", "Logged twice"
        )
        assert as_json("decision", "show", "SITE-A", "DEC-0001")["status"] == "discarded"
        sign("DEC-0002")
        output = qmm("decision", "discard", "SITE-A", "DEC-0002", "--reason", "x", code=2)
        assert "is signed" in output

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


# ---------------------------------------------------------------------------- continuity, suppliers
# Business continuity (`qmm continuity`) and supplier agreements (`qmm supplier`).

SCENARIO = (
    "--title",
    "Stopper supplier outage",
    "--what-fails",
    "The only stopper supplier cannot ship for six weeks.",
    "--likelihood",
    "3",
    "--impact",
    "4",
    "--product",
    "Ceftriaxone 1 g vials",
    "--supplier",
    "Brightseal Elastomers Inc.",
    "--backup-strategy",
    "Backup supplier plus safety stock.",
    "--backup-supplier",
    "Westcoast Closures",
    "--step",
    "Declare the outage",
    "--step",
    "Call off the backup",
    "--target-hours",
    "72",
    "--owner",
    "Supply Quality Lead",
    "--reviewed-on",
    "2026-09-01",
)
AGREEMENT = (
    "--supplier",
    "Brightseal Elastomers Inc.",
    "--signed-on",
    "2026-01-01",
    "--expires-on",
    "2028-12-31",
    "--response-hours",
    "24",
    "--data-format",
    "CSV CoA data weekly",
    "--risk-reviews",
    "yes",
    "--review-every",
    "6",
    "--drill-every",
    "12",
)


class TestContinuityCommands:
    def test_scenario_trigger_level_and_breach(self, workspace: str) -> None:
        assert "scenario 1 at SITE-A (risk 12)" in qmm(
            "--as", "alice", "continuity", "scenario-add", "SITE-A", *SCENARIO
        )
        [scenario] = as_json("continuity", "scenarios", "SITE-A")
        assert (scenario["risk"], scenario["recovery_steps"]) == (
            12,
            ["Declare the outage", "Call off the backup"],
        )
        qmm(
            "continuity",
            "trigger-add",
            "SITE-A",
            "--material",
            "Stoppers",
            "--unit",
            "pieces",
            "--minimum",
            "20000",
            "--scenario",
            "1",
        )
        qmm(
            "continuity",
            "level",
            "SITE-A",
            "stoppers",
            "--level",
            "20000",
            "--recorded-on",
            "2026-11-01",
        )
        assert as_json("continuity", "breaches", "SITE-A") == []
        assert "No inventory trigger at SITE-A is breached" in qmm(
            "continuity", "breaches", "SITE-A"
        )
        assert "BREACHED" in qmm(
            "continuity",
            "level",
            "SITE-A",
            "1",
            "--level",
            "19999",
            "--recorded-on",
            "2026-11-02",
            "--history",
        )
        [breach] = as_json("continuity", "breaches", "SITE-A")
        assert (breach["material"], breach["shortfall"]) == ("Stoppers", 1)
        [row] = as_json("continuity", "triggers", "SITE-A")
        assert row["state"] == "breached"

    def test_a_bad_scenario_is_named_and_nothing_stored(self, workspace: str) -> None:
        output = qmm(
            "continuity",
            "scenario-add",
            "SITE-A",
            "--title",
            "Half",
            "--likelihood",
            "7",
            code=2,
        )
        assert "likelihood 7 is above 5" in output
        assert "what fails is required" in output
        assert "--impact 'high' must be a number" in qmm(
            "continuity", "scenario-add", "SITE-A", "--impact", "high", code=2
        )
        assert as_json("continuity", "scenarios", "SITE-A") == []

    def test_drill_planned_run_missed_and_action_done(self, workspace: str) -> None:
        qmm("continuity", "scenario-add", "SITE-A", *SCENARIO)
        qmm("supplier", "add", "SITE-A", *AGREEMENT)
        assert "Planned drill 1" in qmm(
            "continuity",
            "drill-plan",
            "SITE-A",
            "--scenario",
            "1",
            "--planned-on",
            "2026-10-10",
            "--supplier",
            "Brightseal Elastomers Inc.",
        )
        [planned] = as_json("continuity", "drills", "SITE-A", "--today", "2026-10-11")
        assert planned["state"] == "overdue"
        refused = qmm(
            "continuity",
            "drill-run",
            "SITE-A",
            "1",
            "--run-on",
            "2026-10-14",
            "--hours",
            "96",
            "--lessons",
            "Call-off took a day.",
            code=2,
        )
        assert "turn the lessons into at least one action" in refused
        assert "must be 'title | owner | YYYY-MM-DD'" in qmm(
            "continuity", "drill-run", "SITE-A", "1", "--action", "just a title", code=2
        )
        output = qmm(
            "continuity",
            "drill-run",
            "SITE-A",
            "1",
            "--run-on",
            "2026-10-14",
            "--hours",
            "96",
            "--lessons",
            "Call-off took a day.",
            "--action",
            "Pre-authorise call-off | Supply Chain Lead | 2026-11-30",
        )
        assert "96 h against a target of 72 h, MISSED; filed as evidence EV-0001" in output
        [drill] = as_json("continuity", "drills", "SITE-A", "--today", "2026-12-01")
        assert (drill["state"], drill["evidence_item"]) == ("missed", "EV-0001")
        assert drill["actions"][0]["overdue"] is True
        assert "MISSED" in qmm("continuity", "drills", "SITE-A", "--state", "missed")
        assert "drill state 'late'" in qmm(
            "continuity", "drills", "SITE-A", "--state", "late", code=2
        )
        qmm("continuity", "action-done", "SITE-A", "1", "--done-on", "2026-11-20")
        [drill] = as_json("continuity", "drills", "SITE-A", "--today", "2026-12-01")
        assert drill["actions"][0]["done_on"] == "2026-11-20"
        status = as_json(
            "supplier", "status", "SITE-A", "brightseal elastomers inc.", "--today", "2026-12-01"
        )
        assert status["last_drill_on"] == "2026-10-14"

    def test_a_viewer_may_read_but_not_change(self, workspace: str) -> None:
        output = qmm("--as", "vera", "continuity", "scenario-add", "SITE-A", *SCENARIO, code=2)
        assert "vera has no program:manage permission at SITE-A" in output
        assert qmm("--as", "vera", "continuity", "scenarios", "SITE-A", "--format", "json") == (
            "[]\n"
        )

    def test_unknown_records_are_named(self, workspace: str) -> None:
        assert "no inventory trigger glass at SITE-A" in qmm(
            "continuity", "level", "SITE-A", "glass", "--level", "1", code=2
        )
        assert "no drill 9 at SITE-A" in qmm(
            "continuity", "drill-run", "SITE-A", "9", "--hours", "1", code=2
        )
        assert "no continuity scenario 4 at SITE-A" in qmm(
            "continuity",
            "drill-plan",
            "SITE-A",
            "--scenario",
            "4",
            "--planned-on",
            "2026-10-10",
            code=2,
        )


class TestSupplierCommands:
    def test_add_list_status_review_and_drill(self, workspace: str) -> None:
        assert "agreement 1 at SITE-A" in qmm("supplier", "add", "SITE-A", *AGREEMENT)
        [row] = as_json("supplier", "list", "SITE-A", "--today", "2026-07-02")
        assert (row["next_review_on"], row["status"]["review_overdue"]) == ("2026-07-01", True)
        assert "OVERDUE" in qmm("supplier", "list", "SITE-A", "--today", "2026-07-02")
        assert "next due 2026-12-20" in qmm(
            "supplier", "review", "SITE-A", "1", "--on", "2026-06-20"
        )
        assert "next due 2027-05-05" in qmm(
            "supplier", "drill", "SITE-A", "Brightseal Elastomers Inc.", "--on", "2026-05-05"
        )
        status = as_json("supplier", "status", "SITE-A", "1", "--today", "2026-07-02")
        assert status["status"]["overdue"] is False
        assert status["status"]["supplier_scar_on_time"] is None
        assert "no data" in qmm("supplier", "status", "SITE-A", "1", "--today", "2026-07-02")

    def test_bad_input_is_named_and_nothing_stored(self, workspace: str) -> None:
        output = qmm(
            "supplier",
            "add",
            "SITE-A",
            "--supplier",
            "Acme",
            "--signed-on",
            "2026-01-01",
            "--expires-on",
            "2025-01-01",
            "--review-every",
            "0",
            code=2,
        )
        assert "before it is signed" in output
        assert "maturity review every (months) 0 is below 1" in output
        assert "participates in risk reviews is required" in output
        assert "--risk-reviews 'maybe' must be yes or no" in qmm(
            "supplier", "add", "SITE-A", "--risk-reviews", "maybe", code=2
        )
        assert as_json("supplier", "list", "SITE-A") == []

    def test_a_review_before_the_last_is_refused(self, workspace: str) -> None:
        qmm("supplier", "add", "SITE-A", *AGREEMENT, "--last-review", "2026-06-01")
        assert "before the last one" in qmm(
            "supplier", "review", "SITE-A", "1", "--on", "2026-05-01", code=2
        )
        assert "no supplier agreement Nobody at SITE-A" in qmm(
            "supplier", "status", "SITE-A", "Nobody", code=2
        )


def rated_assessment(tmp_path: Path) -> None:
    """Assessment 1 of SITE-A: data_excellence rated 1, capa_effectiveness 2 (one question)."""
    qmm("assess", "create", "--site", "SITE-A", "--title", "FY26 self", "--lead", "alice")
    path = tmp_path / "ratings.csv"
    path.write_text(
        "assessor,question,score,rationale,evidence\n"
        "alice,data_excellence.q1,1,no data governance,\n"
        "alice,capa_effectiveness.q1,2,effectiveness checks late,\n"
    )
    qmm("assess", "import-ratings", "1", str(path))


def approve_plan(ref: str, *, code: int = 0, user: str = "alice") -> str:
    return qmm(
        "plan",
        "approve",
        "SITE-A",
        ref,
        "--user",
        user,
        "--password-stdin",
        input=PASSWORD + "\n",
        code=code,
    )


GENERATE = ("--owner", "Alice Moreau", "--start", "2026-11-23", "--as-of", "2026-11-20")


class TestPlanCommands:
    def test_generate_approve_track_and_compare(self, workspace: str, tmp_path: Path) -> None:
        rated_assessment(tmp_path)
        output = qmm("--as", "alice", "plan", "generate", "SITE-A", *GENERATE)
        assert "Drafted SITE-A PLAN-0001 from assessment 1" in output
        plan = as_json("plan", "show", "SITE-A", "PLAN-0001")
        assert plan["status"] == "draft"
        low = [a for a in plan["actions"] if a["source"] == "low_score"]
        assert [a["sub_element"] for a in low] == ["data_excellence", "capa_effectiveness"]
        assert plan["actions"][0]["title"] == "Name an executive owner of the QMM program"
        assert "may not approve it; a second person" in approve_plan("PLAN-0001", code=2)
        assert as_json("plan", "show", "SITE-A", "PLAN-0001")["status"] == "draft"
        assert "Signed SITE-A PLAN-0001 (approved); it is approved." in approve_plan(
            "PLAN-0001", user="bob"
        )
        qmm("--as", "alice", "plan", "done", "SITE-A", "PLAN-0001", "1", "--on", "2026-11-21")
        progress = as_json("plan", "progress", "SITE-A", "--as-of", "2026-12-20")
        assert (progress["ref"], progress["day"], progress["done"]) == ("PLAN-0001", 28, 1)
        assert progress["overdue_actions"] == [2, 3]
        assert "day 28 of 90" in qmm("plan", "progress", "SITE-A", "--as-of", "2026-12-20")
        qmm("plan", "reopen", "SITE-A", "PLAN-0001", "1", "--note", "Owner left")
        assert as_json("plan", "show", "SITE-A", "PLAN-0001")["actions"][0]["status"] == "open"
        [row] = as_json("plan", "list", "SITE-A")
        assert (row["ref"], row["status"], row["done"]) == ("PLAN-0001", "approved", 0)
        qmm("assess", "create", "--site", "SITE-A", "--title", "FY27 self", "--lead", "alice")
        qmm(
            "assess",
            "rate",
            "2",
            "--question",
            "data_excellence.q1",
            "--assessor",
            "alice",
            "--score",
            "3",
            "--rationale",
            "owner named",
        )
        compared = as_json("plan", "compare", "SITE-A", "PLAN-0001", "--assessment", "2")
        by_code = {r["sub_element"]: r for r in compared["sub_elements"]}
        assert by_code["data_excellence"]["delta"] == 2
        assert "+2.00" in qmm("plan", "compare", "SITE-A", "PLAN-0001", "--assessment", "2")
        assert "Approved by Bob" in qmm("plan", "show", "SITE-A", "PLAN-0001")

    def test_an_approved_plan_blocks_a_new_one_unless_superseded(
        self, workspace: str, tmp_path: Path
    ) -> None:
        rated_assessment(tmp_path)
        qmm("plan", "generate", "SITE-A", *GENERATE)
        approve_plan("PLAN-0001")
        assert "already runs approved plan PLAN-0001" in qmm(
            "plan", "generate", "SITE-A", *GENERATE, code=2
        )
        qmm("plan", "generate", "SITE-A", *GENERATE, "--supersede")
        approve_plan("PLAN-0002")
        statuses = {r["ref"]: r["status"] for r in as_json("plan", "list", "SITE-A")}
        assert statuses == {"PLAN-0001": "superseded", "PLAN-0002": "approved"}

    def test_a_draft_plan_is_discarded_and_stays_listed(
        self, workspace: str, tmp_path: Path
    ) -> None:
        rated_assessment(tmp_path)
        qmm("plan", "generate", "SITE-A", *GENERATE)
        output = qmm("plan", "discard", "SITE-A", "PLAN-0001", "--reason", "Wrong start date")
        assert "Discarded SITE-A PLAN-0001" in output
        assert "was discarded" in qmm(
            "plan", "discard", "SITE-A", "PLAN-0001", "--reason", "again", code=2
        )
        statuses = {r["ref"]: r["status"] for r in as_json("plan", "list", "SITE-A")}
        assert statuses == {"PLAN-0001": "discarded"}

    def test_an_acting_user_limited_to_one_assessment_sees_no_plan_of_another(
        self, workspace: str, tmp_path: Path
    ) -> None:
        rated_assessment(tmp_path)  # assessment 1
        qmm("assess", "create", "--site", "SITE-A", "--title", "FY27 self", "--lead", "alice")
        qmm(
            "assess",
            "rate",
            "2",
            "--question",
            "data_excellence.q1",
            "--assessor",
            "alice",
            "--score",
            "3",
            "--rationale",
            "owner named",
        )
        qmm("plan", "generate", "SITE-A", *GENERATE, "--assessment", "1")  # PLAN-0001
        qmm("plan", "generate", "SITE-A", *GENERATE, "--assessment", "2")  # PLAN-0002
        qmm("user", "add", "olga", "--name", "Olga Outside")
        qmm(
            "user",
            "grant",
            "olga",
            "assessor",
            "--site",
            "SITE-A",
            "--assessment",
            "1",
            "--days",
            "9",
        )
        as_olga = ("--as", "olga", "plan")
        assert [p["ref"] for p in as_json(*as_olga, "list", "SITE-A")] == ["PLAN-0001"]
        hidden = qmm(*as_olga, "show", "SITE-A", "PLAN-0002", code=2)
        missing = qmm(*as_olga, "show", "SITE-A", "PLAN-0999", code=2)
        assert hidden.replace("0002", "0999") == missing
        unreadable = qmm(*as_olga, "compare", "SITE-A", "PLAN-0001", "--assessment", "2", code=2)
        nowhere = qmm(*as_olga, "compare", "SITE-A", "PLAN-0001", "--assessment", "99", code=2)
        assert unreadable.replace(" 2;", " 99;") == nowhere
        assert as_json("plan", "show", "SITE-A", "PLAN-0002")["ref"] == "PLAN-0002"  # operator

    def test_bad_input_is_named(self, workspace: str, tmp_path: Path) -> None:
        assert "no assessment yet" in qmm("plan", "generate", "SITE-A", *GENERATE, code=2)
        qmm("assess", "create", "--site", "SITE-A", "--title", "Empty", "--lead", "alice")
        assert "has no scores yet" in qmm("plan", "generate", "SITE-A", *GENERATE, code=2)
        assert "--start 'soon'" in qmm(
            "plan", "generate", "SITE-A", "--owner", "A", "--start", "soon", code=2
        )
        assert "no plan PLAN-0001" in qmm("plan", "show", "SITE-A", "PLAN-0001", code=2)
        assert "has no readiness plan" in qmm("plan", "progress", "SITE-A", code=2)
        assert as_json("plan", "list", "SITE-A") == []

    def test_a_draft_is_not_tracked_and_a_viewer_may_not_change(
        self, workspace: str, tmp_path: Path
    ) -> None:
        rated_assessment(tmp_path)
        assert "program:manage" in qmm(
            "--as", "vera", "plan", "generate", "SITE-A", *GENERATE, code=2
        )
        qmm("plan", "generate", "SITE-A", *GENERATE)
        assert "is a draft" in qmm(
            "plan", "done", "SITE-A", "PLAN-0001", "1", "--on", "2026-11-21", code=2
        )
        assert "record:sign" in approve_plan("PLAN-0001", user="vera", code=2)
        qmm(
            "plan", "edit", "SITE-A", "PLAN-0001", "1", "--owner", "Site Director", "--due-day", "5"
        )
        first = as_json("plan", "show", "SITE-A", "PLAN-0001")["actions"][0]
        assert (first["owner"], first["due_on"]) == ("Site Director", "2026-11-27")
        assert "nothing to change" in qmm("plan", "edit", "SITE-A", "PLAN-0001", "1", code=2)
        assert "due day 91 is above 90" in qmm(
            "plan", "edit", "SITE-A", "PLAN-0001", "1", "--due-day", "91", code=2
        )
        approve_plan("PLAN-0001")
        assert "is approved and its plan is frozen" in qmm(
            "plan", "edit", "SITE-A", "PLAN-0001", "1", "--owner", "X", code=2
        )
        assert "has no action 99" in qmm("plan", "reopen", "SITE-A", "PLAN-0001", "99", code=2)
        assert as_json("plan", "show", "SITE-A", "PLAN-0001")["actions"][0]["owner"] == (
            "Site Director"
        )


class TestObjectiveCommands:
    def test_add_cascade_list_status_and_retire(self, workspace: str) -> None:
        published = ("--published-on", "2026-01-05")
        assert "Published objective 1 at SITE-A" in qmm(
            "--as",
            "alice",
            "objective",
            "add",
            "SITE-A",
            "--title",
            "Close CAPAs on time",
            "--owner",
            "Site Quality Head",
            "--kpi",
            "capa_on_time_closure",
            *published,
        )
        qmm(
            "objective",
            "add",
            "SITE-A",
            "--title",
            "Log deviations the same shift",
            "--owner",
            "Line 2 supervisor",
            "--parent",
            "1",
            "--role",
            "Operator",
            "--what-good-looks-like",
            "Every deviation logged before handover",
            *published,
        )
        [tree] = as_json("objective", "list", "SITE-A", "--as-of", "2026-11-20")
        assert (tree["target"], tree["status"]["state"]) == (0.9, "no_data")
        [child] = tree["children"]
        assert (child["role"], child["status"]["state"]) == ("operator", "not_measured")
        assert "no_data" in qmm("objective", "list", "SITE-A", "--as-of", "2026-11-20")
        assert as_json("objective", "status", "SITE-A", "1")["direction"] == "higher_is_better"
        qmm("objective", "retire", "SITE-A", "1", "--on", "2026-06-30")
        assert as_json("objective", "list", "SITE-A") == []
        assert len(as_json("objective", "list", "SITE-A", "--all")[0]["children"]) == 1

    def test_bad_input_is_named_and_nothing_stored(self, workspace: str) -> None:
        output = qmm("objective", "add", "SITE-A", "--kpi", "no_such_kpi", code=2)
        assert "title is required" in output
        assert "not in the KPI catalogue" in output
        assert "--published-on 'May'" in qmm(
            "objective", "add", "SITE-A", "--published-on", "May", code=2
        )
        assert "no objective 7 at SITE-A" in qmm("objective", "status", "SITE-A", "7", code=2)
        assert "program:manage" in qmm(
            "--as", "vera", "objective", "add", "SITE-A", "--title", "x", code=2
        )
        assert as_json("objective", "list", "SITE-A", "--all") == []

    def test_engagement_from_the_suggestion_kpis(self, workspace: str, tmp_path: Path) -> None:
        assert "No suggestions at SITE-A yet" in qmm("engagement", "SITE-A")
        path = tmp_path / "suggestion.csv"
        path.write_text(
            "suggestion_id,site,submitted_on,decided_on,decision,implemented_on\n"
            "S-1,SITE-A,2026-01-05,2026-01-15,accepted,\n"
            "S-2,SITE-A,2026-02-01,2026-02-21,rejected,\n"
            "S-3,SITE-A,2026-03-01,,,\n"
        )
        qmm("import", str(path))
        [quarter] = as_json("engagement", "SITE-A", "--as-of", "2026-11-20")
        assert quarter == {
            "period": "2026-Q1",
            "submitted": 3,
            "per_100_staff": None,  # the site has no headcount
            "decided": 2,
            "accepted": 1,
            "acceptance_rate": 0.5,
            "median_decision_days": 15.0,
        }
        assert "50%" in qmm("engagement", "SITE-A")
        assert "period 'week'" in qmm("engagement", "SITE-A", "--period", "week", code=2)


class TestSteeringCommands:
    def test_cadence_hold_action_and_status(self, workspace: str) -> None:
        qmm("--as", "alice", "decision", "add", "SITE-A", *DECISION)
        assert "Set up steering cadence 1 at SITE-A; meeting 1 is planned" in qmm(
            "steering",
            "cadence",
            "SITE-A",
            "--name",
            "QMM steering",
            "--chair",
            "Alice",
            "--every",
            "30",
            "--first",
            "2026-10-01",
        )
        late = as_json("steering", "status", "SITE-A", "--as-of", "2026-10-05")[0]
        assert (late["overdue"], late["overdue_meeting_ids"]) == (True, [1])
        assert late["overdue_meetings"] == ["2026-10-01"]
        output = qmm(
            "steering",
            "hold",
            "SITE-A",
            "1",
            "--on",
            "2026-10-06",
            "--attendee",
            "Alice",
            "--attendee",
            "Bob",
            "--agenda",
            "CAPA backlog",
            "--minutes",
            "Backlog reviewed.",
            "--decision",
            "dec-0001",
            "--action",
            "Add a CAPA reviewer|Bob|2026-10-20",
        )
        assert "minutes filed as evidence item" in output
        [cadence] = as_json("steering", "status", "SITE-A", "--as-of", "2026-10-25")
        assert cadence["next_planned_on"] == "2026-11-05"
        assert (cadence["overdue_action_ids"], cadence["overdue_actions"]) == ([1], 1)
        held = cadence["meetings"][0]
        assert (held["decisions"], held["attendees"]) == (["DEC-0001"], ["Alice", "Bob"])
        qmm("steering", "action-done", "SITE-A", "1", "--on", "2026-10-19")
        [kept] = as_json("steering", "status", "SITE-A", "--as-of", "2026-10-25")
        assert (kept["overdue_action_ids"], kept["overdue_actions"]) == ([], 0)
        assert "Planned meeting 3 on 2026-12-01" in qmm(
            "steering", "plan", "SITE-A", "1", "--on", "2026-12-01"
        )
        assert "OVERDUE" in qmm("steering", "status", "SITE-A", "--as-of", "2026-11-10")

    def test_bad_input_is_named_and_nothing_stored(self, workspace: str) -> None:
        output = qmm("steering", "cadence", "SITE-A", "--every", "0", code=2)
        assert "name is required" in output
        assert "cadence in days 0 is below 1" in output
        assert as_json("steering", "status", "SITE-A") == []
        qmm(
            "steering",
            "cadence",
            "SITE-A",
            "--name",
            "S",
            "--chair",
            "A",
            "--every",
            "7",
            "--first",
            "2026-10-01",
        )
        output = qmm(
            "steering",
            "hold",
            "SITE-A",
            "1",
            "--on",
            "2026-10-01",
            "--decision",
            "DEC-0042",
            code=2,
        )
        assert "attendees: give at least 1" in output
        assert "no decision DEC-0042" in output
        assert "TITLE|OWNER|YYYY-MM-DD" in qmm(
            "steering", "hold", "SITE-A", "1", "--action", "just a title", code=2
        )
        assert as_json("steering", "status", "SITE-A")[0]["meetings"][0]["held_on"] is None
        assert "no steering action 9" in qmm(
            "steering", "action-done", "SITE-A", "9", "--on", "2026-10-01", code=2
        )


class TestForumCommands:
    def test_raise_remove_list_and_summary(self, workspace: str) -> None:
        for roadblock, day in (("No spare filters", "2026-10-01"), ("Label printer", "2026-10-10")):
            qmm(
                "--as",
                "alice",
                "forum",
                "raise",
                "SITE-A",
                "--roadblock",
                roadblock,
                "--raised-by",
                "Operator",
                "--on",
                day,
                "--owner",
                "Maintenance lead",
            )
        assert "Removed roadblock 1 in 4 days" in qmm(
            "forum", "remove", "SITE-A", "1", "--on", "2026-10-05", "--resolution", "Stocked"
        )
        [still] = as_json("forum", "list", "SITE-A", "--open")
        assert still["roadblock"] == "Label printer"
        summary = as_json("forum", "summary", "SITE-A", "--as-of", "2026-10-20")
        assert (summary["removed"], summary["median_days_to_removal"]) == (1, 4.0)
        assert summary["open_items"][0]["age_days"] == 10
        assert "1 open, 1 removed" in qmm("forum", "summary", "SITE-A", "--as-of", "2026-10-20")

    def test_bad_input_is_named_and_nothing_stored(self, workspace: str) -> None:
        output = qmm("forum", "raise", "SITE-A", "--roadblock", "x", code=2)
        assert "raised by is required" in output
        assert as_json("forum", "list", "SITE-A") == []
        qmm(
            "forum",
            "raise",
            "SITE-A",
            "--roadblock",
            "x",
            "--raised-by",
            "y",
            "--on",
            "2026-10-10",
            "--owner",
            "z",
        )
        assert "before it was raised" in qmm(
            "forum", "remove", "SITE-A", "1", "--on", "2026-10-01", "--resolution", "r", code=2
        )
        assert as_json("forum", "list", "SITE-A")[0]["removed_on"] is None
        assert "no site:read permission" not in qmm("--as", "vera", "forum", "list", "SITE-A")
        assert "program:manage" in qmm(
            "--as",
            "vera",
            "forum",
            "remove",
            "SITE-A",
            "1",
            "--on",
            "2026-10-11",
            "--resolution",
            "r",
            code=2,
        )


class TestTwoPersonRule:
    def test_an_administrator_turns_it_off_and_the_author_then_signs(self, workspace: str) -> None:
        qmm("user", "add", "root", "--name", "Root", "--password-stdin", input=PASSWORD + "\n")
        qmm("user", "grant", "root", "administrator")
        [site] = as_json("site", "list")
        assert site["two_person_rule"] is True
        refused = qmm("--as", "alice", "site", "two-person-rule", "SITE-A", "off", code=2)
        assert "site:settings" in refused
        assert "'maybe'" in qmm("site", "two-person-rule", "SITE-A", "maybe", code=2)
        assert as_json("site", "list")[0]["two_person_rule"] is True
        assert "is off" in qmm("--as", "root", "site", "two-person-rule", "SITE-A", "off")
        assert as_json("site", "list")[0]["two_person_rule"] is False
        entries = as_json("audit", "log", "--table", "sites", "--user", "root")
        changed = [e for e in entries if e["action"] == "update"][-1]
        assert (changed["old_values"], changed["new_values"]) == (
            {"two_person_rule": True},
            {"two_person_rule": False},
        )
        qmm("--as", "alice", "decision", "add", "SITE-A", *DECISION)
        assert "filed as evidence" in sign("DEC-0001")


class TestWorklist:
    def test_drafts_to_sign_show_to_a_second_person_in_the_apis_shape(self, workspace: str) -> None:
        qmm("--as", "alice", "decision", "add", "SITE-A", *DECISION)
        mine = as_json("--as", "alice", "worklist", "--site", "SITE-A")
        assert set(mine) == {"as_of", "sites", "overdue", "due", "waiting", "attention", "items"}
        assert mine["items"] == []  # alice drafted it: under the two-person rule she cannot sign
        theirs = as_json("--as", "bob", "worklist")
        [item] = theirs["items"]
        assert (item["kind"], item["state"], item["site"]) == (
            "draft_signature",
            "waiting",
            "SITE-A",
        )
        assert item["path"] == "/sites/SITE-A/decisions/DEC-0001#sign-title"
        assert "awaiting a signature" in qmm("--as", "bob", "worklist")
        assert "--as-of 'soon'" in qmm("worklist", "--as-of", "soon", code=2)
