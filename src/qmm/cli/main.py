"""The `qmm` command: one entry point for every command group."""

from __future__ import annotations

import typer

from qmm import __version__
from qmm.cli import assess, audit, frameworks, sites, tokens, users
from qmm.cli.backup import backup, restore
from qmm.cli.benchmark import benchmark
from qmm.cli.common import act_as, boundary, console, print_table
from qmm.cli.init import initialise
from qmm.cli.serve import serve

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
app.command("benchmark")(benchmark)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("serve")(serve)


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


@app.command("demo")
def demo() -> None:
    """Load the demo workspace (three sites, completed self-assessments); safe to run twice."""
    from qmm.assessment.service import compute_scores
    from qmm.demo.workspace import DEMO_PASSWORD, DEMO_USERS, load_demo

    initialise()
    with boundary() as session:
        assessments = load_demo(session)
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
    console.print(
        f"Demo users ({', '.join(DEMO_USERS)}) sign in with the demo password "
        f"{DEMO_PASSWORD!r}; admin is an administrator, alice leads SITE-A.",
        highlight=False,
    )
