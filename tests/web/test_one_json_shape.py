"""One JSON shape per record: `qmm ... --format json` prints what the API returns for it.

One workspace serves the whole module: its records are stored once, then each test reads the same
record through the command line and through the API (with an administrator's token) and compares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import _drop_postgres_database, _fresh_postgres_database, is_postgres
from factories import create_evidence, create_site_a, tiny_pdf
from qmm.auth.service import create_user, grant_role
from qmm.auth.sessions import create_api_token
from qmm.cli.main import app as cli
from qmm.config import get_settings
from qmm.db import _engines, make_engine, unit_of_work
from qmm.events.store import EventStore
from qmm.framework.service import install_default
from qmm.migrate import upgrade
from qmm.web.app import create_app

runner = CliRunner()


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
        root = create_user(session, username="root", full_name="Root Admin")
        grant_role(session, user=root, role="administrator", site=None)
        token, _ = create_api_token(session, user=root, name="shape", scope="read")
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
        with TestClient(create_app(engine, store=EventStore(folder / "events"))) as client:
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


class TestOneShape:
    def test_a_site(self, shapes: Shapes) -> None:
        [from_cli] = shapes.cli("site", "list")
        from_api = shapes.api("/api/sites/SITE-A")
        assert from_cli == from_api
        assert from_api["duns"] is None

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
