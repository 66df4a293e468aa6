"""`qmm framework`: list, show, export, copy, import and publish framework versions."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    print_json,
    print_table,
    refuse_link,
    write_text_file,
)
from qmm.framework.service import (
    copy_framework,
    dump_document,
    framework_to_document,
    get_framework,
    import_document,
    list_frameworks,
    load_document,
    publish,
)
from qmm.sites.service import get_site

app = typer.Typer(
    help="The QMM framework as versioned data: practice areas, sub-elements, questions, rubric.",
    no_args_is_help=True,
)


class DocumentFormat(StrEnum):
    yaml = "yaml"
    json = "json"


REF_HELP = "code@version, or code for its latest published version (e.g. qmm-default)."


@app.command("list")
def list_(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List every version of every framework."""
    with boundary() as session:
        rows: list[dict[str, Any]] = [
            {
                "ref": f.ref,
                "name": f.name,
                "status": f.status,
                "site": f.site.code if f.site else None,
                "sub_elements": sum(len(pa.sub_elements) for pa in f.practice_areas),
                "questions": sum(
                    len(se.questions) for pa in f.practice_areas for se in pa.sub_elements
                ),
                "sha256": f.content_sha256,
                "published_at": f.published_at.isoformat() if f.published_at else None,
            }
            for f in list_frameworks(session)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        "Frameworks",
        ["ref", "name", "status", "site", "sub-elements", "questions", "published"],
        [
            [
                r["ref"],
                r["name"],
                r["status"],
                r["site"] or "(shared)",
                r["sub_elements"],
                r["questions"],
                (r["published_at"] or "")[:19],
            ]
            for r in rows
        ],
    )


@app.command("show")
def show(
    ref: str = typer.Argument("qmm-default", help=REF_HELP),
    questions: bool = typer.Option(False, "--questions", help="Also list every question."),
    anchors: bool = typer.Option(False, "--anchors", help="Also print each question's rubric."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Show a framework version: practice areas, sub-elements, provenance and linked KPIs."""
    with boundary() as session:
        framework = get_framework(session, ref=ref)
        document = framework_to_document(framework)
        header = f"{framework.ref} ({framework.status}): {framework.name}"
    if fmt is OutputFormat.json:
        print_json(
            {"ref": framework.ref, "status": framework.status, **document.model_dump(mode="json")}
        )
        return
    console.print(f"[bold]{header}[/]")
    console.print(document.description.strip(), highlight=False)
    console.print(
        "Levels: " + "; ".join(f"{k} {v}" for k, v in sorted(document.level_names.items())),
        highlight=False,
    )
    for pa in document.practice_areas:
        rows = []
        for se in pa.sub_elements:
            rows.append(
                [
                    se.code,
                    se.name,
                    se.provenance.value,
                    len(se.questions),
                    ", ".join(se.kpis) or "-",
                ]
            )
            if questions or anchors:
                for q in se.questions:
                    rows.append(["  " + q.code, q.text, q.provenance.value, "", ""])
                    if anchors:
                        for level, text in sorted(q.anchors.items()):
                            rows.append(["", f"    {level}: {text}", "", "", ""])
        print_table(
            f"{pa.name} ({pa.code})",
            ["code", "sub-element", "provenance", "questions", "KPIs"],
            rows,
        )


@app.command("export")
def export(
    ref: str = typer.Argument("qmm-default", help=REF_HELP),
    fmt: DocumentFormat = typer.Option(DocumentFormat.yaml, "--format", help="yaml or json."),
    out: Path | None = typer.Option(None, "--out", help="File to write (default: stdout)."),
) -> None:
    """Export a framework version as an editable document."""
    refuse_link(out)
    with boundary() as session:
        text = dump_document(framework_to_document(get_framework(session, ref=ref)), fmt=fmt.value)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text_file(out, text)
        console.print(f"Wrote {out}.")


@app.command("copy")
def copy(
    ref: str = typer.Argument(..., help=REF_HELP),
    code: str = typer.Option(..., "--code", help="Code of the new framework, e.g. site-a-qmm."),
    name: str | None = typer.Option(None, "--name", help="Name of the new framework."),
    site: str | None = typer.Option(None, "--site", help="Site code that owns the copy."),
) -> None:
    """Copy a framework as a draft that a site can edit and publish."""
    with boundary() as session:
        owner = get_site(session, code=site) if site else None
        framework = copy_framework(
            session, source=get_framework(session, ref=ref), code=code, name=name, site=owner
        )
        console.print(
            f"Created draft {framework.ref}. Edit it with `qmm framework export {framework.ref} "
            f"--out FILE`, change FILE, then `qmm framework import FILE` and "
            f"`qmm framework publish {framework.ref}`."
        )


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A framework document (YAML or JSON)."),
    site: str | None = typer.Option(None, "--site", help="Site code that owns the framework."),
) -> None:
    """Store an edited framework as the draft of its code (a new draft version if none is open)."""
    document = None
    with boundary() as session:
        document = load_document(path)
        owner = get_site(session, code=site) if site else None
        framework = import_document(session, document=document, site=owner)
        console.print(
            f"Stored draft {framework.ref}; publish it with "
            f"`qmm framework publish {framework.ref}`."
        )


@app.command("publish")
def publish_(ref: str = typer.Argument(..., help="code@version of a draft.")) -> None:
    """Publish a draft: it becomes immutable and assessments can pin it."""
    with boundary() as session:
        framework = publish(session, framework=get_framework(session, ref=ref))
        console.print(f"Published {framework.ref} (sha256 {framework.content_sha256[:12]}).")
