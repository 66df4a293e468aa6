"""Business continuity and supplier agreements in the web app: scenarios by risk, inventory
triggers with breaches, drills against their recovery-time target, agreements with what is
overdue; with program:manage, forms to record levels, drill runs, reviews and joint drills and
to add scenarios, triggers and agreements. Each view parses, calls the service, renders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import Conflict
from qmm.events.store import EventStore
from qmm.models import (
    Site,
    SupplierAgreement,
    utcnow,
)
from qmm.presentation.continuity import amount, continuity_view
from qmm.presentation.kpis import SMALL_N
from qmm.program.common import InvalidProgramInput
from qmm.program.continuity import (
    add_scenario,
    add_trigger,
    complete_drill_action,
    get_drill,
    get_drill_action,
    get_scenario,
    get_trigger,
    plan_drill,
    record_drill_run,
    record_level,
)
from qmm.program.steering import ActionInput
from qmm.program.suppliers import (
    add_agreement,
    get_agreement,
    record_joint_drill,
    record_review,
)
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import sentences
from qmm.web.forms import (
    Day,
    Handling,
    Lines,
    Number,
    ProgramForms,
    Rows,
    WebForm,
    YesNo,
    find_id,
    form_day,
    linked_record,
    submit,
)
from qmm.web.security import Principal, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: How many action rows the drill-run form offers.
ACTION_ROWS: Final = 3
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


@router.get("/sites/{code}/continuity")
def continuity_page(
    request: Request, code: str, access: SiteRead, db: DB, store: Store, done: str | None = None
) -> Response:
    """Where continuity stands: breaches, drills against target, suppliers overdue, scenarios."""
    assert access.site is not None
    return _page(request, db, access.who, access.site, store, done=done)


def _after(site: Site, done: str, anchor: str) -> str:
    return f"/sites/{site.code}/continuity?done={done}#{anchor}"


def _submit(
    page: Handling,
    form: WebForm,
    *,
    name: str,
    save: Callable[[dict[str, Any]], object],
    done: str,
    anchor: str,
    problems: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
    trial: bool = True,
) -> Response:
    """Submit one of the page's forms; on a problem the page shows again with it open, each
    problem next to its field (service keys mapped by `fields`). The service runs on trial when
    this boundary found a problem first, unless `trial` is off (a drill run writes a file)."""
    site = page.site

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        shown = {
            f"{name}-{(fields or {}).get(k, k.replace('.', '_'))}": v for k, v in errors.items()
        }
        return _page(
            page.request,
            page.db,
            page.who,
            site,
            page.store,
            form=name,
            values=values,
            errors=shown,
            status_code=422,
        )

    return submit(
        form,
        store=save,
        then=lambda _: _after(site, done, anchor),
        again=again,
        problems=problems,
        trial=page.db if trial else None,
    )


class LevelForm(WebForm):
    """A counted inventory level."""

    level: Number = ""
    recorded_on: Day = ""


class TriggerForm(WebForm):
    """A minimum-inventory trigger, optionally with the scenario it guards and a current level."""

    material: str = ""
    unit: str = ""
    minimum_level: Number = ""
    scenario: str = ""
    current_level: Number = ""
    recorded_on: Day = ""


class ScenarioForm(WebForm):
    """A risk to supply: what fails, likelihood and impact, backups and recovery."""

    title: str = ""
    what_fails: str = ""
    likelihood: Number = ""
    impact: Number = ""
    products: Lines = ""
    suppliers: Lines = ""
    backup_strategy: str = ""
    backup_suppliers: Lines = ""
    recovery_steps: Lines = ""
    recovery_target_hours: Number = ""
    owner: str = ""
    reviewed_on: Day = ""


class DrillPlanForm(WebForm):
    """A drill planned of a scenario, with a supplier for a joint drill."""

    scenario: str = ""
    planned_on: Day = ""
    supplier: str = ""


class DrillRunForm(WebForm):
    """A drill run: the day, the hours achieved, lessons, and rows of follow-up actions."""

    run_on: Day = ""
    achieved_hours: Number = ""
    lessons: str = ""
    action_title: Rows
    action_owner: Rows
    action_due_on: Rows

    def typed(self) -> dict[str, Any]:
        """The action rows are shown again one field per row."""
        return {
            "run_on": self.run_on,
            "achieved_hours": self.achieved_hours,
            "lessons": self.lessons,
            **_actions(self.action_title, self.action_owner, self.action_due_on)[1],
        }


class ActionDoneForm(WebForm):
    """The day a drill's follow-up action was done."""

    done_on: Day = ""


class ReviewForm(WebForm):
    """The day a periodic review was held with a supplier."""

    reviewed_on: Day = ""


class JointDrillForm(WebForm):
    """The day a joint drill was held with a supplier."""

    drilled_on: Day = ""


class AgreementForm(WebForm):
    """A supplier quality agreement with its review and joint-drill cycles."""

    supplier: str = ""
    signed_on: Day = ""
    expires_on: Day = ""
    response_hours: Number = ""
    data_format: str = ""
    participates_in_risk_reviews: YesNo = ""
    review_every_months: Number = ""
    drill_every_months: Number = ""
    last_review_on: Day = ""
    last_drill_on: Day = ""


# ---------------------------------------------------------------------------- inventory


@router.post("/sites/{code}/continuity/triggers/{trigger_id}/levels")
def level_record(
    code: str,
    trigger_id: str,
    page: ProgramForms,
    form: Annotated[LevelForm, Form()],
) -> Response:
    """Record a counted inventory level for one of the site's triggers."""
    site = page.site
    trigger = get_trigger(
        page.db, site=site, trigger=find_id(trigger_id, what="inventory trigger", site=site)
    )
    return _submit(
        page,
        form,
        name=f"level-{trigger.id}",
        save=lambda fields: record_level(page.db, trigger=trigger, **fields),
        done="level",
        anchor="triggers",
    )


@router.post("/sites/{code}/continuity/triggers")
def trigger_add(
    code: str,
    page: ProgramForms,
    form: Annotated[TriggerForm, Form()],
) -> Response:
    """Set a minimum-inventory trigger for a material, optionally with its current level."""
    site = page.site
    problems: dict[str, str] = {}
    guarded = linked_record(
        form,
        "scenario",
        problems,
        what="scenario",
        site=site,
        get=lambda found: get_scenario(page.db, site=site, scenario_id=found),
    )
    return _submit(
        page,
        form,
        name="trigger",
        save=lambda fields: add_trigger(page.db, site=site, **{**fields, "scenario": guarded}),
        done="trigger",
        anchor="triggers",
        problems=problems,
    )


# ---------------------------------------------------------------------------- scenarios


@router.post("/sites/{code}/continuity/scenarios")
def scenario_add(
    code: str,
    page: ProgramForms,
    form: Annotated[ScenarioForm, Form()],
) -> Response:
    """Record a risk to supply: what fails, likelihood and impact, backups, recovery steps."""
    site = page.site
    return _submit(
        page,
        form,
        name="scenario",
        save=lambda fields: add_scenario(page.db, site=site, **fields),
        done="scenario",
        anchor="scenarios",
    )


# ---------------------------------------------------------------------------- drills


@router.post("/sites/{code}/continuity/drills")
def drill_plan(
    code: str,
    page: ProgramForms,
    form: Annotated[DrillPlanForm, Form()],
) -> Response:
    """Plan a drill of a scenario, with a supplier for a joint drill."""
    site = page.site
    problems: dict[str, str] = {}
    drilled = linked_record(
        form,
        "scenario",
        problems,
        what="scenario",
        site=site,
        get=lambda found: get_scenario(page.db, site=site, scenario_id=found),
        required="choose the scenario to drill",
    )

    def plan(fields: dict[str, Any]) -> object:
        assert drilled is not None
        try:
            return plan_drill(
                page.db,
                site=site,
                scenario=drilled,
                planned_on=fields["planned_on"],
                supplier=fields["supplier"].strip() or None,
            )
        except Conflict as exc:  # the same scenario already planned that day
            raise InvalidProgramInput({"planned_on": str(exc)}) from exc

    return _submit(
        page,
        form,
        name="plan",
        save=plan,
        done="plan",
        anchor="drills",
        problems=problems,
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


@router.post("/sites/{code}/continuity/drills/{drill_id}/run")
def drill_run(
    code: str,
    drill_id: str,
    page: ProgramForms,
    form: Annotated[DrillRunForm, Form()],
) -> Response:
    """Record a drill run against its scenario's recovery-time target; the report is filed."""
    site = page.site
    drill = get_drill(page.db, site=site, drill_id=find_id(drill_id, what="drill", site=site))
    if drill.run_on is not None:
        raise Conflict(f"drill {drill.id} was run on {drill.run_on}; a drill is run once")
    actions, _typed, rows_of = _actions(form.action_title, form.action_owner, form.action_due_on)
    return _submit(
        page,
        form,
        name=f"run-{drill.id}",
        save=lambda fields: record_drill_run(
            page.db,
            drill=drill,
            run_on=fields["run_on"],
            achieved_hours=fields["achieved_hours"],
            lessons=fields["lessons"],
            actions=actions,
        ),
        done="run",
        anchor="drills",
        fields=rows_of,
        trial=False,
    )


# ---------------------------------------------------------------------------- suppliers


@router.post("/sites/{code}/continuity/actions/{action_id}/done")
def drill_action_done(
    code: str,
    action_id: str,
    page: ProgramForms,
    form: Annotated[ActionDoneForm, Form()],
) -> Response:
    """Record an action from a drill's lessons as done; done already is refused on the page."""
    site = page.site
    action = get_drill_action(
        page.db, site=site, action_id=find_id(action_id, what="drill action", site=site)
    )
    name = f"action-{action.id}"
    try:
        return _submit(
            page,
            form,
            name=name,
            save=lambda fields: complete_drill_action(page.db, action=action, **fields),
            done="action",
            anchor="drills",
        )
    except Conflict as exc:  # its form is gone, so the refusal sits on the action's row
        return _page(
            page.request,
            page.db,
            page.who,
            site,
            page.store,
            form=name,
            values=form.typed(),
            errors={name: str(exc)},
            status_code=409,
        )


def _agreement(page: Handling, agreement_id: str) -> SupplierAgreement:
    return get_agreement(
        page.db,
        site=page.site,
        agreement=find_id(agreement_id, what="supplier agreement", site=page.site),
    )


def _agreement_cycle(
    page: Handling,
    agreement_id: str,
    form: WebForm,
    *,
    prefix: str,
    stored: str,
    record: Callable[[SupplierAgreement, dict[str, Any]], object],
) -> Response:
    """Record a review or joint drill held with a supplier on a day; one form, two cycles."""
    agreement = _agreement(page, agreement_id)
    [field] = type(form).model_fields
    return _submit(
        page,
        form,
        name=f"{prefix}-{agreement.id}",
        save=lambda fields: record(agreement, fields),
        done=prefix,
        anchor="suppliers",
        fields={stored: field},
    )


@router.post("/sites/{code}/continuity/agreements/{agreement_id}/review")
def agreement_review(
    code: str,
    agreement_id: str,
    page: ProgramForms,
    form: Annotated[ReviewForm, Form()],
) -> Response:
    """Record a periodic maturity review held with the supplier."""
    return _agreement_cycle(
        page,
        agreement_id,
        form,
        prefix="review",
        stored="last_review_on",
        record=lambda agreement, fields: record_review(page.db, agreement=agreement, **fields),
    )


@router.post("/sites/{code}/continuity/agreements/{agreement_id}/drill")
def agreement_joint_drill(
    code: str,
    agreement_id: str,
    page: ProgramForms,
    form: Annotated[JointDrillForm, Form()],
) -> Response:
    """Record a joint drill held with the supplier."""
    return _agreement_cycle(
        page,
        agreement_id,
        form,
        prefix="jointdrill",
        stored="last_drill_on",
        record=lambda agreement, fields: record_joint_drill(page.db, agreement=agreement, **fields),
    )


@router.post("/sites/{code}/continuity/agreements")
def agreement_add(
    code: str,
    page: ProgramForms,
    form: Annotated[AgreementForm, Form()],
) -> Response:
    """Record a supplier quality agreement with its review and joint-drill cycles."""
    site = page.site
    return _submit(
        page,
        form,
        name="agreement",
        save=lambda fields: add_agreement(page.db, site=site, **fields),
        done="agreement",
        anchor="suppliers",
    )
