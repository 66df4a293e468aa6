"""Every `--out` (and `qmm backup OUT`) naming a symbolic link is refused with a clear message
before any work, never followed and never a traceback (issue 17, L4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()

COMMANDS = {
    "report": ["report", "--site", "SITE-A", "--format", "html", "--out", "{out}"],
    "export evidence": ["export", "evidence", "SITE-A", "--out", "{out}"],
    "export kpis": ["export", "kpis", "SITE-A", "--out", "{out}"],
    "export ratings": ["export", "ratings", "--assessment", "1", "--out", "{out}"],
    "demo-data": ["demo-data", "--out", "{out}"],
    "framework export": ["framework", "export", "--out", "{out}"],
    "decision export": ["decision", "export", "SITE-A", "--out", "{out}"],
    "evidence export": ["evidence", "export", "--site", "SITE-A", "--out", "{out}"],
    "backup": ["backup", "{out}"],
}


@pytest.fixture
def workspace(cli_database: str) -> str:
    assert runner.invoke(app, ["site", "add", "SITE-A", "--name", "Riverside"]).exit_code == 0
    return cli_database


@pytest.mark.parametrize("points_to", ["a-file", "nothing"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_that_is_a_symbolic_link_is_refused(
    workspace: str, tmp_path: Path, command: str, points_to: str
) -> None:
    target = tmp_path / "somebody-elses-file"
    if points_to == "a-file":
        target.write_text("keep me\n")
    link = tmp_path / "out-link"
    link.symlink_to(target)
    args = [a.format(out=link) for a in COMMANDS[command]]

    result = runner.invoke(app, args)

    assert result.exit_code == 2, result.output + repr(result.exception)
    assert f"{link} is a symbolic link (to {target})" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert link.is_symlink()
    assert (target.read_text() == "keep me\n") if points_to == "a-file" else not target.exists()
