"""Business continuity and supplier agreements in the JSON API: what the continuity page shows,
for scripts and other systems, and recording a counted inventory level."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.responses import Response

from qmm.models import utcnow
from qmm.program.common import InvalidProgramInput
from qmm.program.continuity import get_trigger, record_level
from qmm.program.schemas.continuity import ContinuityOut, LevelIn, TriggerOut
from qmm.program.schemas.suppliers import AgreementOut
from qmm.program.suppliers import list_agreements, supplier_status
from qmm.web.api_schemas import NOTHING_STORED, ProblemsOut
from qmm.web.deps import DB, Store
from qmm.web.forms import find_id
from qmm.web.security import ProgramManage, SiteRead

router = APIRouter(tags=["api"])


@router.get("/api/sites/{code}/continuity", response_model=ContinuityOut)
def api_continuity(code: str, access: SiteRead, db: DB) -> ContinuityOut:
    """Scenarios by risk, triggers with breaches, drills with their actions, open or done."""
    site = access.site
    assert site is not None
    return ContinuityOut.of(db, site, today=utcnow().date())


@router.get("/api/sites/{code}/suppliers", response_model=list[AgreementOut])
def api_suppliers(code: str, access: SiteRead, db: DB, store: Store) -> list[AgreementOut]:
    """The site's supplier agreements with what is due, overdue and the SCAR timeliness."""
    site = access.site
    assert site is not None
    today = utcnow().date()
    return [
        AgreementOut.of(a, supplier_status(db, agreement=a, today=today, store=store))
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
    return JSONResponse(TriggerOut.of(trigger).model_dump(mode="json"), status_code=201)
