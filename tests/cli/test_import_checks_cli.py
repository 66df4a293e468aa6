"""`qmm import` refuses site codes the app does not know (unless --create-sites), says which
record type each file is read as, and `qmm audit verify` never creates a database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from conftest import is_postgres
from events.support import CAPA_HEADER, CAPA_ROWS, write_csv
from qmm.cli.main import app

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def batches() -> list[dict[str, object]]:
    return json.loads(qmm("audit", "log", "--table", "import_batches", "--format", "json"))


def test_unknown_sites_are_refused_and_nothing_is_stored(cli_database: str, tmp_path: Path) -> None:
    qmm("site", "add", "SITE-A", "--name", "Plant A")
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    output = " ".join(qmm("import", str(path), code=2).split())
    assert "capa.csv" in output
    assert "row 4, column 'site', value 'SITE-B'" in output
    assert "not a site known to the app" in output
    assert "--create-sites" in output
    assert batches() == []


def test_a_look_alike_site_code_is_named_with_the_code_it_resembles(
    cli_database: str, tmp_path: Path
) -> None:
    qmm("site", "add", "SITE-A", "--name", "Plant A")
    rows = [[r[0], "SITE\u2010A", *r[2:]] for r in CAPA_ROWS]
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, rows)
    output = " ".join(qmm("import", str(path), code=2).split())
    assert "looks like SITE-A" in output
    assert "U+2010" in output
    assert batches() == []


def test_create_sites_registers_the_codes_of_an_initial_load(
    cli_database: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "capa.csv", CAPA_HEADER, CAPA_ROWS)
    output = qmm("import", str(path), "--create-sites")
    assert "SITE-A" in output
    sites = json.loads(qmm("site", "list", "--format", "json"))
    assert sorted(s["code"] for s in sites) == ["SITE-A", "SITE-B"]
    again = json.loads(qmm("import", str(path), "--format", "json"))  # no type lines in JSON
    assert again[0]["rows_unchanged"] == 3


def test_the_record_type_of_each_file_is_printed(cli_database: str, tmp_path: Path) -> None:
    qmm("site", "add", "SITE-A", "--name", "Plant A")
    qmm("site", "add", "SITE-B", "--name", "Plant B")
    path = write_csv(tmp_path / "capa-2025-11.csv", CAPA_HEADER, CAPA_ROWS)
    output = " ".join(qmm("import", str(path)).split())
    assert "capa-2025-11.csv: read as capa (from the file name)" in output


def test_the_record_type_is_printed_before_a_refusal(cli_database: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "capa_2025.csv", CAPA_HEADER, CAPA_ROWS)
    output = " ".join(qmm("import", str(path), "--type", "deviation", code=2).split())
    assert "capa_2025.csv: read as deviation (from --type)" in output


def test_audit_verify_on_a_missing_database_says_so_and_creates_nothing(
    empty_cli_database: str,
) -> None:
    database = Path(make_url(empty_cli_database).database or "")
    assert not database.exists()
    result = runner.invoke(app, ["audit", "verify"])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output + repr(result.exception)
    assert "qmm init" in output
    if not is_postgres():
        assert "no app database" in output
        assert list(database.parent.glob(database.name + "*")) == []
