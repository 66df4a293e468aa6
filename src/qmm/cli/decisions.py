"""`qmm decision`: the decision log: add, edit drafts, sign, supersede, list, show, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from qmm.audit.trail import reason as audit_reason
from qmm.auth.permissions import Permission
from qmm.auth.service import get_user
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    fail,
    print_json,
    print_table,
    read_password,
    refuse_link,
    write_text_file,
)
from qmm.cli.program_common import optional_day, parse_yes_no, site_for
from qmm.program.decisions import (
    STATUSES,
    add_decision,
    discard_decision,
    get_decision,
    list_decisions,
    sign_decision,
    supersede_decision,
    update_decision,
)
from qmm.program.schemas.decisions import DecisionOut, export_decisions

app = typer.Typer(
    help="The decision log: what was decided, the trade-off, why; signed, then superseded.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
REF = typer.Argument(..., help="Decision ref, e.g. DEC-0001.")


def _fields(
    *,
    title: str | None,
    context: str | None,
    option: list[str],
    decision: str | None,
    quality_won: str | None,
    trade_off: str | None,
    rationale: str | None,
    owner: str | None,
    decided_on: str | None,
    sub_element: list[str],
    record: list[str],
    kpi: list[str],
    evidence: list[str],
) -> dict[str, Any]:
    """The options given, as service fields; left-out options are left out."""
    fields: dict[str, Any] = {
        "title": title,
        "context": context,
        "decision": decision,
        "quality_won": parse_yes_no(quality_won, option="--quality-won"),
        "trade_off": trade_off,
        "rationale": rationale,
        "owner": owner,
        "decided_on": optional_day(decided_on, option="--decided-on"),
        "options": option or None,
        "sub_elements": sub_element or None,
        "record_links": record or None,
        "kpis": kpi or None,
        "evidence_refs": evidence or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _render(data: dict[str, Any]) -> None:
    rows = [
        ["ref", data["ref"]],
        ["status", data["status"]],
        ["title", data["title"]],
        ["decided on", data["decided_on"]],
        ["owner", data["owner"]],
        ["context", data["context"]],
        ["options considered", "\n".join(f"- {o}" for o in data["options"])],
        ["decision", data["decision"]],
        ["quality won", "yes" if data["quality_won"] else "no"],
        ["trade-off", data["trade_off"]],
        ["rationale", data["rationale"]],
        ["sub-elements", ", ".join(data["sub_elements"]) or "-"],
        ["KPIs", ", ".join(data["kpis"]) or "-"],
        ["evidence", ", ".join(data["evidence_refs"]) or "-"],
        ["records", ", ".join(data["record_links"]) or "-"],
        ["supersedes", data["supersedes"] or "-"],
        ["superseded by", data["superseded_by"] or "-"],
        ["evidence item", data["evidence_item"] or "-"],
        ["chain", " -> ".join(data["chain"])],
    ]
    print_table(f"{data['site']} {data['ref']}", ["field", "value"], rows)
    if not data["signatures"]:
        console.print("Signatures: none (a draft; `qmm decision sign` signs it).")
    for s in data["signatures"]:
        state = "valid" if s["valid"] else "INVALID: the record changed after signing"
        console.print(
            f"- {s['meaning'].capitalize()} by {s['printed_name']} ({s['username']}) on "
            f"{s['signed_at']}; {state}",
            highlight=False,
        )


TITLE = typer.Option(None, "--title", help="The decision in a line.")
CONTEXT = typer.Option(None, "--context", help="The situation that called for a decision.")
OPTION = typer.Option([], "--option", help="An option considered; repeat (at least two).")
DECISION = typer.Option(None, "--decision", help="What was decided.")
QUALITY_WON = typer.Option(None, "--quality-won", help="yes if quality won the trade-off, else no.")
TRADE_OFF = typer.Option(None, "--trade-off", help="What quality was weighed against.")
RATIONALE = typer.Option(None, "--rationale", help="Why this option.")
OWNER = typer.Option(None, "--owner", help="Who owns the decision (a person or role).")
DECIDED_ON = typer.Option(None, "--decided-on", help="Date of the decision, YYYY-MM-DD.")
SUB_ELEMENT = typer.Option([], "--sub-element", help="A sub-element it bears on; repeat.")
RECORD = typer.Option([], "--record", help="A linked eQMS record id or URL; repeat.")
KPI = typer.Option([], "--kpi", help="A KPI id it bears on; repeat.")
EVIDENCE = typer.Option([], "--evidence", help="An evidence ref (EV-nnnn) it cites; repeat.")


@app.command("add")
def add(
    site: str = SITE,
    title: str | None = TITLE,
    context: str | None = CONTEXT,
    option: list[str] = OPTION,
    decision: str | None = DECISION,
    quality_won: str | None = QUALITY_WON,
    trade_off: str | None = TRADE_OFF,
    rationale: str | None = RATIONALE,
    owner: str | None = OWNER,
    decided_on: str | None = DECIDED_ON,
    sub_element: list[str] = SUB_ELEMENT,
    record: list[str] = RECORD,
    kpi: list[str] = KPI,
    evidence: list[str] = EVIDENCE,
) -> None:
    """Log a decision as a draft (DEC-nnnn); it counts once signed."""
    fields = _fields(
        title=title,
        context=context,
        option=option,
        decision=decision,
        quality_won=quality_won,
        trade_off=trade_off,
        rationale=rationale,
        owner=owner,
        decided_on=decided_on,
        sub_element=sub_element,
        record=record,
        kpi=kpi,
        evidence=evidence,
    )
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        # A missing required field reaches the service as None, which names it with the rest.
        required = dict.fromkeys(
            (
                "title",
                "context",
                "decision",
                "quality_won",
                "trade_off",
                "rationale",
                "owner",
                "decided_on",
            )
        )
        entry = add_decision(session, site=the_site, **{**required, **fields})
        ref = entry.ref
    console.print(f"Logged {site} {ref} (draft). Sign it: `qmm decision sign {site} {ref}`.")


@app.command("edit")
def edit(
    site: str = SITE,
    ref: str = REF,
    title: str | None = TITLE,
    context: str | None = CONTEXT,
    option: list[str] = OPTION,
    decision: str | None = DECISION,
    quality_won: str | None = QUALITY_WON,
    trade_off: str | None = TRADE_OFF,
    rationale: str | None = RATIONALE,
    owner: str | None = OWNER,
    decided_on: str | None = DECIDED_ON,
    sub_element: list[str] = SUB_ELEMENT,
    record: list[str] = RECORD,
    kpi: list[str] = KPI,
    evidence: list[str] = EVIDENCE,
) -> None:
    """Change a draft decision; a signed one is refused (supersede it instead)."""
    fields = _fields(
        title=title,
        context=context,
        option=option,
        decision=decision,
        quality_won=quality_won,
        trade_off=trade_off,
        rationale=rationale,
        owner=owner,
        decided_on=decided_on,
        sub_element=sub_element,
        record=record,
        kpi=kpi,
        evidence=evidence,
    )
    if not fields:
        fail("nothing to change; give at least one option such as --title")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        update_decision(
            session, decision=get_decision(session, site=the_site, ref=ref), changes=fields
        )
    console.print(f"Changed {site} {ref.upper()}.")


@app.command("supersede")
def supersede(
    site: str = SITE,
    ref: str = REF,
    title: str | None = TITLE,
    context: str | None = CONTEXT,
    option: list[str] = OPTION,
    decision: str | None = DECISION,
    quality_won: str | None = QUALITY_WON,
    trade_off: str | None = TRADE_OFF,
    rationale: str | None = RATIONALE,
    owner: str | None = OWNER,
    decided_on: str | None = DECIDED_ON,
    sub_element: list[str] = SUB_ELEMENT,
    record: list[str] = RECORD,
    kpi: list[str] = KPI,
    evidence: list[str] = EVIDENCE,
) -> None:
    """Replace a signed decision by a new draft entry pointing back (unchanged fields carry)."""
    fields = _fields(
        title=title,
        context=context,
        option=option,
        decision=decision,
        quality_won=quality_won,
        trade_off=trade_off,
        rationale=rationale,
        owner=owner,
        decided_on=decided_on,
        sub_element=sub_element,
        record=record,
        kpi=kpi,
        evidence=evidence,
    )
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        old = get_decision(session, site=the_site, ref=ref)
        new = supersede_decision(session, decision=old, changes=fields)
        old_ref, new_ref = old.ref, new.ref
    console.print(
        f"Logged {site} {new_ref} (draft) superseding {old_ref}; {old_ref} stands until "
        f"{new_ref} is signed."
    )


@app.command("sign")
def sign_(
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
    """Sign a decision; it is then frozen and filed as an evidence item."""
    password = read_password(from_stdin=password_stdin, prompt=f"Password for {username}")
    with boundary(signer=username) as session:
        the_site = site_for(session, site, Permission.site_read)
        entry = get_decision(session, site=the_site, ref=ref)
        sign_decision(
            session,
            decision=entry,
            user=get_user(session, username=username),
            password=password,
            meaning=meaning,
        )
        data = DecisionOut.of(session, entry).model_dump(mode="json")
    console.print(
        f"Signed {site} {data['ref']} ({meaning}); filed as evidence {data['evidence_item']}.",
        highlight=False,
    )


@app.command("discard")
def discard(
    site: str = SITE,
    ref: str = REF,
    why: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Discard a draft: it keeps its ref, stays on record as discarded and never counts."""
    with boundary() as session, audit_reason(session, why):
        the_site = site_for(session, site, Permission.program_manage)
        discard_decision(session, decision=get_decision(session, site=the_site, ref=ref))
    console.print(f"Discarded {site} {ref}; it stays on record.", highlight=False)


def _filters(
    owner: str | None, since: str | None, until: str | None, quality_won: str | None
) -> dict[str, Any]:
    return {
        "owner": owner,
        "decided_from": optional_day(since, option="--from"),
        "decided_to": optional_day(until, option="--to"),
        "quality_won": parse_yes_no(quality_won, option="--quality-won"),
    }


OWNER_FILTER = typer.Option(None, "--owner", help="Only decisions whose owner contains this.")
FROM = typer.Option(None, "--from", help="Decided on or after this date, YYYY-MM-DD.")
TO = typer.Option(None, "--to", help="Decided on or before this date, YYYY-MM-DD.")
QUALITY_FILTER = typer.Option(None, "--quality-won", help="yes or no: whether quality won.")
STATUS = typer.Option(None, "--status", help=f"One of: {', '.join(STATUSES)}.")


@app.command("list")
def list_(
    site: str = SITE,
    owner: str | None = OWNER_FILTER,
    since: str | None = FROM,
    until: str | None = TO,
    quality_won: str | None = QUALITY_FILTER,
    status: str | None = STATUS,
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """The site's decision log, newest first, filtered."""
    filters = _filters(owner, since, until, quality_won)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        found = list_decisions(session, site=the_site, status=status, **filters)
        rows = [DecisionOut.of(session, d).model_dump(mode="json") for d in found]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"{site} decision log",
        ["ref", "status", "decided", "title", "owner", "quality won", "supersedes", "signed by"],
        [
            [
                r["ref"],
                r["status"],
                r["decided_on"],
                r["title"],
                r["owner"],
                "yes" if r["quality_won"] else "no",
                r["supersedes"] or "",
                ", ".join(s["printed_name"] for s in r["signatures"]),
            ]
            for r in rows
        ],
    )


@app.command("show")
def show(
    site: str = SITE,
    ref: str = REF,
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """One decision with its supersession chain and checked signatures."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        entry = get_decision(session, site=the_site, ref=ref)
        data = DecisionOut.of(session, entry).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    _render(data)
    if any(not s["valid"] for s in data["signatures"]):
        raise typer.Exit(1)


@app.command("export")
def export(
    site: str = SITE,
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    out: Path | None = typer.Option(None, "--out", help="File to write; default: stdout."),
    owner: str | None = OWNER_FILTER,
    since: str | None = FROM,
    until: str | None = TO,
    quality_won: str | None = QUALITY_FILTER,
    status: str | None = STATUS,
) -> None:
    """Export the decision log (filtered) as CSV or JSON, signatures checked."""
    refuse_link(out)
    filters = _filters(owner, since, until, quality_won)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        found = list_decisions(session, site=the_site, status=status, **filters)
        text = export_decisions(session, decisions=found, fmt=fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_file(out, text)
    console.print(f"Wrote {len(found)} decisions to {out}.")
