"""Mock interviews, FDA's feedback and the calibration gap in the web app: each view reads the
FDA assessment's site from its number, calls the week's services and renders; the request
commits. Reading needs site:read at its site, recording program:manage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment_week.feedback import (
    FindingIn,
    calibration_of,
    feedback_of,
    plan_from_feedback,
    record_feedback,
    site_calibration,
    workspace_calibration,
)
from qmm.assessment_week.mock import (
    MockGaps,
    draft_plans,
    interview_sheet,
    list_mock_interviews,
    mock_gaps,
    mock_practice_areas,
    plan_follow_up,
    record_mock_answer,
    start_mock_interview,
)
from qmm.assessment_week.service import milestone_views
from qmm.auth.permissions import Permission
from qmm.errors import Conflict, InvalidFields, NotFound
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.models import FdaAssessment, MockInterview, utcnow
from qmm.web.api_feedback import mock_for, visit_for
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import sentences
from qmm.web.forms import Day, Number, TextOrNone, WebForm, sentence, submit
from qmm.web.security import Access, Principal, SiteRead, readable_sites, require
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

AnySiteRead = Annotated[Access, Depends(require(Permission.site_read, any_site=True))]
AnySiteManage = Annotated[Access, Depends(require(Permission.program_manage, any_site=True))]
FINDING_FIELDS: Final = {
    "observation": "observations",
    "strength": "strengths",
    "opportunity": "opportunities",
}
DONE: Final = {
    "started": "The mock interview is open: score its questions below.",
    "scored": "The question's mock score is recorded.",
    "recorded": "FDA's feedback is recorded; the assessment is now marked feedback received.",
    "planned": "The follow-up is now an action of the draft plan.",
}


def _base(visit: FdaAssessment) -> str:
    return f"/fda-assessments/{visit.id}"


def _crumbs(visit: FdaAssessment) -> list[tuple[str, str]]:
    site = visit.site
    return [
        ("Sites", "/"),
        (site.code, f"/sites/{site.code}"),
        ("FDA assessments", f"/sites/{site.code}/fda-assessments"),
        (visit.title, _base(visit)),
    ]


def _can_manage(db: Session, who: Principal, visit: FdaAssessment) -> bool:
    return who.may(db, Permission.program_manage, site=visit.site)


# --- mock interviews -----------------------------------------------------------------------------


def _mock_page(
    request: Request,
    db: Session,
    who: Principal,
    visit: FdaAssessment,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    gaps: MockGaps | None = None
    areas: dict[str, str] = {}
    if refusal is None:
        try:
            areas = mock_practice_areas(db, fda_assessment=visit)
            gaps = mock_gaps(db, fda_assessment=visit, reader=who)
        except (Conflict, NotFound) as exc:
            refusal = sentence(str(exc))
    shown = {
        "practice_area": next(iter(areas), ""),
        "assessor": "",
        "held_on": utcnow().date().isoformat(),
        "session_label": "",
        **(values or {}),
    }
    return render(
        request,
        "week_mock_interviews.html",
        principal=who,
        title=f"Mock interviews: {visit.title}",
        site=visit.site,
        visit=visit,
        interviews=list_mock_interviews(db, fda_assessment=visit),
        gaps=gaps,
        areas=areas,
        values=shown,
        errors=sentences(errors or {}),
        refusal=refusal,
        done=DONE.get(request.query_params.get("done", "")),
        can_manage=_can_manage(db, who, visit),
        breadcrumbs=_crumbs(visit),
        status_code=status_code,
    )


@router.get("/fda-assessments/{fda_assessment_id}/mock-interviews")
def mock_interviews(
    request: Request, fda_assessment_id: str, access: AnySiteRead, db: DB
) -> Response:
    """The mock interviews held, and where the mock scores fall below the self-assessment."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return _mock_page(request, db, access.who, visit)


class MockStartForm(WebForm):
    """A mock interview to open: which practice area, who asks, when, which session."""

    practice_area: str = ""
    assessor: str = ""
    held_on: Day = ""
    session_label: TextOrNone = ""


@router.post("/fda-assessments/{fda_assessment_id}/mock-interviews")
def mock_start(
    request: Request,
    fda_assessment_id: str,
    access: AnySiteManage,
    db: DB,
    form: Annotated[MockStartForm, Form()],
) -> Response:
    """Open a mock interview; any problem stores nothing and keeps what was typed."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    try:
        return submit(
            form,
            store=lambda fields: start_mock_interview(db, fda_assessment=visit, **fields),
            then=lambda made: f"{_base(visit)}/mock-interviews/{made.id}?done=started",
            again=lambda values, errors: _mock_page(
                request, db, access.who, visit, values=values, errors=errors, status_code=422
            ),
        )
    except Conflict as exc:
        return _mock_page(
            request, db, access.who, visit, refusal=sentence(str(exc)), status_code=409
        )


def _interview(db: Session, visit: FdaAssessment, mock_id: str) -> MockInterview:
    return mock_for(db, visit, mock_id)


def _by_question(values: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """A question's problems keyed by its own field ids (score-m1.q1), so the summary links
    to the control beside that question."""
    question = str(values.get("question", ""))
    fields = ("score", "notes", "follow_up", "plan")
    return {(f"{k}-{question}" if k in fields else k): v for k, v in errors.items()}


def _sheet_page(
    request: Request,
    db: Session,
    who: Principal,
    visit: FdaAssessment,
    interview: MockInterview,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    area_name = PRACTICE_AREAS.get(interview.practice_area, interview.practice_area)
    return render(
        request,
        "week_mock_interview.html",
        principal=who,
        title=f"Mock interview {interview.id}: {area_name}",
        site=visit.site,
        visit=visit,
        interview=interview,
        rows=interview_sheet(db, interview=interview, reader=who),
        drafts=draft_plans(db, fda_assessment=visit, reader=who),
        values=values or {},
        errors=sentences(errors or {}),
        done=DONE.get(request.query_params.get("done", "")),
        can_manage=_can_manage(db, who, visit),
        breadcrumbs=[*_crumbs(visit), ("Mock interviews", f"{_base(visit)}/mock-interviews")],
        status_code=status_code,
    )


@router.get("/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}")
def mock_interview(
    request: Request, fda_assessment_id: str, mock_id: str, access: AnySiteRead, db: DB
) -> Response:
    """One mock interview: the area's questions, the consensus to beat, the mock's scores."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return _sheet_page(request, db, access.who, visit, _interview(db, visit, mock_id))


class MockAnswerForm(WebForm):
    """One question scored: 1-5, notes, and a follow-up if something must be done."""

    question: str = ""
    score: Number = ""
    notes: str = ""
    follow_up: TextOrNone = ""


@router.post("/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/answers")
def mock_answer(
    request: Request,
    fda_assessment_id: str,
    mock_id: str,
    access: AnySiteManage,
    db: DB,
    form: Annotated[MockAnswerForm, Form()],
) -> Response:
    """Score one question; a bad score stores nothing and shows the question again."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    interview = _interview(db, visit, mock_id)
    return submit(
        form,
        store=lambda fields: record_mock_answer(
            db,
            interview=interview,
            question_code=fields["question"],
            score=fields["score"],
            notes=fields["notes"],
            follow_up=fields["follow_up"],
        ),
        then=lambda answer: (
            f"{_base(visit)}/mock-interviews/{interview.id}?done=scored#q-{answer.question_code}"
        ),
        again=lambda values, errors: _sheet_page(
            request,
            db,
            access.who,
            visit,
            interview,
            values=values,
            errors=_by_question(values, errors),
            status_code=422,
        ),
    )


class FollowUpForm(WebForm):
    """A scored question whose follow-up goes into a draft plan."""

    question: str = ""
    plan: str = ""


@router.post("/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/follow-ups")
def mock_follow_up(
    request: Request,
    fda_assessment_id: str,
    mock_id: str,
    access: AnySiteManage,
    db: DB,
    form: Annotated[FollowUpForm, Form()],
) -> Response:
    """Make a follow-up an action of a draft plan; a refusal is shown beside the question."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    interview = _interview(db, visit, mock_id)

    def store(fields: dict[str, Any]) -> Any:
        try:
            return plan_follow_up(
                db,
                interview=interview,
                question_code=fields["question"],
                plan_ref=fields["plan"],
                reader=access.who,
            )
        except (Conflict, NotFound) as exc:
            raise InvalidFields({"plan": sentence(str(exc))}) from None

    return submit(
        form,
        store=store,
        then=lambda action: (
            f"{_base(visit)}/mock-interviews/{interview.id}?done=planned#q-{form.question}"
        ),
        again=lambda values, errors: _sheet_page(
            request,
            db,
            access.who,
            visit,
            interview,
            values=values,
            errors=_by_question(values, errors),
            status_code=409,
        ),
    )


# --- FDA's feedback ------------------------------------------------------------------------------


def _feedback_values(visit: FdaAssessment, db: Session) -> dict[str, Any]:
    found = feedback_of(db, fda_assessment=visit)
    values: dict[str, Any] = {
        "received_on": "",
        "summary": "",
        "evidence_ref": "",
        **{f"score_{code}": "" for code in PRACTICE_AREAS},
        **dict.fromkeys(FINDING_FIELDS.values(), ""),
        "owner": "",
        "start_on": utcnow().date().isoformat(),
    }
    if found is not None:
        values.update(
            received_on=found.received_on.isoformat(),
            summary=found.summary,
            evidence_ref=found.document.ref,
            **{f"score_{s.practice_area}": f"{s.score:g}" for s in found.area_scores},
        )
        for kind, field in FINDING_FIELDS.items():
            values[field] = "\n".join(
                f"{f.practice_area}: {f.text}" for f in found.findings if f.kind == kind
            )
    return values


def _feedback_page(
    request: Request,
    db: Session,
    who: Principal,
    visit: FdaAssessment,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "week_feedback.html",
        principal=who,
        title=f"FDA's feedback: {visit.title}",
        site=visit.site,
        visit=visit,
        feedback=feedback_of(db, fda_assessment=visit),
        calibration=calibration_of(db, fda_assessment=visit, reader=who),
        milestones=milestone_views(visit),
        today=utcnow().date(),
        areas=PRACTICE_AREAS,
        finding_fields=FINDING_FIELDS,
        values={**_feedback_values(visit, db), **(values or {})},
        errors=sentences(errors or {}),
        refusal=refusal,
        done=DONE.get(request.query_params.get("done", "")),
        can_manage=_can_manage(db, who, visit),
        breadcrumbs=_crumbs(visit),
        status_code=status_code,
    )


@router.get("/fda-assessments/{fda_assessment_id}/feedback")
def feedback(request: Request, fda_assessment_id: str, access: AnySiteRead, db: DB) -> Response:
    """What FDA returned, the calibration gap against the self-assessment, the next plan."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.site_read)
    return _feedback_page(request, db, access.who, visit)


class FeedbackForm(WebForm):
    """FDA's feedback as typed: the day, scores per area, findings one per line, the document."""

    received_on: Day = ""
    summary: str = ""
    evidence_ref: TextOrNone = ""
    score_management_commitment: Number = ""
    score_business_continuity: Number = ""
    score_advanced_pqs: Number = ""
    score_technical_excellence: Number = ""
    score_employee_engagement: Number = ""
    observations: str = ""
    strengths: str = ""
    opportunities: str = ""


@dataclass(frozen=True)
class _Findings:
    """Findings read from the three text boxes, and the box each came from (for its errors)."""

    findings: list[FindingIn]
    field_of: dict[str, str]
    problems: dict[str, str]


def _read_findings(form: FeedbackForm) -> _Findings:
    findings: list[FindingIn] = []
    field_of: dict[str, str] = {}
    problems: dict[str, str] = {}
    for kind, field in FINDING_FIELDS.items():
        for line in str(getattr(form, field)).splitlines():
            if not line.strip():
                continue
            area, sep, text = line.partition(":")
            if not sep:
                problems[field] = (
                    f"each of the {field} is one line 'practice_area: text'; {line.strip()!r} "
                    "names no practice area"
                )
                continue
            findings.append(FindingIn(kind, area.strip(), text.strip()))
            field_of[f"finding_{len(findings)}"] = field
    return _Findings(findings, field_of, problems)


@router.post("/fda-assessments/{fda_assessment_id}/feedback")
def feedback_record(
    request: Request,
    fda_assessment_id: str,
    access: AnySiteManage,
    db: DB,
    form: Annotated[FeedbackForm, Form()],
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Record FDA's feedback; any problem stores nothing and keeps what was typed."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    read = _read_findings(form)
    content = upload.file.read() if upload is not None else b""
    document = (
        (upload.filename or "", content)
        if upload is not None and (upload.filename or content)
        else None
    )

    def store(fields: dict[str, Any]) -> Any:
        if read.problems:
            raise InvalidFields(read.problems)
        try:
            return record_feedback(
                db,
                fda_assessment=visit,
                received_on=fields["received_on"],
                area_scores={
                    code: fields[f"score_{code}"]
                    for code in PRACTICE_AREAS
                    if fields[f"score_{code}"] is not None
                },
                findings=read.findings,
                summary=fields["summary"],
                evidence_ref=fields["evidence_ref"],
                document=document,
            )
        except InvalidFields as exc:
            raise InvalidFields(
                {read.field_of.get(k, k): v for k, v in exc.problems.items()}
            ) from None

    try:
        return submit(
            form,
            store=store,
            then=lambda _: f"{_base(visit)}/feedback?done=recorded",
            again=lambda values, errors: _feedback_page(
                request, db, access.who, visit, values=values, errors=errors, status_code=422
            ),
        )
    except Conflict as exc:
        return _feedback_page(
            request, db, access.who, visit, refusal=sentence(str(exc)), status_code=409
        )


class PlanFromFeedbackForm(WebForm):
    """The next 90-day plan to draft from FDA's feedback."""

    owner: str = ""
    start_on: Day = ""
    supersede: str = ""


@router.post("/fda-assessments/{fda_assessment_id}/feedback/plan")
def feedback_plan(
    request: Request,
    fda_assessment_id: str,
    access: AnySiteManage,
    db: DB,
    store: Store,
    form: Annotated[PlanFromFeedbackForm, Form()],
) -> Response:
    """Draft the next plan with actions for FDA's gaps and opportunities; then open it."""
    visit = visit_for(db, access.who, fda_assessment_id, Permission.program_manage)
    try:
        return submit(
            form,
            store=lambda fields: plan_from_feedback(
                db,
                fda_assessment=visit,
                reader=access.who,
                owner=fields["owner"],
                start_on=fields["start_on"],
                store=store,
                supersede=fields["supersede"] == "yes",
            ),
            then=lambda plan: f"/sites/{visit.site.code}/plans/{plan.ref}?done=generated",
            again=lambda values, errors: _feedback_page(
                request, db, access.who, visit, values=values, errors=errors, status_code=422
            ),
        )
    except (Conflict, NotFound) as exc:
        text = str(exc).replace("generate with --supersede", "tick 'supersede the running plan'")
        return _feedback_page(
            request,
            db,
            access.who,
            visit,
            values=form.typed(),
            refusal=sentence(text),
            status_code=409 if isinstance(exc, Conflict) else 404,
        )


# --- the calibration view ------------------------------------------------------------------------


def _bar(gap: float | None) -> dict[str, Any] | None:
    """A gap as a bar either side of zero, at most two levels each way (wider is clipped)."""
    if gap is None:
        return None
    width = min(abs(gap), 2.0) / 2.0 * 50.0
    return {"left": 50.0 - width if gap < 0 else 50.0, "width": width, "high": gap > 0}


@router.get("/sites/{code}/calibration")
def site_calibration_page(request: Request, code: str, access: SiteRead, db: DB) -> Response:
    """The site's history: self minus FDA per practice area at every assessment with feedback."""
    site = access.site
    assert site is not None
    history = site_calibration(db, site=site, reader=access.who)
    return render(
        request,
        "week_calibration.html",
        principal=access.who,
        title=f"Calibration against FDA: {site.code}",
        site=site,
        history=history,
        across=None,
        bar=_bar,
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
    )


@router.get("/calibration")
def workspace_calibration_page(request: Request, access: AnySiteRead, db: DB) -> Response:
    """Across the sites the person reads: each site's latest gap per practice area."""
    across = workspace_calibration(db, reader=access.who, sites=readable_sites(db, access.who))
    return render(
        request,
        "week_calibration.html",
        principal=access.who,
        title="Calibration against FDA across sites",
        history=[],
        across=across,
        bar=_bar,
        breadcrumbs=[("Sites", "/")],
    )
