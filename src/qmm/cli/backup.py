"""`qmm backup` and `qmm restore`: one-file backups of the database, events and evidence files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from qmm.backup.service import ProgressCallback, create_backup, restore_backup
from qmm.cli.common import OutputFormat, console, err_console, print_json, refuse_link
from qmm.config import get_settings
from qmm.errors import QMMError

T = TypeVar("T")


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback]:
    """A progress bar on stderr counting files copied, so stdout stays clean for --format json."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[name]}"),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None, name="")

        def update(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, name=name)

        yield update


def _run(label: str, work: Callable[[ProgressCallback], T]) -> T:
    """Run the service with a progress bar; a user error prints clearly and exits non-zero."""
    try:
        with _progress(label) as update:
            return work(update)
    except QMMError as exc:
        err_console.print(
            f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(exc.exit_code) from None


def _size(size: int) -> str:
    value, unit = float(size), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _tell_removed(leftovers: list[Path], run: str) -> None:
    """Say which scratch folders of killed runs were removed."""
    for path in leftovers:
        console.print(
            f"Removed the leftovers of an interrupted {run}: {path}",
            highlight=False,
            soft_wrap=True,
        )


def backup(
    out: Path = typer.Argument(
        ...,
        metavar="OUT",
        help="File to write (.tar, or .tar.gz to compress), or a folder to write "
        "qmm-backup-<UTC time>.tar into. An existing file is never overwritten.",
    ),
    allow_unverified: bool = typer.Option(
        False,
        "--allow-unverified",
        help="Back up even when the audit trail does not verify; the manifest records the "
        "problems.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Back up the embedded database, event store and evidence files to one checked file."""
    if not out.is_dir():  # a link to a folder (backup storage mounted elsewhere) is fine
        refuse_link(out, option="OUT")
    settings = get_settings()
    result = _run(
        "Backing up",
        lambda update: create_backup(
            database_url=settings.resolved_database_url,
            data_dir=settings.data_dir,
            out=out,
            allow_unverified=allow_unverified,
            progress=update,
        ),
    )
    if fmt is OutputFormat.json:
        print_json(result.to_json())
        return
    manifest = result.manifest
    audit = manifest.audit
    _tell_removed(result.removed_leftovers, "backup")
    console.print(
        f"Backup written: {result.path} ({_size(result.size)})", highlight=False, soft_wrap=True
    )
    console.print(
        f"Contents: the app database, {manifest.events.files} event store file(s) and "
        f"{manifest.evidence.files} evidence file(s)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"Schema revision: {manifest.schema_revision}", highlight=False, soft_wrap=True)
    if audit.verified:
        console.print(
            f"Audit trail verified: {audit.entries} entries, head {audit.head_hash}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(
            f"[bold yellow]Warning:[/] the audit trail did not verify "
            f"({len(audit.problems)} problem(s)); the manifest records them.",
            highlight=False,
            soft_wrap=True,
        )
    if audit.checkpoint_seal is not None:
        console.print(
            f"Audit checkpoint written to the checkpoint sink: seals the copy's head "
            f"(seal {audit.checkpoint_seal[:16]}...)",
            highlight=False,
            soft_wrap=True,
        )


def restore(
    source: Path = typer.Argument(..., metavar="IN", help="A backup file written by `qmm backup`."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace a database that already holds data; it is moved aside to "
        "<name>.before-restore-<time>, never deleted.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Restore a backup after checking every file, then upgrade it and verify its audit trail."""
    settings = get_settings()
    result = _run(
        "Restoring",
        lambda update: restore_backup(
            source=source,
            database_url=settings.resolved_database_url,
            data_dir=settings.data_dir,
            force=force,
            progress=update,
        ),
    )
    report = result.report
    if fmt is OutputFormat.json:
        print_json(result.to_json())
    else:
        manifest = result.manifest
        _tell_removed(result.removed_leftovers, "restore")
        console.print(
            f"Restored {source} (made {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC by QMM "
            f"Workbench {manifest.qmm_version}) into {result.database}",
            highlight=False,
            soft_wrap=True,
        )
        if result.events is not None:
            console.print(f"Event store: {result.events}", highlight=False, soft_wrap=True)
        if result.evidence is not None:
            console.print(
                f"Evidence files: {result.evidence} ({manifest.evidence.files} file(s), each "
                "checked against its SHA-256 name)",
                highlight=False,
                soft_wrap=True,
            )
        for path in result.moved_aside:
            console.print(f"Moved aside: {path}", highlight=False, soft_wrap=True)
        if result.restored_revision != result.revision:
            console.print(
                f"Schema revision: {result.restored_revision} upgraded to {result.revision}",
                highlight=False,
                soft_wrap=True,
            )
        else:
            console.print(f"Schema revision: {result.revision}", highlight=False, soft_wrap=True)
        if report.ok:
            console.print(
                f"Audit trail intact: {report.entries} entries, {report.records} records match "
                f"their last entry; head {report.head_hash}.",
                highlight=False,
                soft_wrap=True,
            )
        else:
            err_console.print(
                f"[bold red]Audit trail damaged:[/] {len(report.problems)} problem(s) in "
                f"{report.entries} entries and {report.records} records:",
                highlight=False,
                soft_wrap=True,
            )
            for problem in report.problems:
                err_console.print(f"- {problem}", highlight=False, markup=False)
        for note in report.notes:
            console.print(f"Note: {note}", highlight=False, markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
