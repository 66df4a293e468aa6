"""Business continuity and supplier agreements in the JSON API: what the continuity page shows,
for scripts and other systems, and recording a counted inventory level."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from qmm.models import utcnow
from qmm.program.common import InvalidProgramInput
from qmm.program.continuity import (
    action_to_json,
    drill_actions,
    drill_to_json,
    get_trigger,
    list_drills,
    list_scenarios,
    list_triggers,
    record_level,
    scenario_to_json,
    trigger_to_json,
)
from qmm.program.suppliers import agreement_to_json, list_agreements, supplier_status
from qmm.web.api_schemas import NOTHING_STORED, ProblemsOut
from qmm.web.deps import DB, Store
from qmm.web.forms import find_id
from qmm.web.security import ProgramManage, SiteRead

router = APIRouter(tags=["api"])


class ScenarioOut(BaseModel):
    """A risk to supply: risk is likelihood x impact (1 to 25)."""

    id: int
    title: str
    what_fails: str
    likelihood: int
    impact: int
    risk: int
    products: list[str]
    suppliers: list[str]
    backup_strategy: str
    backup_suppliers: list[str]
    recovery_steps: list[str]
    recovery_target_hours: float
    owner: str
    reviewed_on: date


class InventoryLevelOut(BaseModel):
    level: float
    recorded_on: date
    recorded_by: str


class TriggerOut(BaseModel):
    """A minimum-inventory trigger: breached when the current level is below the minimum."""

    id: int
    material: str
    unit: str
    minimum_level: float
    current_level: float | None
    level_recorded_on: date | None
    state: Literal["breached", "ok", "no_level"]
    breached: bool
    shortfall: float | None
    scenario: int | None
    levels: list[InventoryLevelOut]


class DrillActionOut(BaseModel):
    """An action from a drill's lessons; overdue when open past its due date."""

    id: int
    drill: int
    title: str
    owner: str
    due_on: date
    done_on: date | None
    overdue: bool


class DrillOut(BaseModel):
    """A drill, planned or run, with the recovery time achieved against its target."""

    id: int
    scenario: int
    scenario_title: str
    supplier: str | None
    planned_on: date
    run_on: date | None
    achieved_hours: float | None
    target_hours: float
    met: bool | None
    state: Literal["planned", "overdue", "met", "missed"]
    lessons: str | None
    actions: list[DrillActionOut]
    evidence_item: str | None


class ContinuityOut(BaseModel):
    """Where a site's business continuity stands on a day."""

    site: str
    today: date
    breaches: int
    scenarios: list[ScenarioOut]
    triggers: list[TriggerOut]
    drills: list[DrillOut]
    actions: list[DrillActionOut]


class ScarOut(BaseModel):
    """SCARs closed on time: the ratio with its numerator and denominator."""

    value: float | None
    numerator: int
    denominator: int
    period: str | None
    open_overdue: int | None


class AgreementStatusOut(BaseModel):
    """What is due or overdue on an agreement today, and the SCAR timeliness."""

    today: date
    next_review_on: date
    review_overdue: bool
    next_drill_on: date
    drill_overdue: bool
    expired: bool
    expiring_soon: bool
    overdue: bool
    scar_target: float | None
    site_scar_on_time: ScarOut | None
    supplier_scar_on_time: ScarOut | None
    supplier_scar_below_target: bool


class AgreementOut(BaseModel):
    """A supplier quality agreement: its commitments, cycles and status."""

    id: int
    supplier: str
    signed_on: date
    expires_on: date | None
    response_hours: float
    data_format: str
    participates_in_risk_reviews: bool
    review_every_months: int
    last_review_on: date | None
    next_review_on: date
    drill_every_months: int
    last_drill_on: date | None
    next_drill_on: date
    status: AgreementStatusOut


class LevelIn(BaseModel):
    """A counted inventory level and the day it was counted (not after today)."""

    model_config = ConfigDict(extra="forbid")

    level: float
    recorded_on: date


@router.get("/api/sites/{code}/continuity", response_model=ContinuityOut)
def api_continuity(code: str, access: SiteRead, db: DB) -> ContinuityOut:
    """Scenarios by risk, triggers with breaches, drills with their actions, open or done."""
    site = access.site
    assert site is not None
    today = utcnow().date()
    triggers = [
        TriggerOut.model_validate(trigger_to_json(t, history=True))
        for t in list_triggers(db, site=site)
    ]
    return ContinuityOut(
        site=site.code,
        today=today,
        breaches=sum(t.breached for t in triggers),
        scenarios=[
            ScenarioOut.model_validate(scenario_to_json(s)) for s in list_scenarios(db, site=site)
        ],
        triggers=triggers,
        drills=[
            DrillOut.model_validate(drill_to_json(db, d, today=today))
            for d in list_drills(db, site=site)
        ],
        actions=[
            DrillActionOut.model_validate(action_to_json(a, today=today))
            for a in drill_actions(db, site=site)
        ],
    )


@router.get("/api/sites/{code}/suppliers", response_model=list[AgreementOut])
def api_suppliers(code: str, access: SiteRead, db: DB, store: Store) -> list[AgreementOut]:
    """The site's supplier agreements with what is due, overdue and the SCAR timeliness."""
    site = access.site
    assert site is not None
    today = utcnow().date()
    return [
        AgreementOut.model_validate(
            agreement_to_json(a, supplier_status(db, agreement=a, today=today, store=store))
        )
        for a in list_agreements(db, site=site)
    ]


@router.post(
    "/api/sites/{code}/continuity/triggers/{trigger_id}/levels",
    status_code=201,
    response_model=TriggerOut,
    responses=NOTHING_STORED,
)
def api_record_level(
    code: str, trigger_id: str, body: LevelIn, access: ProgramManage, db: DB
) -> Response:
    """Record a counted inventory level; the newest by date is the trigger's current one."""
    site = access.site
    assert site is not None
    trigger = get_trigger(
        db, site=site, trigger=find_id(trigger_id, what="inventory trigger", site=site)
    )
    try:
        record_level(db, trigger=trigger, level=body.level, recorded_on=body.recorded_on)
    except InvalidProgramInput as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    data: dict[str, Any] = trigger_to_json(trigger, history=True)
    return JSONResponse(TriggerOut.model_validate(data).model_dump(mode="json"), status_code=201)
