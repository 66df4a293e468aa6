"""The `qmm` command: one entry point for every command group."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm import __version__
from qmm.cli import (
    assess,
    audit,
    continuity,
    decisions,
    evidence,
    forum,
    frameworks,
    metrics,
    objectives,
    sites,
    steering,
    suppliers,
    tokens,
    users,
)
from qmm.cli import export as exports
from qmm.cli import plan as plans
from qmm.cli.backup import backup, restore
from qmm.cli.benchmark import benchmark
from qmm.cli.common import act_as, boundary, console, fail, print_table
from qmm.cli.events import import_, profiles, store_orphans
from qmm.cli.init import initialise
from qmm.cli.report import report
from qmm.cli.serve import serve
from qmm.config import get_settings
from qmm.models import ImportBatch

app = typer.Typer(
    help="QMM Workbench: quality management maturity for drug-manufacturing sites.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sites.app, name="site")
app.add_typer(users.app, name="user")
app.add_typer(frameworks.app, name="framework")
app.add_typer(assess.app, name="assess")
app.add_typer(tokens.app, name="token")
app.add_typer(audit.app, name="audit")
app.add_typer(evidence.app, name="evidence")
app.add_typer(decisions.app, name="decision")
app.add_typer(plans.app, name="plan")
app.add_typer(objectives.app, name="objective")
app.command("engagement")(objectives.engagement)
app.add_typer(steering.app, name="steering")
app.add_typer(forum.app, name="forum")
app.add_typer(continuity.app, name="continuity")
app.add_typer(suppliers.app, name="supplier")
app.command("benchmark")(benchmark)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("serve")(serve)
app.command("import")(import_)
app.command("profiles")(profiles)
app.command("store-orphans")(store_orphans)
app.add_typer(metrics.app, name="metrics")
app.add_typer(exports.app, name="export")
app.command("report")(report)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qmm-workbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    acting_user: str | None = typer.Option(
        None, "--as", help="Record changes in the audit trail as this user (or set QMM_USER)."
    ),
) -> None:
    """QMM Workbench: quality management maturity for drug-manufacturing sites."""
    act_as(acting_user)


@app.command("init")
def init() -> None:
    """Create or upgrade the databases and publish the shipped default framework."""
    initialise()


@app.command("demo-data")
def demo_data(
    out: Path = typer.Option(..., "--out", help="Folder to write the extracts into."),
    sites: int = typer.Option(3, "--sites", help="Number of sites (SITE-A, SITE-B, ...)."),
    years: int = typer.Option(2, "--years", help="Years of history up to the end date."),
    seed: int = typer.Option(2026, "--seed", help="Random seed: same seed, same files."),
    fmt: str = typer.Option("csv", "--format", help="csv, or parquet (EM samples as Parquet)."),
) -> None:
    """Write realistic, contract-conformant extracts with known injected signals."""
    from qmm.demo.extracts import write_demo_extracts

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
    from qmm.demo.extracts import write_demo_extracts
    from qmm.events.importer import import_files
    from qmm.metrics.service import event_store

    if session.scalar(select(func.count()).select_from(ImportBatch)):
        return 0
    folder = get_settings().data_dir / "demo-extracts"
    with console.status("Writing demo extracts") as status:
        written = write_demo_extracts(
            folder, sites=3, years=2, progress=lambda step: status.update(f"Writing {step}")
        )
    with _progress() as progress:
        batches = import_files(
            session, paths=sorted(written.values()), store=event_store(), progress=progress
        )
    return sum(b.rows for b in batches)


@app.command("demo")
def demo() -> None:
    """Load the demo workspace (three sites, completed self-assessments); safe to run twice."""
    from qmm.assessment.service import compute_scores
    from qmm.demo.workspace import DEMO_PASSWORD, DEMO_USERS, load_demo

    initialise()
    with boundary() as session:
        assessments = load_demo(session)
        imported = _load_demo_extracts(session)
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
    if imported:
        console.print(f"Imported {imported:,} demo eQMS records (`qmm metrics --site SITE-A`).")
    console.print(
        f"Demo users ({', '.join(DEMO_USERS)}) sign in with the demo password "
        f"{DEMO_PASSWORD!r}; admin is an administrator, alice leads SITE-A.",
        highlight=False,
    )
