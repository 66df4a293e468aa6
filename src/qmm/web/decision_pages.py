"""The decision log in the web app: browse and filter, export, open one entry with its chain and
signatures, and (with program:manage) log, edit a draft, supersede a signed one; sign with
record:sign. Each view parses, calls the decision service, renders; the request commits."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from qmm.audit.signatures import signatures_for
from qmm.audit.trail import reason as audit_reason
from qmm.auth.permissions import Permission
from qmm.auth.service import MAX_FAILED_LOGINS, CheckedPassword
from qmm.auth.signing import SIGNATURE, SecondPersonRequired, second_person_notice
from qmm.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from qmm.evidence.service import site_framework
from qmm.metrics.catalogue import KPIS
from qmm.models import Decision, SignatureMeaning, Site, User, utcnow
from qmm.program.decisions import (
    RECORD_TYPE,
    STATUSES,
    add_decision,
    decision_status,
    discard_decision,
    get_decision,
    list_decisions,
    sign_decision,
    signed_copy,
    successor_of,
    supersede_decision,
    supersession_chain,
    update_decision,
)
from qmm.program.schemas.decisions import export_decisions
from qmm.text_rules import has_nul, nul_message
from qmm.web.deps import DB, in_writer_turn, password_checked_first, reads_first
from qmm.web.evidence_pages import (
    download_name,
    sentences,
    sub_element_groups,
    sub_element_names,
)
from qmm.web.forms import (
    Day,
    FormText,
    Lines,
    Picked,
    ProgramForms,
    Refs,
    WebForm,
    YesNo,
    form_day,
    form_flag,
    submit,
)
from qmm.web.security import Principal, ProgramManage, RecordSign, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

REF_PATTERN: Final = re.compile(r"DEC-\d{1,12}", re.IGNORECASE)
MEANINGS: Final = [m.value for m in SignatureMeaning]
STATUS_LABELS: Final = {
    "draft": "Draft",
    "signed": "Signed",
    "superseded": "Superseded",
    "discarded": "Discarded",
}
KPI_NAMES: Final = {k.id: k.name for k in KPIS}
DONE: Final = {
    "added": "was logged as a draft; sign it to make it count",
    "updated": "was updated",
    "signed": "was signed: it is frozen and filed in the evidence index",
    "superseded": "was drafted to supersede the signed decision; sign it to make it count",
    "discarded": "was discarded: it keeps its ref and stays on record, and no longer counts",
}
EXPORT_TYPES: Final = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def find_decision(db: Session, site: Site, ref: str) -> Decision:
    """The site's decision by ref; anything not shaped like DEC-nnnn is simply not found."""
    if not REF_PATTERN.fullmatch(ref.strip()):
        raise NotFound(f"no decision {ref!r} at {site.code}; refs look like DEC-0001")
    return get_decision(db, site=site, ref=ref)


def _crumbs(site: Site, *, log: bool = True) -> list[tuple[str, str]]:
    crumbs = [("Sites", "/"), (site.code, f"/sites/{site.code}")]
    if log:
        crumbs.append(("Decisions", f"/sites/{site.code}/decisions"))
    return crumbs


# --- the form ------------------------------------------------------------------------------


class DecisionForm(WebForm):
    """A decision as its form sends it, field by field."""

    title: str = ""
    context: str = ""
    options: Lines = ""
    decision: str = ""
    quality_won: YesNo = ""
    trade_off: str = ""
    rationale: str = ""
    owner: str = ""
    decided_on: Day = ""
    sub_elements: Picked
    record_links: Lines = ""
    kpis: Picked
    evidence_refs: Refs = ""


DecisionFields = Annotated[DecisionForm, Form()]


def decision_values(decision: Decision) -> dict[str, Any]:
    """A stored decision as the form shows it."""
    return {
        "title": decision.title,
        "context": decision.context,
        "options": "\n".join(decision.options),
        "decision": decision.decision,
        "quality_won": "yes" if decision.quality_won else "no",
        "trade_off": decision.trade_off,
        "rationale": decision.rationale,
        "owner": decision.owner,
        "decided_on": decision.decided_on.isoformat(),
        "sub_elements": list(decision.sub_elements),
        "record_links": "\n".join(decision.record_links),
        "kpis": list(decision.kpis),
        "evidence_refs": ", ".join(decision.evidence_refs),
    }


def _form_context(db: Session, site: Site, values: dict[str, Any]) -> dict[str, Any]:
    framework = site_framework(db, site=site)
    return {
        "groups": sub_element_groups(framework, values.get("sub_elements", ())),
        "kpi_names": KPI_NAMES,
    }


# --- the log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilters:
    """The log's filters as typed, what they mean to the service, and what is wrong."""

    typed: dict[str, str]
    owner: str | None
    decided_from: date | None
    decided_to: date | None
    quality_won: bool | None
    status: str | None
    errors: dict[str, str]

    @property
    def active(self) -> bool:
        return any(self.typed.values()) and not self.errors

    def query(self) -> str:
        return urlencode({k: v for k, v in self.typed.items() if v})


def read_filters(
    owner: str, decided_from: str, decided_to: str, quality_won: str, status: str
) -> LogFilters:
    typed = {
        "owner": owner.strip(),
        "from": decided_from.strip(),
        "to": decided_to.strip(),
        "quality_won": quality_won.strip().lower(),
        "status": status.strip().lower(),
    }
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        value = form_day(typed[name])
        if isinstance(value, str):
            errors[name] = f"{value!r} is not a date; use YYYY-MM-DD"
            value = None
        days[name] = value
    if days["from"] and days["to"] and days["to"] < days["from"]:
        errors["to"] = f"the range ends ({days['to']}) before it starts ({days['from']})"
        days["to"] = None
    won = form_flag(typed["quality_won"])
    if isinstance(won, str):
        errors["quality_won"] = "choose yes, no or either"
        won = None
    status_value = typed["status"] or None
    if status_value is not None and status_value not in STATUSES:
        errors["status"] = (
            f"there is no status {status_value!r}; choose one of {', '.join(STATUSES)}"
        )
        status_value = None
    if has_nul(typed["owner"]):
        errors["owner"] = nul_message("the owner")
    return LogFilters(
        typed=typed,
        owner=typed["owner"] or None if "owner" not in errors else None,
        decided_from=days["from"],
        decided_to=days["to"],
        quality_won=won,
        status=status_value,
        errors=errors,
    )


def _filtered(db: Session, site: Site, filters: LogFilters) -> list[Decision]:
    return list_decisions(
        db,
        site=site,
        owner=filters.owner,
        decided_from=filters.decided_from,
        decided_to=filters.decided_to,
        quality_won=filters.quality_won,
        status=filters.status,
    )


@router.get("/sites/{code}/decisions")
def decision_log(
    request: Request,
    code: str,
    access: SiteRead,
    db: DB,
    owner: str = "",
    decided_from: Annotated[str, Query(alias="from")] = "",
    decided_to: Annotated[str, Query(alias="to")] = "",
    quality_won: str = "",
    status: str = "",
) -> Response:
    """The site's decisions, newest first, filtered by owner, dates, quality won and status."""
    site = access.site
    assert site is not None
    principal = access.who
    filters = read_filters(owner, decided_from, decided_to, quality_won, status)
    decisions = _filtered(db, site, filters)
    everything = list_decisions(db, site=site)
    statuses = {d.id: decision_status(db, decision=d).value for d in everything}
    signed = [d for d in everything if statuses[d.id] != "draft"]
    return render(
        request,
        "decision_log.html",
        principal=principal,
        title=f"Decision log of {site.code}",
        site=site,
        decisions=decisions,
        statuses=statuses,
        status_labels=STATUS_LABELS,
        filters=filters,
        errors=sentences(filters.errors),
        total=len(everything),
        signed_total=len(signed),
        quality_won_total=sum(1 for d in signed if d.quality_won),
        drafts=sum(1 for s in statuses.values() if s == "draft"),
        can_manage=principal.may(db, Permission.program_manage, site=site),
        breadcrumbs=_crumbs(site, log=False),
        status_code=422 if filters.errors else 200,
    )


@router.get("/sites/{code}/decisions/export")
def decision_export(
    code: str,
    access: SiteRead,
    db: DB,
    fmt: Annotated[str, Query(alias="format")] = "csv",
    owner: str = "",
    decided_from: Annotated[str, Query(alias="from")] = "",
    decided_to: Annotated[str, Query(alias="to")] = "",
    quality_won: str = "",
    status: str = "",
) -> Response:
    """The filtered log as a CSV or JSON download."""
    site = access.site
    assert site is not None
    wanted = fmt.strip().lower()
    if wanted not in EXPORT_TYPES:
        raise InvalidInput(f"export format {wanted!r} is not one of csv, json")
    filters = read_filters(owner, decided_from, decided_to, quality_won, status)
    if filters.errors:
        raise InvalidInput("; ".join(filters.errors.values()))
    body = export_decisions(db, decisions=_filtered(db, site, filters), fmt=wanted)
    return Response(
        content=body,
        media_type=EXPORT_TYPES[wanted],
        headers={"Content-Disposition": download_name(f"{site.code}-decisions.{wanted}")},
    )


# --- adding --------------------------------------------------------------------------------


def _new_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "decision_new.html",
        principal=principal,
        title=f"Log a decision at {site.code}",
        site=site,
        values=values,
        errors=sentences(errors or {}),
        breadcrumbs=_crumbs(site),
        status_code=status_code,
        **_form_context(db, site, values),
    )


@router.get("/sites/{code}/decisions/new")
def decision_new(request: Request, code: str, access: ProgramManage, db: DB) -> Response:
    """The form to log a decision: context, options, the decision and its trade-off."""
    assert access.site is not None
    today = utcnow().date().isoformat()
    return _new_page(
        request,
        db,
        access.who,
        access.site,
        values={"sub_elements": [], "kpis": [], "decided_on": today},
    )


@router.post("/sites/{code}/decisions")
def decision_add(code: str, page: ProgramForms, form: DecisionFields) -> Response:
    """Log a draft under the next DEC-nnnn; any problem stores nothing and keeps what was typed."""
    site = page.site
    return submit(
        form,
        store=lambda fields: add_decision(page.db, site=site, **fields),
        then=lambda entry: f"/sites/{site.code}/decisions/{entry.ref}?done=added",
        again=lambda values, errors: _new_page(
            page.request, page.db, page.who, site, values=values, errors=errors, status_code=422
        ),
    )


# --- one decision --------------------------------------------------------------------------


def _decision_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    entry: Decision,
    *,
    done: str | None = None,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    sign_error: str | None = None,
    meaning: str = "approved",
    status_code: int = 200,
) -> Response:
    status = decision_status(db, decision=entry).value
    successor = successor_of(db, decision=entry)
    chain = supersession_chain(db, decision=entry)
    shown = {**decision_values(entry), **(values or {})}
    evidence = signed_copy(db, decision=entry)
    signatures = signatures_for(db, record_type=RECORD_TYPE, record_id=str(entry.id))
    may_manage = principal.may(db, Permission.program_manage, site=site)
    framework = site_framework(db, site=site)
    return render(
        request,
        "decision.html",
        principal=principal,
        title=f"{entry.ref}: {entry.title}",
        site=site,
        entry=entry,
        status=status,
        status_labels=STATUS_LABELS,
        chain=[(d, decision_status(db, decision=d).value) for d in chain],
        successor=successor,
        evidence=evidence,
        signatures=signatures,
        invalid_signatures=sum(1 for s in signatures if not s.valid),
        names=sub_element_names(framework),
        done=DONE.get(done or ""),
        form=form,
        values=shown,
        errors=sentences(errors or {}),
        can_edit=may_manage and not entry.is_signed and not entry.is_discarded,
        can_supersede=may_manage and entry.is_signed and successor is None,
        can_sign=principal.may(db, Permission.record_sign, site=site)
        and not entry.is_discarded
        and not any(s.username == principal.user.username for s in signatures),
        can_audit=principal.may(db, Permission.audit_read, site=site),
        second_person=second_person_notice(
            db, user=principal.user, record_type=RECORD_TYPE, record_id=str(entry.id)
        ),
        meanings=MEANINGS,
        meaning=meaning,
        sign_error=sign_error,
        max_failed_logins=MAX_FAILED_LOGINS,
        breadcrumbs=_crumbs(site),
        status_code=status_code,
        **_form_context(db, site, shown),
    )


@router.get("/sites/{code}/decisions/{ref}")
def decision_page(
    request: Request,
    code: str,
    ref: str,
    access: SiteRead,
    db: DB,
    done: str | None = None,
) -> Response:
    """One decision: context, options, the decision, the trade-off, links, chain, signatures."""
    site = access.site
    assert site is not None
    entry = find_decision(db, site, ref)
    return _decision_page(request, db, access.who, site, entry, done=done)


@router.post("/sites/{code}/decisions/{ref}/edit")
def decision_edit(code: str, ref: str, page: ProgramForms, form: DecisionFields) -> Response:
    """Change a draft; a signed decision is refused (409): supersede it instead."""
    site = page.site
    entry = find_decision(page.db, site, ref)
    if entry.is_signed:
        raise Conflict(
            f"{entry.ref} is signed and can no longer be changed; supersede it from its page"
        )
    return submit(
        form,
        store=lambda fields: update_decision(page.db, decision=entry, changes=fields),
        then=lambda _: f"/sites/{site.code}/decisions/{entry.ref}?done=updated",
        again=lambda values, errors: _decision_page(
            page.request,
            page.db,
            page.who,
            site,
            entry,
            form="edit",
            values=values,
            errors=errors,
            status_code=422,
        ),
    )


@router.post("/sites/{code}/decisions/{ref}/supersede")
def decision_supersede(code: str, ref: str, page: ProgramForms, form: DecisionFields) -> Response:
    """Draft a new entry that replaces a signed one (it counts once the new entry is signed)."""
    site = page.site
    entry = find_decision(page.db, site, ref)
    return submit(
        form,
        store=lambda fields: supersede_decision(page.db, decision=entry, changes=fields),
        then=lambda successor: f"/sites/{site.code}/decisions/{successor.ref}?done=superseded",
        again=lambda values, errors: _decision_page(
            page.request,
            page.db,
            page.who,
            site,
            entry,
            form="supersede",
            values=values,
            errors=errors,
            status_code=422,
        ),
    )


def sign_error_text(exc: Unauthenticated) -> str:
    """What a refused password tells the signer."""
    if "locked" in str(exc):
        return str(exc).capitalize() + "."
    return (
        "The password is wrong; the signature was not recorded. "
        f"{MAX_FAILED_LOGINS} wrong passwords in a row lock the account."
    )


def signing_error(meaning: str, password: str, sign: Callable[[], object]) -> str | None:
    """Sign if the form is complete; what to tell the signer when it is not or the password fails.

    A refused password is returned, not raised: the request commits, so the failed attempt
    counts. Other refusals are raised, so nothing of a half-made signature is kept.
    """
    if meaning not in MEANINGS:
        return f"Choose what your signature means: {', '.join(MEANINGS)}."
    if not password:
        return "Enter your password to sign."
    try:
        sign()
    except Unauthenticated as exc:
        return sign_error_text(exc)
    except SecondPersonRequired as exc:
        return str(exc)
    return None


async def sign_in_turn(
    request: Request,
    db: Session,
    *,
    user: User,
    meaning: str,
    password: str,
    sign: Callable[[CheckedPassword], object],
) -> str | None:
    """signing_error for a reads_first route: the password is checked (argon2) holding nothing,
    then SIGN runs with the checked password in the request's turn to write, and commits."""
    if meaning not in MEANINGS or not password:
        return signing_error(meaning, password, lambda: None)
    checked = await password_checked_first(
        request, db, user=user, password=password, channel=SIGNATURE
    )
    return await in_writer_turn(
        request, db, lambda: signing_error(meaning, password, lambda: sign(checked))
    )


@router.post("/sites/{code}/decisions/{ref}/sign")
@reads_first
async def decision_sign(
    request: Request,
    code: str,
    ref: str,
    access: RecordSign,
    db: DB,
    password: FormText = "",
    meaning: FormText = "",
) -> Response:
    """Sign with the password again; the first signature freezes the entry and files it.

    The password check (argon2) holds no lock or turn; the signature is written in its turn.
    """
    site = access.site
    assert site is not None
    principal = access.who
    entry = await run_in_threadpool(find_decision, db, site, ref)
    error = await sign_in_turn(
        request,
        db,
        user=principal.user,
        meaning=meaning,
        password=password,
        sign=lambda checked: sign_decision(
            db, decision=entry, user=principal.user, password=checked, meaning=meaning
        ),
    )

    def answer() -> Response:
        if error is not None:
            return _decision_page(
                request,
                db,
                principal,
                site,
                entry,
                sign_error=error,
                meaning=meaning,
                status_code=422,
            )
        return RedirectResponse(
            f"/sites/{site.code}/decisions/{entry.ref}?done=signed#signatures", 303
        )

    return await run_in_threadpool(answer)


class DiscardForm(WebForm):
    """Why a draft is set aside, for the audit trail."""

    reason: str = ""


@router.post("/sites/{code}/decisions/{ref}/discard")
def decision_discard(
    code: str, ref: str, page: ProgramForms, form: Annotated[DiscardForm, Form()]
) -> Response:
    """Discard a draft: it keeps its ref and stays on record; a signed decision is refused."""
    site = page.site
    entry = find_decision(page.db, site, ref)
    if entry.is_signed or entry.is_discarded:
        raise Conflict(f"{entry.ref} is not a draft; only a draft can be discarded")

    def save(fields: dict[str, Any]) -> Decision:
        with audit_reason(page.db, fields["reason"].strip()):
            return discard_decision(page.db, decision=entry)

    return submit(
        form,
        store=save,
        then=lambda _: f"/sites/{site.code}/decisions/{entry.ref}?done=discarded",
        again=lambda values, errors: _decision_page(
            page.request,
            page.db,
            page.who,
            site,
            entry,
            form="discard",
            values={"discard_reason": values.get("reason", "")},
            errors={f"discard-{k}": v for k, v in errors.items()},
            status_code=422,
        ),
        problems={}
        if form.reason.strip()
        else {"reason": "say why the draft is discarded; it is kept in the audit trail"},
    )
