"""Mock interviews, FDA's feedback and the calibration gap in the JSON API: the same shapes as
`qmm week mock|feedback|calibration --format json`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment_week.feedback import (
    FindingIn,
    calibration_of,
    get_feedback,
    plan_from_feedback,
    record_feedback,
    site_calibration,
    workspace_calibration,
)
from qmm.assessment_week.feedback_schemas import (
    CalibrationOut,
    FeedbackIn,
    FeedbackOut,
    FollowUpToPlanIn,
    MockAnswerIn,
    MockGapsOut,
    MockInterviewIn,
    MockInterviewOut,
    PlanFromFeedbackIn,
    WorkspaceCalibrationOut,
)
from qmm.assessment_week.mock import (
    get_mock_interview,
    list_mock_interviews,
    mock_gaps,
    plan_follow_up,
    record_mock_answer,
    start_mock_interview,
)
from qmm.assessment_week.service import get_fda_assessment
from qmm.auth.permissions import Permission
from qmm.errors import Forbidden, InvalidFields, NotFound
from qmm.models import FdaAssessment, MockInterview, utcnow
from qmm.program.schemas.plans import PlanSummaryOut
from qmm.record_ids import parse_record_id
from qmm.web.api_schemas import NOTHING_STORED, ProblemsOut
from qmm.web.deps import DB, Store
from qmm.web.security import Access, Principal, SiteRead, readable_sites, require

router = APIRouter(tags=["api"])
Out = TypeVar("Out", bound=BaseModel)

#: The route guard: the permission held at one site at least; the FDA assessment's own site is
#: checked in `visit_for` once the number is read (an unreadable site's is simply not found).
AnySiteRead = Annotated[Access, Depends(require(Permission.site_read, any_site=True))]
AnySiteManage = Annotated[Access, Depends(require(Permission.program_manage, any_site=True))]


def visit_for(db: Session, who: Principal, number: str, permission: Permission) -> FdaAssessment:
    """The FDA assessment a URL names, once the person may read its site and do this there."""
    found = parse_record_id(number)
    missing = NotFound(f"no FDA assessment {number!r}; `qmm week list` shows them")
    if found is None:
        raise missing
    try:
        visit = get_fda_assessment(db, fda_assessment_id=found)
    except NotFound:
        raise missing from None
    if not who.may(db, Permission.site_read, site=visit.site):
        raise missing  # no word of its existence
    if not who.may(db, permission, site=visit.site):
        raise Forbidden(
            f"{who.user.username} has no {permission.value} permission at {visit.site.code}"
        )
    return visit


def _stored(call: Callable[[], Out], *, status: int = 201) -> Response:
    """Store through a service; its problems by field come back as 422 with nothing stored."""
    try:
        out = call()
    except InvalidFields as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(out.model_dump(mode="json"), status_code=status)


@router.get(
    "/api/fda-assessments/{fda_assessment_id}/mock-interviews",
    response_model=list[MockInterviewOut],
)
def api_mock_interviews(
    fda_assessment_id: str, access: AnySiteRead, db: DB
) -> list[MockInterviewOut]:
    """The FDA assessment's mock interviews, the latest first, with their scored questions."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return [MockInterviewOut.of(i) for i in list_mock_interviews(db, fda_assessment=visit)]


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/mock-interviews",
    status_code=201,
    response_model=MockInterviewOut,
    responses=NOTHING_STORED,
)
def api_start_mock(
    fda_assessment_id: str, body: MockInterviewIn, access: AnySiteManage, db: DB
) -> Response:
    """Open a mock interview of one practice area of the chosen self-assessment's framework."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    return _stored(
        lambda: MockInterviewOut.of(
            start_mock_interview(
                db,
                fda_assessment=visit,
                practice_area=body.practice_area,
                assessor=body.assessor,
                held_on=body.held_on,
                session_label=body.session_label,
            )
        )
    )


@router.get("/api/fda-assessments/{fda_assessment_id}/mock-gaps", response_model=MockGapsOut)
def api_mock_gaps(fda_assessment_id: str, access: AnySiteRead, db: DB) -> MockGapsOut:
    """Where the mock scores fall below the self-assessment, per question and sub-element."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return MockGapsOut.of(mock_gaps(db, fda_assessment=visit, reader=access.who))


@router.get(
    "/api/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}",
    response_model=MockInterviewOut,
)
def api_mock_interview(
    fda_assessment_id: str, mock_id: str, access: AnySiteRead, db: DB
) -> MockInterviewOut:
    """One mock interview with its scored questions."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return MockInterviewOut.of(mock_for(db, visit, mock_id))


def mock_for(db: Session, visit: FdaAssessment, mock_id: str) -> MockInterview:
    """A mock interview of the FDA assessment by its number in a URL; anything else not found."""
    found = parse_record_id(mock_id)
    if found is None:
        raise NotFound(f"FDA assessment {visit.id} has no mock interview {mock_id!r}")
    return get_mock_interview(db, fda_assessment=visit, mock_id=found)


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/answers",
    status_code=200,
    response_model=MockInterviewOut,
    responses=NOTHING_STORED,
)
def api_score_question(
    fda_assessment_id: str, mock_id: str, body: MockAnswerIn, access: AnySiteManage, db: DB
) -> Response:
    """Score one question 1-5 with notes and any follow-up; scoring it again replaces it."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    interview = mock_for(db, visit, mock_id)

    def store() -> MockInterviewOut:
        record_mock_answer(
            db,
            interview=interview,
            question_code=body.question,
            score=body.score,
            notes=body.notes,
            follow_up=body.follow_up,
        )
        return MockInterviewOut.of(interview)

    return _stored(store, status=200)


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/follow-ups",
    status_code=201,
    response_model=MockInterviewOut,
)
def api_follow_up_to_plan(
    fda_assessment_id: str, mock_id: str, body: FollowUpToPlanIn, access: AnySiteManage, db: DB
) -> Response:
    """Make a scored question's follow-up an action of a draft plan of the site (409 when it
    has none, is planned already, or the plan is approved)."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    interview = mock_for(db, visit, mock_id)
    plan_follow_up(
        db, interview=interview, question_code=body.question, plan_ref=body.plan, reader=access.who
    )
    return JSONResponse(MockInterviewOut.of(interview).model_dump(mode="json"), status_code=201)


@router.get("/api/fda-assessments/{fda_assessment_id}/feedback", response_model=FeedbackOut)
def api_feedback(fda_assessment_id: str, access: AnySiteRead, db: DB) -> FeedbackOut:
    """What FDA returned: scores, observations, strengths, opportunities, the document's ref."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return FeedbackOut.of(get_feedback(db, fda_assessment=visit))


@router.put(
    "/api/fda-assessments/{fda_assessment_id}/feedback",
    status_code=200,
    response_model=FeedbackOut,
    responses=NOTHING_STORED,
)
def api_record_feedback(
    fda_assessment_id: str, body: FeedbackIn, access: AnySiteManage, db: DB
) -> Response:
    """Record FDA's feedback (again: replaces it); the document is an evidence item's ref."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    return _stored(
        lambda: FeedbackOut.of(
            record_feedback(
                db,
                fda_assessment=visit,
                received_on=body.received_on,
                area_scores=body.area_scores,
                findings=[FindingIn(f.kind, f.practice_area, f.text) for f in body.findings],
                summary=body.summary,
                evidence_ref=body.evidence_ref,
            )
        ),
        status=200,
    )


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/feedback/plan",
    status_code=201,
    response_model=PlanSummaryOut,
    responses=NOTHING_STORED,
)
def api_plan_from_feedback(
    fda_assessment_id: str, body: PlanFromFeedbackIn, access: AnySiteManage, db: DB, store: Store
) -> Response:
    """Draft the next 90-day plan with actions for FDA's gaps and opportunities."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    return _stored(
        lambda: PlanSummaryOut.of(
            plan_from_feedback(
                db,
                fda_assessment=visit,
                reader=access.who,
                owner=body.owner,
                start_on=body.start_on,
                store=store,
                supersede=body.supersede,
            ),
            today=utcnow().date(),
        )
    )


@router.get("/api/fda-assessments/{fda_assessment_id}/calibration", response_model=CalibrationOut)
def api_calibration(fda_assessment_id: str, access: AnySiteRead, db: DB) -> CalibrationOut:
    """Self minus FDA per practice area for this FDA assessment."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    found = calibration_of(db, fda_assessment=visit, reader=access.who)
    if found is None:
        get_feedback(db, fda_assessment=visit)  # the NotFound saying how to record it
    assert found is not None
    return CalibrationOut.of(found)


@router.get("/api/sites/{code}/calibration", response_model=list[CalibrationOut])
def api_site_calibration(code: str, access: SiteRead, db: DB) -> list[CalibrationOut]:
    """The site's history: every FDA assessment with feedback, the oldest first."""
    assert access.site is not None
    return [CalibrationOut.of(c) for c in site_calibration(db, site=access.site, reader=access.who)]


@router.get("/api/calibration", response_model=WorkspaceCalibrationOut)
def api_workspace_calibration(access: AnySiteRead, db: DB) -> WorkspaceCalibrationOut:
    """Across the sites the caller reads: each one's latest gap per practice area, and the mean."""
    return WorkspaceCalibrationOut.of(
        workspace_calibration(db, reader=access.who, sites=readable_sites(db, access.who))
    )
