"""The assessment workspace: questions with their anchors, ratings and consensus, the roll-up,
agreement between assessors and signatures. Each view parses, calls services, renders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from qmm.assessment.scoring import AssessmentScores
from qmm.assessment.service import (
    compute_scores,
    get_question,
    record_consensus,
    record_rating,
)
from qmm.assessment.triage import (
    STATUS_NAMES,
    QuestionFilter,
    next_unrated,
    question_filter,
    select_questions,
)
from qmm.audit.signatures import signatures_for
from qmm.auth.permissions import Permission
from qmm.auth.scope import team_candidates
from qmm.auth.service import MAX_FAILED_LOGINS, CheckedPassword
from qmm.auth.signing import sign
from qmm.errors import Conflict, InvalidFields, InvalidInput, NotFound
from qmm.framework.service import load_tree
from qmm.models import Assessment, AssessmentStatus, SignatureMeaning, TeamRole
from qmm.web.decision_pages import (
    sign_in_turn,
)
from qmm.web.deps import DB, reads_first
from qmm.web.evidence_pages import workspace_evidence
from qmm.web.forms import parse_refs, sentence
from qmm.web.security import (
    Access,
    Principal,
    require,
)
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

MEANINGS: Final = [m.value for m in SignatureMeaning]
SCORE_CHOICES: Final = ("1", "2", "3", "4", "5", "na")
TEAM_DONE: Final = {
    "created": "The assessment was created; its team can rate it now.",
    "member-added": "The team member was added; they can rate this assessment now.",
    "member-removed": "The team member was taken off the team.",
}
#: A filter that keeps this many questions or fewer opens all their sub-elements.
OPEN_ALL_UP_TO: Final = 12
#: Sent by the page's script when it saves a rating in place: answer with the changed parts only.
PART_HEADER: Final = "X-QMM-Part"


def wants_part(request: Request) -> bool:
    """Whether the page's script asked for the parts a save changes rather than the whole page."""
    return request.headers.get(PART_HEADER) == "rating"


def _with_query(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _filter_from(
    request: Request, scores: AssessmentScores
) -> tuple[QuestionFilter, dict[str, str]]:
    """The question filter a URL names, and what is wrong with it (then no filter holds)."""
    try:
        return (
            question_filter(
                scores,
                sub_element=request.query_params.get("sub_element", ""),
                status=request.query_params.get("status", ""),
            ),
            {},
        )
    except InvalidFields as exc:
        return QuestionFilter(), {field: sentence(text) for field, text in exc.problems.items()}


def _read_only_reason(db: Session, principal: Principal, assessment: Assessment) -> str | None:
    """Why this person cannot rate here, in words; None when they can."""
    if not principal.may(db, Permission.assessment_rate, assessment=assessment):
        return "You can read this assessment; your role does not let you rate it."
    if assessment.status != AssessmentStatus.open.value:
        return "This assessment is closed; its ratings can no longer change."
    if not any(m.user_id == principal.user.id for m in assessment.team):
        return "You are not on this assessment's team, so you cannot rate it; the lead can add you."
    return None


def assessment_workspace(
    request: Request,
    db: Session,
    principal: Principal,
    assessment: Assessment,
    *,
    sign_error: str | None = None,
    meaning: str = "",
    signed: bool = False,
    rated: str | None = None,
    rating_error: dict[str, Any] | None = None,
    agreed: str | None = None,
    consensus_error: dict[str, Any] | None = None,
    done: str | None = None,
    team_form: str | None = None,
    team_values: dict[str, Any] | None = None,
    team_errors: dict[str, str] | None = None,
    question: str | None = None,
    status_code: int = 200,
) -> Response:
    """The workspace: questions by sub-element with anchors, ratings, roll-up and sign-off; only
    the parts a rating changes when the page's script saved it in place."""
    scores: AssessmentScores = compute_scores(db, assessment=assessment)
    chosen, filter_problems = _filter_from(request, scores)
    framework = load_tree(db, framework_id=assessment.framework_id)
    signatures = signatures_for(db, record_type="assessment", record_id=str(assessment.id))
    rated_count = sum(1 for q in scores.questions.values() if q.consensus_source != "unrated")
    me = principal.user.username
    mine = {
        code: next((r for r in q.ratings if r.assessor == me), None)
        for code, q in scores.questions.items()
    }
    read_only = _read_only_reason(db, principal, assessment)
    manage_team = assessment.status == AssessmentStatus.open.value and principal.may(
        db, Permission.assessment_manage, assessment=assessment
    )
    on_team = {m.user_id for m in assessment.team}
    focus = (rating_error or consensus_error or {}).get("question") or rated or agreed or question
    shown = select_questions(scores, chosen, assessor=None if read_only else me)
    if focus in scores.questions and focus not in shown:
        shown = [c for c in scores.questions if c in shown or c == focus]  # keep it in sight
    next_question = (
        None
        if read_only
        else next_unrated(
            scores, assessor=me, after=focus, among=None if chosen.is_empty else shown
        )
    )
    if not chosen.is_empty and len(shown) <= OPEN_ALL_UP_TO:
        open_sub_elements = {scores.questions[code].sub_element for code in shown}
    else:
        first = focus if focus in scores.questions else next_question
        if first is None and not chosen.is_empty:
            first = next(iter(shown), None)
        if first is None:
            first = next(
                (c for c, q in scores.questions.items() if q.consensus_source == "unrated"), None
            )
        open_sub_elements = {scores.questions[first].sub_element} if first else set()
    filter_query = chosen.as_query()
    part = wants_part(request) and focus in scores.questions
    return render(
        request,
        "_rating_part.html" if part else "assessment.html",
        principal=principal,
        focus=focus if focus in scores.questions else None,
        places={
            q.code: (pa, se, q)
            for pa in framework.practice_areas
            for se in pa.sub_elements
            for q in se.questions
        },
        shown=set(shown),
        shown_sub_elements={scores.questions[code].sub_element for code in shown},
        shown_practice_areas={
            scores.sub_elements[scores.questions[code].sub_element].practice_area for code in shown
        },
        shown_count=len(shown),
        question_filter=chosen,
        filter_problems=filter_problems,
        filter_query=filter_query,
        with_filter=lambda path, **extra: _with_query(path, {**extra, **filter_query}),
        status_names={status.value: name for status, name in STATUS_NAMES.items()},
        next_question=next_question,
        title=f"{assessment.title} ({assessment.site.code})",
        assessment=assessment,
        framework=framework,
        scores=scores,
        rated=rated_count,
        my_rated=sum(1 for r in mine.values() if r is not None),
        mine=mine,
        read_only=read_only,
        open_sub_elements=open_sub_elements,
        rated_question=rated if rated in scores.questions else None,
        rating_error=rating_error,
        agreed_question=agreed if agreed in scores.questions else None,
        consensus_error=consensus_error,
        is_lead=read_only is None
        and any(m.user_id == principal.user.id and m.role == "lead" for m in assessment.team),
        signatures=signatures,
        invalid_signatures=sum(1 for s in signatures if not s.valid),
        can_sign=principal.may(db, Permission.record_sign, assessment=assessment),
        can_audit=principal.may(db, Permission.audit_read, site=assessment.site),
        meanings=MEANINGS,
        meaning=meaning,
        sign_error=sign_error,
        signed=signed and any(s.username == me for s in signatures),
        max_failed_logins=MAX_FAILED_LOGINS,
        score_choices=SCORE_CHOICES,
        level_names={str(k): v for k, v in (framework.level_names or {}).items()},
        **workspace_evidence(db, assessment),
        done=TEAM_DONE.get(done or ""),
        manage_team=manage_team,
        team_candidates=[
            u for u in team_candidates(db, site=assessment.site) if u.id not in on_team
        ]
        if manage_team
        else [],
        team_form=team_form,
        team_values=team_values or {},
        team_errors=team_errors or {},
        team_roles=[r.value for r in TeamRole],
        breadcrumbs=[("Sites", "/"), (assessment.site.code, f"/sites/{assessment.site.code}")],
        status_code=status_code,
    )


@dataclass(frozen=True)
class _Refusal:
    """Why a rating or a consensus was not recorded, and the field it concerns."""

    message: str
    field: str
    status: int


def _record_level(
    score: str,
    rationale: str,
    *,
    choose: str,
    explain: str,
    record: Callable[[int | None], object],
) -> _Refusal | None:
    """Check a level and its rationale as typed, then record them; what stopped it, if anything."""
    if score not in SCORE_CHOICES:
        return _Refusal(choose, "score", 422)
    if not rationale.strip():
        return _Refusal(explain, "rationale", 422)
    try:
        record(None if score == "na" else int(score))
    except (InvalidInput, NotFound, Conflict) as exc:
        return _Refusal(str(exc).capitalize() + ".", "score", exc.status_code)
    return None


@router.post("/assessments/{assessment_id}/ratings")
def rate_question(
    request: Request,
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_rate, assessment="assessment_id"))
    ],
    db: DB,
    question: Annotated[str, Form()] = "",
    score: Annotated[str, Form()] = "",
    rationale: Annotated[str, Form()] = "",
    evidence: Annotated[str, Form()] = "",
    evidence_ref: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Record the person's rating of one question, then show the page again with new scores."""
    assessment = access.assessment
    assert assessment is not None
    principal = access.who
    refusal = _record_level(
        score,
        rationale,
        choose="Choose a level from 1 to 5, or not applicable.",
        explain="Write the rationale: what evidence supports this level.",
        record=lambda level: record_rating(
            db,
            assessment=assessment,
            question=get_question(db, assessment=assessment, code=question),
            assessor=principal.user,
            score=level,
            rationale=rationale,
            evidence_refs=parse_refs(evidence_ref, evidence),
        ),
    )
    if refusal is not None:
        typed = {
            "question": question,
            "score": score,
            "rationale": rationale,
            "evidence": evidence,
            "evidence_ref": evidence_ref or [],
        }
        return assessment_workspace(
            request,
            db,
            principal,
            assessment,
            rating_error={**typed, "message": refusal.message, "field": refusal.field},
            status_code=refusal.status,
        )
    return RedirectResponse(
        _with_query(f"/assessments/{assessment.id}", {"rated": question, **_kept_filter(request)})
        + f"#q-{question}",
        status_code=303,
    )


@router.post("/assessments/{assessment_id}/consensus")
def record_question_consensus(
    request: Request,
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_rate, assessment="assessment_id"))
    ],
    db: DB,
    question: Annotated[str, Form()] = "",
    score: Annotated[str, Form()] = "",
    rationale: Annotated[str, Form()] = "",
) -> Response:
    """Record the lead's consensus for one question, then show the page again with new scores."""
    assessment = access.assessment
    assert assessment is not None
    principal = access.who
    refusal = _record_level(
        score,
        rationale,
        choose="Choose the agreed level from 1 to 5, or not applicable.",
        explain="Write why the team agreed this level.",
        record=lambda level: record_consensus(
            db,
            assessment=assessment,
            question=get_question(db, assessment=assessment, code=question),
            lead=principal.user,
            score=level,
            rationale=rationale,
        ),
    )
    if refusal is not None:
        typed = {"question": question, "score": score, "rationale": rationale}
        return assessment_workspace(
            request,
            db,
            principal,
            assessment,
            consensus_error={**typed, "message": refusal.message, "field": refusal.field},
            status_code=refusal.status,
        )
    return RedirectResponse(
        _with_query(f"/assessments/{assessment.id}", {"agreed": question, **_kept_filter(request)})
        + f"#q-{question}",
        status_code=303,
    )


def _kept_filter(request: Request) -> dict[str, str]:
    """The filter the form was posted under (its action's query), to return to the same view."""
    return {
        name: request.query_params[name]
        for name in ("sub_element", "status")
        if request.query_params.get(name)
    }


@router.get("/assessments/{assessment_id}/ratings")
@router.get("/assessments/{assessment_id}/consensus")
def back_to_the_questions(
    request: Request,
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_read, assessment="assessment_id"))
    ],
    question: Annotated[str, Query()] = "",
) -> Response:
    """A form's address opened again (a reload, a bookmark): back to the questions, not a 405."""
    assert access.assessment is not None
    target = _with_query(f"/assessments/{access.assessment.id}", _kept_filter(request))
    anchor = f"#q-{question}" if question else "#questions-title"
    return RedirectResponse(target + anchor, status_code=303)


@router.get("/assessments/{assessment_id}")
def assessment_page(
    request: Request,
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_read, assessment="assessment_id"))
    ],
    db: DB,
    signed: bool = False,
    rated: str | None = None,
    agreed: str | None = None,
    done: str | None = None,
    question: str | None = None,
) -> Response:
    """The workspace: questions, anchors, ratings, roll-up, agreement and signatures; a filter
    (sub_element, status) narrows the questions, and `question` opens one of them."""
    assert access.assessment is not None
    return assessment_workspace(
        request,
        db,
        access.who,
        access.assessment,
        signed=signed,
        rated=rated,
        agreed=agreed,
        done=done,
        question=question,
    )


@router.post("/assessments/{assessment_id}/sign")
@reads_first
async def sign_assessment(
    request: Request,
    assessment_id: str,
    access: Annotated[Access, Depends(require(Permission.record_sign, assessment="assessment_id"))],
    db: DB,
    password: Annotated[str, Form()] = "",
    meaning: Annotated[str, Form()] = "",
) -> Response:
    """Sign the assessment as it is now; a wrong password is refused and counts toward lockout.

    The password check (argon2) holds no lock or turn; the signature is written in its turn.
    """
    assessment = access.assessment
    assert assessment is not None
    principal = access.who
    record_id = str(assessment_id)

    def sign_it(checked: CheckedPassword) -> None:
        try:
            sign(
                db,
                user=principal.user,
                password=checked,
                meaning=meaning,
                record_type="assessment",
                record_id=record_id,
            )
        except InvalidInput as exc:
            raise _SignatureRefused(str(exc).capitalize() + ".") from None

    try:
        error = await sign_in_turn(
            request, db, user=principal.user, meaning=meaning, password=password, sign=sign_it
        )
    except _SignatureRefused as exc:
        error = str(exc)

    def answer() -> Response:
        if error is not None:
            return assessment_workspace(
                request,
                db,
                principal,
                assessment,
                sign_error=error,
                meaning=meaning,
                status_code=422,
            )
        return RedirectResponse(f"/assessments/{assessment.id}?signed=true#signatures", 303)

    return await run_in_threadpool(answer)


class _SignatureRefused(Exception):
    """A signature refused for its input: said on the page; nothing of it is kept."""
