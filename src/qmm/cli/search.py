"""`qmm search WORDS`: find records at the sites the acting user reads; `qmm search reindex`
rebuilds the database's full-text index from the tables."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from qmm.cli.common import OutputFormat, acting_reader, boundary, console, print_json, print_table

SUBCOMMANDS = ("find", "reindex")
HELP_FLAGS = ("--help", "-h")


class SearchGroup(TyperGroup):
    """Words after `qmm search` that name no subcommand are a search: `qmm search capa sop`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in HELP_FLAGS:
            args = ["find", *args]
        result: list[str] = super().parse_args(ctx, args)
        return result


app = typer.Typer(
    cls=SearchGroup,
    no_args_is_help=True,
    help="Search sites, evidence, decisions, plans, objectives, clauses, questions and "
    "rationales.\n\n`qmm search WORDS` is `qmm search find WORDS` (use `find` to search "
    "for the word 'reindex' or 'find').",
)


@app.command("find")
def find(
    words: list[str] = typer.Argument(
        ..., help="Words to find; quote a phrase: '\"line clearance\"'."
    ),
    site: str | None = typer.Option(None, "--site", help="Only this site, e.g. SITE-A."),
    kind: list[str] = typer.Option(
        [], "--kind", help="Only this kind (evidence, decision, plan_action, ...); repeatable."
    ),
    limit: int = typer.Option(10, "--limit", min=1, max=100, help="Hits per kind, 1-100."),
    offset: int = typer.Option(0, "--offset", min=0, help="Hits of each kind to skip first."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Records matching every word (as the start of a word), best first per kind."""
    from qmm.search.schemas import SearchResultsOut
    from qmm.search.service import search
    from qmm.sites.service import get_site, list_sites

    with boundary() as session:
        sites = [get_site(session, code=site)] if site else list(list_sites(session))
        found = SearchResultsOut.of(
            search(
                session,
                reader=acting_reader(session),
                sites=sites,
                query=" ".join(words),
                kinds=kind or None,
                offset=offset,
                limit=limit,
            )
        )
    if fmt is OutputFormat.json:
        print_json(found)
        return
    if not found.kinds:
        console.print(f"Nothing matches {found.query!r} at {', '.join(found.sites) or 'no site'}.")
        return
    for group in found.kinds:
        print_table(
            f"{group.name}: {group.total} (showing {len(group.hits)})",
            ["ref", "title", "site", "note", "link"],
            [[h.ref, h.title, h.site, h.note, h.path] for h in group.hits],
        )


@app.command("reindex")
def reindex() -> None:
    """Rebuild the full-text index from the tables (and restore any part a schema change lost)."""
    from qmm.search.index import reindex as rebuild

    with boundary(writer=True) as session:
        counts = rebuild(session)
    console.print(f"Reindexed {sum(counts.values())} records in {len(counts)} tables.")
