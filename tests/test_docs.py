"""Every command, setting and KPI is documented: a new one without docs fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from qmm.cli.main import app
from qmm.config import Settings
from qmm.metrics.catalogue import KPIS

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def command_paths() -> list[str]:
    found: list[str] = []

    def walk(command: Any, path: list[str]) -> None:
        subs = getattr(command, "commands", {})
        if path and not subs:
            found.append(" ".join(["qmm", *path]))
        for name, sub in subs.items():
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return found


@pytest.mark.parametrize("command", command_paths())
def test_every_command_is_in_the_cli_docs(command: str) -> None:
    assert f"## `{command}`" in (DOCS / "cli.md").read_text()


@pytest.mark.parametrize("kpi", [k.id for k in KPIS])
def test_every_kpi_is_documented(kpi: str) -> None:
    assert f"`{kpi}`" in (DOCS / "metrics.md").read_text()


@pytest.mark.parametrize("setting", list(Settings.model_fields))
def test_every_setting_is_in_the_readme(setting: str) -> None:
    assert f"`QMM_{setting.upper()}`" in README.read_text()
