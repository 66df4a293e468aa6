"""`qmm thread`: a record's thread and a site's broken threads, with the API's JSON shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from qmm.cli.main import app
from threads.support import EXTRACTS

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def _workspace(tmp_path: Path) -> None:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("site", "add", "SITE-B", "--name", "Hillside")
    folder = tmp_path / "extracts"
    folder.mkdir()
    for name, text in EXTRACTS.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    qmm("import", str(folder))


def test_thread_show_and_broken(cli_database: str, tmp_path: Path) -> None:
    _workspace(tmp_path)
    data: Any = json.loads(
        qmm("thread", "show", "deviation", "DEV-1", "--site", "SITE-A", "--format", "json")
    )
    assert [r["record_id"] for r in data["records"]] == ["EM-1", "DEV-1", "CAPA-1", "CC-1"]
    assert data["complete"] is True
    table = qmm("thread", "show", "em_sample", "EM-2", "--site", "SITE-A", code=1)
    assert "action-level excursion with no deviation" in table
    broken = json.loads(qmm("thread", "broken", "--site", "SITE-A", "--format", "json"))
    assert [b["record_id"] for b in broken] == ["CAPA-2", "DEV-2", "EM-2", "EM-4"]


def test_bad_thread_requests_are_refused_clearly(cli_database: str, tmp_path: Path) -> None:
    _workspace(tmp_path)
    out = qmm("thread", "show", "lot", "L-1", "--site", "SITE-A", code=2)
    assert "record type 'lot' has no thread" in out
    out = qmm("thread", "show", "em_sample", "EM-9", "--site", "SITE-A", code=2)
    assert "no EM sample EM-9 at SITE-A" in out
