"""One JSON shape per record: `qmm ... --format json` prints what the API returns for it.

One workspace serves the whole module: its records are stored once, then each test reads the same
record through the command line and through the API (with an administrator's token) and compares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from typer.testing import CliRunner

from conftest import _drop_postgres_database, _fresh_postgres_database, is_postgres
from factories import (
    create_agreement,
    create_assessment_of,
    create_decision,
    create_evidence,
    create_fda_assessment,
    create_scenario,
    create_site_a,
    create_tiny_framework,
    create_trigger,
    tiny_pdf,
)
from qmm.assessment.service import get_question, record_rating
from qmm.assessment_week.feedback import FindingIn, record_feedback
from qmm.assessment_week.mock import record_mock_answer, start_mock_interview
from qmm.assessment_week.service import choose_self_assessment
from qmm.auth.service import create_user, grant_role
from qmm.auth.sessions import create_api_token
from qmm.cli.main import app as cli
from qmm.config import get_settings
from qmm.db import _engines, make_engine, unit_of_work
from qmm.events.store import EventStore
from qmm.framework.service import install_default
from qmm.migrate import upgrade
from qmm.models import utcnow
from qmm.program.continuity import plan_drill, record_level
from qmm.program.decisions import sign_decision
from qmm.program.forum import raise_roadblock, remove_roadblock
from qmm.program.objectives import add_objective
from qmm.program.plan import approve_plan, generate_plan
from qmm.program.steering import set_up_cadence
from qmm.web.app import create_app
from web.support import CAPA_COLUMNS, capa_rows, csv_bytes

runner = CliRunner()
PASSWORD = "Quiet-River-Stone-42!"


@dataclass(frozen=True)
class Workspace:
    """Where the module's records live, and the token the API is read with."""

    url: str
    data_dir: Path
    token: str
    client: TestClient


def _environment(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    monkeypatch.setenv("QMM_DATABASE_URL", url)
    monkeypatch.setenv("QMM_DATA_DIR", str(data_dir))
    monkeypatch.delenv("QMM_USER", raising=False)
    get_settings.cache_clear()


def _store_records(url: str) -> str:
    """Every area's records, stored once; the administrator's API token."""
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        install_default(session)
        site = create_site_a(session)
        create_evidence(
            session,
            site,
            review_by=date(2026, 4, 1),
            files=[("sop.pdf", tiny_pdf())],
        )
        root = create_user(session, username="root", full_name="Root Admin", password=PASSWORD)
        grant_role(session, user=root, role="administrator", site=None)
        token, _ = create_api_token(session, user=root, name="shape", scope="read")
        assessment = create_assessment_of(
            session, site, root, root, framework=create_tiny_framework(session, code="shape")
        )
        record_rating(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code="m1.q1"),
            assessor=root,
            score=4,
            rationale="Management review minutes seen",
            evidence_refs=["EV-0001"],
        )
        sign_decision(
            session, decision=create_decision(session, site), user=root, password=PASSWORD
        )
        plan = generate_plan(
            session,
            assessment=assessment,
            owner="Site Director",
            start_on=utcnow().date() - timedelta(days=10),
        )
        approve_plan(session, plan=plan, user=root, password=PASSWORD)
        scenario = create_scenario(session, site)
        trigger = create_trigger(session, site, scenario=scenario)
        record_level(session, trigger=trigger, level=12000, recorded_on=date(2026, 10, 1))
        plan_drill(
            session,
            site=site,
            scenario=scenario,
            planned_on=date(2026, 10, 15),
            supplier="Brightseal Elastomers Inc.",
        )
        create_agreement(session, site)
        goal = add_objective(
            session,
            site=site,
            title="CAPAs effective",
            owner="Site Quality Head",
            published_on=date(2026, 1, 5),
            kpi="capa_effectiveness",
            target=0.8,
        )
        add_objective(
            session,
            site=site,
            title="Verify every CAPA",
            owner="QA Lead",
            published_on=date(2026, 1, 5),
            role="qa_specialist",
            what_good_looks_like="Effectiveness checked on time",
            parent=goal,
        )
        set_up_cadence(
            session,
            site=site,
            name="Quality steering",
            chair="Site Quality Head",
            cadence_days=30,
            first_meeting_on=date(2026, 1, 15),
        )
        for text, raised in (("Checklist too long", 5), ("Label printer jams", 20)):
            item = raise_roadblock(
                session,
                site=site,
                roadblock=text,
                raised_by="Operator, line 2",
                raised_on=date(2026, 1, raised),
                owner="Production Manager",
            )
        remove_roadblock(session, item=item, removed_on=date(2026, 1, 25), resolution="Fixed")
        visit = create_fda_assessment(
            session, site, starts_on=date(2026, 6, 8), ends_on=date(2026, 6, 11)
        )
        choose_self_assessment(session, fda_assessment=visit, assessment=assessment)
        mock = start_mock_interview(
            session,
            fda_assessment=visit,
            practice_area="management_commitment",
            assessor="Sam Ode",
            held_on=date(2026, 5, 20),
        )
        record_mock_answer(session, interview=mock, question_code="m1.q1", score=2, notes="thin")
        record_feedback(
            session,
            fda_assessment=visit,
            received_on=date(2026, 8, 3),
            area_scores={"management_commitment": 3.0},
            findings=[FindingIn("opportunity", "management_commitment", "Act on the KPIs")],
            evidence_ref="EV-0001",
        )
    return token


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("one-shape")
    url = (
        _fresh_postgres_database(database_url)
        if is_postgres()
        else f"sqlite:///{folder / 'shape.sqlite3'}"
    )
    with pytest.MonkeyPatch.context() as patch:
        _environment(patch, url, folder / "data")
        token = _store_records(url)
        engine = _engines[url] if url in _engines else make_engine(url)
        with TestClient(create_app(engine, store=EventStore.from_settings())) as client:
            yield Workspace(url, folder / "data", token, client)
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    get_settings.cache_clear()
    if is_postgres():
        _drop_postgres_database(url)


@pytest.fixture
def shapes(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Shapes:
    _environment(monkeypatch, workspace.url, workspace.data_dir)
    return Shapes(workspace)


@dataclass(frozen=True)
class Shapes:
    """The same record read through each face."""

    workspace: Workspace

    def cli(self, *args: str) -> Any:
        result = runner.invoke(cli, [*args, "--format", "json"])
        assert result.exit_code == 0, result.output + str(result.exception or "")
        return json.loads(result.output)

    def api(self, path: str) -> Any:
        response = self.workspace.client.get(
            path, headers={"Authorization": f"Bearer {self.workspace.token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()


def keys(data: Any) -> Any:
    """The shape of a JSON value: its keys, all the way down (a list by its first element)."""
    if isinstance(data, dict):
        return {k: keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [keys(data[0])] if data else []
    return None


def test_each_shape_has_one_name_in_the_openapi_document() -> None:
    # Two models of one name in different areas would be told apart by their module path.
    names = create_app(create_engine("sqlite://")).openapi()["components"]["schemas"]
    assert [n for n in names if n.startswith("qmm__")] == []
    assert {"SiteOut", "EvidenceOut", "DecisionOut", "PlanOut", "TriggerOut", "CadenceOut"} <= set(
        names
    )


class TestOneShape:
    def test_a_site(self, shapes: Shapes) -> None:
        [from_cli] = shapes.cli("site", "list")
        from_api = shapes.api("/api/sites/SITE-A")
        assert from_cli == from_api
        assert from_api["duns"] is None

    def test_a_search(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("search", "hold", "lot", "--limit", "5")
        from_api = shapes.api("/api/search?q=hold%20lot")
        assert from_cli == from_api
        assert "decision" in [k["kind"] for k in from_api["kinds"]]

    def test_an_evidence_item(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("evidence", "show", "EV-0001", "--site", "SITE-A")
        from_api = shapes.api("/api/sites/SITE-A/evidence/EV-0001")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert from_cli["overdue"] is True
        assert from_cli["files"][0]["download"].endswith(f"/files/{from_cli['files'][0]['id']}")
        assert shapes.cli("evidence", "list", "--site", "SITE-A") == shapes.api(
            "/api/sites/SITE-A/evidence"
        )

    def test_an_assessment_with_its_scores(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("assess", "scores", "1")
        from_api = shapes.api("/api/assessments/1")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert shapes.cli("assess", "list") == [from_api["assessment"]]
        assert shapes.cli("assess", "signatures", "1") == from_api["signatures"]

    def test_audit_entries(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("audit", "log", "--table", "sites")
        from_api = shapes.api("/api/audit?table=sites")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert from_cli[0]["new_values"]["code"] == "SITE-A"

    def test_an_import_batch(self, shapes: Shapes, tmp_path: Path) -> None:
        extract = tmp_path / "capa.csv"
        extract.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(months=1, per_month=3)))
        [from_cli] = shapes.cli("import", str(extract))
        listed = shapes.api("/api/sites/SITE-A/imports")
        [from_api] = [b for b in listed if b["id"] == from_cli["id"]]
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert (from_cli["rows"], from_cli["rows_new"]) == (3, 3)

    def test_a_decision(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("decision", "show", "SITE-A", "DEC-0001")
        from_api = shapes.api("/api/sites/SITE-A/decisions/DEC-0001")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert (from_cli["chain"], from_cli["signatures"][0]["valid"]) == (["DEC-0001"], True)
        assert shapes.cli("decision", "list", "SITE-A") == [from_api]
        exported = runner.invoke(cli, ["decision", "export", "SITE-A", "--format", "json"])
        assert json.loads(exported.output) == [from_api]

    def test_a_plan_with_its_actions_and_progress(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("plan", "show", "SITE-A", "PLAN-0001")
        from_api = shapes.api("/api/sites/SITE-A/plans/PLAN-0001")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert from_cli["progress"]["day"] == 11
        assert shapes.cli("plan", "progress", "SITE-A", "PLAN-0001") == from_api["progress"]
        assert shapes.cli("plan", "list", "SITE-A") == shapes.api("/api/sites/SITE-A/plans")

    def test_continuity_scenarios_triggers_and_drills(self, shapes: Shapes) -> None:
        from_api = shapes.api("/api/sites/SITE-A/continuity")
        for command, part in (("scenarios", "scenarios"), ("triggers", "triggers")):
            from_cli = shapes.cli("continuity", command, "SITE-A")
            assert keys(from_cli) == keys(from_api[part])
            assert from_cli == from_api[part]
        assert shapes.cli("continuity", "breaches", "SITE-A") == from_api["triggers"]
        assert shapes.cli("continuity", "drills", "SITE-A") == from_api["drills"]
        assert from_api["triggers"][0]["levels"][0]["level"] == 12000
        assert from_api["drills"][0]["state"] == "overdue"

    def test_mock_interviews_feedback_and_the_calibration_gap(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("week", "mock", "show", "1", "1")
        from_api = shapes.api("/api/fda-assessments/1/mock-interviews/1")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert shapes.cli("week", "mock", "list", "1") == [from_api]
        assert shapes.cli("week", "mock", "gaps", "1") == shapes.api(
            "/api/fda-assessments/1/mock-gaps"
        )
        feedback = shapes.cli("week", "feedback", "show", "1")
        assert feedback == shapes.api("/api/fda-assessments/1/feedback")
        assert feedback["area_scores"] == {"management_commitment": 3.0}
        history = shapes.cli("week", "calibration", "--site", "SITE-A")
        assert history == shapes.api("/api/sites/SITE-A/calibration")
        assert history == [shapes.api("/api/fda-assessments/1/calibration")]
        assert shapes.cli("week", "calibration") == shapes.api("/api/calibration")

    def test_a_supplier_agreement(self, shapes: Shapes) -> None:
        from_cli = shapes.cli("supplier", "list", "SITE-A")
        from_api = shapes.api("/api/sites/SITE-A/suppliers")
        assert keys(from_cli) == keys(from_api)
        assert from_cli == from_api
        assert shapes.cli("supplier", "status", "SITE-A", "1") == from_api[0]

    def test_objectives_steering_and_the_forum_as_the_program_shows_them(
        self, shapes: Shapes
    ) -> None:
        program = shapes.api("/api/sites/SITE-A/program")
        objectives = shapes.cli("objective", "list", "SITE-A")
        assert keys(objectives) == keys(program["objectives"])
        assert objectives == program["objectives"]
        assert objectives[0]["children"][0]["status"]["state"] == "not_measured"
        cadences = shapes.cli("steering", "status", "SITE-A")
        assert keys(cadences) == keys(program["cadences"])
        assert cadences == program["cadences"]
        forum = shapes.cli("forum", "summary", "SITE-A")
        assert keys(forum) == keys(program["forum"])
        assert forum == program["forum"]
        assert shapes.cli("forum", "list", "SITE-A", "--open") == forum["open_items"]
        assert (forum["removed"], forum["open_items"][0]["roadblock"]) == (1, "Checklist too long")
        assert program["plan"] == shapes.cli("plan", "progress", "SITE-A")

    def test_kpi_values_and_a_control_chart(self, shapes: Shapes, tmp_path: Path) -> None:
        extract = tmp_path / "capa.csv"
        extract.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(months=12, per_month=10)))
        shapes.cli("import", str(extract))
        which = ("--kpi", "capa_effectiveness", "--site", "SITE-A")
        values = shapes.cli("metrics", *which, "--period", "quarter")
        assert values == shapes.api("/api/kpis?kpi=capa_effectiveness&site=SITE-A&period=quarter")
        assert len(values) == 4
        chart = shapes.cli("metrics", "chart", *which)
        from_api = shapes.api("/api/sites/SITE-A/kpis/capa_effectiveness/chart")
        assert keys(chart) == keys(from_api)
        assert chart == from_api
        assert (chart["kind"], chart["target"], chart["mr_center"]) == ("p", 0.9, None)
