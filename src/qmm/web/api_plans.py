"""The 90-day readiness plan in the JSON API: a site's plans, one plan with its progress, and
tracking an approved plan's actions (done, reopened). Generating and approving stay in the web
app and the CLI, where the signer types the password again."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from qmm.models import PlanAction, utcnow
from qmm.program.common import InvalidProgramInput
from qmm.program.plan import (
    DAYS,
    action_to_json,
    complete_action,
    end_on,
    get_action,
    is_overdue,
    plan_day,
    plan_progress,
    plan_to_json,
    readable_plans,
    reopen_action,
)
from qmm.web.api_schemas import NOTHING_CHANGED, ProblemsOut
from qmm.web.deps import DB
from qmm.web.plan_pages import find_plan
from qmm.web.security import ProgramManage, SiteRead

router = APIRouter(tags=["api"])

#: Plans have tens of actions; a larger number names none and must not reach the database.
ActionNumber = Annotated[int, Path(ge=1, le=10_000, description="The action's number in the plan.")]
PlanStatus = Literal["draft", "approved", "superseded"]


class PlanSummaryOut(BaseModel):
    """A plan as a site's list shows it: where it stands today."""

    ref: str
    status: PlanStatus
    owner: str
    assessment: int
    generated_on: date
    start_on: date
    end_on: date
    day: int
    of: int
    done: int
    total: int
    path: str


class PlanActionOut(BaseModel):
    """One action: what, which workstream, who, by which day, why, and whether it is done."""

    number: int
    title: str
    workstream: str
    owner: str
    due_day: int
    due_on: date
    sub_element: str | None
    evidence: str
    evidence_kind: str
    source: str
    source_detail: str
    status: Literal["open", "done"]
    done_on: date | None
    note: str | None
    overdue: bool


class WorkstreamProgressOut(BaseModel):
    workstream: str
    name: str
    done: int
    open: int
    overdue: int


class PlanProgressOut(BaseModel):
    """Day N of 90 and, per workstream, the actions done, open and overdue."""

    today: date
    day: int
    of: int
    start_on: date
    end_on: date
    done: int
    total: int
    workstreams: list[WorkstreamProgressOut]
    overdue_actions: list[int]


class PlanSignatureOut(BaseModel):
    """A signature, checked against the plan as planned now (`valid`)."""

    id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: str
    record_hash: str
    valid: bool


class PlanOut(BaseModel):
    """A plan with its actions, baseline, signatures and progress today."""

    site: str
    ref: str
    status: PlanStatus
    assessment: int
    generated_on: date
    start_on: date
    end_on: date
    owner: str
    approved_at: str | None
    supersedes: str | None
    created_by: str
    baseline: dict[str, float]
    actions: list[PlanActionOut]
    signatures: list[PlanSignatureOut]
    progress: PlanProgressOut


class ActionDoneIn(BaseModel):
    """When the action was done (not in the future) and, optionally, what was done."""

    model_config = ConfigDict(extra="forbid")

    done_on: date
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def no_nul(cls, value: str | None) -> str | None:
        """NUL characters fit in no database column; refuse them by field."""
        if value is not None and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class ActionReopenIn(BaseModel):
    """Why a done action is open again (optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def no_nul(cls, value: str | None) -> str | None:
        """NUL characters fit in no database column; refuse them by field."""
        if value is not None and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


def _action_out(action: PlanAction, today: date) -> PlanActionOut:
    return PlanActionOut.model_validate(
        {**action_to_json(action), "overdue": is_overdue(action, today)}
    )


@router.get("/api/sites/{code}/plans", response_model=list[PlanSummaryOut])
def api_list_plans(code: str, access: SiteRead, db: DB) -> list[PlanSummaryOut]:
    """The site's readiness plans, newest first, with day N of 90 and actions done."""
    site = access.site
    assert site is not None
    today = utcnow().date()
    return [
        PlanSummaryOut(
            ref=p.ref,
            status=p.status,
            owner=p.owner,
            assessment=p.assessment_id,
            generated_on=p.generated_on,
            start_on=p.start_on,
            end_on=end_on(p),
            day=plan_day(p, today),
            of=DAYS,
            done=sum(1 for a in p.actions if a.status == "done"),
            total=len(p.actions),
            path=f"/sites/{site.code}/plans/{p.ref}",
        )
        for p in readable_plans(db, reader=access.who, site=site)
    ]


@router.get("/api/sites/{code}/plans/{ref}", response_model=PlanOut)
def api_get_plan(code: str, ref: str, access: SiteRead, db: DB) -> PlanOut:
    """One plan by its ref (PLAN-0001): actions, baseline, checked signatures, progress today."""
    site = access.site
    assert site is not None
    plan = find_plan(db, access.who, site, ref)
    today = utcnow().date()
    progress = plan_progress(db, plan=plan, today=today)
    data: dict[str, Any] = plan_to_json(db, plan)
    data["actions"] = [_action_out(a, today) for a in plan.actions]
    data["progress"] = {
        **{k: v for k, v in progress.to_json().items() if k not in {"plan", "status"}},
        "overdue_actions": [a.number for a in progress.overdue_actions],
    }
    return PlanOut.model_validate(data)


def _refused(exc: InvalidProgramInput) -> Response:
    refused = ProblemsOut(detail=str(exc), problems=exc.problems)
    return JSONResponse(refused.model_dump(), status_code=422)


@router.post(
    "/api/sites/{code}/plans/{ref}/actions/{number}/complete",
    response_model=PlanActionOut,
    responses=NOTHING_CHANGED,
)
def api_complete_action(
    code: str, ref: str, number: ActionNumber, body: ActionDoneIn, access: ProgramManage, db: DB
) -> Response:
    """Mark an approved plan's action done; 409 for a draft or an action done already."""
    site = access.site
    assert site is not None
    action = get_action(db, plan=find_plan(db, access.who, site, ref), number=number)
    try:
        complete_action(db, action=action, done_on=body.done_on, note=body.note)
    except InvalidProgramInput as exc:
        return _refused(exc)
    return JSONResponse(_action_out(action, utcnow().date()).model_dump(mode="json"))


@router.post(
    "/api/sites/{code}/plans/{ref}/actions/{number}/reopen",
    response_model=PlanActionOut,
    responses=NOTHING_CHANGED,
)
def api_reopen_action(
    code: str, ref: str, number: ActionNumber, body: ActionReopenIn, access: ProgramManage, db: DB
) -> Response:
    """Open a done action again; 409 when it is not done."""
    site = access.site
    assert site is not None
    action = get_action(db, plan=find_plan(db, access.who, site, ref), number=number)
    try:
        reopen_action(db, action=action, note=body.note)
    except InvalidProgramInput as exc:
        return _refused(exc)
    return JSONResponse(_action_out(action, utcnow().date()).model_dump(mode="json"))
