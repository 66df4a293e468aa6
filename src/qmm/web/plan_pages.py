"""The 90-day readiness plan in the web app: a site's plans, one plan by workstream with its
progress, baseline, comparison and signatures; with program:manage, generate a plan, change a
draft's actions and track an approved plan's; with record:sign, approve by signature. Each view
parses, calls the plan service, renders; the request commits."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from qmm.assessment.service import get_assessment
from qmm.audit.signatures import signatures_for
from qmm.audit.trail import reason as audit_reason
from qmm.auth.permissions import Permission
from qmm.auth.scope import (
    latest_readable_assessment,
    readable_assessment,
    readable_assessments,
)
from qmm.auth.service import MAX_FAILED_LOGINS
from qmm.auth.signing import second_person_notice
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.models import Assessment, PlanAction, ReadinessPlan, Site, utcnow
from qmm.program.plan import (
    DAYS,
    RECORD_TYPE,
    WORKSTREAMS,
    PlanProgress,
    SubElementChange,
    approve_plan,
    compare_plan,
    complete_action,
    discard_plan,
    end_on,
    generate_plan,
    get_action,
    get_readable_plan,
    is_overdue,
    may_read_plan,
    plan_day,
    plan_progress,
    readable_plans,
    reopen_action,
    running_plan,
    update_action,
)
from qmm.web.decision_pages import MEANINGS, sign_in_turn
from qmm.web.deps import DB, reads_first
from qmm.web.evidence_pages import sentences, sub_element_names
from qmm.web.forms import (
    Converted,
    Day,
    FormText,
    Handling,
    ProgramForms,
    TextOrNone,
    WebForm,
    submit,
)
from qmm.web.security import Principal, RecordSign, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

REF_PATTERN: Final = re.compile(r"PLAN-\d{1,12}", re.IGNORECASE)
NUMBER_PATTERN: Final = re.compile(r"[0-9]{1,9}")
STATUS_LABELS: Final = {
    "draft": ("Draft", "○", "muted"),
    "approved": ("Approved", "✔", "ok"),
    "superseded": ("Superseded", "↷", "muted"),
    "discarded": ("Discarded", "✖", "muted"),
}
SOURCE_LABELS: Final = {
    "skeleton": "the 90-day checklist",
    "low_score": "a low score",
    "missing_evidence": "missing evidence",
    "kpi_off_target": "a KPI off target",
    "carried_over": "carried over from the plan it supersedes",
    "fda_gap": "a practice area FDA scored below the self-assessment",
    "fda_opportunity": "an opportunity FDA named",
    "mock_follow_up": "a mock interview's follow-up",
}
DONE: Final = {
    "generated": "was drafted; check its actions, then approve it by signature",
    "updated": "had an action changed",
    "approved": "was signed: it is approved and frozen; only progress is tracked now",
    "completed": "had an action marked done",
    "reopened": "had an action opened again",
    "discarded": "was discarded: it keeps its ref and stays on record, and never counts",
}


def find_plan(db: Session, principal: Principal, site: Site, ref: str) -> ReadinessPlan:
    """The site's plan by ref, if its assessment may be read; else, or if misshapen, not found."""
    if not REF_PATTERN.fullmatch(ref.strip()):
        raise NotFound(f"no plan {ref!r} at {site.code}; refs look like PLAN-0001")
    return get_readable_plan(db, reader=principal, site=site, ref=ref)


def find_action(db: Session, plan: ReadinessPlan, number: str) -> PlanAction:
    """A plan's action by its number; anything not a number is simply not found."""
    if not NUMBER_PATTERN.fullmatch(number.strip()):
        raise NotFound(f"{plan.ref} has no action {number!r}; actions are numbered from 1")
    return get_action(db, plan=plan, number=int(number))


def _crumbs(site: Site, *, plans: bool = True) -> list[tuple[str, str]]:
    crumbs = [("Sites", "/"), (site.code, f"/sites/{site.code}")]
    crumbs.append(("Program", f"/sites/{site.code}/program"))
    if plans:
        crumbs.append(("Plans", f"/sites/{site.code}/plans"))
    return crumbs


def _assessment_label(assessment: Assessment) -> str:
    return (
        f"{assessment.title} (#{assessment.id}, {assessment.status}, "
        f"started {assessment.started_on.isoformat()})"
    )


# --- the site's plans ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """A plan as the list shows it: where it stands on the day."""

    plan: ReadinessPlan
    label: str
    icon: str
    tone: str
    day: int
    done: int
    total: int
    running: bool


def _running(db: Session, principal: Principal, site: Site, today: date) -> ReadinessPlan | None:
    """The running plan, when the person may read it (it shows its assessment's scores)."""
    running = running_plan(db, site, today)
    if running is None or not may_read_plan(db, reader=principal, plan=running):
        return None
    return running


def _rows(db: Session, principal: Principal, site: Site, today: date) -> list[PlanRow]:
    running = _running(db, principal, site, today)
    rows = []
    for plan in readable_plans(db, reader=principal, site=site):
        label, icon, tone = STATUS_LABELS.get(plan.status, (plan.status, "○", "muted"))
        rows.append(
            PlanRow(
                plan,
                label,
                icon,
                tone,
                plan_day(plan, today),
                sum(1 for a in plan.actions if a.status == "done"),
                len(plan.actions),
                running is not None and running.id == plan.id,
            )
        )
    return rows


def _list_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    today = utcnow().date()
    running = _running(db, principal, site, today)
    assessments = readable_assessments(db, reader=principal, site=site)
    try:
        default_assessment = str(latest_readable_assessment(db, reader=principal, site=site).id)
    except NotFound:
        default_assessment = ""
    shown = {
        "owner": "",
        "start_on": today.isoformat(),
        "assessment": default_assessment,
        "supersede": "",
        **(values or {}),
    }
    return render(
        request,
        "plans.html",
        principal=principal,
        title=f"Readiness plans of {site.code}",
        site=site,
        today=today,
        days=DAYS,
        rows=_rows(db, principal, site, today),
        running=running,
        running_end=end_on(running) if running is not None else None,
        assessments=[(str(a.id), _assessment_label(a)) for a in assessments],
        values=shown,
        errors=sentences(errors or {}),
        refusal=refusal,
        can_manage=principal.may(db, Permission.program_manage, site=site),
        breadcrumbs=_crumbs(site, plans=False),
        status_code=status_code,
    )


@router.get("/sites/{code}/plans")
def plan_list(request: Request, code: str, access: SiteRead, db: DB) -> Response:
    """The site's plans, newest first: status, start, day N of 90, actions done."""
    assert access.site is not None
    return _list_page(request, db, access.who, access.site)


def _source_assessment(db: Session, principal: Principal, site: Site, wanted: str) -> Assessment:
    """The assessment a plan answers: the one chosen, else the latest; one the person may read."""
    if not wanted.strip():
        return latest_readable_assessment(db, reader=principal, site=site)
    if not NUMBER_PATTERN.fullmatch(wanted.strip()):
        raise NotFound(f"there is no assessment {wanted!r}; choose one of the list")
    found = readable_assessment(db, reader=principal, assessment_id=int(wanted))
    if found.site_id != site.id:
        raise NotFound(f"assessment {wanted} is not an assessment of {site.code}")
    return found


class PlanForm(WebForm):
    """A plan to draft: its owner, its start, the assessment it answers, and whether it replaces
    the current plan."""

    owner: str = ""
    start_on: Day = ""
    assessment: str = ""
    supersede: str = ""


@router.post("/sites/{code}/plans")
def plan_generate(
    code: str,
    page: ProgramForms,
    form: Annotated[PlanForm, Form()],
) -> Response:
    """Draft a plan from an assessment; any problem stores nothing and keeps what was typed."""
    site = page.site
    problems: dict[str, str] = {}
    source: Assessment | None = None
    if "assessment" not in form.nul_problems():
        try:
            source = _source_assessment(page.db, page.who, site, form.assessment)
        except NotFound as exc:
            problems["assessment"] = str(exc)

    def again(
        values: dict[str, Any], errors: dict[str, str], refusal: str | None = None
    ) -> Response:
        return _list_page(
            page.request,
            page.db,
            page.who,
            site,
            values=values,
            errors=errors,
            refusal=_sentence(refusal) if refusal else None,
            status_code=422,
        )

    try:
        return submit(
            form,
            store=lambda fields: generate_plan(
                page.db,
                assessment=cast(Assessment, source),
                owner=fields["owner"],
                start_on=fields["start_on"],
                store=page.store,
                supersede=fields["supersede"] == "yes",
            ),
            then=lambda plan: f"/sites/{site.code}/plans/{plan.ref}?done=generated",
            again=again,
            problems=problems,
        )
    except (Conflict, InvalidInput) as exc:
        return again(form.typed(), {}, str(exc))


def _sentence(text: str) -> str:
    text = text.replace("generate with --supersede", "tick 'supersede the running plan'")
    return text[:1].upper() + text[1:].rstrip(".") + "."


# --- one plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRow:
    """An action as the plan shows it: its status in words, an icon and a tone."""

    action: PlanAction
    label: str
    icon: str
    tone: str


def _action_row(action: PlanAction, today: date) -> ActionRow:
    if action.status == "done":
        assert action.done_on is not None
        return ActionRow(action, f"Done on {action.done_on.isoformat()}", "✔", "ok")
    if is_overdue(action, today):
        late = (today - action.due_on).days
        return ActionRow(action, f"Overdue by {late} day{'s' if late != 1 else ''}", "⚠", "bad")
    return ActionRow(action, "Open", "○", "muted")


@dataclass(frozen=True)
class ChangeRow:
    """A sub-element's move from the baseline, in words as well as a number."""

    change: SubElementChange
    words: str
    icon: str
    tone: str


def _change_row(change: SubElementChange) -> ChangeRow:
    delta = change.delta
    if delta is None:
        return ChangeRow(change, "not comparable (a score is missing)", "○", "muted")
    if delta > 0:
        return ChangeRow(change, f"moved up by {delta:.2f}", "▲", "ok")
    if delta < 0:
        return ChangeRow(change, f"moved down by {-delta:.2f}", "▼", "bad")
    return ChangeRow(change, "unchanged", "=", "muted")


@dataclass(frozen=True)
class Comparison:
    """The plan against a later assessment, or why it could not be compared."""

    wanted: str
    assessment: Assessment | None
    rows: list[ChangeRow]
    error: str | None


def _compare(db: Session, principal: Principal, plan: ReadinessPlan, wanted: str) -> Comparison:
    """The plan against the assessment asked for; one the person may not read is not there."""
    if not wanted.strip():
        return Comparison("", None, [], None)
    try:
        if not NUMBER_PATTERN.fullmatch(wanted.strip()):
            raise InvalidInput(f"there is no assessment {wanted!r}; choose one of the list")
        later = readable_assessment(db, reader=principal, assessment_id=int(wanted))
        changes = compare_plan(db, plan=plan, assessment=later)
    except (NotFound, InvalidInput) as exc:
        return Comparison(wanted, None, [], _sentence(str(exc)))
    return Comparison(wanted, later, [_change_row(c) for c in changes], None)


def _successor(db: Session, principal: Principal, plan: ReadinessPlan) -> ReadinessPlan | None:
    """The approved plan that replaced this one, if any the person may read."""
    for other in readable_plans(db, reader=principal, site=plan.site):
        if other.supersedes_id == plan.id and other.is_approved:
            return other
    return None


def _plan_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    plan: ReadinessPlan,
    *,
    done: str | None = None,
    compare: str = "",
    form: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    sign_error: str | None = None,
    meaning: str = "approved",
    status_code: int = 200,
) -> Response:
    today = utcnow().date()
    progress: PlanProgress = plan_progress(db, plan=plan, today=today)
    rows = [_action_row(a, today) for a in plan.actions]
    by_workstream: dict[str, list[ActionRow]] = {w: [] for w in WORKSTREAMS}
    for row in rows:
        by_workstream.setdefault(row.action.workstream, []).append(row)
    comparison = _compare(db, principal, plan, compare)
    signatures = signatures_for(db, record_type=RECORD_TYPE, record_id=str(plan.id))
    may_manage = principal.may(db, Permission.program_manage, site=site)
    label, icon, tone = STATUS_LABELS.get(plan.status, (plan.status, "○", "muted"))
    later = [
        (str(a.id), _assessment_label(a))
        for a in readable_assessments(db, reader=principal, site=site)
        if a.id != plan.assessment_id
    ]
    if comparison.error is not None and status_code == 200:
        status_code = 422
    return render(
        request,
        "plan.html",
        principal=principal,
        title=f"{plan.ref}: 90-day readiness plan",
        site=site,
        plan=plan,
        today=today,
        days=DAYS,
        end=end_on(plan),
        status_label=label,
        status_icon=icon,
        status_tone=tone,
        successor=_successor(db, principal, plan) if plan.status == "superseded" else None,
        progress=progress,
        workstreams=[(key, WORKSTREAMS.get(key, key), r) for key, r in by_workstream.items() if r],
        names=sub_element_names(get_assessment(db, assessment_id=plan.assessment_id).framework),
        sources=SOURCE_LABELS,
        baseline=sorted(plan.baseline.items()),
        comparison=comparison,
        later_assessments=later,
        signatures=signatures,
        invalid_signatures=sum(1 for s in signatures if not s.valid),
        done=DONE.get(done or ""),
        form=form,
        values=values or {},
        errors=sentences(errors or {}),
        can_edit=may_manage and plan.status == "draft",
        can_track=may_manage and plan.status == "approved",
        can_sign=principal.may(db, Permission.record_sign, site=site)
        and plan.status not in ("superseded", "discarded")
        and not any(s.username == principal.user.username for s in signatures),
        second_person=second_person_notice(
            db, user=principal.user, record_type=RECORD_TYPE, record_id=str(plan.id)
        ),
        meanings=MEANINGS,
        meaning=meaning,
        sign_error=sign_error,
        max_failed_logins=MAX_FAILED_LOGINS,
        breadcrumbs=_crumbs(site),
        status_code=status_code,
    )


@router.get("/sites/{code}/plans/{ref}")
def plan_page(
    request: Request,
    code: str,
    ref: str,
    access: SiteRead,
    db: DB,
    done: str | None = None,
    compare: str = "",
) -> Response:
    """One plan by workstream: actions, progress, baseline, comparison and signatures."""
    site = access.site
    assert site is not None
    plan = find_plan(db, access.who, site, ref)
    return _plan_page(request, db, access.who, site, plan, done=done, compare=compare)


def _after(site: Site, plan: ReadinessPlan, done: str, anchor: str) -> str:
    return f"/sites/{site.code}/plans/{plan.ref}?done={done}#{anchor}"


def _due_day(text: str) -> int | str | None:
    """A typed due day: a whole number, else what was typed for the service to name."""
    text = text.strip()
    if not text:
        return None
    return int(text) if NUMBER_PATTERN.fullmatch(text) else text


DueDay = Annotated[str, Converted(_due_day)]


class ActionEditForm(WebForm):
    """A draft plan's action: title, owner and the day of the 90 it is due."""

    title: str = ""
    owner: str = ""
    due_day: DueDay = ""


class ActionDoneForm(WebForm):
    """The day an approved plan's action was done, with a note."""

    done_on: Day = ""
    note: TextOrNone = ""


class ActionReopenForm(WebForm):
    """Why a done action is open again."""

    note: TextOrNone = ""


def _action_form(
    page: Handling,
    plan: ReadinessPlan,
    action: PlanAction,
    form: WebForm,
    *,
    prefix: str,
    save: Callable[[dict[str, Any]], object],
    done: str,
) -> Response:
    """Run one action form: store and go back to the action, or show the plan with problems."""
    site = page.site
    fid = f"{prefix}-{action.number}"
    return submit(
        form,
        store=save,
        then=lambda _: _after(site, plan, done, f"action-{action.number}"),
        again=lambda values, errors: _plan_page(
            page.request,
            page.db,
            page.who,
            site,
            plan,
            form=fid,
            values=values,
            errors={f"{fid}-{k}": v for k, v in errors.items()},
            status_code=422,
        ),
    )


@router.post("/sites/{code}/plans/{ref}/actions/{number}/edit")
def action_edit(
    code: str,
    ref: str,
    number: str,
    page: ProgramForms,
    form: Annotated[ActionEditForm, Form()],
) -> Response:
    """Change a draft's action (title, owner, due day); an approved plan is refused (409)."""
    site = page.site
    plan = find_plan(page.db, page.who, site, ref)
    action = find_action(page.db, plan, number)
    return _action_form(
        page,
        plan,
        action,
        form,
        prefix="edit",
        save=lambda fields: update_action(page.db, action=action, **fields),
        done="updated",
    )


@router.post("/sites/{code}/plans/{ref}/approve")
@reads_first
async def plan_approve(
    request: Request,
    code: str,
    ref: str,
    access: RecordSign,
    db: DB,
    password: FormText = "",
    meaning: FormText = "",
) -> Response:
    """Approve by signature, with the password again; the plan is then frozen.

    The password check (argon2) holds no lock or turn; the approval is written in its turn.
    """
    site = access.site
    assert site is not None
    principal = access.who
    plan = await run_in_threadpool(find_plan, db, access.who, site, ref)
    error = await sign_in_turn(
        request,
        db,
        user=principal.user,
        meaning=meaning,
        password=password,
        sign=lambda checked: approve_plan(
            db, plan=plan, user=principal.user, password=checked, meaning=meaning
        ),
    )

    def answer() -> Response:
        if error is not None:
            return _plan_page(
                request,
                db,
                principal,
                site,
                plan,
                sign_error=error,
                meaning=meaning,
                status_code=422,
            )
        return RedirectResponse(_after(site, plan, "approved", "signatures"), status_code=303)

    return await run_in_threadpool(answer)


@router.post("/sites/{code}/plans/{ref}/actions/{number}/done")
def action_complete(
    code: str,
    ref: str,
    number: str,
    page: ProgramForms,
    form: Annotated[ActionDoneForm, Form()],
) -> Response:
    """Mark an approved plan's action done on a day not in the future, with a note."""
    site = page.site
    plan = find_plan(page.db, page.who, site, ref)
    action = find_action(page.db, plan, number)
    return _action_form(
        page,
        plan,
        action,
        form,
        prefix="done",
        save=lambda fields: complete_action(page.db, action=action, **fields),
        done="completed",
    )


@router.post("/sites/{code}/plans/{ref}/actions/{number}/reopen")
def action_reopen(
    code: str,
    ref: str,
    number: str,
    page: ProgramForms,
    form: Annotated[ActionReopenForm, Form()],
) -> Response:
    """Open a done action again (it was not really done), with why."""
    site = page.site
    plan = find_plan(page.db, page.who, site, ref)
    action = find_action(page.db, plan, number)
    return _action_form(
        page,
        plan,
        action,
        form,
        prefix="reopen",
        save=lambda fields: reopen_action(page.db, action=action, **fields),
        done="reopened",
    )


class DiscardForm(WebForm):
    """Why a draft plan is set aside, for the audit trail."""

    reason: str = ""


@router.post("/sites/{code}/plans/{ref}/discard")
def plan_discard(
    code: str, ref: str, page: ProgramForms, form: Annotated[DiscardForm, Form()]
) -> Response:
    """Discard a draft plan: it keeps its ref and stays on record; the running plan runs on."""
    site = page.site
    plan = find_plan(page.db, page.who, site, ref)
    if plan.status != "draft":
        raise Conflict(f"{plan.ref} is not a draft; only a draft plan can be discarded")

    def save(fields: dict[str, Any]) -> ReadinessPlan:
        with audit_reason(page.db, fields["reason"].strip()):
            return discard_plan(page.db, plan=plan)

    return submit(
        form,
        store=save,
        then=lambda _: _after(site, plan, "discarded", "progress"),
        again=lambda values, errors: _plan_page(
            page.request,
            page.db,
            page.who,
            site,
            plan,
            form="discard",
            values=values,
            errors={f"discard-{k}": v for k, v in errors.items()},
            status_code=422,
        ),
        problems={}
        if form.reason.strip()
        else {"reason": "say why the draft is discarded; it is kept in the audit trail"},
    )
