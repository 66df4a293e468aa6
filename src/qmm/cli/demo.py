"""`qmm demo` and `qmm demo-data`: a demo workspace, and realistic extracts to import."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.assessment_week.service import next_fda_assessment
from qmm.cli.common import boundary, console, fail, print_table, refuse_link
from qmm.cli.init import initialise
from qmm.config import get_settings
from qmm.demo.extracts import DEMO_END, write_demo_extracts
from qmm.demo.threads import write_thread_extracts
from qmm.demo.workspace import DEMO_PASSWORD, DEMO_USERS, load_demo
from qmm.events.importer import import_files
from qmm.events.store import has_import_batches
from qmm.metrics.service import event_store
from qmm.sites.service import get_site


def demo_data(
    out: Path = typer.Option(..., "--out", help="Folder to write the extracts into."),
    sites: int = typer.Option(3, "--sites", help="Number of sites (SITE-A, SITE-B, ...)."),
    years: int = typer.Option(2, "--years", help="Years of history up to the end date."),
    seed: int = typer.Option(2026, "--seed", help="Random seed: same seed, same files."),
    fmt: str = typer.Option("csv", "--format", help="csv, or parquet (EM samples as Parquet)."),
) -> None:
    """Write realistic, contract-conformant extracts with known injected signals."""
    refuse_link(out)
    if fmt not in {"csv", "parquet"}:
        fail(f"--format {fmt!r} is not one of csv, parquet")
    if sites < 1 or years < 1:
        fail("--sites and --years must be at least 1")
    with console.status("Writing extracts") as status:
        written = write_demo_extracts(
            out,
            sites=sites,
            years=years,
            seed=seed,
            fmt="parquet" if fmt == "parquet" else "csv",
            progress=lambda step: status.update(f"Writing extracts: {step}"),
        )
    print_table(
        "Demo extracts",
        ["record type", "file"],
        [[name, str(path)] for name, path in sorted(written.items())],
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _load_demo_extracts(session: Session) -> int:
    """Generate and import the demo sites' extracts once; later runs import nothing."""
    if has_import_batches(session):
        return 0
    folder = get_settings().data_dir / "demo-extracts"
    with console.status("Writing demo extracts") as status:
        written = write_demo_extracts(
            folder, sites=3, years=2, progress=lambda step: status.update(f"Writing {step}")
        )
    paths = [*sorted(written.values()), *write_thread_extracts(folder)]
    with _progress() as progress:
        batches = import_files(
            session,
            paths=paths,
            store=event_store(),
            progress=progress,
            extracted_on=DEMO_END,  # the data ends there: KPIs are as of it, not of today
        )
    return sum(b.rows for b in batches)


def demo() -> None:
    """Load the demo workspace (three sites, completed self-assessments, the FDA assessment
    week dated from today); safe to run twice."""
    initialise()
    with boundary() as session:
        assessments = load_demo(session)
        imported = _load_demo_extracts(session)
        coming = next_fda_assessment(session, site=get_site(session, code="SITE-A"))
        week = (coming.id, coming.starts_on) if coming is not None else None
        rows = []
        for a in assessments:
            result = compute_scores(session, assessment=a)
            rows.append(
                [
                    a.id,
                    a.site.code,
                    a.title,
                    *(
                        f"{pa.score:.2f}" if pa.score is not None else "-"
                        for pa in result.practice_areas.values()
                    ),
                    f"{result.overall:.2f}" if result.overall is not None else "-",
                ]
            )
    print_table(
        "Demo workspace: practice-area scores",
        [
            "id",
            "site",
            "assessment",
            "mgmt",
            "continuity",
            "adv. PQS",
            "tech. exc.",
            "engagement",
            "overall*",
        ],
        rows,
    )
    console.print(
        "* computed by QMM Workbench, not by FDA. Next: `qmm assess scores ID`, "
        "`qmm benchmark --site SITE-A`, `qmm benchmark --workspace`."
    )
    if week is not None:
        console.print(
            f"FDA assessment week: SITE-A's FDA assessment {week[0]} starts {week[1]} "
            f"(`qmm week show {week[0]}`, `qmm week agenda show {week[0]}`); SITE-B's past "
            "one has FDA's feedback (`qmm week calibration --site SITE-B`).",
            highlight=False,
        )
    if imported:
        console.print(f"Imported {imported:,} demo eQMS records (`qmm metrics --site SITE-A`).")
    console.print(
        f"Demo users ({', '.join(DEMO_USERS)}) sign in with the demo password "
        f"{DEMO_PASSWORD!r}; admin is an administrator, alice leads SITE-A.",
        highlight=False,
    )
