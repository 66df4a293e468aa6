"""`qmm plan`: the 90-day readiness plan: generate, show, approve, track, compare."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer
from sqlalchemy.orm import Session

from qmm.audit.trail import reason as audit_reason
from qmm.auth.permissions import Permission
from qmm.auth.scope import latest_readable_assessment, readable_assessment
from qmm.auth.service import get_user
from qmm.cli.common import (
    OutputFormat,
    acting_reader,
    boundary,
    console,
    fail,
    fmt_score,
    parse_day,
    print_json,
    print_table,
    read_password,
)
from qmm.cli.program_common import optional_day, site_for
from qmm.errors import NotFound
from qmm.models import ReadinessPlan, Site, utcnow
from qmm.program.plan import (
    DAYS,
    WORKSTREAMS,
    approve_plan,
    compare_plan,
    complete_action,
    current_readable_plan,
    discard_plan,
    generate_plan,
    get_action,
    get_readable_plan,
    plan_progress,
    readable_plans,
    reopen_action,
    update_action,
)
from qmm.program.schemas.plans import PlanActionOut, PlanOut, PlanProgressOut, PlanSummaryOut

app = typer.Typer(
    help="The 90-day readiness plan: generated from an assessment, approved, then tracked.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
REF = typer.Argument(..., help="Plan ref, e.g. PLAN-0001.")
OPTIONAL_REF = typer.Argument(None, help="Plan ref; default: the running plan, else the newest.")
NUMBER = typer.Argument(..., help="Action number within the plan.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
AS_OF = typer.Option(None, "--as-of", help="The day to measure on, YYYY-MM-DD; default today.")


def _today(text: str | None) -> date:
    return optional_day(text, option="--as-of") or utcnow().date()


def _readable_plan(session: Session, site: Site, ref: str) -> ReadinessPlan:
    """The site's plan by ref, if the acting user may read its assessment; else not found."""
    return get_readable_plan(session, reader=acting_reader(session), site=site, ref=ref)


def _render_actions(title: str, actions: list[dict[str, Any]]) -> None:
    print_table(
        title,
        ["#", "due", "day", "workstream", "action", "sub-element", "source", "status"],
        [
            [
                a["number"],
                a["due_on"],
                a["due_day"],
                WORKSTREAMS.get(a["workstream"], a["workstream"]),
                a["title"],
                a["sub_element"] or "-",
                a["source"],
                a["status"] + (f" {a['done_on']}" if a["done_on"] else ""),
            ]
            for a in actions
        ],
    )


@app.command("generate")
def generate(
    site: str = SITE,
    owner: str = typer.Option(..., "--owner", help="Who owns the plan (the executive owner)."),
    start: str = typer.Option(..., "--start", help="Day 1 of the plan, YYYY-MM-DD."),
    assessment: int | None = typer.Option(
        None, "--assessment", help="Assessment id; default: the site's latest."
    ),
    supersede: bool = typer.Option(
        False, "--supersede", help="Replace the running approved plan once this one is approved."
    ),
    as_of: str | None = AS_OF,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Draft a plan: the seeds' checklist plus the lowest scores, missing evidence, KPIs."""
    start_on = parse_day(start, option="--start")
    today = _today(as_of)
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        reader = acting_reader(session)
        source = (
            readable_assessment(session, reader=reader, assessment_id=assessment)
            if assessment is not None
            else latest_readable_assessment(session, reader=reader, site=the_site)
        )
        if source.site_id != the_site.id:
            fail(f"assessment {source.id} is of {source.site.code}, not of {site}")
        plan = generate_plan(
            session,
            assessment=source,
            owner=owner,
            start_on=start_on,
            today=today,
            supersede=supersede,
        )
        data = PlanOut.of(session, plan, today=today).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    _render_actions(f"{site} {data['ref']} (draft)", data["actions"])
    console.print(
        f"Drafted {site} {data['ref']} from assessment {data['assessment']}: "
        f"{len(data['actions'])} actions, {data['start_on']} to {data['end_on']}. "
        f"Approve it: `qmm plan approve {site} {data['ref']} --user USER`.",
        highlight=False,
    )


@app.command("show")
def show(site: str = SITE, ref: str = REF, fmt: OutputFormat = FORMAT) -> None:
    """A plan with its actions, baseline and checked signatures."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        plan = _readable_plan(session, the_site, ref)
        data = PlanOut.of(session, plan, today=utcnow().date()).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    print_table(
        f"{site} {data['ref']}",
        ["field", "value"],
        [
            ["status", data["status"]],
            ["owner", data["owner"]],
            ["assessment", data["assessment"]],
            ["generated on", data["generated_on"]],
            ["runs", f"{data['start_on']} to {data['end_on']}"],
            ["supersedes", data["supersedes"] or "-"],
            ["approved at", data["approved_at"] or "-"],
        ],
    )
    _render_actions("Actions", data["actions"])
    if not data["signatures"]:
        console.print("Signatures: none (a draft; `qmm plan approve` approves it).")
    for s in data["signatures"]:
        state = "valid" if s["valid"] else "INVALID: the plan changed after signing"
        console.print(
            f"- {s['meaning'].capitalize()} by {s['printed_name']} ({s['username']}) on "
            f"{s['signed_at']}; {state}",
            highlight=False,
        )
    if any(not s["valid"] for s in data["signatures"]):
        raise typer.Exit(1)


@app.command("approve")
def approve(
    site: str = SITE,
    ref: str = REF,
    username: str = typer.Option(..., "--user", help="Who signs (asked for their password)."),
    meaning: str = typer.Option(
        "approved", "--meaning", help="authored, reviewed, approved or responsible."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Approve a plan by e-signature; its planned actions are then frozen."""
    password = read_password(from_stdin=password_stdin, prompt=f"Password for {username}")
    with boundary(signer=username) as session:
        the_site = site_for(session, site, Permission.site_read)
        plan = _readable_plan(session, the_site, ref)
        approve_plan(
            session,
            plan=plan,
            user=get_user(session, username=username),
            password=password,
            meaning=meaning,
        )
        found, status = plan.ref, plan.status
    console.print(f"Signed {site} {found} ({meaning}); it is {status}.", highlight=False)


@app.command("discard")
def discard(
    site: str = SITE,
    ref: str = REF,
    why: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Discard a draft plan: it keeps its ref and stays on record; a running plan runs on."""
    with boundary() as session, audit_reason(session, why):
        the_site = site_for(session, site, Permission.program_manage)
        discard_plan(session, plan=_readable_plan(session, the_site, ref))
    console.print(f"Discarded {site} {ref}; it stays on record.", highlight=False)


@app.command("edit")
def edit(
    site: str = SITE,
    ref: str = REF,
    number: int = NUMBER,
    title: str | None = typer.Option(None, "--title", help="The action in a line."),
    owner: str | None = typer.Option(None, "--owner", help="Who does it."),
    due_day: int | None = typer.Option(None, "--due-day", help="Due on day 1-90 of the plan."),
) -> None:
    """Change an action of a draft plan; an approved plan is frozen."""
    changes = {
        k: v
        for k, v in {"title": title, "owner": owner, "due_day": due_day}.items()
        if v is not None
    }
    if not changes:
        fail("nothing to change; give --title, --owner or --due-day")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        plan = _readable_plan(session, the_site, ref)
        update_action(session, action=get_action(session, plan=plan, number=number), **changes)
    console.print(f"Changed {site} {ref.upper()} action {number}.")


@app.command("done")
def done(
    site: str = SITE,
    ref: str = REF,
    number: int = NUMBER,
    on: str = typer.Option(..., "--on", help="The day it was done, YYYY-MM-DD."),
    note: str | None = typer.Option(None, "--note", help="What was done, where the evidence is."),
) -> None:
    """Record an action of an approved plan as done."""
    done_on = parse_day(on, option="--on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        plan = _readable_plan(session, the_site, ref)
        complete_action(
            session,
            action=get_action(session, plan=plan, number=number),
            done_on=done_on,
            note=note,
        )
    console.print(f"{site} {ref.upper()} action {number} done on {done_on}.")


@app.command("reopen")
def reopen(
    site: str = SITE,
    ref: str = REF,
    number: int = NUMBER,
    note: str | None = typer.Option(None, "--note", help="Why it is open again."),
) -> None:
    """Open a done action again."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        plan = _readable_plan(session, the_site, ref)
        reopen_action(session, action=get_action(session, plan=plan, number=number), note=note)
    console.print(f"{site} {ref.upper()} action {number} is open again.")


@app.command("progress")
def progress(
    site: str = SITE,
    ref: str | None = OPTIONAL_REF,
    as_of: str | None = AS_OF,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Day N of 90, done/open/overdue per workstream, and the overdue actions."""
    today = _today(as_of)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        plan = (
            _readable_plan(session, the_site, ref)
            if ref
            else current_readable_plan(
                session, reader=acting_reader(session), site=the_site, today=today
            )
        )
        if plan is None:
            raise NotFound(f"{the_site.code} has no readiness plan; `qmm plan generate` drafts one")
        found = plan_progress(session, plan=plan, today=today)
        data = PlanProgressOut.of(found).model_dump(mode="json")
        overdue = [
            PlanActionOut.of(a, today=today).model_dump(mode="json") for a in found.overdue_actions
        ]
    if fmt is OutputFormat.json:
        print_json(data)
        return
    print_table(
        f"{site} {data['ref']} ({data['status']}): day {data['day']} of {DAYS} on {data['today']}",
        ["workstream", "done", "open", "overdue"],
        [[w["name"], w["done"], w["open"], w["overdue"]] for w in data["workstreams"]]
        + [
            [
                "all",
                data["done"],
                data["total"] - data["done"] - len(data["overdue_actions"]),
                len(data["overdue_actions"]),
            ]
        ],
    )
    if overdue:
        _render_actions("Overdue", overdue)
    else:
        console.print("Nothing overdue.")


@app.command("compare")
def compare(
    site: str = SITE,
    ref: str = REF,
    assessment: int | None = typer.Option(
        None, "--assessment", help="The later assessment's id; default: the site's latest."
    ),
    fmt: OutputFormat = FORMAT,
) -> None:
    """The plan's baseline against a later assessment, the plan's sub-elements first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        plan = _readable_plan(session, the_site, ref)
        reader = acting_reader(session)
        later = (
            readable_assessment(session, reader=reader, assessment_id=assessment)
            if assessment is not None
            else latest_readable_assessment(session, reader=reader, site=the_site)
        )
        rows = [c.to_json() for c in compare_plan(session, plan=plan, assessment=later)]
        later_id = later.id
    if fmt is OutputFormat.json:
        print_json({"plan": ref.upper(), "assessment": later_id, "sub_elements": rows})
        return
    print_table(
        f"{site} {ref.upper()}: baseline against assessment {later_id}",
        ["sub-element", "baseline", "now", "delta", "actions"],
        [
            [
                r["sub_element"],
                fmt_score(r["baseline"]),
                fmt_score(r["score"]),
                f"{r['delta']:+.2f}" if r["delta"] is not None else "-",
                ", ".join(str(n) for n in r["actions"]) or "-",
            ]
            for r in rows
        ],
    )


@app.command("list")
def list_(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's plans, newest first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        today = utcnow().date()
        rows = [
            PlanSummaryOut.of(p, today=today).model_dump(mode="json")
            for p in readable_plans(session, reader=acting_reader(session), site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"{site} readiness plans",
        ["ref", "status", "owner", "assessment", "runs", "done"],
        [
            [
                r["ref"],
                r["status"],
                r["owner"],
                r["assessment"],
                f"{r['start_on']} to {r['end_on']}",
                f"{r['done']}/{r['total']}",
            ]
            for r in rows
        ],
    )
