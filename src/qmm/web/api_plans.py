"""The 90-day readiness plan in the JSON API: a site's plans, one plan with its progress, and
tracking an approved plan's actions (done, reopened). Generating and approving stay in the web
app and the CLI, where the signer types the password again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from starlette.responses import Response

from qmm.models import Site, utcnow
from qmm.program.common import InvalidProgramInput
from qmm.program.plan import complete_action, get_action, readable_plans, reopen_action
from qmm.program.schemas.plans import (
    ActionDoneIn,
    ActionReopenIn,
    PlanActionOut,
    PlanOut,
    PlanSummaryOut,
)
from qmm.web.api_schemas import NOTHING_CHANGED, ProblemsOut
from qmm.web.deps import DB, Store
from qmm.web.plan_pages import find_plan
from qmm.web.security import Principal, ProgramManage, SignedIn, SiteRead, readable_sites
from qmm.worklist.schemas import WorklistOut
from qmm.worklist.service import worklist

router = APIRouter(tags=["api"])

#: Plans have tens of actions; a larger number names none and must not reach the database.
ActionNumber = Annotated[int, Path(ge=1, le=10_000, description="The action's number in the plan.")]


@router.get("/api/sites/{code}/plans", response_model=list[PlanSummaryOut])
def api_list_plans(code: str, access: SiteRead, db: DB) -> list[PlanSummaryOut]:
    """The site's readiness plans, newest first, with day N of 90 and actions done."""
    site = access.site
    assert site is not None
    today = utcnow().date()
    return [
        PlanSummaryOut.of(p, today=today) for p in readable_plans(db, reader=access.who, site=site)
    ]


@router.get("/api/sites/{code}/plans/{ref}", response_model=PlanOut)
def api_get_plan(code: str, ref: str, access: SiteRead, db: DB) -> PlanOut:
    """One plan by its ref (PLAN-0001): actions, baseline, checked signatures, progress today."""
    site = access.site
    assert site is not None
    return PlanOut.of(db, find_plan(db, access.who, site, ref), today=utcnow().date())


def worklist_of(db: DB, principal: Principal, sites: list[Site], store: Store) -> WorklistOut:
    """The signed-in person's worklist at these sites, today (pages and API alike)."""
    return WorklistOut.of(
        worklist(
            db,
            reader=principal,
            sites=sites,
            store=store,
            today=utcnow().date(),
            username=principal.user.username,
            threads_may_lag=True,
        )
    )


@router.get("/api/worklist", response_model=WorklistOut)
def api_worklist(access: SignedIn, db: DB, store: Store) -> WorklistOut:
    """Needs attention at every site the caller reads: overdue first, with owners and links."""
    return worklist_of(db, access.who, readable_sites(db, access.who), store)


@router.get("/api/sites/{code}/worklist", response_model=WorklistOut)
def api_site_worklist(code: str, access: SiteRead, db: DB, store: Store) -> WorklistOut:
    """Needs attention at one site: the same shape as `qmm worklist --site CODE --format json`."""
    site = access.site
    assert site is not None
    return worklist_of(db, access.who, [site], store)


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
    return JSONResponse(PlanActionOut.of(action, today=utcnow().date()).model_dump(mode="json"))


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
    return JSONResponse(PlanActionOut.of(action, today=utcnow().date()).model_dump(mode="json"))
