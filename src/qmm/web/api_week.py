"""FDA's assessment week in the JSON API: a site's FDA assessments (and planning one), the
timeline, the site's people, the agenda with its conflicts, and each attendee's card. The
same shapes as `qmm week ... --format json`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment_week.agenda import (
    add_attendee,
    add_session,
    agenda_view,
    cancel_session,
    change_session,
    get_session,
    remove_attendee,
    set_person_areas,
)
from qmm.assessment_week.agenda_schemas import AgendaOut, SmeCardOut
from qmm.assessment_week.cards import build_card
from qmm.assessment_week.schemas import FdaAssessmentOut, SitePersonOut
from qmm.assessment_week.service import (
    add_person,
    get_fda_assessment,
    get_person,
    list_fda_assessments,
    list_people,
    plan_fda_assessment,
    update_milestone,
)
from qmm.errors import InvalidFields
from qmm.models import FdaAssessment, utcnow
from qmm.web.api_schemas import NOTHING_CHANGED, NOTHING_STORED, ProblemsOut
from qmm.web.deps import DB, Store
from qmm.web.security import FdaManage, FdaRead, ProgramManage, SiteRead

router = APIRouter(tags=["api"])
Done = TypeVar("Done")

FdaId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The FDA assessment's number.")]
SessionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The session's number.")]
PersonId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The person's number.")]
Text = Annotated[str, Field(max_length=4000)]


class FdaAssessmentIn(BaseModel):
    """FDA's coming assessment: its days (at most five), the site's time zone, the owner."""

    model_config = ConfigDict(extra="forbid")
    title: Text
    starts_on: date
    ends_on: date
    time_zone: Text
    owner: Text
    notes: Text | None = None


class MilestoneIn(BaseModel):
    """A step moved, given to another owner, or marked done."""

    model_config = ConfigDict(extra="forbid")
    kind: Text
    due_on: date | None = None
    owner: Text | None = None
    done_on: date | None = None


class PersonIn(BaseModel):
    """Someone who may attend a session."""

    model_config = ConfigDict(extra="forbid")
    name: Text
    job_title: Text
    department: Text
    email: Text | None = None


class PersonAreasIn(BaseModel):
    """The practice areas a person speaks for."""

    model_config = ConfigDict(extra="forbid")
    practice_areas: list[Text] = Field(max_length=50)


class AgendaSessionIn(BaseModel):
    """A session: a day of the week, local times HH:MM, a practice area or topic, a place."""

    model_config = ConfigDict(extra="forbid")
    day: date
    starts_at: Text
    ends_at: Text
    practice_area: Text | None = None
    topic: Text | None = None
    room: Text | None = None
    video_link: Text | None = None


class AgendaSessionChangeIn(BaseModel):
    """What changes in a session; fields left out stay."""

    model_config = ConfigDict(extra="forbid")
    day: date | None = None
    starts_at: Text | None = None
    ends_at: Text | None = None
    practice_area: Text | None = None
    topic: Text | None = None
    room: Text | None = None
    video_link: Text | None = None


class AttendeeIn(BaseModel):
    """Who joins a session, and whether remotely."""

    model_config = ConfigDict(extra="forbid")
    person_id: int = Field(ge=1, le=2**31 - 1)
    remote: bool = False


def _visit(db: Session, number: int) -> FdaAssessment:
    return get_fda_assessment(db, fda_assessment_id=number)


def _refusing(
    work: Callable[[], Done], render: Callable[[Done], Any], status: int = 200
) -> Response:
    """Run a service; its problems by field come back as 422 with nothing stored."""
    try:
        done = work()
    except InvalidFields as exc:
        refused = ProblemsOut(detail=str(exc), problems=dict(exc.problems))
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(render(done), status_code=status)


def _agenda(db: Session, visit: FdaAssessment) -> dict[str, Any]:
    return AgendaOut.of(agenda_view(db, fda_assessment=visit)).model_dump(mode="json")


@router.get("/api/sites/{code}/fda-assessments", response_model=list[FdaAssessmentOut])
def api_fda_assessments(code: str, access: SiteRead, db: DB) -> list[FdaAssessmentOut]:
    """The site's FDA assessments, the latest first, each with its timeline."""
    assert access.site is not None
    return [FdaAssessmentOut.of(v) for v in list_fda_assessments(db, site=access.site)]


@router.post(
    "/api/sites/{code}/fda-assessments",
    status_code=201,
    response_model=FdaAssessmentOut,
    responses=NOTHING_STORED,
)
def api_fda_assessment_plan(
    code: str, body: FdaAssessmentIn, access: ProgramManage, db: DB
) -> Response:
    """Record FDA's coming assessment; 409 when it overlaps another of the site."""
    site = access.site
    assert site is not None
    return _refusing(
        lambda: plan_fda_assessment(db, site=site, **body.model_dump()),
        lambda visit: FdaAssessmentOut.of(visit).model_dump(mode="json"),
        201,
    )


@router.get("/api/fda-assessments/{fda_assessment_id}", response_model=FdaAssessmentOut)
def api_fda_assessment(fda_assessment_id: FdaId, access: FdaRead, db: DB) -> FdaAssessmentOut:
    """One FDA assessment with its timeline, late steps marked."""
    return FdaAssessmentOut.of(_visit(db, fda_assessment_id))


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/milestones",
    response_model=FdaAssessmentOut,
    responses=NOTHING_CHANGED,
)
def api_milestone(
    fda_assessment_id: FdaId, body: MilestoneIn, access: FdaManage, db: DB
) -> Response:
    """Move a milestone, give it another owner, or record the day it was done."""
    visit = _visit(db, fda_assessment_id)
    return _refusing(
        lambda: update_milestone(db, fda_assessment=visit, **body.model_dump()),
        lambda _: FdaAssessmentOut.of(visit).model_dump(mode="json"),
    )


@router.get("/api/sites/{code}/people", response_model=list[SitePersonOut])
def api_people(code: str, access: SiteRead, db: DB) -> list[SitePersonOut]:
    """The site's people who may attend sessions."""
    assert access.site is not None
    return [SitePersonOut.of(p) for p in list_people(db, site=access.site)]


@router.post(
    "/api/sites/{code}/people",
    status_code=201,
    response_model=SitePersonOut,
    responses=NOTHING_STORED,
)
def api_person_add(code: str, body: PersonIn, access: ProgramManage, db: DB) -> Response:
    """Add someone who may attend a session; 409 when the site has them already."""
    site = access.site
    assert site is not None
    return _refusing(
        lambda: add_person(db, site=site, **body.model_dump()),
        lambda person: SitePersonOut.of(person).model_dump(mode="json"),
        201,
    )


@router.post(
    "/api/sites/{code}/people/{person_id}/practice-areas",
    response_model=list[str],
    responses=NOTHING_CHANGED,
)
def api_person_areas(
    code: str, person_id: PersonId, body: PersonAreasIn, access: ProgramManage, db: DB
) -> Response:
    """Set the practice areas a person speaks for (replacing those held)."""
    site = access.site
    assert site is not None
    person = get_person(db, site=site, person_id=person_id)
    return _refusing(
        lambda: set_person_areas(db, person=person, practice_areas=body.practice_areas),
        lambda held: held,
    )


@router.get("/api/fda-assessments/{fda_assessment_id}/agenda", response_model=AgendaOut)
def api_agenda(fda_assessment_id: FdaId, access: FdaRead, db: DB) -> Response:
    """The week's sessions with attendees, the revision and the conflicts to resolve."""
    return JSONResponse(_agenda(db, _visit(db, fda_assessment_id)))


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/agenda/sessions",
    status_code=201,
    response_model=AgendaOut,
    responses=NOTHING_STORED,
)
def api_session_add(
    fda_assessment_id: FdaId, body: AgendaSessionIn, access: FdaManage, db: DB
) -> Response:
    """Plan a session; 409 when the assessment is closed."""
    visit = _visit(db, fda_assessment_id)
    return _refusing(
        lambda: add_session(db, fda_assessment=visit, **body.model_dump()),
        lambda _: _agenda(db, visit),
        201,
    )


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}",
    response_model=AgendaOut,
    responses=NOTHING_CHANGED,
)
def api_session_change(
    fda_assessment_id: FdaId,
    session_id: SessionId,
    body: AgendaSessionChangeIn,
    access: FdaManage,
    db: DB,
) -> Response:
    """Move a session or change its area, topic or place."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=session_id)
    changes = body.model_dump(exclude_unset=True)
    return _refusing(
        lambda: change_session(db, agenda_session=planned, **changes), lambda _: _agenda(db, visit)
    )


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}/cancel",
    response_model=AgendaOut,
)
def api_session_cancel(
    fda_assessment_id: FdaId, session_id: SessionId, access: FdaManage, db: DB
) -> Response:
    """Cancel a session (kept: invitations carry it as cancelled); 409 if it already is."""
    visit = _visit(db, fda_assessment_id)
    cancel_session(db, agenda_session=get_session(db, fda_assessment=visit, session_id=session_id))
    return JSONResponse(_agenda(db, visit))


@router.post(
    "/api/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}/attendees",
    status_code=201,
    response_model=AgendaOut,
    responses=NOTHING_STORED,
)
def api_attendee_add(
    fda_assessment_id: FdaId, session_id: SessionId, body: AttendeeIn, access: FdaManage, db: DB
) -> Response:
    """Put one of the site's people in a session; a double booking is flagged, not refused."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=session_id)
    person = get_person(db, site=visit.site, person_id=body.person_id)
    return _refusing(
        lambda: add_attendee(db, agenda_session=planned, person=person, remote=body.remote),
        lambda _: _agenda(db, visit),
        201,
    )


@router.delete(
    "/api/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}/attendees/{person_id}",
    response_model=AgendaOut,
)
def api_attendee_remove(
    fda_assessment_id: FdaId,
    session_id: SessionId,
    person_id: PersonId,
    access: FdaManage,
    db: DB,
) -> Response:
    """Take a person out of a session."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=session_id)
    remove_attendee(
        db, agenda_session=planned, person=get_person(db, site=visit.site, person_id=person_id)
    )
    return JSONResponse(_agenda(db, visit))


@router.get("/api/fda-assessments/{fda_assessment_id}/cards/{person_id}", response_model=SmeCardOut)
def api_card(
    fda_assessment_id: FdaId, person_id: PersonId, access: FdaRead, db: DB, store: Store
) -> SmeCardOut:
    """One attendee's preparation card: sessions, questions, evidence, KPIs, gaps and actions."""
    visit = _visit(db, fda_assessment_id)
    card = build_card(
        db,
        fda_assessment=visit,
        person=get_person(db, site=visit.site, person_id=person_id),
        reader=access.who,
        store=store,
        today=utcnow().date(),
    )
    return SmeCardOut.of(card)
