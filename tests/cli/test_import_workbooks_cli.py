"""`qmm import` of XLSX extracts: every row of a sheet whose size information is stale, and a
workbook that unpacks past the limit refused in words, exit 2, with earlier batches kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events.support import (
    CAPA_HEADER,
    CAPA_ROWS,
    with_padding,
    with_stale_dimension,
    write_csv,
    write_xlsx,
)
from qmm.cli.main import app
from qmm.config import get_settings

runner = CliRunner()
SIX_CAPAS = [
    [f"CAPA-{n}", "SITE-A", "2025-01-06", "2025-02-06", "training", ""] for n in range(1, 7)
]


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def capa_workbook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_xlsx(folder / "capa.xlsx", {"Sheet1": (CAPA_HEADER, SIX_CAPAS)})


def batches() -> list[dict[str, object]]:
    return json.loads(qmm("audit", "log", "--table", "import_batches", "--format", "json"))


@pytest.mark.parametrize("ref", ["A1:F2", "A1:C2", "A1"])
def test_a_stale_dimension_imports_every_row(cli_database: str, tmp_path: Path, ref: str) -> None:
    qmm("init")
    path = with_stale_dimension(capa_workbook(tmp_path), ref)
    [batch] = json.loads(qmm("import", str(path), "--create-sites", "--format", "json"))
    assert batch["rows"] == 6
    assert batch["rows_new"] == 6


def test_a_workbook_that_unpacks_past_the_limit_is_refused(
    cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qmm("init")
    qmm("import", str(write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)), "--create-sites")
    kept = batches()
    monkeypatch.setenv("QMM_XLSX_MAX_UNPACKED_BYTES", "10000000")
    get_settings.cache_clear()
    bomb = with_padding(capa_workbook(tmp_path / "bomb"), 50 << 20)
    output = " ".join(qmm("import", str(bomb), code=2).split())
    assert "capa.xlsx" in output
    assert "more than the limit of 10,000,000 bytes" in output
    assert "QMM_XLSX_MAX_UNPACKED_BYTES" in output
    assert "Traceback" not in output
    assert batches() == kept
