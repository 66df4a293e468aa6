"""`qmm week examples`: the site's examples library, candidates from the records, and the
examples chosen for an FDA assessment."""

from __future__ import annotations

import typer

from qmm.assessment_week.examples import (
    add_example,
    approve_example,
    candidates,
    choose_example,
    get_candidate,
    get_example,
    list_examples,
    prefill,
    review_example,
    unchoose_example,
    update_example,
)
from qmm.assessment_week.preparation_schemas import CandidateOut, ExampleOut
from qmm.assessment_week.service import get_fda_assessment
from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table
from qmm.cli.program_common import site_for
from qmm.metrics.service import event_store

app = typer.Typer(
    help="The site's examples library: stories of its practice to share with FDA.",
    no_args_is_help=True,
)

SITE = typer.Option(..., "--site", help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
REF = typer.Argument(..., help="The example's ref, e.g. EX-001.")
FDA = typer.Option(..., "--fda-assessment", help="The FDA assessment's number (`qmm week list`).")


def _show(out: ExampleOut, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    print_table(
        f"{out.site} {out.ref}: {out.title} ({out.status})",
        ["field", "value"],
        [
            ["situation", out.situation],
            ["what was done", out.action_taken],
            ["measured result", out.result],
            ["practice areas", ", ".join(out.practice_areas)],
            ["sub-elements", ", ".join(out.sub_elements)],
            ["evidence", ", ".join(out.evidence_refs)],
            ["KPIs", ", ".join(out.kpis)],
            ["owner", out.owner],
            ["from", f"{out.source_kind}:{out.source_ref}" if out.source_kind else ""],
            ["written by", out.created_by],
            ["reviewed by", out.reviewed_by or ""],
            ["approved by", out.approved_by or ""],
        ],
    )


@app.command("add")
def add(
    site: str = SITE,
    title: str = typer.Option(..., "--title", help="A short name for the story."),
    situation: str = typer.Option(..., "--situation", help="The situation the site was in."),
    action_taken: str = typer.Option(..., "--action", help="What was done."),
    result: str = typer.Option(..., "--result", help="The measured result."),
    owner: str = typer.Option(..., "--owner", help="Who tells this story to FDA."),
    area: list[str] = typer.Option([], "--area", help="Practice area code (repeat)."),
    sub_element: list[str] = typer.Option([], "--sub-element", help="Sub-element code (repeat)."),
    evidence: list[str] = typer.Option([], "--evidence", help="Evidence ref, EV-nnnn (repeat)."),
    kpi: list[str] = typer.Option([], "--kpi", help="KPI id whose trend backs it (repeat)."),
    candidate: str | None = typer.Option(
        None,
        "--from",
        help="A candidate's key (kind:ref, `qmm week examples candidates`): its links prefill.",
    ),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Write an example as a draft; with --from, the candidate's links are added to yours."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        links: dict[str, list[str]] = {
            "practice_areas": list(area),
            "sub_elements": list(sub_element),
            "evidence_refs": list(evidence),
            "kpis": list(kpi),
        }
        source: dict[str, str | None] = {"source_kind": None, "source_ref": None}
        if candidate is not None:
            picked = prefill(
                get_candidate(session, site=the_site, key=candidate, store=event_store())
            ).values
            for name in links:
                links[name] = list(dict.fromkeys([*picked[name], *links[name]]))
            source = {"source_kind": picked["source_kind"], "source_ref": picked["source_ref"]}
        example = add_example(
            session,
            site=the_site,
            title=title,
            situation=situation,
            action_taken=action_taken,
            result=result,
            owner=owner,
            practice_areas=links["practice_areas"],
            sub_elements=links["sub_elements"],
            evidence_refs=links["evidence_refs"],
            kpis=links["kpis"],
            source_kind=source["source_kind"],
            source_ref=source["source_ref"],
        )
        out = ExampleOut.of(example)
    _show(out, fmt)


@app.command("edit")
def edit(
    site: str = SITE,
    ref: str = REF,
    title: str | None = typer.Option(None, "--title", help="New title."),
    situation: str | None = typer.Option(None, "--situation", help="New situation."),
    action_taken: str | None = typer.Option(None, "--action", help="New account of what was done."),
    result: str | None = typer.Option(None, "--result", help="New measured result."),
    owner: str | None = typer.Option(None, "--owner", help="New owner."),
    area: list[str] | None = typer.Option(None, "--area", help="Replace the practice areas."),
    sub_element: list[str] | None = typer.Option(
        None, "--sub-element", help="Replace the sub-elements."
    ),
    evidence: list[str] | None = typer.Option(None, "--evidence", help="Replace the evidence."),
    kpi: list[str] | None = typer.Option(None, "--kpi", help="Replace the KPIs."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Edit an example; a reviewed or approved one goes back to draft."""
    given = {
        "title": title,
        "situation": situation,
        "action_taken": action_taken,
        "result": result,
        "owner": owner,
        "practice_areas": area,
        "sub_elements": sub_element,
        "evidence_refs": evidence,
        "kpis": kpi,
    }
    changes = {k: v for k, v in given.items() if v is not None and v != []}
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        example = get_example(session, site=the_site, ref=ref)
        update_example(session, example=example, changes=changes)
        out = ExampleOut.of(example)
    _show(out, fmt)


@app.command("review")
def review(site: str = SITE, ref: str = REF) -> None:
    """Mark a draft reviewed (a second person, not its author; --as names who)."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        example = review_example(session, example=get_example(session, site=the_site, ref=ref))
        line = f"{site} {example.ref} is reviewed by {example.reviewed_by}"
    console.print(line, highlight=False)


@app.command("approve")
def approve(site: str = SITE, ref: str = REF) -> None:
    """Approve a reviewed example for sharing with FDA (not by its author)."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        example = approve_example(session, example=get_example(session, site=the_site, ref=ref))
        line = f"{site} {example.ref} is approved for sharing by {example.approved_by}"
    console.print(line, highlight=False)


@app.command("list")
def list_(
    site: str = SITE,
    status: str | None = typer.Option(None, "--status", help="draft, reviewed or approved."),
    area: str | None = typer.Option(None, "--area", help="Only this practice area."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """The site's examples, newest first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            ExampleOut.of(e)
            for e in list_examples(session, site=the_site, status=status, practice_area=area)
        ]
    if fmt is OutputFormat.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        f"Examples of {site}",
        ["ref", "title", "areas", "status", "owner"],
        [[r.ref, r.title, ", ".join(r.practice_areas), r.status, r.owner] for r in rows],
    )


@app.command("show")
def show(site: str = SITE, ref: str = REF, fmt: OutputFormat = FORMAT) -> None:
    """One example, its story and its links."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        out = ExampleOut.of(get_example(session, site=the_site, ref=ref))
    _show(out, fmt)


@app.command("candidates")
def candidates_(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """Records that may make good examples: CAPAs verified effective whose KPI improved, drills
    that met their target, signed decisions where quality won; none yet written up."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [CandidateOut.of(c) for c in candidates(session, site=the_site, store=event_store())]
    if fmt is OutputFormat.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        f"Example candidates at {site}",
        ["key", "title", "on", "facts"],
        [[r.key, r.title, r.on or "", " / ".join(r.facts)] for r in rows],
    )


@app.command("choose")
def choose(
    number: int = FDA,
    ref: str = REF,
    remove: bool = typer.Option(False, "--remove", help="Take it off the list instead."),
) -> None:
    """Choose an example to share at an FDA assessment (or take it off with --remove)."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        example = get_example(session, site=visit.site, ref=ref)
        if remove:
            unchoose_example(session, fda_assessment=visit, example=example)
        else:
            choose_example(session, fda_assessment=visit, example=example)
        verb = "taken off" if remove else "chosen for"
        line = f"{example.ref} is {verb} FDA assessment {number}"
    console.print(line, highlight=False)
