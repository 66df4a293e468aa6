"""`qmm export`: ratings, the evidence index and KPI series as CSV or XLSX files."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from qmm.assessment.service import get_assessment
from qmm.auth.permissions import Permission
from qmm.cli.common import authorize_actor, boundary, console, fail, parse_day, refuse_link
from qmm.metrics.engine import today
from qmm.reports.exports import (
    ExportTable,
    evidence_table,
    kpi_table,
    ratings_table,
    render,
    write_file,
)
from qmm.sites.service import get_site

app = typer.Typer(
    help="Export ratings, the evidence index or KPI series as CSV or XLSX. Text that a "
    "spreadsheet would run as a formula is neutralised.",
    no_args_is_help=True,
)


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


FORMAT_OPTION = typer.Option(ExportFormat.csv, "--format", help="csv or xlsx.")
OUT_OPTION = typer.Option(
    None, "--out", help="File to write, whole or not at all; without it CSV goes to stdout."
)


def _check_destination(fmt: ExportFormat, out: Path | None) -> None:
    """Refuse before any work an XLSX meant for the terminal, or an --out that is a link."""
    refuse_link(out)
    if out is None and fmt is ExportFormat.xlsx:
        fail("--format xlsx writes a binary file: name it with --out FILE")


def _deliver(table: ExportTable, fmt: ExportFormat, out: Path | None) -> None:
    """Write the file (or CSV to stdout) and say what was written."""
    content = render(table, fmt.value)
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    write_file(out, content)
    console.print(f"Wrote {len(table.rows)} row(s) to {out}", highlight=False, soft_wrap=True)


@app.command("ratings")
def ratings(
    assessment_id: int = typer.Option(..., "--assessment", help="Assessment id."),
    fmt: ExportFormat = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """Every current rating of an assessment, with the consensus of its question."""
    _check_destination(fmt, out)
    with boundary() as session:
        assessment = get_assessment(session, assessment_id=assessment_id)
        authorize_actor(session, Permission.assessment_read, assessment=assessment)
        _deliver(ratings_table(session, assessment=assessment), fmt, out)


@app.command("evidence")
def evidence(
    site_code: str = typer.Argument(..., metavar="SITE", help="Site code."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Judge overdue reviews as of this day (YYYY-MM-DD); default today."
    ),
    fmt: ExportFormat = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """The site's evidence index, retired items included, with files and their SHA-256."""
    _check_destination(fmt, out)
    day = parse_day(as_of, option="--as-of") if as_of else today()
    with boundary() as session:
        site = get_site(session, code=site_code)
        authorize_actor(session, Permission.site_read, site=site)
        _deliver(evidence_table(session, site=site, as_of=day), fmt, out)


@app.command("kpis")
def kpis(
    site_code: str = typer.Argument(..., metavar="SITE", help="Site code."),
    kpi: list[str] = typer.Option([], "--kpi", help="KPI id; repeat. Default: every KPI."),
    period: Period = typer.Option(Period.month, "--period", help="month, quarter or year."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Evaluate as of this day (YYYY-MM-DD); default today."
    ),
    fmt: ExportFormat = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """KPI values per period with n, target, control limits and Nelson-rule signals."""
    _check_destination(fmt, out)
    day = parse_day(as_of, option="--as-of") if as_of else today()
    with boundary() as session:
        site = get_site(session, code=site_code)
        authorize_actor(session, Permission.site_read, site=site)
        table = kpi_table(session, site=site, as_of=day, kpis=kpi, period=period.value)
        _deliver(table, fmt, out)
