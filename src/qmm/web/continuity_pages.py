"""Business continuity and supplier agreements in the web app: scenarios by risk, inventory
triggers with breaches, drills against their recovery-time target, agreements with what is
overdue; with program:manage, forms to record levels, drill runs, reviews and joint drills and
to add scenarios, triggers and agreements. Each view parses, calls the service, renders."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, cast

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import Conflict, NotFound
from qmm.events.store import EventStore
from qmm.models import (
    ContinuityScenario,
    Drill,
    DrillAction,
    InventoryTrigger,
    Site,
    SupplierAgreement,
    utcnow,
)
from qmm.presentation.kpis import SMALL_N
from qmm.program.common import InvalidProgramInput
from qmm.program.continuity import (
    action_overdue,
    add_scenario,
    add_trigger,
    complete_drill_action,
    drill_state,
    get_drill,
    get_drill_action,
    get_scenario,
    get_trigger,
    list_drills,
    list_scenarios,
    list_triggers,
    plan_drill,
    record_drill_run,
    record_level,
    trigger_state,
)
from qmm.program.steering import ActionInput
from qmm.program.suppliers import (
    SupplierStatus,
    add_agreement,
    get_agreement,
    list_agreements,
    record_joint_drill,
    record_review,
    supplier_status,
)
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import sentences
from qmm.web.form_values import FormList, FormText, form_day, form_lines, nul_problems
from qmm.web.security import Access, Principal, ProgramManage, SiteRead
from qmm.web.templating import render

#: A record id in a URL: digits only, short enough for any database's integer.
RECORD_ID: Final = re.compile(r"[0-9]{1,18}")
#: How many action rows the drill-run form offers.
ACTION_ROWS: Final = 3
TRIGGER_LABELS: Final = {
    "breached": ("BREACH: below the minimum", "⚠", "bad"),
    "ok": ("At or above the minimum", "✔", "ok"),
    "no_level": ("No level recorded", "○", "muted"),
}
DRILL_LABELS: Final = {
    "planned": ("Planned", "○", "muted"),
    "overdue": ("Overdue: not run", "⚠", "bad"),
    "met": ("Target met", "✔", "ok"),
    "missed": ("Target MISSED", "✖", "bad"),
}
DONE: Final = {
    "scenario": "The scenario was added.",
    "trigger": "The inventory trigger was set.",
    "level": "The inventory level was recorded.",
    "plan": "The drill was planned.",
    "run": "The drill run was recorded; its report is filed in the evidence index.",
    "review": "The maturity review was recorded.",
    "jointdrill": "The joint drill was recorded.",
    "agreement": "The supplier agreement was added.",
    "action": "The drill action was recorded as done.",
}


# ---------------------------------------------------------------------------- reading forms


def find_id(text: str, *, what: str, site: Site) -> int:
    """A record id from a URL; anything else is simply not found."""
    if not RECORD_ID.fullmatch(text):
        raise NotFound(f"no {what} {text!r} at {site.code}")
    return int(text)


def form_number(text: str) -> float | int | str | None:
    """A number typed in a form: whole numbers stay whole; what does not parse goes on as text
    for the service to name (a thousands separator is not guessed: 1,5 is ambiguous)."""
    text = text.strip()
    if not text:
        return None
    if "_" in text:
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def form_flag(text: str) -> bool | str | None:
    """yes or no from a form; anything else goes on for the service to refuse."""
    return {"yes": True, "no": False, "": None}.get(text.strip().lower(), text)


# ---------------------------------------------------------------------------- what the page shows


@dataclass(frozen=True)
class Mark:
    """A state in words, with an icon and a tone so colour is never the only cue."""

    label: str
    icon: str
    tone: str


@dataclass(frozen=True)
class TriggerRow:
    trigger: InventoryTrigger
    state: str
    mark: Mark


@dataclass(frozen=True)
class ActionRow:
    action: DrillAction
    overdue: bool


@dataclass(frozen=True)
class DrillRow:
    drill: Drill
    state: str
    mark: Mark
    target_hours: float
    actions: list[ActionRow]


@dataclass(frozen=True)
class AgreementRow:
    agreement: SupplierAgreement
    status: SupplierStatus
    flags: list[Mark]


@dataclass(frozen=True)
class ContinuityView:
    """Everything the continuity page and API show for a site on a day, computed once."""

    today: date
    scenarios: list[ContinuityScenario]
    triggers: list[TriggerRow]
    drills: list[DrillRow]
    agreements: list[AgreementRow]

    @property
    def breached(self) -> list[TriggerRow]:
        return [t for t in self.triggers if t.state == "breached"]

    @property
    def missed(self) -> list[DrillRow]:
        return [d for d in self.drills if d.state == "missed"]

    @property
    def not_run(self) -> list[DrillRow]:
        return [d for d in self.drills if d.state == "overdue"]

    @property
    def overdue_actions(self) -> list[ActionRow]:
        return [a for d in self.drills for a in d.actions if a.overdue]

    @property
    def overdue_agreements(self) -> list[AgreementRow]:
        return [a for a in self.agreements if a.status.overdue]


def agreement_flags(status: SupplierStatus) -> list[Mark]:
    """What needs attention on an agreement, in words; "Up to date" when nothing does."""
    flags = [
        Mark(label, icon, "bad")
        for wanted, label, icon in (
            (status.review_overdue, "Maturity review overdue", "⚠"),
            (status.drill_overdue, "Joint drill overdue", "⚠"),
            (status.expired, "Expired", "✖"),
            (status.expiring_soon, "Expiring soon", "⚠"),
            (status.supplier_scar_below_target, "SCARs closed late (below target)", "✖"),
        )
        if wanted
    ]
    return flags or [Mark("Up to date", "✔", "ok")]


def continuity_view(db: Session, site: Site, today: date, store: EventStore) -> ContinuityView:
    """Everything the page shows, computed once."""
    triggers = []
    for trigger in list_triggers(db, site=site):
        state = trigger_state(trigger)
        triggers.append(TriggerRow(trigger, state, Mark(*TRIGGER_LABELS[state])))
    drills = []
    for drill in list_drills(db, site=site):
        state = drill_state(drill, today=today)
        drills.append(
            DrillRow(
                drill,
                state,
                Mark(*DRILL_LABELS[state]),
                (
                    drill.target_hours
                    if drill.target_hours is not None
                    else drill.scenario.recovery_target_hours
                ),
                [ActionRow(a, action_overdue(a, today=today)) for a in drill.actions],
            )
        )
    agreements = []
    for agreement in list_agreements(db, site=site):
        status = supplier_status(db, agreement=agreement, today=today, store=store)
        agreements.append(AgreementRow(agreement, status, agreement_flags(status)))
    return ContinuityView(  # what needs attention first; otherwise the services' order
        today=today,
        scenarios=list_scenarios(db, site=site),
        triggers=sorted(triggers, key=lambda t: t.state != "breached"),
        drills=drills,
        agreements=sorted(agreements, key=lambda a: not a.status.overdue),
    )


def amount(value: float | None) -> str:
    """A level or a number of hours as people write it: 95,000 or 1.5."""
    if value is None:
        return "none"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:g}"


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    store: EventStore,
    *,
    done: str | None = None,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    today = utcnow().date()
    return render(
        request,
        "continuity.html",
        principal=principal,
        title=f"Continuity of {site.code}",
        site=site,
        today=today,
        view=continuity_view(db, site, today, store),
        done=DONE.get(done or ""),
        form=form,
        values=values or {},
        errors=sentences(errors or {}),
        amount=amount,
        small_n=SMALL_N,
        action_rows=range(1, ACTION_ROWS + 1),
        can_manage=principal.may(db, Permission.program_manage, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        status_code=status_code,
    )


def continuity_page(
    request: Request, code: str, access: SiteRead, db: DB, store: Store, done: str | None = None
) -> Response:
    """Where continuity stands: breaches, drills against target, suppliers overdue, scenarios."""
    assert access.site is not None
    return _page(request, db, access.who, access.site, store, done=done)


def with_service_problems(
    db: Session, problems: dict[str, str], store_it: Callable[[], object]
) -> dict[str, str]:
    """Problems this boundary found, with those the service finds in the rest of the input:
    the service runs in a savepoint that is always rolled back, so nothing is stored."""
    attempt = db.begin_nested()
    try:
        store_it()
    except InvalidProgramInput as exc:
        return {**exc.problems, **problems}
    finally:
        attempt.rollback()
    return problems


def _after(site: Site, done: str, anchor: str) -> Response:
    return RedirectResponse(f"/sites/{site.code}/continuity?done={done}#{anchor}", status_code=303)


def _submit(
    request: Request,
    access: Access,
    db: Session,
    store: EventStore,
    *,
    form: str,
    typed: dict[str, str],
    problems: dict[str, str],
    store_it: Callable[[], object],
    done: str,
    anchor: str,
    fields: Mapping[str, str] | None = None,
    trial: bool = True,
) -> Response:
    """Call the service and redirect; on any problem show the page again with what was typed
    and each problem next to its field (service keys mapped by `fields`).

    When this boundary already found a problem (a date in the future), the service still runs
    on trial so that every problem is named at once; not when a field holds a NUL character (no
    database takes it) or `trial` is off (a drill run writes its report's file).
    """
    site = access.site
    assert site is not None
    if not problems:
        try:
            store_it()
        except InvalidProgramInput as exc:
            problems = exc.problems
        else:
            return _after(site, done, anchor)
    elif trial and not any("NUL character" in p for p in problems.values()):
        problems = with_service_problems(db, problems, store_it)
    shown = {f"{form}-{(fields or {}).get(k, k.replace('.', '_'))}": v for k, v in problems.items()}
    return _page(
        request,
        db,
        access.who,
        site,
        store,
        form=form,
        values=typed,
        errors=shown,
        status_code=422,
    )


# ---------------------------------------------------------------------------- inventory


def level_record(
    request: Request,
    code: str,
    trigger_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    level: FormText = "",
    recorded_on: FormText = "",
) -> Response:
    """Record a counted inventory level for one of the site's triggers."""
    site = access.site
    assert site is not None
    trigger = get_trigger(
        db, site=site, trigger=find_id(trigger_id, what="inventory trigger", site=site)
    )
    typed = {"level": level, "recorded_on": recorded_on}
    problems = nul_problems(typed)
    day = form_day(recorded_on)
    return _submit(
        request,
        access,
        db,
        store,
        form=f"level-{trigger.id}",
        typed=typed,
        problems=problems,
        store_it=lambda: record_level(
            db, trigger=trigger, level=cast(Any, form_number(level)), recorded_on=cast(Any, day)
        ),
        done="level",
        anchor="triggers",
    )


def trigger_add(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    material: FormText = "",
    unit: FormText = "",
    minimum_level: FormText = "",
    scenario: FormText = "",
    current_level: FormText = "",
    recorded_on: FormText = "",
) -> Response:
    """Set a minimum-inventory trigger for a material, optionally with its current level."""
    site = access.site
    assert site is not None
    typed = {
        "material": material,
        "unit": unit,
        "minimum_level": minimum_level,
        "scenario": scenario,
        "current_level": current_level,
        "recorded_on": recorded_on,
    }
    problems = nul_problems(typed)
    guarded: ContinuityScenario | None = None
    if scenario.strip() and "scenario" not in problems:
        try:
            guarded = get_scenario(
                db, site=site, scenario_id=find_id(scenario.strip(), what="scenario", site=site)
            )
        except NotFound as exc:
            problems["scenario"] = str(exc)
    day = form_day(recorded_on)
    return _submit(
        request,
        access,
        db,
        store,
        form="trigger",
        typed=typed,
        problems=problems,
        store_it=lambda: add_trigger(
            db,
            site=site,
            material=material,
            unit=unit,
            minimum_level=cast(Any, form_number(minimum_level)),
            scenario=guarded,
            current_level=cast(Any, form_number(current_level)),
            recorded_on=cast(Any, day),
        ),
        done="trigger",
        anchor="triggers",
    )


# ---------------------------------------------------------------------------- scenarios


def scenario_add(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    title: FormText = "",
    what_fails: FormText = "",
    likelihood: FormText = "",
    impact: FormText = "",
    products: FormText = "",
    suppliers: FormText = "",
    backup_strategy: FormText = "",
    backup_suppliers: FormText = "",
    recovery_steps: FormText = "",
    recovery_target_hours: FormText = "",
    owner: FormText = "",
    reviewed_on: FormText = "",
) -> Response:
    """Record a risk to supply: what fails, likelihood and impact, backups, recovery steps."""
    site = access.site
    assert site is not None
    typed = {
        "title": title,
        "what_fails": what_fails,
        "likelihood": likelihood,
        "impact": impact,
        "products": products,
        "suppliers": suppliers,
        "backup_strategy": backup_strategy,
        "backup_suppliers": backup_suppliers,
        "recovery_steps": recovery_steps,
        "recovery_target_hours": recovery_target_hours,
        "owner": owner,
        "reviewed_on": reviewed_on,
    }
    problems = nul_problems(typed)
    return _submit(
        request,
        access,
        db,
        store,
        form="scenario",
        typed=typed,
        problems=problems,
        store_it=lambda: add_scenario(
            db,
            site=site,
            title=title,
            what_fails=what_fails,
            likelihood=cast(Any, form_number(likelihood)),
            impact=cast(Any, form_number(impact)),
            products=form_lines(products),
            suppliers=form_lines(suppliers),
            backup_strategy=backup_strategy,
            backup_suppliers=form_lines(backup_suppliers),
            recovery_steps=form_lines(recovery_steps),
            recovery_target_hours=cast(Any, form_number(recovery_target_hours)),
            owner=owner,
            reviewed_on=cast(Any, form_day(reviewed_on)),
        ),
        done="scenario",
        anchor="scenarios",
    )


# ---------------------------------------------------------------------------- drills


def drill_plan(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    scenario: FormText = "",
    planned_on: FormText = "",
    supplier: FormText = "",
) -> Response:
    """Plan a drill of a scenario, with a supplier for a joint drill."""
    site = access.site
    assert site is not None
    typed = {"scenario": scenario, "planned_on": planned_on, "supplier": supplier}
    problems = nul_problems(typed)
    drilled: ContinuityScenario | None = None
    if "scenario" not in problems:
        if not scenario.strip():
            problems["scenario"] = "choose the scenario to drill"
        else:
            try:
                drilled = get_scenario(
                    db,
                    site=site,
                    scenario_id=find_id(scenario.strip(), what="scenario", site=site),
                )
            except NotFound as exc:
                problems["scenario"] = str(exc)

    def plan() -> object:
        assert drilled is not None
        try:
            return plan_drill(
                db,
                site=site,
                scenario=drilled,
                planned_on=cast(Any, form_day(planned_on)),
                supplier=supplier.strip() or None,
            )
        except Conflict as exc:  # the same scenario already planned that day
            raise InvalidProgramInput({"planned_on": str(exc)}) from exc

    return _submit(
        request,
        access,
        db,
        store,
        form="plan",
        typed=typed,
        problems=problems,
        store_it=plan,
        done="plan",
        anchor="drills",
        trial=drilled is not None,
    )


def _actions(
    titles: list[str] | None, owners: list[str] | None, dues: list[str] | None
) -> tuple[list[ActionInput], dict[str, str], dict[str, str]]:
    """The action rows someone filled in, in order (a row left empty is no action), what was
    typed, and which form row each of the service's action problems belongs to."""
    actions: list[ActionInput] = []
    typed: dict[str, str] = {}
    rows_of: dict[str, str] = {}
    columns = (titles or [], owners or [], dues or [])
    rows = max(len(c) for c in columns)
    for n in range(1, rows + 1):
        title, owner, due = (c[n - 1] if n <= len(c) else "" for c in columns)
        typed |= {f"action{n}_title": title, f"action{n}_owner": owner, f"action{n}_due_on": due}
        if title.strip() or owner.strip() or due.strip():
            actions.append(ActionInput(title, owner, cast(Any, form_day(due))))
            for part in ("title", "owner", "due_on"):
                rows_of[f"action{len(actions)}.{part}"] = f"action{n}_{part}"
    return actions, typed, rows_of


def drill_run(
    request: Request,
    code: str,
    drill_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    run_on: FormText = "",
    achieved_hours: FormText = "",
    lessons: FormText = "",
    action_title: FormList = None,
    action_owner: FormList = None,
    action_due_on: FormList = None,
) -> Response:
    """Record a drill run against its scenario's recovery-time target; the report is filed."""
    site = access.site
    assert site is not None
    drill = get_drill(db, site=site, drill_id=find_id(drill_id, what="drill", site=site))
    if drill.run_on is not None:
        raise Conflict(f"drill {drill.id} was run on {drill.run_on}; a drill is run once")
    actions, typed_actions, rows_of = _actions(action_title, action_owner, action_due_on)
    typed = {
        "run_on": run_on,
        "achieved_hours": achieved_hours,
        "lessons": lessons,
        **typed_actions,
    }
    problems = nul_problems(typed)
    day = form_day(run_on)
    return _submit(
        request,
        access,
        db,
        store,
        form=f"run-{drill.id}",
        typed=typed,
        problems=problems,
        store_it=lambda: record_drill_run(
            db,
            drill=drill,
            run_on=cast(Any, day),
            achieved_hours=cast(Any, form_number(achieved_hours)),
            lessons=lessons,
            actions=actions,
        ),
        done="run",
        anchor="drills",
        fields=rows_of,
        trial=False,
    )


# ---------------------------------------------------------------------------- suppliers


def drill_action_done(
    request: Request,
    code: str,
    action_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    done_on: FormText = "",
) -> Response:
    """Record an action from a drill's lessons as done; done already is refused on the page."""
    site = access.site
    assert site is not None
    action = get_drill_action(
        db, site=site, action_id=find_id(action_id, what="drill action", site=site)
    )
    typed = {"done_on": done_on}
    day = form_day(done_on)
    form = f"action-{action.id}"
    try:
        return _submit(
            request,
            access,
            db,
            store,
            form=form,
            typed=typed,
            problems=nul_problems(typed),
            store_it=lambda: complete_drill_action(db, action=action, done_on=cast(Any, day)),
            done="action",
            anchor="drills",
        )
    except Conflict as exc:  # its form is gone, so the refusal sits on the action's row
        return _page(
            request,
            db,
            access.who,
            site,
            store,
            form=form,
            values=typed,
            errors={form: str(exc)},
            status_code=409,
        )


def _agreement(site: Site, db: Session, agreement_id: str) -> SupplierAgreement:
    return get_agreement(
        db, site=site, agreement=find_id(agreement_id, what="supplier agreement", site=site)
    )


def _agreement_cycle(
    request: Request,
    access: Access,
    db: Session,
    store: EventStore,
    agreement_id: str,
    *,
    field: str,
    typed_day: str,
    prefix: str,
    stored: str,
    record: Callable[[SupplierAgreement, Any], object],
) -> Response:
    """Record a review or joint drill held with a supplier on a day; one form, two cycles."""
    site = access.site
    assert site is not None
    agreement = _agreement(site, db, agreement_id)
    typed = {field: typed_day}
    day = form_day(typed_day)
    return _submit(
        request,
        access,
        db,
        store,
        form=f"{prefix}-{agreement.id}",
        typed=typed,
        problems=nul_problems(typed),
        store_it=lambda: record(agreement, day),
        done=prefix,
        anchor="suppliers",
        fields={stored: field},
    )


def agreement_review(
    request: Request,
    code: str,
    agreement_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    reviewed_on: FormText = "",
) -> Response:
    """Record a periodic maturity review held with the supplier."""
    return _agreement_cycle(
        request,
        access,
        db,
        store,
        agreement_id,
        field="reviewed_on",
        typed_day=reviewed_on,
        prefix="review",
        stored="last_review_on",
        record=lambda agreement, day: record_review(db, agreement=agreement, reviewed_on=day),
    )


def agreement_joint_drill(
    request: Request,
    code: str,
    agreement_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    drilled_on: FormText = "",
) -> Response:
    """Record a joint drill held with the supplier."""
    return _agreement_cycle(
        request,
        access,
        db,
        store,
        agreement_id,
        field="drilled_on",
        typed_day=drilled_on,
        prefix="jointdrill",
        stored="last_drill_on",
        record=lambda agreement, day: record_joint_drill(db, agreement=agreement, drilled_on=day),
    )


def agreement_add(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    supplier: FormText = "",
    signed_on: FormText = "",
    expires_on: FormText = "",
    response_hours: FormText = "",
    data_format: FormText = "",
    participates_in_risk_reviews: FormText = "",
    review_every_months: FormText = "",
    drill_every_months: FormText = "",
    last_review_on: FormText = "",
    last_drill_on: FormText = "",
) -> Response:
    """Record a supplier quality agreement with its review and joint-drill cycles."""
    site = access.site
    assert site is not None
    typed = {
        "supplier": supplier,
        "signed_on": signed_on,
        "expires_on": expires_on,
        "response_hours": response_hours,
        "data_format": data_format,
        "participates_in_risk_reviews": participates_in_risk_reviews,
        "review_every_months": review_every_months,
        "drill_every_months": drill_every_months,
        "last_review_on": last_review_on,
        "last_drill_on": last_drill_on,
    }
    problems = nul_problems(typed)
    last_review, last_drill = form_day(last_review_on), form_day(last_drill_on)
    return _submit(
        request,
        access,
        db,
        store,
        form="agreement",
        typed=typed,
        problems=problems,
        store_it=lambda: add_agreement(
            db,
            site=site,
            supplier=supplier,
            signed_on=cast(Any, form_day(signed_on)),
            expires_on=cast(Any, form_day(expires_on)),
            response_hours=cast(Any, form_number(response_hours)),
            data_format=data_format,
            participates_in_risk_reviews=cast(Any, form_flag(participates_in_risk_reviews)),
            review_every_months=cast(Any, form_number(review_every_months)),
            drill_every_months=cast(Any, form_number(drill_every_months)),
            last_review_on=cast(Any, last_review),
            last_drill_on=cast(Any, last_drill),
        ),
        done="agreement",
        anchor="suppliers",
    )
