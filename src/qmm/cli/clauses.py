"""`qmm clause`: QMM clauses for URS, RFPs, contracts and quality agreements, the vendor
documents that carry them, the coverage per vendor and missing clauses made plan actions."""

from __future__ import annotations

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table
from qmm.cli.program_common import optional_day, site_for
from qmm.models import utcnow
from qmm.program.clauses import (
    DOCUMENT_TYPES,
    add_document,
    clause_coverage,
    copy_clauses,
    edit_clause,
    get_clause,
    list_clauses,
    list_documents,
    plan_missing_clause,
)
from qmm.program.schemas.clauses import (
    ClauseCoverageOut,
    ClauseOut,
    VendorDocumentOut,
)
from qmm.program.schemas.plans import PlanActionOut

app = typer.Typer(
    help="QMM clauses in URS, RFPs, contracts and quality agreements; vendor documents.",
    no_args_is_help=True,
)

SITE = typer.Option(..., "--site", help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
CODE = typer.Argument(..., help="Clause code, e.g. joint_drills.")
TYPES = ", ".join(DOCUMENT_TYPES)


@app.command("list")
def list_(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's clause library: its own copies, then the defaults it has not copied."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            ClauseOut.of(c).model_dump(mode="json") for c in list_clauses(session, site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"QMM clause library of {site}",
        ["code", "title", "for", "supports", "version"],
        [
            [
                r["code"],
                r["title"],
                ", ".join(r["document_types"]),
                ", ".join(r["sub_elements"]),
                str(r["version"]) if r["site_copy"] else "default",
            ]
            for r in rows
        ],
    )


@app.command("show")
def show(code: str = CODE, site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """One clause with its text, purpose, source and earlier versions."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        data = ClauseOut.of(get_clause(session, site=the_site, code=code)).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    console.print(f"[bold]{data['title']}[/] ({data['code']}, version {data['version']})")
    console.print(data["text"], highlight=False)
    console.print(f"Purpose: {data['purpose']}\nSource: {data['source']}", highlight=False)
    for v in data["history"]:
        console.print(f"version {v['version']}: {v['text']}", highlight=False)


@app.command("copy")
def copy(site: str = SITE) -> None:
    """Copy the default clauses into the site's own library, to edit them there."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        made = copy_clauses(session, site=the_site)
    console.print(f"Copied {len(made)} default clauses into the library of {site}.")


@app.command("edit")
def edit(
    code: str = CODE,
    site: str = SITE,
    title: str | None = typer.Option(None, "--title"),
    text: str | None = typer.Option(None, "--text", help="The clause's wording."),
    purpose: str | None = typer.Option(None, "--purpose"),
    source: str | None = typer.Option(None, "--source"),
    document_type: list[str] = typer.Option([], "--document-type", help=f"One of {TYPES}."),
    sub_element: list[str] = typer.Option([], "--sub-element"),
) -> None:
    """Change the site's wording of a clause; the earlier wording is kept as a version."""
    changes = {
        k: v
        for k, v in {
            "title": title,
            "text": text,
            "purpose": purpose,
            "source": source,
            "document_types": document_type or None,
            "sub_elements": sub_element or None,
        }.items()
        if v is not None
    }
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        view = edit_clause(session, site=the_site, code=code, **changes)
    console.print(f"Clause {view.code} of {site} is now at version {view.version}.")


@app.command("document-add")
def document_add(
    site: str = SITE,
    document_type: str = typer.Option(..., "--type", help=f"One of {TYPES}."),
    vendor: str = typer.Option(..., "--vendor", help="Vendor or supplier."),
    title: str = typer.Option(..., "--title"),
    owner: str = typer.Option(..., "--owner"),
    effective_on: str = typer.Option(..., "--effective-on", help="YYYY-MM-DD."),
    link: str = typer.Option(..., "--link", help="The definitive copy in the eQMS."),
    clause: list[str] = typer.Option([], "--clause", help="A clause code it carries."),
    expires_on: str | None = typer.Option(None, "--expires-on", help="YYYY-MM-DD."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Record a URS, RFP, contract or quality agreement and the clauses it carries."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        document = add_document(
            session,
            site=the_site,
            document_type=document_type,
            vendor=vendor,
            title=title,
            owner=owner,
            effective_on=optional_day(effective_on, option="--effective-on"),
            expires_on=optional_day(expires_on, option="--expires-on"),
            link=link,
            clauses=clause,
        )
        data = VendorDocumentOut.of(document).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    console.print(f"Recorded {data['document_type_name']} {data['title']!r} with {data['vendor']}.")


@app.command("documents")
def documents(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's vendor documents with the clauses they carry."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            VendorDocumentOut.of(d).model_dump(mode="json")
            for d in list_documents(session, site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"Vendor documents of {site}",
        ["vendor", "type", "title", "owner", "effective", "clauses"],
        [
            [
                r["vendor"],
                r["document_type"],
                r["title"],
                r["owner"],
                r["effective_on"],
                ", ".join(r["clauses"]) or "-",
            ]
            for r in rows
        ],
    )


@app.command("coverage")
def coverage(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """Per vendor and document type, the expected clauses carried and missing."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            ClauseCoverageOut.of(r).model_dump(mode="json")
            for r in clause_coverage(session, site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"QMM clause coverage at {site}",
        ["vendor", "type", "carries", "missing"],
        [
            [
                r["vendor"],
                r["document_type"],
                ", ".join(r["included"]) or "-",
                ", ".join(r["missing"]) or "none",
            ]
            for r in rows
        ],
    )


@app.command("plan")
def plan(
    site: str = SITE,
    vendor: str = typer.Option(..., "--vendor"),
    document_type: str = typer.Option(..., "--type", help=f"One of {TYPES}."),
    clause: str = typer.Option(..., "--clause", help="The missing clause's code."),
    owner: str | None = typer.Option(None, "--owner", help="Default: the document's owner."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Make a missing clause an action of the site's draft 90-day plan."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        action = plan_missing_clause(
            session,
            site=the_site,
            vendor=vendor,
            document_type=document_type,
            clause=clause,
            owner=owner,
        )
        data = PlanActionOut.of(action, today=utcnow().date()).model_dump(mode="json")
        ref = action.plan.ref
    if fmt is OutputFormat.json:
        print_json(data)
        return
    console.print(f"Added action {data['number']} to {ref}: {data['title']}", highlight=False)
