"""`qmm metrics refresh`: every KPI value computed and stored again, with clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("extracts")
    qmm("demo-data", "--out", str(out), "--sites", "2", "--years", "1")
    return out


def test_refresh_fills_a_store_without_stored_values_then_keeps_them(
    cli_database: str, extracts: Path
) -> None:
    qmm("init")
    empty = json.loads(qmm("metrics", "refresh", "--format", "json"))
    assert empty == {"before": "missing", "refreshed": True, "values": 0, "batch_id": None}
    imported = json.loads(
        qmm(
            "import",
            str(extracts),
            "--create-sites",
            "--format",
            "json",
        )
    )
    latest = max(batch["id"] for batch in imported)
    # the import stored every value itself: refreshing only if stale does nothing
    kept = json.loads(qmm("metrics", "refresh", "--if-stale", "--format", "json"))
    assert kept == {"before": "fresh", "refreshed": False, "values": 0, "batch_id": None}
    again = json.loads(qmm("metrics", "refresh", "--format", "json"))
    assert again["refreshed"] is True
    assert again["values"] > 0
    assert again["batch_id"] == latest
    assert "KPI values (were fresh), current up to import batch" in qmm("metrics", "refresh")


def test_refresh_help_says_what_it_is_for(cli_database: str) -> None:
    output = qmm("metrics", "refresh", "--help")
    assert "--if-stale" in output
    assert "Compute and store every KPI value again" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "'xml' is not one of"),
        (["SITE-A"], "unexpected extra argument"),
        (["--if-stale=maybe"], "--if-stale"),
    ],
)
def test_refresh_names_bad_input(cli_database: str, args: list[str], message: str) -> None:
    qmm("init")
    output = qmm("metrics", "refresh", *args, code=2)
    assert message in output


def test_refresh_before_init_says_to_run_init(empty_cli_database: str) -> None:
    result = runner.invoke(app, ["metrics", "refresh"])
    assert result.exit_code != 0
    assert "qmm init" in result.output
