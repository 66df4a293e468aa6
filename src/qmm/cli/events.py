"""`qmm import`: bring eQMS extracts into the event store, validated, versioned and audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError

from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    err_console,
    fail,
    parse_day,
    print_json,
    print_table,
)
from qmm.db import is_lock_timeout
from qmm.errors import QMMError
from qmm.events.importer import StagedImport, plan_sources, staged_import, store_staged
from qmm.events.profiles import list_profiles
from qmm.events.schemas import ImportBatchOut
from qmm.events.site_codes import SiteCodes
from qmm.events.store import EventStore
from qmm.metrics.service import event_store
from qmm.sites.service import list_sites

#: Attempts at an import that found the SQLite database changed under it before writing.
IMPORT_ATTEMPTS = 3


def import_(
    paths: list[Path] = typer.Argument(
        ..., help="Files (capa.csv, em_sample.parquet, deviation.xlsx, ...) or folders of them."
    ),
    record_type: str | None = typer.Option(
        None, "--type", help="Record type for every file, when the file names do not say it."
    ),
    profile: str | None = typer.Option(
        None, "--profile", help="Mapping profile name or YAML file (see `qmm profiles`)."
    ),
    create_sites: bool = typer.Option(
        False,
        "--create-sites",
        help="Register the well-formed site codes the files hold that the app does not know "
        "(an initial load); without it, such codes are refused.",
    ),
    extracted_on: str | None = typer.Option(
        None,
        "--extracted-on",
        help="The day the extracts were taken from the source system (YYYY-MM-DD; default: "
        "today). KPIs are computed as of it.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Import extracts; a file with any invalid row imports nothing and every error is listed."""
    _show_record_types(paths, record_type, fmt)
    extracted = parse_day(extracted_on, option="--extracted-on") if extracted_on else None
    with boundary() as session:
        before = frozenset(site.code for site in list_sites(session))
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    store = event_store()
    try:
        # Read and checked holding no transaction; only storing asks for the write lock.
        with (
            progress,
            staged_import(
                paths=paths,
                record_type=record_type,
                profile=profile,
                store=store,
                progress=progress,
                extracted_on=extracted,
                site_codes=SiteCodes.create if create_sites else SiteCodes.known,
                known_sites=before,
            ) as staged,
        ):
            rows, created = _store_checked(staged, store, before)
    except QMMError as exc:
        fail(str(exc), exc.exit_code)
        return
    if created and fmt is not OutputFormat.json:
        console.print(
            f"Registered {len(created)} new site(s), named by their code: {', '.join(created)}.",
            highlight=False,
            markup=False,
        )
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        "Imported",
        ["batch", "type", "file", "extracted", "rows", "new", "changed", "unchanged", "sha256"],
        [
            [
                r.id,
                r.record_type,
                r.source_name,
                r.extracted_on.isoformat(),
                r.rows,
                r.rows_new,
                r.rows_changed,
                r.rows_unchanged,
                r.source_sha256[:12],
            ]
            for r in rows
        ],
    )
    for r in rows:
        if r.rows and r.rows_new == 0 and r.rows_changed == 0:
            console.print(
                f"{r.source_name}: no change, every row is identical to the stored records; "
                "no new table version was added.",
                highlight=False,
            )


def _show_record_types(paths: list[Path], record_type: str | None, fmt: OutputFormat) -> None:
    """Say which record type each file is read as, and from what, before anything is read:
    a wrong guess is then plain to see, even when the import is refused. JSON output names
    each batch's record type itself, and stays one JSON document."""
    try:
        sources = plan_sources(paths, record_type)
    except QMMError as exc:
        fail(str(exc), exc.exit_code)
        return
    if fmt is OutputFormat.json:
        return
    for source in sources:
        origin = source.type_from if source.type_from == "--type" else f"the {source.type_from}"
        console.print(
            f"{source.name}: read as {source.record_type} (from {origin})",
            highlight=False,
            markup=False,
        )


def _store_checked(
    staged: StagedImport, store: EventStore, before: frozenset[str]
) -> tuple[list[ImportBatchOut], list[str]]:
    """Store the checked files, committed at the end; the rows to print and the new sites.

    On SQLite, storing that read before another program's commit cannot write; the rollback
    removed its files, so the storing (not the checks: their staged rows are kept) runs again.
    """
    for attempt in range(1, IMPORT_ATTEMPTS + 1):
        try:
            with boundary() as session:
                batches = store_staged(session, staged=staged, store=store)
                created = sorted({site.code for site in list_sites(session)} - before)
                rows = [ImportBatchOut.of(b) for b in batches]
            return rows, created
        except OperationalError as exc:
            if not is_lock_timeout(exc):
                raise
            if attempt == IMPORT_ATTEMPTS:
                fail(
                    f"the database stayed busy: other programs wrote to it during each of "
                    f"{IMPORT_ATTEMPTS} attempts; nothing was imported. Try again."
                )
            err_console.print(
                f"The database changed while the import was writing; nothing was stored. "
                f"Importing again (attempt {attempt + 1} of {IMPORT_ATTEMPTS}); the checked "
                "rows are kept.",
                highlight=False,
            )
    raise AssertionError("unreachable: the last attempt stores or fails")


def profiles() -> None:
    """List the mapping profiles that ship with the product (examples to adapt)."""
    print_table(
        "Mapping profiles",
        ["name", "record types", "description"],
        [[p.name, ", ".join(sorted(p.record_types)), p.description] for p in list_profiles()],
    )


def store_orphans(
    remove: bool = typer.Option(
        False, "--remove", help="Delete them (without it, they are only listed)."
    ),
    min_age_hours: float = typer.Option(
        1.0,
        "--min-age-hours",
        min=0.0,
        help="Leave files younger than this alone: an import may still be committing them.",
    ),
) -> None:
    """List (or remove) event-store files no committed import owns, left by killed imports."""
    with boundary() as session:
        found = event_store().collect_orphans(
            session, remove=remove, min_age=timedelta(hours=min_age_hours)
        )
    if not found:
        console.print("No orphaned files in the event store.")
        return
    verb = "Removed" if remove else "Found (run with --remove to delete)"
    print_table(
        f"{verb}: {len(found)} orphaned file(s)",
        ["file", "bytes"],
        [[str(path), path.stat().st_size if path.exists() else "-"] for path in found],
    )
