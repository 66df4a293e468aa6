"""What every command shares: the transaction boundary, error reporting and output formats."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from qmm.db import unit_of_work
from qmm.errors import QMMError

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


@contextmanager
def boundary() -> Iterator[Session]:
    """A unit of work that commits on success; a user error prints clearly and exits non-zero."""
    try:
        with unit_of_work() as session:
            yield session
    except QMMError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


def fail(message: str, code: int = 2) -> None:
    """Stop a command with a clear message on stderr."""
    err_console.print(f"[bold red]Error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Write JSON to stdout exactly, without rich's wrapping or highlighting."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A readable table for people."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def fmt_score(value: float | None) -> str:
    """A score for people: two decimals, or a dash when there is none."""
    return "-" if value is None else f"{value:.2f}"
