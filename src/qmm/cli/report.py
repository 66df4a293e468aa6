"""`qmm report`: the readiness report of a site as one HTML file or a PDF printed from it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from qmm.assessment.service import get_assessment
from qmm.auth.permissions import Permission
from qmm.cli.common import (
    acting_reader,
    authorize_actor,
    boundary,
    console,
    fail,
    parse_day,
    refuse_link,
)
from qmm.metrics.engine import today
from qmm.metrics.service import event_store
from qmm.reports.exports import write_file
from qmm.reports.readiness import build_report, choose_assessment
from qmm.reports.render import report_html, report_pdf, summary_html
from qmm.sites.service import get_site


class ReportFormat(StrEnum):
    html = "html"
    pdf = "pdf"


def report(
    site_code: str = typer.Option(..., "--site", help="Site code."),
    assessment_id: int | None = typer.Option(
        None, "--assessment", help="Assessment id; default the latest closed one, else the latest."
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.pdf, "--format", help="html or pdf."),
    out: Path = typer.Option(..., "--out", help="File to write, whole or not at all."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Report as of this day (YYYY-MM-DD); default today."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="First day of the period for decisions, steering and drills; default a year back.",
    ),
    summary: bool = typer.Option(
        False, "--summary", help="Only the one-page summary (at a glance), not the whole report."
    ),
) -> None:
    """The readiness report: scores against the FDA cohort, KPIs, evidence, program, signatures."""
    refuse_link(out)
    if out.is_dir():
        fail(f"--out {out} is a folder; name the file to write")
    if not out.parent.is_dir():
        fail(f"--out {out}: folder {out.parent} does not exist")
    day = parse_day(as_of, option="--as-of") if as_of else today()
    start = parse_day(since, option="--since") if since else None
    steps = 3 if fmt is ReportFormat.pdf else 2
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with boundary() as session, progress:
        task = progress.add_task("Gathering scores, KPIs and the program", total=steps)
        site = get_site(session, code=site_code)
        authorize_actor(session, Permission.site_read, site=site)
        if assessment_id is not None:
            authorize_actor(
                session,
                Permission.assessment_read,
                assessment=get_assessment(session, assessment_id=assessment_id),
            )
        assessment = choose_assessment(session, site=site, assessment_id=assessment_id)
        authorize_actor(session, Permission.assessment_read, assessment=assessment)
        built = build_report(
            session,
            site=site,
            store=event_store(),
            assessment_id=assessment.id,
            as_of=day,
            since=start,
            reader=acting_reader(session),
        )
        progress.update(task, advance=1, description="Writing the HTML")
        html = summary_html(built) if summary else report_html(built)
        progress.update(task, advance=1)
        content = html.encode("utf-8")
        if fmt is ReportFormat.pdf:
            progress.update(task, description="Printing the PDF")
            content = report_pdf(html)
            progress.update(task, advance=1)
        write_file(out, content)
    console.print(
        f"Wrote the readiness {'summary' if summary else 'report'} of {site_code} "
        f"(assessment A-{assessment.id}, as of {day}) "
        f"to {out} ({len(content):,} bytes)",
        highlight=False,
        soft_wrap=True,
    )
