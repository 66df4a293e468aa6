"""The `qmm` command: one entry point for every command group, each imported only when used."""

from __future__ import annotations

from typing import Final

import typer

from qmm import __version__
from qmm.cli.lazy import LazyCommand, LazyGroup

#: Every command, in the order `qmm --help` lists them, with that listing's line.
COMMANDS: Final = {
    "worklist": LazyCommand(
        "qmm.cli.worklist:worklist",
        "Needs attention: reviews, actions, drafts, meetings, drills, FDA steps, threads, KPIs.",
    ),
    "digest": LazyCommand(
        "qmm.cli.digest:app", "E-mail digests of the worklist, for cron or a systemd timer."
    ),
    "search": LazyCommand(
        "qmm.cli.search:app",
        "Search sites, evidence, decisions, plans, objectives, clauses, questions and rationales.",
    ),
    "engagement": LazyCommand(
        "qmm.cli.objectives:engagement",
        "Suggestions submitted, accepted and days to decision, per period (the seeds' measure).",
    ),
    "benchmark": LazyCommand(
        "qmm.cli.benchmark:benchmark",
        "Cohort statistics (spread, ICC(1), Cronbach's alpha, first component) or a site's place.",
    ),
    "backup": LazyCommand(
        "qmm.cli.backup:backup",
        "Back up the embedded database, event store and evidence files to one checked file.",
    ),
    "restore": LazyCommand(
        "qmm.cli.backup:restore",
        "Restore a backup after checking every file, then upgrade it and verify its audit trail.",
    ),
    "serve": LazyCommand(
        "qmm.cli.serve:serve",
        "Serve the web application and the API under /api until interrupted.",
    ),
    "import": LazyCommand(
        "qmm.cli.events:import_",
        "Import extracts; a file with any invalid row imports nothing and every error is listed.",
    ),
    "profiles": LazyCommand(
        "qmm.cli.events:profiles",
        "List the mapping profiles that ship with the product (examples to adapt).",
    ),
    "store-orphans": LazyCommand(
        "qmm.cli.events:store_orphans",
        "List (or remove) event-store files no committed import owns, left by killed imports.",
    ),
    "report": LazyCommand(
        "qmm.cli.report:report",
        "The readiness report: scores against the FDA cohort, KPIs, evidence, program, signatures.",
    ),
    "init": LazyCommand(
        "qmm.cli.init:init",
        "Create or upgrade the databases and publish the shipped default framework.",
    ),
    "demo-data": LazyCommand(
        "qmm.cli.demo:demo_data",
        "Write realistic, contract-conformant extracts with known injected signals.",
    ),
    "demo": LazyCommand(
        "qmm.cli.demo:demo",
        "Load the demo workspace (three sites, completed self-assessments, the FDA assessment "
        "week dated from today); safe to run twice.",
    ),
    "site": LazyCommand("qmm.cli.sites:app", "Register and list manufacturing sites."),
    "user": LazyCommand("qmm.cli.users:app", "Accounts, passwords and roles per site."),
    "framework": LazyCommand(
        "qmm.cli.frameworks:app",
        "The QMM framework as versioned data: practice areas, sub-elements, questions, rubric.",
    ),
    "assess": LazyCommand(
        "qmm.cli.assess:app",
        "Assess a site: create an assessment, rate questions, see scores and agreement.",
    ),
    "week": LazyCommand(
        "qmm.cli.week:app",
        "FDA's assessment week: dates, timeline with owners, the site's people.",
    ),
    "token": LazyCommand("qmm.cli.tokens:app", "API tokens for scripts and integrations."),
    "audit": LazyCommand("qmm.cli.audit:app", "The tamper-evident audit trail."),
    "evidence": LazyCommand(
        "qmm.cli.evidence:app",
        "The evidence index: items linking to eQMS records, files, coverage, offline bundle.",
    ),
    "decision": LazyCommand(
        "qmm.cli.decisions:app",
        "The decision log: what was decided, the trade-off, why; signed, then superseded.",
    ),
    "plan": LazyCommand(
        "qmm.cli.plan:app",
        "The 90-day readiness plan: generated from an assessment, approved, then tracked.",
    ),
    "objective": LazyCommand(
        "qmm.cli.objectives:app",
        "Quality objectives: measured by a KPI, cascaded by role to what good looks like.",
    ),
    "steering": LazyCommand(
        "qmm.cli.steering:app",
        "The steering cadence: meetings planned and held, minutes as evidence, actions.",
    ),
    "forum": LazyCommand(
        "qmm.cli.forum:app",
        "The stop-and-fix forum: roadblocks raised and the leaders who remove them.",
    ),
    "continuity": LazyCommand(
        "qmm.cli.continuity:app",
        "Business continuity: risk scenarios, minimum-inventory triggers, drills, lessons.",
    ),
    "supplier": LazyCommand(
        "qmm.cli.suppliers:app",
        "Supplier quality agreements: commitments, maturity reviews, joint drills, overdue.",
    ),
    "clause": LazyCommand(
        "qmm.cli.clauses:app",
        "QMM clauses in URS, RFPs, contracts and quality agreements; vendor documents.",
    ),
    "thread": LazyCommand(
        "qmm.cli.threads:app",
        "Threads from event to decision: a record's linked records, and broken threads.",
    ),
    "metrics": LazyCommand(
        "qmm.cli.metrics:app",
        "KPIs computed from the imported records: values, drill-down, control charts.",
    ),
    "export": LazyCommand(
        "qmm.cli.export:app",
        "Export ratings, the evidence index or KPI series as CSV or XLSX. Text that a "
        "spreadsheet would run as a formula is neutralised.",
    ),
}


class QmmCommands(LazyGroup):
    """The `qmm` command group."""

    lazy_commands = COMMANDS


app = typer.Typer(
    cls=QmmCommands,
    help="QMM Workbench: quality management maturity for drug-manufacturing sites.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
        None,
        "--as",
        help="Record changes in the audit trail as this user (or set QMM_USER). Their password "
        "is asked for signing and approval commands, and for every command with "
        "QMM_CLI_REQUIRE_PASSWORD=all (QMM_CLI_PASSWORD gives it to scripts).",
    ),
) -> None:
    """QMM Workbench: quality management maturity for drug-manufacturing sites."""
    # Imported here, not at the top: `qmm --help` must not load the database layer.
    from qmm.cli.common import act_as

    act_as(acting_user)
