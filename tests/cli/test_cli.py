"""The `qmm` command end to end, on a database of its own."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from qmm.cli.lazy import LazyGroup
from qmm.cli.main import COMMANDS, app

runner = CliRunner()


def qmm(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output + str(result.exception or "")
    return result.output


def fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output


def all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "qmm")
def test_every_command_has_help(path: list[str]) -> None:
    output = qmm(*path, "--help")
    assert "Usage:" in output
    assert "Show this message and exit" in output


@pytest.fixture
def initialised(cli_database: str) -> str:
    output = qmm("init")
    assert "Default framework: qmm-default@1" in output
    return cli_database


class TestInit:
    def test_init_is_repeatable(self, empty_cli_database: str) -> None:
        assert "Default framework: qmm-default@1" in qmm("init")
        assert "qmm-default@1" in qmm("init")
        frameworks = json.loads(qmm("framework", "list", "--format", "json"))
        assert [f["ref"] for f in frameworks] == ["qmm-default@1"]


class TestSites:
    def test_add_and_list(self, initialised: str) -> None:
        qmm(
            "site",
            "add",
            "SITE-A",
            "--name",
            "Riverside",
            "--fei",
            "3001234567",
            "--type",
            "fdf",
            "--headcount",
            "640",
        )
        sites = json.loads(qmm("site", "list", "--format", "json"))
        assert sites == [
            {
                "code": "SITE-A",
                "name": "Riverside",
                "fei": "3001234567",
                "duns": None,
                "site_type": "fdf",
                "headcount": 640,
                "two_person_rule": True,
            }
        ]

    def test_bad_site_is_refused_with_every_reason(self, initialised: str) -> None:
        output = fails("site", "add", "site a", "--name", "X", "--fei", "12", "--type", "bakery")
        assert "site code 'site a'" in output
        assert "FEI '12'" in output
        assert "site type 'bakery'" in output
        assert json.loads(qmm("site", "list", "--format", "json")) == []

    def test_duplicate_site_is_refused(self, initialised: str) -> None:
        qmm("site", "add", "SITE-A", "--name", "Riverside")
        assert "already exists" in fails("site", "add", "SITE-A", "--name", "Again")


class TestFrameworks:
    def test_show_and_export(self, initialised: str, tmp_path: Path) -> None:
        output = qmm("framework", "show", "qmm-default")
        assert "Quality Risk Management" in output
        shown = json.loads(qmm("framework", "show", "qmm-default", "--format", "json"))
        assert shown["ref"] == "qmm-default@1"
        out = tmp_path / "fw.yaml"
        qmm("framework", "export", "qmm-default@1", "--out", str(out))
        assert out.read_text().startswith("schema_version: 1")

    def test_copy_edit_import_publish(self, initialised: str, tmp_path: Path) -> None:
        qmm("site", "add", "SITE-A", "--name", "Riverside")
        qmm("framework", "copy", "qmm-default", "--code", "site-a-qmm", "--site", "SITE-A")
        out = tmp_path / "mine.yaml"
        qmm("framework", "export", "site-a-qmm", "--out", str(out))
        out.write_text(out.read_text().replace("Quality Risk Management", "Risk Management"))
        qmm("framework", "import", str(out), "--site", "SITE-A")
        assert "Published site-a-qmm@1" in qmm("framework", "publish", "site-a-qmm@1")
        refs = {
            f["ref"]: f["status"] for f in json.loads(qmm("framework", "list", "--format", "json"))
        }
        assert refs == {"qmm-default@1": "published", "site-a-qmm@1": "published"}

    def test_a_broken_framework_file_stores_nothing(self, initialised: str, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("code: mine\nname: Mine\n")
        output = fails("framework", "import", str(bad))
        assert "bad.yaml" in output
        assert "nothing was stored" in output
        assert len(json.loads(qmm("framework", "list", "--format", "json"))) == 1

    def test_an_error_naming_a_long_path_is_not_wrapped(
        self, initialised: str, tmp_path: Path
    ) -> None:
        deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / ("and-another-one-" * 4)
        deep.mkdir(parents=True)
        bad = deep / "bad.yaml"
        bad.write_text("code: mine\nname: Mine\n")
        output = fails("framework", "import", str(bad))
        assert len(str(bad)) > 120
        assert str(bad) in output
        assert "nothing was stored" in output


RATINGS_HEADER = "assessor,question,score,rationale,evidence\n"


class TestAssess:
    def setup_team(self) -> None:
        qmm("site", "add", "SITE-A", "--name", "Riverside")
        qmm("user", "add", "alice", "--name", "Alice Moreau")
        qmm("user", "add", "bob", "--name", "Bob Okafor")
        qmm(
            "assess",
            "create",
            "--site",
            "SITE-A",
            "--title",
            "FY26 self",
            "--lead",
            "alice",
            "--assessor",
            "bob",
        )

    def test_create_import_and_show_scores(self, initialised: str, tmp_path: Path) -> None:
        self.setup_team()
        fw = json.loads(qmm("framework", "show", "qmm-default", "--format", "json"))
        first_pa = fw["practice_areas"][0]
        q1 = first_pa["sub_elements"][0]["questions"][0]["code"]
        q2 = first_pa["sub_elements"][0]["questions"][1]["code"]
        path = tmp_path / "ratings.csv"
        path.write_text(
            RATINGS_HEADER + f"alice,{q1},4,objectives cascaded,POL-QA-001\n"
            f"bob,{q1},2,only on paper,\nalice,{q2},3,reviewed,\n"
        )
        assert "Recorded 3 rating(s)" in qmm("assess", "import-ratings", "1", str(path))
        scores = json.loads(qmm("assess", "scores", "1", "--format", "json"))
        assert scores["assessment"]["framework"] == "qmm-default@1"
        assert scores["questions"][q1]["consensus"] == 3
        assert scores["questions"][q1]["spread"] == 2
        assert scores["questions"][q1]["needs_calibration"] is True
        se_code = first_pa["sub_elements"][0]["code"]
        assert scores["sub_elements"][se_code]["score"] == 3
        assert scores["practice_areas"][first_pa["code"]]["score"] == 3
        assert scores["overall"]["score"] == 3
        assert "not" in scores["overall"]["label"]
        table = qmm("assess", "scores", "1", "--level", "question")
        assert "Inter-rater agreement" in table
        history = qmm("assess", "history", "1", "--question", q1)
        assert "alice" in history

    def test_a_bad_ratings_file_names_the_rows_and_stores_nothing(
        self, initialised: str, tmp_path: Path
    ) -> None:
        self.setup_team()
        path = tmp_path / "ratings.csv"
        path.write_text(RATINGS_HEADER + "alice,no.such.q,3,x,\nbob,zz.q1,7,y,\n")
        output = fails("assess", "import-ratings", "1", str(path))
        assert "row 2" in output
        assert "row 3" in output
        assert "'7'" in output
        scores = json.loads(qmm("assess", "scores", "1", "--format", "json"))
        assert all(q["ratings"] == {} for q in scores["questions"].values())

    def test_a_score_of_seven_on_the_command_line_is_refused(self, initialised: str) -> None:
        self.setup_team()
        output = fails(
            "assess",
            "rate",
            "1",
            "--question",
            "x",
            "--assessor",
            "bob",
            "--score",
            "7",
            "--rationale",
            "r",
        )
        assert "score '7'" in output

    def test_the_team_is_kept_from_the_command_line(self, initialised: str) -> None:
        self.setup_team()
        qmm("user", "add", "carol", "--name", "Carol Diaz")
        assert "Added carol" in qmm("assess", "team-add", "1", "carol")
        assert "already on the team" in fails("assess", "team-add", "1", "carol")
        assert "Took carol off" in qmm("assess", "team-remove", "1", "carol")
        assert "already has a lead" in fails("assess", "team-add", "1", "carol", "--role", "lead")
        assert "keeps its lead" in fails("assess", "team-remove", "1", "alice")
        listed = json.loads(qmm("assess", "list", "--format", "json"))
        assert sorted(listed[0]["team"]) == ["alice (lead)", "bob (assessor)"]

    def test_an_unknown_assessment_is_named(self, initialised: str) -> None:
        assert "no assessment 42" in fails("assess", "scores", "42")


class TestBenchmark:
    def test_fda_cohort_json_has_the_documented_keys(self, initialised: str) -> None:
        data = json.loads(qmm("benchmark", "--format", "json"))
        assert {
            "sites",
            "practice_areas",
            "within_site_range_mean",
            "icc1",
            "cronbach_alpha",
            "first_component_share",
        } <= set(data)
        assert data["within_site_range_mean"] == pytest.approx(5.9 / 9)
        mc = data["practice_areas"]["management_commitment"]
        assert set(mc) >= {"mean", "min", "max", "range", "range_to_within_ratio"}
        assert mc["range_to_within_ratio"] == pytest.approx(2.6 / (5.9 / 9))
        assert data["sites"][0] == {
            "site": "A",
            "scores": {
                "management_commitment": 2.8,
                "business_continuity": 2.7,
                "advanced_pqs": 2.6,
                "technical_excellence": 2.7,
                "employee_engagement": 3.4,
            },
            "mean": pytest.approx(2.84),
        }

    def test_table_output_reports_the_findings(self, initialised: str) -> None:
        output = qmm("benchmark")
        assert "ICC(1)" in output
        assert "What the numbers say" in output

    def test_a_malformed_cohort_names_the_row(self, initialised: str, tmp_path: Path) -> None:
        path = tmp_path / "cohort.csv"
        path.write_text(
            "site,management_commitment,business_continuity,advanced_pqs,"
            "technical_excellence,employee_engagement\n"
            "A,3,3,3,3,3\nB,7,3,3,3,3\nC,2,x,2,2,2\n"
        )
        output = fails("benchmark", "--cohort", str(path))
        assert "row 3" in output
        assert "row 4" in output

    def test_a_site_without_assessment_is_named(self, initialised: str) -> None:
        qmm("site", "add", "SITE-A", "--name", "Riverside")
        assert "no assessment yet" in fails("benchmark", "--site", "SITE-A")


class TestDemo:
    def test_demo_loads_three_sites_and_is_idempotent(self, empty_cli_database: str) -> None:
        first = qmm("demo")
        assert "SITE-C" in first
        assert "SITE-A's FDA assessment" in first
        assessments = json.loads(qmm("assess", "list", "--format", "json"))
        assert len({a["site"] for a in assessments}) == 3
        assert all(a["status"] == "closed" for a in assessments)
        assert all(len(a["team"]) >= 3 for a in assessments)
        weeks = {
            code: json.loads(qmm("week", "list", "--site", code, "--format", "json"))
            for code in ("SITE-A", "SITE-B")
        }
        assert [(w["site"], w["status"]) for ws in weeks.values() for w in ws] == [
            ("SITE-A", "preparing"),
            ("SITE-B", "feedback_received"),
        ]
        qmm("demo")
        assert json.loads(qmm("assess", "list", "--format", "json")) == assessments
        for code, listed in weeks.items():
            again = json.loads(qmm("week", "list", "--site", code, "--format", "json"))
            assert again == listed
        placed = json.loads(qmm("benchmark", "--site", "SITE-A", "--format", "json"))
        assert placed["n_cohort"] == 9
        assert "caveat" in placed
        workspace = json.loads(qmm("benchmark", "--workspace", "--format", "json"))
        assert [s["site"] for s in workspace["sites"]] == ["SITE-A", "SITE-B", "SITE-C"]
        ids = sorted(a["id"] for a in assessments if a["site"] == "SITE-A")
        moves = json.loads(qmm("assess", "compare", str(ids[0]), str(ids[1]), "--format", "json"))
        assert moves[0]["code"] == "overall"
        assert moves[0]["delta"] > 0


class TestStartup:
    """`qmm` starts at once: a command's area is imported only when that command runs."""

    HEAVY = (
        "scipy",
        "ibis",
        "duckdb",
        "pandas",
        "pyarrow",
        "weasyprint",
        "vl_convert",
        "pyspark",
        "fastapi",
        "uvicorn",
    )
    PROBE = (
        "import json, sys\n"
        "import qmm.cli.main\n"
        "imported = set(sys.modules)\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(qmm.cli.main.app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(json.dumps({'import': sorted(imported), 'help': sorted(sys.modules)}))\n"
    )

    def test_importing_the_cli_and_its_help_load_no_heavy_library(self) -> None:
        import qmm

        source = str(Path(qmm.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, *sys.path])}
        probe = subprocess.run(
            [sys.executable, "-c", self.PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        loaded = json.loads(probe.stdout)
        for moment in ("import", "help"):
            tops = {name.split(".")[0] for name in loaded[moment]}
            assert not tops & set(self.HEAVY), (moment, sorted(tops & set(self.HEAVY)))
        # The help lists every command from its summary: not even the database layer loads.
        assert "sqlalchemy" not in {name.split(".")[0] for name in loaded["help"]}

    def test_each_summary_in_the_command_list_is_the_command_s_own_help(self) -> None:
        group = get_command(app)
        assert isinstance(group, LazyGroup)
        assert list(group.commands) == list(COMMANDS)
        for name, declared in COMMANDS.items():
            command = group.commands[name]
            first_paragraph = inspect.cleandoc(command.help or "").split("\n\n")[0]
            assert declared.summary == first_paragraph.replace("\n", " "), name

    def test_an_unknown_command_is_still_suggested_a_near_name(self) -> None:
        result = runner.invoke(app, ["sitez"])
        assert result.exit_code == 2
        assert "Did you mean 'site'?" in result.output
