"""`qmm evidence`: the site's evidence index, its files, coverage gaps and the offline bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from qmm.assessment.service import get_assessment, latest_assessment
from qmm.auth.permissions import Permission
from qmm.cli.common import (
    OutputFormat,
    authorize_actor,
    boundary,
    console,
    err_console,
    fail,
    parse_day,
    print_json,
    print_table,
    refuse_link,
)
from qmm.config import get_settings
from qmm.errors import QMMError
from qmm.evidence.bundle import export_bundle, verify_bundle
from qmm.evidence.files import DAMAGED
from qmm.evidence.schemas import CoverageOut, EvidenceOut
from qmm.evidence.service import (
    KINDS,
    add_evidence,
    attach_file,
    check_stored_files,
    coverage,
    get_evidence,
    list_evidence,
    map_evidence,
    retire_evidence,
    update_evidence,
)
from qmm.models import Site, utcnow
from qmm.sites.service import get_site

app = typer.Typer(
    help="The evidence index: items linking to eQMS records, files, coverage, offline bundle.",
    no_args_is_help=True,
)

KIND_HELP = ", ".join(KINDS)


def _site(session: Session, code: str, permission: Permission) -> Site:
    site = get_site(session, code=code)
    authorize_actor(session, permission, site=site)
    return site


def _read(path: Path) -> tuple[str, bytes]:
    """A file's name and bytes, refusing early what is too big to attach."""
    limit = get_settings().evidence_max_bytes
    try:
        size = path.stat().st_size
        if path.is_dir():
            fail(f"{path} is a folder; name a file")
        if size > limit:
            fail(
                f"{path.name}: {size:,} bytes is over the limit of {limit:,} bytes "
                "(QMM_EVIDENCE_MAX_BYTES); link to the record in the eQMS instead"
            )
        return path.name, path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot be read ({exc.strerror})")
        raise


def _show(item: EvidenceOut) -> None:
    rows = [
        ["ref", item.ref],
        ["title", item.title],
        ["kind", item.kind],
        ["link", item.link or "-"],
        ["eQMS id", item.eqms_id or "-"],
        ["owner", item.owner],
        ["effective", item.effective_on.isoformat()],
        ["review by", item.review_by.isoformat() if item.review_by else "-"],
        ["sub-elements", ", ".join(item.sub_elements) or "-"],
        ["description", item.description or "-"],
        ["added", f"{item.created_at.isoformat()} by {item.created_by}"],
    ]
    if item.retired_at:
        rows.append(["retired", f"{item.retired_at.isoformat()}: {item.retired_reason}"])
    print_table(f"{item.site} {item.ref}", ["field", "value"], rows)
    if item.files:
        print_table(
            "Files",
            ["file", "type", "bytes", "sha256"],
            [[f.filename, f.content_type, f.size, f.sha256] for f in item.files],
        )


@app.command("add")
def add(
    site: str = typer.Option(..., "--site", help="Code of the site whose index gets the item."),
    title: str = typer.Option(..., "--title", help="What the evidence is, e.g. 'CAPA SOP'."),
    kind: str = typer.Option(..., "--kind", help=f"One of: {KIND_HELP}."),
    owner: str = typer.Option(..., "--owner", help="Who owns the record (a person or role)."),
    effective: str = typer.Option(..., "--effective", help="Effective date, YYYY-MM-DD."),
    review_by: str | None = typer.Option(
        None, "--review-by", help="Date the record is due for review, YYYY-MM-DD."
    ),
    link: str | None = typer.Option(
        None, "--link", help="http(s) address of the definitive record in the eQMS."
    ),
    eqms_id: str | None = typer.Option(None, "--eqms-id", help="The record's id in the eQMS."),
    description: str = typer.Option("", "--description", help="What it shows, in a sentence."),
    sub_element: list[str] = typer.Option(
        [], "--sub-element", help="Code of a sub-element it supports; repeat for more."
    ),
    file: list[Path] = typer.Option(
        [], "--file", help="A file to attach (pdf, png, jpg, docx, xlsx, pptx, txt, csv); repeat."
    ),
) -> None:
    """Add an evidence item (it needs --link or --file); it gets the site's next EV-nnnn ref."""
    effective_on = parse_day(effective, option="--effective")
    review = parse_day(review_by, option="--review-by") if review_by else None
    files = [_read(p) for p in file]
    with boundary() as session:
        item = add_evidence(
            session,
            site=_site(session, site, Permission.evidence_manage),
            title=title,
            kind=kind,
            owner=owner,
            effective_on=effective_on,
            review_by=review,
            link=link,
            eqms_id=eqms_id,
            description=description,
            sub_elements=sub_element,
            files=files,
        )
        console.print(
            f"Added {item.ref} to {site}: {item.title} ({len(item.files)} file(s)).",
            highlight=False,
        )


@app.command("list")
def list_(
    site: str = typer.Option(..., "--site", help="Code of the site."),
    sub_element: str | None = typer.Option(
        None, "--sub-element", help="Only items supporting this sub-element code."
    ),
    kind: str | None = typer.Option(None, "--kind", help=f"Only this kind: {KIND_HELP}."),
    retired: bool = typer.Option(False, "--retired", help="Include retired items."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List the site's evidence items, current ones unless --retired."""
    today = utcnow().date()
    with boundary() as session:
        items = [
            EvidenceOut.of(i, today=today)
            for i in list_evidence(
                session,
                site=_site(session, site, Permission.site_read),
                sub_element=sub_element,
                kind=kind,
                include_retired=retired,
            )
        ]
    if fmt is OutputFormat.json:
        print_json(items)
        return
    print_table(
        f"Evidence index of {site}",
        ["ref", "title", "kind", "owner", "review by", "sub-el.", "files"],
        [
            [
                f"{i.ref} (retired)" if i.retired_at else i.ref,
                i.title,
                i.kind,
                i.owner,
                i.review_by.isoformat() if i.review_by else "-",
                len(i.sub_elements),
                len(i.files),
            ]
            for i in items
        ],
    )
    if not items:
        console.print(
            f"No evidence items. Add one with `qmm evidence add --site {site} ...`.",
            highlight=False,
        )


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="The item's ref, e.g. EV-0001."),
    site: str = typer.Option(..., "--site", help="Code of the site."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Show one evidence item with its link, sub-elements and files."""
    with boundary() as session:
        item = EvidenceOut.of(
            get_evidence(session, site=_site(session, site, Permission.site_read), ref=ref),
            today=utcnow().date(),
        )
    if fmt is OutputFormat.json:
        print_json(item)
        return
    _show(item)


@app.command("update")
def update(
    ref: str = typer.Argument(..., help="The item's ref, e.g. EV-0001."),
    site: str = typer.Option(..., "--site", help="Code of the site."),
    title: str | None = typer.Option(None, "--title", help="New title."),
    kind: str | None = typer.Option(None, "--kind", help=f"New kind: {KIND_HELP}."),
    owner: str | None = typer.Option(None, "--owner", help="New owner."),
    effective: str | None = typer.Option(None, "--effective", help="New effective date."),
    review_by: str | None = typer.Option(
        None, "--review-by", help="New review date, YYYY-MM-DD; an empty value removes it."
    ),
    link: str | None = typer.Option(
        None, "--link", help="New eQMS address; an empty value removes it (needs a file)."
    ),
    eqms_id: str | None = typer.Option(
        None, "--eqms-id", help="New eQMS id; an empty value removes it."
    ),
    description: str | None = typer.Option(None, "--description", help="New description."),
) -> None:
    """Change an item's details; every change is kept in the audit trail."""
    changes: dict[str, Any] = {}
    for name, value in (
        ("title", title),
        ("kind", kind),
        ("owner", owner),
        ("link", link),
        ("eqms_id", eqms_id),
        ("description", description),
    ):
        if value is not None:
            changes[name] = (value or None) if name in {"link", "eqms_id"} else value
    if effective is not None:
        changes["effective_on"] = parse_day(effective, option="--effective")
    if review_by is not None:
        changes["review_by"] = parse_day(review_by, option="--review-by") if review_by else None
    if not changes:
        fail("name at least one field to change, e.g. --review-by 2027-06-30")
    with boundary() as session:
        item = get_evidence(session, site=_site(session, site, Permission.evidence_manage), ref=ref)
        update_evidence(session, item=item, **changes)
        console.print(f"Updated {item.ref}: {', '.join(sorted(changes))}.", highlight=False)


@app.command("map")
def map_(
    ref: str = typer.Argument(..., help="The item's ref, e.g. EV-0001."),
    site: str = typer.Option(..., "--site", help="Code of the site."),
    sub_element: list[str] = typer.Option(
        [], "--sub-element", help="Sub-element code it supports; repeat. Replaces the mapping."
    ),
    clear: bool = typer.Option(False, "--clear", help="Map the item to no sub-element."),
) -> None:
    """Replace the sub-elements an evidence item supports."""
    if not sub_element and not clear:
        fail("name at least one --sub-element, or --clear to remove every mapping")
    if sub_element and clear:
        fail("--clear and --sub-element cannot be used together")
    with boundary() as session:
        item = get_evidence(session, site=_site(session, site, Permission.evidence_manage), ref=ref)
        map_evidence(session, item=item, sub_elements=sub_element)
        console.print(
            f"{item.ref} supports: {', '.join(item.sub_element_codes) or 'no sub-element'}.",
            highlight=False,
        )


@app.command("attach")
def attach(
    ref: str = typer.Argument(..., help="The item's ref, e.g. EV-0001."),
    files: list[Path] = typer.Argument(..., help="Files to attach; all or none are attached."),
    site: str = typer.Option(..., "--site", help="Code of the site."),
) -> None:
    """Attach files to an item; each is checked by name and content and stored by SHA-256."""
    contents = [_read(p) for p in files]
    with boundary() as session:
        item = get_evidence(session, site=_site(session, site, Permission.evidence_manage), ref=ref)
        for name, content in contents:
            record = attach_file(session, item=item, filename=name, content=content)
            console.print(
                f"Attached {record.filename} to {item.ref} ({record.size:,} bytes, "
                f"sha256 {record.sha256}).",
                highlight=False,
            )


@app.command("retire")
def retire(
    ref: str = typer.Argument(..., help="The item's ref, e.g. EV-0001."),
    site: str = typer.Option(..., "--site", help="Code of the site."),
    why: str = typer.Option(..., "--reason", help="Why it is retired (kept in the audit trail)."),
) -> None:
    """Retire an item: it leaves the current index but is kept, and its ref is never reused."""
    with boundary() as session:
        item = get_evidence(session, site=_site(session, site, Permission.evidence_manage), ref=ref)
        retire_evidence(session, item=item, reason=why)
        console.print(f"Retired {item.ref}.", highlight=False)


@app.command("coverage")
def coverage_(
    site: str = typer.Option(..., "--site", help="Code of the site."),
    assessment_id: int | None = typer.Option(
        None, "--assessment", help="Assessment id (default: the site's latest)."
    ),
    today: str | None = typer.Option(
        None, "--today", help="Date to judge review dates against, YYYY-MM-DD (today)."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Evidence gaps of an assessment: sub-elements without evidence, overdue reviews, ratings
    of 3 or more citing no current evidence, and cited refs that are not in the index."""
    day = parse_day(today, option="--today") if today else None
    with boundary() as session:
        where = _site(session, site, Permission.site_read)
        if assessment_id is None:
            assessment = latest_assessment(session, site=where)
        else:
            assessment = get_assessment(session, assessment_id=assessment_id)
            if assessment.site_id != where.id:
                fail(f"assessment {assessment_id} is not an assessment of {site}")
        result = CoverageOut.of(coverage(session, assessment=assessment, today=day))
    if fmt is OutputFormat.json:
        print_json(result)
        return
    console.print(
        f"Assessment {result.assessment} of {result.site} ({result.framework}), "
        f"as of {result.today}",
        highlight=False,
    )
    gaps = result.sub_elements_without_evidence
    covered = result.sub_elements - len(gaps)
    console.print(f"{covered}/{result.sub_elements} sub-elements have current evidence.")
    if gaps:
        print_table(
            "Sub-elements without evidence",
            ["code", "name"],
            [[g.code, g.name] for g in gaps],
        )
    if result.overdue_reviews:
        print_table(
            "Overdue reviews",
            ["ref", "title", "owner", "review by"],
            [[o.ref, o.title, o.owner, o.review_by] for o in result.overdue_reviews],
        )
    if result.unsupported_ratings:
        print_table(
            "Ratings of 3 or more without current evidence",
            ["question", "assessor", "score", "cited", "not in the index", "retired"],
            [
                [
                    r.question,
                    r.assessor,
                    r.score,
                    ", ".join(r.refs) or "-",
                    ", ".join(r.unknown_refs) or "-",
                    ", ".join(r.retired_refs) or "-",
                ]
                for r in result.unsupported_ratings
            ],
        )
    if result.unknown_refs:
        console.print(
            f"Cited refs not in the index: {', '.join(result.unknown_refs)}", highlight=False
        )


@app.command("export")
def export(
    site: str = typer.Option(..., "--site", help="Code of the site."),
    out: Path = typer.Option(..., "--out", help="New or empty folder to write the bundle into."),
) -> None:
    """Write an offline, read-only HTML copy of the index with its files and a SHA-256 manifest."""
    refuse_link(out)
    with boundary() as session:
        summary = export_bundle(
            session, site=_site(session, site, Permission.site_read), out_dir=out
        )
    console.print(
        f"Wrote {summary.pages} pages and {summary.files} file(s) for {summary.items} item(s) to "
        f"{summary.out_dir} (manifest sha256 {summary.manifest_sha256}). Open index.html; "
        f"check it with `qmm evidence verify {summary.out_dir}`.",
        highlight=False,
    )


@app.command("check")
def check(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Hash every stored evidence file; exit 1 naming each one missing or changed on disk."""
    with boundary() as session:
        authorize_actor(session, Permission.evidence_manage)  # every site: administrators
        checked, problems = check_stored_files(session)
    if fmt is OutputFormat.json:
        print_json(
            {"ok": not problems, "checked": checked, "problems": [p.to_json() for p in problems]}
        )
    elif not problems:
        console.print(f"All {checked} stored evidence files match their recorded hash.")
    else:
        for problem in problems:
            what = DAMAGED if problem.problem == "damaged" else "the stored file is missing"
            err_console.print(
                f"{problem.site} {problem.ref} {problem.filename}: {what} ({problem.path})",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        err_console.print(
            f"{len(problems)} of {checked} stored evidence files are missing or damaged. Put "
            "each original back (attaching the original file again to its item does), or "
            "restore the file from a backup.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if problems:
        raise typer.Exit(1)


@app.command("verify")
def verify(
    directory: Path = typer.Argument(..., help="The bundle folder (with MANIFEST.sha256)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Check a bundle against its manifest; exit 1 naming every altered, missing or added file."""
    try:
        report = verify_bundle(directory)
    except QMMError as exc:
        fail(str(exc), exc.exit_code)
        raise
    if fmt is OutputFormat.json:
        print_json(
            {
                "directory": str(report.directory),
                "ok": report.ok,
                "checked": report.checked,
                "altered": list(report.altered),
                "missing": list(report.missing),
                "added": list(report.added),
            }
        )
    elif report.ok:
        console.print(f"{directory}: all {report.checked} files match the manifest.")
    else:
        for label, names in (
            ("altered", report.altered),
            ("missing", report.missing),
            ("added (not in the manifest)", report.added),
        ):
            for name in names:
                err_console.print(f"{label}: {name}", highlight=False, markup=False)
        err_console.print(
            f"{directory}: {len(report.altered)} altered, {len(report.missing)} missing, "
            f"{len(report.added)} added; this copy cannot be trusted.",
            highlight=False,
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(1)
