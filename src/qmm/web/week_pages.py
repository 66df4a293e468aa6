"""FDA's assessment week in the web app: a site's FDA assessments (and planning one), one
assessment with its timeline, the site's people, the week planner with its conflicts, the
printable agenda, each attendee's invitation (.ics) and preparation card. Each view parses,
calls the services, renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment_week.agenda import (
    CONFLICT_KINDS,
    add_attendee,
    add_session,
    agenda_view,
    cancel_session,
    change_session,
    expertise_of,
    find_agenda,
    get_session,
    remove_attendee,
    set_person_areas,
)
from qmm.assessment_week.cards import attendees, build_card
from qmm.assessment_week.service import (
    MILESTONE_LABELS,
    add_person,
    get_fda_assessment,
    get_person,
    list_fda_assessments,
    list_people,
    milestone_views,
    plan_fda_assessment,
    self_assessment_readable,
    update_milestone,
)
from qmm.auth.permissions import Permission
from qmm.errors import NotFound
from qmm.evidence.service import site_framework
from qmm.models import FdaAssessment, FdaAssessmentStatus, Site, SitePerson, utcnow
from qmm.reports.week_docs import ICS_MEDIA_TYPE, agenda_pdf, card_pdf, invitation_for
from qmm.web.deps import DB, Store
from qmm.web.forms import (
    Day,
    Picked,
    ProgramForms,
    TextOrNone,
    WebForm,
    find_id,
    on_field,
    submit,
)
from qmm.web.security import FdaManage, FdaRead, Principal, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


class PlanVisitForm(WebForm):
    """FDA's coming assessment as its form sends it."""

    title: str = ""
    starts_on: Day = ""
    ends_on: Day = ""
    time_zone: str = ""
    owner: str = ""
    notes: TextOrNone = ""


class MilestoneForm(WebForm):
    """A milestone moved, given to another owner, or marked done."""

    kind: str = ""
    due_on: Day = ""
    owner: TextOrNone = ""
    done_on: Day = ""


class PersonForm(WebForm):
    """One of the site's people as the add form sends them."""

    name: str = ""
    job_title: str = ""
    department: str = ""
    email: TextOrNone = ""


class AreasForm(WebForm):
    """The practice areas a person speaks for."""

    practice_areas: Picked


class SessionForm(WebForm):
    """A session of the week as the planner's form sends it."""

    day: Day = ""
    starts_at: str = ""
    ends_at: str = ""
    practice_area: TextOrNone = ""
    topic: TextOrNone = ""
    room: TextOrNone = ""
    video_link: TextOrNone = ""


class AttendeeForm(WebForm):
    """Who joins a session."""

    person_id: str = ""
    remote: str = ""


def _crumbs(site: Site, *more: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("Sites", "/"),
        (site.code, f"/sites/{site.code}"),
        ("FDA assessments", f"/sites/{site.code}/fda-assessments"),
        *more,
    ]


def _visit(db: Session, fda_assessment_id: str) -> FdaAssessment:
    number = int(fda_assessment_id) if fda_assessment_id.isdigit() else 0
    return get_fda_assessment(db, fda_assessment_id=number)


# --- a site's FDA assessments -------------------------------------------------------------------


def _list_page(
    request: Request,
    db: Session,
    who: Principal,
    site: Site,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    today = utcnow().date()
    visits = list_fda_assessments(db, site=site)
    return render(
        request,
        "week_list.html",
        principal=who,
        title=f"FDA assessments of {site.code}",
        site=site,
        rows=[(v, milestone_views(v, today=today)) for v in visits],
        can_manage=who.may(db, Permission.program_manage, site=site),
        values=values or {"time_zone": "America/New_York"},
        errors=errors or {},
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        status_code=status_code,
    )


@router.get("/sites/{code}/fda-assessments")
def fda_assessments_page(request: Request, code: str, access: SiteRead, db: DB) -> Response:
    """The site's FDA assessments, the latest first, and a form to plan one."""
    assert access.site is not None
    return _list_page(request, db, access.who, access.site)


@router.post("/sites/{code}/fda-assessments")
def fda_assessment_plan(
    code: str, page: ProgramForms, form: Annotated[PlanVisitForm, Form()]
) -> Response:
    """Record FDA's coming assessment; its timeline follows the dates."""
    site = page.site

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _list_page(
            page.request, page.db, page.who, site, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: plan_fda_assessment(page.db, site=site, **fields),
        then=lambda visit: f"/fda-assessments/{visit.id}",
        again=again,
        trial=page.db,
    )


# --- one FDA assessment -------------------------------------------------------------------------


def _detail_page(
    request: Request,
    db: Session,
    who: Principal,
    visit: FdaAssessment,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    site = visit.site
    view = agenda_view(db, fda_assessment=visit)
    return render(
        request,
        "week_detail.html",
        principal=who,
        title=f"{visit.title} ({site.code})",
        site=site,
        visit=visit,
        self_assessment_readable=self_assessment_readable(db, fda_assessment=visit, reader=who),
        milestones=milestone_views(visit, today=utcnow().date()),
        labels={k.value: v for k, v in MILESTONE_LABELS.items()},
        agenda=view,
        attendees=attendees(db, fda_assessment=visit),
        can_manage=who.may(db, Permission.program_manage, site=site),
        values=values or {},
        errors=errors or {},
        breadcrumbs=_crumbs(site),
        status_code=status_code,
    )


@router.get("/fda-assessments/{fda_assessment_id}")
def fda_assessment_page(
    request: Request, fda_assessment_id: str, access: FdaRead, db: DB
) -> Response:
    """One FDA assessment: dates, time zone, status, the timeline with owners, and its pages."""
    return _detail_page(request, db, access.who, _visit(db, fda_assessment_id))


@router.post("/fda-assessments/{fda_assessment_id}/milestones")
def milestone_change(
    request: Request,
    fda_assessment_id: str,
    access: FdaManage,
    db: DB,
    form: Annotated[MilestoneForm, Form()],
) -> Response:
    """Move a milestone, give it another owner, or record the day it was done."""
    visit = _visit(db, fda_assessment_id)

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _detail_page(
            request, db, access.who, visit, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: update_milestone(db, fda_assessment=visit, **fields),
        then=lambda _: f"/fda-assessments/{visit.id}#timeline",
        again=again,
    )


# --- the site's people --------------------------------------------------------------------------


def _people_page(
    request: Request,
    db: Session,
    who: Principal,
    site: Site,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    people = list_people(db, site=site)
    framework = site_framework(db, site=site)
    return render(
        request,
        "week_people.html",
        principal=who,
        title=f"People of {site.code}",
        site=site,
        people=people,
        expertise=expertise_of(db, people),
        areas={pa.code: pa.name for pa in framework.practice_areas},
        can_manage=who.may(db, Permission.program_manage, site=site),
        values=values or {},
        errors=errors or {},
        breadcrumbs=_crumbs(site),
        status_code=status_code,
    )


@router.get("/sites/{code}/people")
def people_page(request: Request, code: str, access: SiteRead, db: DB) -> Response:
    """The site's people who may attend a session, the areas each speaks for, and an add form."""
    assert access.site is not None
    return _people_page(request, db, access.who, access.site)


@router.post("/sites/{code}/people")
def person_add(code: str, page: ProgramForms, form: Annotated[PersonForm, Form()]) -> Response:
    """Add someone who may attend a session; workbench users and others alike."""
    site = page.site

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _people_page(
            page.request, page.db, page.who, site, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: on_field("name", lambda: add_person(page.db, site=site, **fields)),
        then=lambda person: f"/sites/{site.code}/people#person-{person.id}",
        again=again,
        trial=page.db,
    )


@router.post("/sites/{code}/people/{person_id}/areas")
def person_areas_set(
    code: str, person_id: str, page: ProgramForms, form: Annotated[AreasForm, Form()]
) -> Response:
    """Set the practice areas a person speaks for."""
    site = page.site
    person = get_person(page.db, site=site, person_id=find_id(person_id, what="person", site=site))

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _people_page(
            page.request, page.db, page.who, site, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: set_person_areas(page.db, person=person, **fields),
        then=lambda _: f"/sites/{site.code}/people#person-{person.id}",
        again=again,
    )


# --- the planner --------------------------------------------------------------------------------


def _planner(
    request: Request,
    db: Session,
    who: Principal,
    visit: FdaAssessment,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    site = visit.site
    view = agenda_view(db, fda_assessment=visit)
    return render(
        request,
        "week_agenda.html",
        principal=who,
        title=f"Agenda: {visit.title} ({site.code})",
        site=site,
        visit=visit,
        view=view,
        kinds=CONFLICT_KINDS,
        editable=visit.status
        in (FdaAssessmentStatus.preparing.value, FdaAssessmentStatus.held.value),
        can_manage=who.may(db, Permission.program_manage, site=site),
        values=values or {"day": visit.starts_on.isoformat()},
        errors=errors or {},
        breadcrumbs=_crumbs(site, (visit.title, f"/fda-assessments/{visit.id}")),
        status_code=status_code,
    )


@router.get("/fda-assessments/{fda_assessment_id}/agenda")
def agenda_page(request: Request, fda_assessment_id: str, access: FdaRead, db: DB) -> Response:
    """The week planner: sessions per day, attendees, conflicts flagged."""
    return _planner(request, db, access.who, _visit(db, fda_assessment_id))


def _session_id(visit: FdaAssessment, text: str) -> int:
    return find_id(text, what=f"session of FDA assessment {visit.id}", site=visit.site)


@router.post("/fda-assessments/{fda_assessment_id}/agenda/sessions")
def session_add(
    request: Request,
    fda_assessment_id: str,
    access: FdaManage,
    db: DB,
    form: Annotated[SessionForm, Form()],
) -> Response:
    """Plan a session of the week."""
    visit = _visit(db, fda_assessment_id)

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _planner(
            request, db, access.who, visit, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: add_session(db, fda_assessment=visit, **fields),
        then=lambda planned: f"/fda-assessments/{visit.id}/agenda#session-{planned.id}",
        again=again,
        trial=db,
    )


@router.post("/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}")
def session_change(
    request: Request,
    fda_assessment_id: str,
    session_id: str,
    access: FdaManage,
    db: DB,
    form: Annotated[SessionForm, Form()],
) -> Response:
    """Move a session or change its area, topic or place."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=_session_id(visit, session_id))

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _planner(
            request, db, access.who, visit, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: change_session(db, agenda_session=planned, **fields),
        then=lambda _: f"/fda-assessments/{visit.id}/agenda#session-{planned.id}",
        again=again,
        trial=db,
    )


@router.post("/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}/cancel")
def session_cancel(fda_assessment_id: str, session_id: str, access: FdaManage, db: DB) -> Response:
    """Cancel a session (kept, so invitations say so)."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=_session_id(visit, session_id))
    cancel_session(db, agenda_session=planned)
    return RedirectResponse(f"/fda-assessments/{visit.id}/agenda#session-{planned.id}", 303)


@router.post("/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}/attendees")
def attendee_add(
    request: Request,
    fda_assessment_id: str,
    session_id: str,
    access: FdaManage,
    db: DB,
    form: Annotated[AttendeeForm, Form()],
) -> Response:
    """Put one of the site's people in a session; a double booking is flagged on the page."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=_session_id(visit, session_id))
    problems: dict[str, str] = {}
    person: SitePerson | None = None
    try:
        person = get_person(
            db,
            site=visit.site,
            person_id=find_id(form.person_id or "-", what="person", site=visit.site),
        )
    except NotFound as exc:
        problems["person_id"] = f"{exc} (choose one of the site's people)"

    def store(fields: dict[str, Any]) -> Any:
        assert person is not None
        return add_attendee(db, agenda_session=planned, person=person, remote=form.remote == "yes")

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _planner(
            request, db, access.who, visit, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=store,
        then=lambda _: f"/fda-assessments/{visit.id}/agenda#session-{planned.id}",
        again=again,
        problems=problems,
    )


@router.post(
    "/fda-assessments/{fda_assessment_id}/agenda/sessions/{session_id}/attendees/{person_id}/remove"
)
def attendee_remove(
    fda_assessment_id: str, session_id: str, person_id: str, access: FdaManage, db: DB
) -> Response:
    """Take a person out of a session (to fix a double booking, say)."""
    visit = _visit(db, fda_assessment_id)
    planned = get_session(db, fda_assessment=visit, session_id=_session_id(visit, session_id))
    person = get_person(
        db, site=visit.site, person_id=find_id(person_id, what="person", site=visit.site)
    )
    remove_attendee(db, agenda_session=planned, person=person)
    return RedirectResponse(f"/fda-assessments/{visit.id}/agenda#session-{planned.id}", 303)


@router.get("/fda-assessments/{fda_assessment_id}/agenda.pdf")
def agenda_download(fda_assessment_id: str, access: FdaRead, db: DB) -> Response:
    """The printable agenda as a PDF."""
    visit = _visit(db, fda_assessment_id)
    content = agenda_pdf(agenda_view(db, fda_assessment=visit))
    name = f"agenda-{visit.site.code}-fda-{visit.id}.pdf"
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/fda-assessments/{fda_assessment_id}/invitations/{person_id}.ics")
def invitation_download(
    fda_assessment_id: str, person_id: str, access: FdaRead, db: DB
) -> Response:
    """One attendee's calendar invitation: their sessions at local time, updates by SEQUENCE."""
    visit = _visit(db, fda_assessment_id)
    person = get_person(
        db, site=visit.site, person_id=find_id(person_id, what="person", site=visit.site)
    )
    content = invitation_for(
        db, fda_assessment=visit, agenda=find_agenda(db, fda_assessment=visit), person=person
    )
    name = f"fda-{visit.id}-person-{person.id}.ics"
    return Response(
        content,
        media_type=ICS_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- preparation cards --------------------------------------------------------------------------


def _card(db: Session, who: Principal, store: Store, visit: FdaAssessment, person_id: str) -> Any:
    person = get_person(
        db, site=visit.site, person_id=find_id(person_id, what="person", site=visit.site)
    )
    return build_card(
        db, fda_assessment=visit, person=person, reader=who, store=store, today=utcnow().date()
    )


@router.get("/fda-assessments/{fda_assessment_id}/cards/{person_id}.pdf")
def card_download(
    fda_assessment_id: str, person_id: str, access: FdaRead, db: DB, store: Store
) -> Response:
    """One attendee's preparation card as a PDF."""
    visit = _visit(db, fda_assessment_id)
    agenda = find_agenda(db, fda_assessment=visit)
    card = _card(db, access.who, store, visit, person_id)
    content = card_pdf(card, changed_at=agenda.changed_at if agenda else None)
    name = f"card-fda-{visit.id}-person-{card.person.id}.pdf"
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/fda-assessments/{fda_assessment_id}/cards/{person_id}")
def card_page(
    request: Request,
    fda_assessment_id: str,
    person_id: str,
    access: FdaRead,
    db: DB,
    store: Store,
) -> Response:
    """One attendee's preparation card, as the PDF prints it."""
    visit = _visit(db, fda_assessment_id)
    card = _card(db, access.who, store, visit, person_id)
    return render(
        request,
        "week_card.html",
        principal=access.who,
        title=f"Preparation card: {card.person.name}",
        site=visit.site,
        visit=visit,
        card=card,
        breadcrumbs=_crumbs(
            visit.site,
            (visit.title, f"/fda-assessments/{visit.id}"),
            ("Agenda", f"/fda-assessments/{visit.id}/agenda"),
        ),
    )
