"""`qmm week`: FDA's assessment, its timeline and the site's people from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


PLAN = (
    "week",
    "plan",
    "--site",
    "SITE-A",
    "--title",
    "FDA QMM assessment 2027",
    "--starts-on",
    "2027-03-08",
    "--ends-on",
    "2027-03-12",
    "--time-zone",
    "America/New_York",
    "--owner",
    "Dana Whitfield",
)


def test_plan_a_week_move_a_milestone_and_add_people(cli_database: str) -> None:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    made = json.loads(qmm(*PLAN, "--format", "json"))
    assert made["time_zone"] == "America/New_York"
    assert [m["kind"] for m in made["milestones"]] == [
        "orientation",
        "questionnaire_due",
        "agenda_sent",
        "assessment_week",
        "feedback",
    ]
    number = str(made["id"])
    moved = json.loads(
        qmm(
            "week",
            "milestone",
            number,
            "--kind",
            "agenda_sent",
            "--owner",
            "Sam Ortiz",
            "--due-on",
            "2027-02-19",
            "--format",
            "json",
        )
    )
    agenda = next(m for m in moved["milestones"] if m["kind"] == "agenda_sent")
    assert (agenda["owner"], agenda["due_on"]) == ("Sam Ortiz", "2027-02-19")
    listed = json.loads(qmm("week", "list", "--site", "SITE-A", "--format", "json"))
    assert [v["title"] for v in listed] == ["FDA QMM assessment 2027"]
    assert json.loads(qmm("week", "show", number, "--format", "json")) == moved
    assert "milestone" in qmm("week", "show", number)
    qmm(
        "week",
        "person-add",
        "--site",
        "SITE-A",
        "--name",
        "Priya Raman",
        "--job-title",
        "QC microbiology lead",
        "--department",
        "Quality Control",
    )
    people = json.loads(qmm("week", "people", "--site", "SITE-A", "--format", "json"))
    assert [p["name"] for p in people] == ["Priya Raman"]
    assert "now held" in qmm("week", "status", number, "held")


def test_bad_input_is_named_and_nothing_is_stored(cli_database: str) -> None:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    too_long = list(PLAN)
    too_long[too_long.index("2027-03-12")] = "2027-03-15"
    assert "at most 5 days" in qmm(*too_long, code=2)
    bad_zone = list(PLAN)
    bad_zone[bad_zone.index("America/New_York")] = "EST5"
    assert "IANA time zone" in qmm(*bad_zone, code=2)
    assert "no FDA assessment 7" in qmm("week", "show", "7", code=2)
    assert json.loads(qmm("week", "list", "--site", "SITE-A", "--format", "json")) == []
    assert "Usage" in qmm("week", "--help")
