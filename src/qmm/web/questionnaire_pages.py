"""The pre-interview questionnaire as a workspace in the web app and the API: per practice area
the questions and the site's answer (drafted, then edited), the review by a second person, the
site head's signature, the DOCX and PDF downloads; and the site's own pre-interview questions."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from qmm.assessment.service import get_assessment
from qmm.assessment_week.examples import STATUS_LABELS, chosen_examples
from qmm.assessment_week.preparation_schemas import PreInterviewQuestionOut, QuestionnaireOut
from qmm.assessment_week.questionnaire import (
    RECORD_TYPE,
    STATUS_LABELS_Q,
    check_source_readable,
    draft_from,
    edit_answer,
    find_questionnaire,
    get_answer,
    get_questionnaire,
    is_edited,
    pre_interview_questions,
    questions_framework,
    redraft_answer,
    reset_questions,
    review_questionnaire,
    sign_questionnaire,
    start_questionnaire,
    tag_question,
    unapproved_examples,
    untag_question,
    writers,
)
from qmm.audit.signatures import signatures_for
from qmm.auth.permissions import Permission
from qmm.auth.scope import readable_assessments
from qmm.auth.service import MAX_FAILED_LOGINS
from qmm.auth.signing import second_person_notice
from qmm.errors import InvalidFields, InvalidInput
from qmm.models import FdaAssessment, Questionnaire, Site
from qmm.program.common import InvalidProgramInput
from qmm.reports.questionnaire_docs import (
    DOCUMENT_FORMATS,
    build_document,
    check_document_format,
    render_questionnaire,
)
from qmm.web.api_schemas import NOTHING_CHANGED, ProblemsOut
from qmm.web.decision_pages import MEANINGS, sign_in_turn
from qmm.web.deps import DB, reads_first
from qmm.web.evidence_pages import download_name, sentences
from qmm.web.examples_pages import fda_assessment_of
from qmm.web.forms import FormText, ProgramForms, WebForm, find_id
from qmm.web.security import Access, FdaManage, FdaRead, Principal, SiteRead, require
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api_router = APIRouter(tags=["api"])

FdaSign = Annotated[
    Access, Depends(require(Permission.record_sign, fda_assessment="fda_assessment_id"))
]
DONE: Final = {
    "started": "The questionnaire is open: every practice area's answer is drafted",
    "saved": "The answer is saved",
    "redrafted": "The answer is drafted again from the records",
    "reviewed": "The review is recorded; the site head can now sign it off",
    "signed": "The questionnaire is signed off and frozen",
    "source": "The self-assessment is chosen; every answer nobody edited is drafted from it",
}


def _readable_visit(db: Session, access: Access, fda_assessment_id: str) -> FdaAssessment:
    """The FDA assessment, once its questionnaire's self-assessment is one the person may read."""
    visit = fda_assessment_of(db, access, fda_assessment_id)
    check_source_readable(db, fda_assessment=visit, reader=access.who)
    return visit


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    visit: FdaAssessment,
    *,
    done: str | None = None,
    area_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    review_error: str | None = None,
    sign_error: str | None = None,
    meaning: str = "approved",
    status_code: int = 200,
) -> Response:
    site = visit.site
    questionnaire = find_questionnaire(db, fda_assessment=visit)
    signatures = (
        signatures_for(db, record_type=RECORD_TYPE, record_id=str(questionnaire.id))
        if questionnaire is not None
        else []
    )
    may_manage = principal.may(db, Permission.program_manage, site=site)
    may_sign = principal.may(db, Permission.record_sign, site=site)
    signed = questionnaire is not None and questionnaire.status == "signed"
    return render(
        request,
        "questionnaire.html",
        principal=principal,
        title=f"Pre-interview questionnaire: {visit.title}",
        site=site,
        visit=visit,
        questionnaire=questionnaire,
        status_label=STATUS_LABELS_Q[questionnaire.status] if questionnaire else "",
        assessments=readable_assessments(db, reader=principal, site=site),
        source=get_assessment(db, assessment_id=visit.self_assessment_id)
        if visit.self_assessment_id is not None
        else None,
        examples=chosen_examples(db, fda_assessment=visit),
        example_statuses=STATUS_LABELS,
        waiting=unapproved_examples(db, questionnaire=questionnaire) if questionnaire else [],
        writers=writers(questionnaire) if questionnaire else [],
        signatures=signatures,
        sign_noun="questionnaire",
        done=DONE.get(done or ""),
        area_errors=sentences(area_errors or {}),
        typed=typed or {},
        review_error=review_error,
        can_manage=may_manage and not signed,
        can_review=may_manage
        and questionnaire is not None
        and questionnaire.status == "drafting"
        and principal.user.username not in writers(questionnaire),
        can_sign=may_sign and questionnaire is not None and questionnaire.status == "reviewed",
        second_person=second_person_notice(
            db, user=principal.user, record_type=RECORD_TYPE, record_id=str(questionnaire.id)
        )
        if questionnaire is not None
        else None,
        meanings=MEANINGS,
        meaning=meaning,
        sign_error=sign_error,
        max_failed_logins=MAX_FAILED_LOGINS,
        breadcrumbs=[
            ("Sites", "/"),
            (site.code, f"/sites/{site.code}"),
            (visit.title, f"/fda-assessments/{visit.id}"),
        ],
        status_code=status_code,
    )


@router.get("/fda-assessments/{fda_assessment_id}/questionnaire")
def questionnaire_page(
    request: Request, fda_assessment_id: str, access: FdaRead, db: DB, done: str | None = None
) -> Response:
    """The questionnaire workspace: per practice area the questions and the site's answer."""
    visit = _readable_visit(db, access, fda_assessment_id)
    return _page(request, db, access.who, visit, done=done)


def _after(visit: FdaAssessment, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/fda-assessments/{visit.id}/questionnaire?done={done}{anchor}", status_code=303
    )


@router.post("/fda-assessments/{fda_assessment_id}/questionnaire/start")
def questionnaire_start(fda_assessment_id: str, access: FdaManage, db: DB) -> Response:
    """Open the questionnaire, every practice area's answer drafted from the records."""
    visit = _readable_visit(db, access, fda_assessment_id)
    start_questionnaire(db, fda_assessment=visit)
    return _after(visit, "started")


class SourceForm(WebForm):
    """The self-assessment the answers are drafted from."""

    assessment: str = ""


@router.post("/fda-assessments/{fda_assessment_id}/questionnaire/self-assessment")
def questionnaire_source(
    fda_assessment_id: str, access: FdaManage, db: DB, form: Annotated[SourceForm, Form()]
) -> Response:
    """Choose the self-assessment to draft from; answers nobody edited are drafted again."""
    visit = _readable_visit(db, access, fda_assessment_id)
    assert access.site is not None
    number = find_id(form.assessment, what="assessment", site=access.site)
    draft_from(db, fda_assessment=visit, assessment=get_assessment(db, assessment_id=number))
    return _after(visit, "source")


class AnswerForm(WebForm):
    """One practice area's answer as typed, or a request to draft it again."""

    answer: str = ""
    redraft: str = ""


@router.post("/fda-assessments/{fda_assessment_id}/questionnaire/answers/{area}")
def questionnaire_answer(
    request: Request,
    fda_assessment_id: str,
    area: str,
    access: FdaManage,
    db: DB,
    form: Annotated[AnswerForm, Form()],
) -> Response:
    """Save a practice area's edited answer, or draft it again from the records."""
    visit = _readable_visit(db, access, fda_assessment_id)
    questionnaire = get_questionnaire(db, fda_assessment=visit)
    get_answer(questionnaire, practice_area=area)
    if form.redraft.strip().lower() == "yes":
        redraft_answer(db, questionnaire=questionnaire, practice_area=area)
        return _after(visit, "redrafted", f"#area-{area}")
    problems = form.nul_problems()
    if not problems:
        try:
            edit_answer(db, questionnaire=questionnaire, practice_area=area, answer=form.answer)
        except InvalidFields as exc:
            problems = dict(exc.problems)
    if problems:
        return _page(
            request,
            db,
            access.who,
            visit,
            area_errors={area: next(iter(problems.values()))},
            typed={area: form.answer},
            status_code=422,
        )
    return _after(visit, "saved", f"#area-{area}")


class ReviewForm(WebForm):
    """What the second person's review checked."""

    note: str = ""


@router.post("/fda-assessments/{fda_assessment_id}/questionnaire/review")
def questionnaire_review(
    fda_assessment_id: str, access: FdaManage, db: DB, form: Annotated[ReviewForm, Form()]
) -> Response:
    """Record the review by a second person who wrote none of it."""
    visit = _readable_visit(db, access, fda_assessment_id)
    questionnaire = get_questionnaire(db, fda_assessment=visit)
    review_questionnaire(db, questionnaire=questionnaire, note=form.note.strip() or None)
    return _after(visit, "reviewed", "#review")


@router.post("/fda-assessments/{fda_assessment_id}/questionnaire/sign")
@reads_first
async def questionnaire_sign(
    request: Request,
    fda_assessment_id: str,
    access: FdaSign,
    db: DB,
    password: FormText = "",
    meaning: FormText = "",
) -> Response:
    """The site head signs the reviewed questionnaire off with the password again."""
    principal = access.who
    visit = await run_in_threadpool(fda_assessment_of, db, access, fda_assessment_id)
    questionnaire = await run_in_threadpool(get_questionnaire, db, fda_assessment=visit)
    error = await sign_in_turn(
        request,
        db,
        user=principal.user,
        meaning=meaning,
        password=password,
        sign=lambda checked: sign_questionnaire(
            db, questionnaire=questionnaire, user=principal.user, password=checked, meaning=meaning
        ),
    )

    def answer() -> Response:
        if error is not None:
            return _page(
                request, db, principal, visit, sign_error=error, meaning=meaning, status_code=422
            )
        return _after(visit, "signed", "#signatures")

    return await run_in_threadpool(answer)


@router.get("/fda-assessments/{fda_assessment_id}/questionnaire/export/{fmt}")
def questionnaire_export(fda_assessment_id: str, fmt: str, access: FdaRead, db: DB) -> Response:
    """The questionnaire as a Word document (docx) or a PDF (pdf), to send to FDA."""
    chosen = check_document_format(fmt)
    visit = _readable_visit(db, access, fda_assessment_id)
    document = build_document(db, questionnaire=get_questionnaire(db, fda_assessment=visit))
    content = render_questionnaire(document, chosen)
    return Response(
        content,
        media_type=DOCUMENT_FORMATS[chosen],
        headers={"Content-Disposition": download_name(f"{document.file_stem}.{chosen}")},
    )


# --- the site's pre-interview questions ---------------------------------------------------------


@router.get("/sites/{code}/pre-interview-questions")
def questions_page(
    request: Request, code: str, access: SiteRead, db: DB, done: str = ""
) -> Response:
    """The site's pre-interview questions against every question of its framework."""
    site = access.site
    assert site is not None
    framework = questions_framework(db, site=site)
    tagged = {i.code for i in pre_interview_questions(db, site=site, framework=framework)}
    return render(
        request,
        "pre_interview_questions.html",
        principal=access.who,
        title=f"Pre-interview questions of {site.code}",
        site=site,
        framework=framework,
        tagged=tagged,
        edited=is_edited(db, site=site),
        done=done,
        can_manage=access.who.may(db, Permission.program_manage, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
    )


class QuestionForm(WebForm):
    """A question to tag or untag, or reset=yes to go back to the default set."""

    code: str = ""
    action: str = ""


@router.post("/sites/{code}/pre-interview-questions")
def questions_change(
    code: str, page: ProgramForms, form: Annotated[QuestionForm, Form()]
) -> Response:
    """Tag a framework question as a pre-interview question, untag one, or reset the set."""
    site: Site = page.site
    action = form.action.strip().lower()
    if action == "tag":
        tag_question(page.db, site=site, code=form.code)
    elif action == "untag":
        untag_question(page.db, site=site, code=form.code)
    elif action == "reset":
        reset_questions(page.db, site=site)
    else:
        raise InvalidInput(f"action {form.action!r} is not one of tag, untag, reset")
    return RedirectResponse(
        f"/sites/{site.code}/pre-interview-questions?done={action}", status_code=303
    )


# --- the API -----------------------------------------------------------------------------------


class AnswerIn(BaseModel):
    """A practice area's edited answer."""

    answer: str


class ReviewIn(BaseModel):
    """The second person's review note."""

    note: str | None = None


def _out(db: Session, questionnaire: Questionnaire) -> dict[str, Any]:
    return QuestionnaireOut.of(db, questionnaire).model_dump(mode="json")


@api_router.get(
    "/api/fda-assessments/{fda_assessment_id}/questionnaire", response_model=QuestionnaireOut
)
def api_questionnaire(fda_assessment_id: str, access: FdaRead, db: DB) -> Response:
    """The questionnaire: answers per practice area, review, chosen examples, signatures."""
    visit = _readable_visit(db, access, fda_assessment_id)
    return JSONResponse(_out(db, get_questionnaire(db, fda_assessment=visit)))


@api_router.post(
    "/api/fda-assessments/{fda_assessment_id}/questionnaire",
    status_code=201,
    response_model=QuestionnaireOut,
)
def api_start_questionnaire(fda_assessment_id: str, access: FdaManage, db: DB) -> Response:
    """Open the questionnaire with every answer drafted (409 when it is open already)."""
    visit = _readable_visit(db, access, fda_assessment_id)
    return JSONResponse(_out(db, start_questionnaire(db, fda_assessment=visit)), status_code=201)


@api_router.post(
    "/api/fda-assessments/{fda_assessment_id}/questionnaire/answers/{area}",
    response_model=QuestionnaireOut,
    responses=NOTHING_CHANGED,
)
def api_edit_answer(
    fda_assessment_id: str, area: str, body: AnswerIn, access: FdaManage, db: DB
) -> Response:
    """Replace one practice area's answer (409 once signed off)."""
    visit = _readable_visit(db, access, fda_assessment_id)
    questionnaire = get_questionnaire(db, fda_assessment=visit)
    try:
        edit_answer(db, questionnaire=questionnaire, practice_area=area, answer=body.answer)
    except InvalidProgramInput as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(_out(db, questionnaire))


@api_router.post(
    "/api/fda-assessments/{fda_assessment_id}/questionnaire/review",
    response_model=QuestionnaireOut,
    responses=NOTHING_CHANGED,
)
def api_review(fda_assessment_id: str, body: ReviewIn, access: FdaManage, db: DB) -> Response:
    """Record the review by a second person who wrote none of it (409 otherwise)."""
    visit = _readable_visit(db, access, fda_assessment_id)
    questionnaire = get_questionnaire(db, fda_assessment=visit)
    try:
        review_questionnaire(db, questionnaire=questionnaire, note=body.note)
    except InvalidProgramInput as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(_out(db, questionnaire))


@api_router.get(
    "/api/sites/{code}/pre-interview-questions", response_model=list[PreInterviewQuestionOut]
)
def api_questions(code: str, access: SiteRead, db: DB) -> list[PreInterviewQuestionOut]:
    """The site's pre-interview questions (the shipped default until the site edits its set)."""
    site = access.site
    assert site is not None
    framework = questions_framework(db, site=site)
    return [
        PreInterviewQuestionOut.of(i)
        for i in pre_interview_questions(db, site=site, framework=framework)
    ]


#: One router for the app: the pages (outside the API docs) and the API routes as declared.
router.routes.extend(api_router.routes)
