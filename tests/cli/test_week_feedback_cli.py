"""`qmm week mock`, `qmm week feedback`, `qmm week calibration` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from factories import tiny_pdf
from qmm.assessment.service import get_assessment
from qmm.assessment_week.service import choose_self_assessment, get_fda_assessment
from qmm.cli.main import app
from qmm.db import unit_of_work
from qmm.models import utcnow

runner = CliRunner()
PASSWORD = "correct horse battery"


def qmm(*args: str, code: int = 0, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def _week(tmp_path: Path, *, starts: str, ends: str, title: str) -> str:
    made = json.loads(
        qmm(
            "week",
            "plan",
            "--site",
            "SITE-A",
            "--title",
            title,
            "--starts-on",
            starts,
            "--ends-on",
            ends,
            "--time-zone",
            "America/New_York",
            "--owner",
            "Dana",
            "--format",
            "json",
        )
    )
    with unit_of_work() as session:
        choose_self_assessment(
            session,
            fda_assessment=get_fda_assessment(session, fda_assessment_id=made["id"]),
            assessment=get_assessment(session, assessment_id=1),
        )
    return str(made["id"])


def _workspace(tmp_path: Path) -> None:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("user", "add", "alice", "--name", "Alice", "--password-stdin", input=PASSWORD + "\n")
    qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
    qmm("assess", "create", "--site", "SITE-A", "--title", "FY26 self", "--lead", "alice")
    path = tmp_path / "ratings.csv"
    path.write_text(
        "assessor,question,score,rationale,evidence\n"
        "alice,capa_effectiveness.q1,4,checks on time,\n"
        "alice,deviations_investigations.q1,4,trended,\n"
        "alice,quality_policy_objectives.q1,3,published,\n"
    )
    qmm("assess", "import-ratings", "1", str(path))


def test_mock_interview_scored_and_compared(cli_database: str, tmp_path: Path) -> None:
    _workspace(tmp_path)
    number = _week(tmp_path, starts="2027-03-08", ends="2027-03-12", title="FDA 2027")
    mock = json.loads(
        qmm(
            "week",
            "mock",
            "start",
            number,
            "--practice-area",
            "advanced_pqs",
            "--assessor",
            "Sam Ode",
            "--held-on",
            "2026-11-30",
            "--session",
            "Day 2 am",
            "--format",
            "json",
        )
    )
    mock_id = str(mock["id"])
    scored = json.loads(
        qmm(
            "week",
            "mock",
            "score",
            number,
            mock_id,
            "--question",
            "capa_effectiveness.q1",
            "--score",
            "2",
            "--notes",
            "no trend shown",
            "--follow-up",
            "Bring the CAPA trend",
            "--format",
            "json",
        )
    )
    assert scored["answers"][0]["score"] == 2
    gaps = json.loads(qmm("week", "mock", "gaps", number, "--format", "json"))
    assert [(q["question"], q["mock_score"], q["self_score"]) for q in gaps["questions"]] == [
        ("capa_effectiveness.q1", 2, 4.0)
    ]
    assert "capa_effectiveness.q1" in qmm("week", "mock", "gaps", number)
    assert "Day 2 am" in qmm("week", "mock", "list", number)
    assert "no trend shown" in qmm("week", "mock", "show", number, mock_id)
    for bad in ("0", "6", "2.5", "three"):
        refused = qmm(
            "week",
            "mock",
            "score",
            number,
            mock_id,
            "--question",
            "capa_effectiveness.q1",
            "--score",
            bad,
            code=2,
        )
        assert "must be a whole number from 1 to 5" in refused
    assert "'vibes' is not one of" in qmm(
        "week",
        "mock",
        "start",
        number,
        "--practice-area",
        "vibes",
        "--assessor",
        "S",
        "--held-on",
        "2026-11-30",
        code=2,
    )
    assert "has no mock interview 99" in qmm("week", "mock", "show", number, "99", code=2)
    start = utcnow().date().isoformat()
    qmm("plan", "generate", "SITE-A", "--owner", "Alice", "--start", start)
    moved = qmm(
        "week",
        "mock",
        "to-plan",
        number,
        mock_id,
        "--question",
        "capa_effectiveness.q1",
        "--plan",
        "PLAN-0001",
    )
    assert "the follow-up is now action" in moved
    assert "already plan action" in qmm(
        "week",
        "mock",
        "to-plan",
        number,
        mock_id,
        "--question",
        "capa_effectiveness.q1",
        "--plan",
        "PLAN-0001",
        code=2,
    )
    assert "has not scored question 'x'" in qmm(
        "week",
        "mock",
        "to-plan",
        number,
        mock_id,
        "--question",
        "x",
        "--plan",
        "PLAN-0001",
        code=2,
    )


def test_feedback_calibration_and_the_next_plan(cli_database: str, tmp_path: Path) -> None:
    _workspace(tmp_path)
    number = _week(tmp_path, starts="2026-06-08", ends="2026-06-11", title="FDA 2026")
    letter = tmp_path / "fda-letter.pdf"
    letter.write_bytes(tiny_pdf("FDA feedback"))
    early = qmm(
        "week",
        "feedback",
        "record",
        number,
        "--received-on",
        "2026-06-01",
        "--document",
        str(letter),
        code=2,
    )
    assert "before the week ends (2026-06-11)" in early
    assert "is above 5" in qmm(
        "week",
        "feedback",
        "record",
        number,
        "--received-on",
        "2026-08-03",
        "--score",
        "advanced_pqs=7",
        "--document",
        str(letter),
        code=2,
    )
    assert "has no feedback recorded yet" in qmm("week", "feedback", "show", number, code=2)
    recorded = json.loads(
        qmm(
            "week",
            "feedback",
            "record",
            number,
            "--received-on",
            "2026-08-03",
            "--score",
            "advanced_pqs=2.5",
            "--opportunity",
            "advanced_pqs: trend deviations",
            "--strength",
            "management_commitment: visible leaders",
            "--document",
            str(letter),
            "--format",
            "json",
        )
    )
    assert recorded["document"] == "EV-0001"
    assert recorded["area_scores"] == {"advanced_pqs": 2.5}
    history = json.loads(qmm("week", "calibration", "--site", "SITE-A", "--format", "json"))
    pqs = next(a for a in history[0]["areas"] if a["practice_area"] == "advanced_pqs")
    # advanced_pqs self: capa_effectiveness 4 and deviations_investigations 4 -> 4.0.
    assert (pqs["self_score"], pqs["fda_score"], pqs["gap"]) == (4.0, 2.5, 1.5)
    assert history[0]["rated_too_high"] == ["advanced_pqs"]
    across = json.loads(qmm("week", "calibration", "--format", "json"))
    assert across["sites"] == ["SITE-A"]
    assert "+1.50" in qmm("week", "calibration")
    drafted = qmm(
        "week", "feedback", "plan", number, "--owner", "Alice", "--start-on", "2026-12-07"
    )
    assert "from FDA's feedback" in drafted
    assert "2 from FDA's feedback" in drafted
