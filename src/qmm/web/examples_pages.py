"""The examples library in the web app and the API: a site's examples and the candidates
suggested from its records, one example with its KPI trends, writing, reviewing and approving
one, and choosing which to share at an FDA assessment."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment_week.examples import (
    STATUS_LABELS,
    STATUSES,
    add_example,
    approve_example,
    candidates,
    choose_example,
    chosen_examples,
    example_values,
    get_candidate,
    get_example,
    list_examples,
    prefill,
    review_example,
    unchoose_example,
    update_example,
)
from qmm.assessment_week.preparation_schemas import CandidateOut, ExampleOut
from qmm.assessment_week.service import get_fda_assessment
from qmm.auth.permissions import Permission
from qmm.errors import InvalidInput
from qmm.evidence.service import site_framework
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.metrics.catalogue import KPIS, get_kpi
from qmm.models import FdaAssessment, Site, WeekExample
from qmm.presentation.kpis import ChartView, KPIRequest, chart_view
from qmm.program.common import InvalidProgramInput
from qmm.web.api_schemas import NOTHING_CHANGED, NOTHING_STORED, ProblemsOut
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import sentences, sub_element_groups, sub_element_names
from qmm.web.forms import Picked, ProgramForms, Refs, WebForm, find_id, submit
from qmm.web.security import Access, FdaManage, FdaRead, Principal, ProgramManage, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api_router = APIRouter(tags=["api"])

KPI_NAMES: Final = {k.id: k.name for k in KPIS}
DONE: Final = {
    "added": "was written as a draft; a second person reviews it next",
    "updated": "was updated (an edit sends it back to draft)",
    "reviewed": "is reviewed; it can now be approved for sharing",
    "approved": "is approved for sharing with FDA",
}


def fda_assessment_of(db: Session, access: Access, fda_assessment_id: str) -> FdaAssessment:
    """The FDA assessment the guard already placed at a site the person may read."""
    assert access.site is not None
    return get_fda_assessment(
        db, fda_assessment_id=find_id(fda_assessment_id, what="FDA assessment", site=access.site)
    )


def _crumbs(site: Site) -> list[tuple[str, str]]:
    return [
        ("Sites", "/"),
        (site.code, f"/sites/{site.code}"),
        ("Examples", f"/sites/{site.code}/examples"),
    ]


# --- the form ------------------------------------------------------------------------------


class ExampleForm(WebForm):
    """An example as its form sends it."""

    title: str = ""
    situation: str = ""
    action_taken: str = ""
    result: str = ""
    owner: str = ""
    practice_areas: Picked
    sub_elements: Picked
    kpis: Picked
    evidence_refs: Refs = ""


class NewExampleForm(ExampleForm):
    """A new example, with the record it was suggested from."""

    source_kind: str = ""
    source_ref: str = ""


def form_values(example: WeekExample) -> dict[str, Any]:
    """A stored example as its form shows it."""
    values = example_values(example)
    values["evidence_refs"] = ", ".join(example.evidence_refs)
    return values


def _form_context(db: Session, site: Site, values: dict[str, Any]) -> dict[str, Any]:
    framework = site_framework(db, site=site)
    return {
        "groups": sub_element_groups(framework, values.get("sub_elements", ())),
        "kpi_names": KPI_NAMES,
        "area_names": PRACTICE_AREAS,
    }


# --- the library -----------------------------------------------------------------------------


@router.get("/sites/{code}/examples")
def examples_page(
    request: Request,
    code: str,
    access: SiteRead,
    db: DB,
    store: Store,
    status: str = "",
) -> Response:
    """The site's examples, and the records suggested as examples not yet written up."""
    site = access.site
    assert site is not None
    chosen = status.strip() or None
    if chosen is not None and chosen not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return render(
        request,
        "examples.html",
        principal=access.who,
        title=f"Examples library of {site.code}",
        site=site,
        examples=list_examples(db, site=site, status=chosen),
        candidates=candidates(db, site=site, store=store),
        status=chosen or "",
        statuses=STATUS_LABELS,
        area_names=PRACTICE_AREAS,
        can_manage=access.who.may(db, Permission.program_manage, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
    )


def _new_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    values: dict[str, Any],
    facts: tuple[str, ...] = (),
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "example_new.html",
        principal=principal,
        title="Write an example",
        site=site,
        values=values,
        facts=facts,
        errors=sentences(errors or {}),
        breadcrumbs=_crumbs(site),
        status_code=status_code,
        **_form_context(db, site, values),
    )


@router.get("/sites/{code}/examples/new")
def example_new(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    candidate: str = "",
) -> Response:
    """The form for a new example; a picked candidate's links prefill it, the story is yours."""
    site = access.site
    assert site is not None
    values: dict[str, Any] = {"owner": ""}
    facts: tuple[str, ...] = ()
    if candidate.strip():
        draft = prefill(get_candidate(db, site=site, key=candidate, store=store))
        values = {**draft.values, "evidence_refs": ", ".join(draft.values["evidence_refs"])}
        facts = draft.facts
    return _new_page(request, db, access.who, site, values=values, facts=facts)


@router.post("/sites/{code}/examples")
def example_add(code: str, page: ProgramForms, form: Annotated[NewExampleForm, Form()]) -> Response:
    """Write an example as a draft under the site's next EX-nnn."""
    site = page.site

    def store(fields: dict[str, Any]) -> WeekExample:
        return add_example(
            page.db,
            site=site,
            **{k: v for k, v in fields.items() if k not in {"source_kind", "source_ref"}},
            source_kind=fields["source_kind"] or None,
            source_ref=fields["source_ref"] or None,
        )

    return submit(
        form,
        store=store,
        then=lambda example: f"/sites/{site.code}/examples/{example.ref}?done=added",
        again=lambda values, errors: _new_page(
            page.request, page.db, page.who, site, values=values, errors=errors, status_code=422
        ),
    )


# --- one example -------------------------------------------------------------------------------


def kpi_charts(db: Session, store: Any, site: Site, kpis: list[str]) -> list[ChartView]:
    """The monthly control chart of each KPI behind an example, those with values at the site."""
    if not kpis:
        return []
    request = KPIRequest(db, store)
    values = request.values(site=site.code, kpis=kpis, period="month")
    views = []
    for kpi in kpis:
        groups = get_kpi(kpi).groups
        view = chart_view(
            values, site=site.code, kpi=kpi, group=groups[0] if groups else None, period="month"
        )
        if view is not None:
            views.append(view)
    return views


def _example_page(
    request: Request,
    db: Session,
    store: Any,
    principal: Principal,
    site: Site,
    example: WeekExample,
    *,
    done: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    shown = {**form_values(example), **(values or {})}
    may_manage = principal.may(db, Permission.program_manage, site=site)
    return render(
        request,
        "example.html",
        principal=principal,
        title=f"{example.ref}: {example.title}",
        site=site,
        example=example,
        status_label=STATUS_LABELS[example.status],
        charts=kpi_charts(db, store, site, list(example.kpis)),
        names=sub_element_names(site_framework(db, site=site)),
        done=DONE.get(done or ""),
        values=shown,
        errors=sentences(errors or {}),
        can_manage=may_manage,
        is_author=principal.user.username == example.created_by,
        can_audit=principal.may(db, Permission.audit_read, site=site),
        breadcrumbs=_crumbs(site),
        status_code=status_code,
        **_form_context(db, site, shown),
    )


@router.get("/sites/{code}/examples/{ref}")
def example_page(
    request: Request,
    code: str,
    ref: str,
    access: SiteRead,
    db: DB,
    store: Store,
    done: str | None = None,
) -> Response:
    """One example: the story, its links, the KPI trends behind it, and its review."""
    site = access.site
    assert site is not None
    example = get_example(db, site=site, ref=ref)
    return _example_page(request, db, store, access.who, site, example, done=done)


@router.post("/sites/{code}/examples/{ref}/edit")
def example_edit(
    code: str, ref: str, page: ProgramForms, form: Annotated[ExampleForm, Form()]
) -> Response:
    """Edit an example; a reviewed or approved one goes back to draft."""
    site = page.site
    example = get_example(page.db, site=site, ref=ref)
    return submit(
        form,
        store=lambda fields: update_example(page.db, example=example, changes=fields),
        then=lambda _: f"/sites/{site.code}/examples/{example.ref}?done=updated",
        again=lambda values, errors: _example_page(
            page.request,
            page.db,
            page.store,
            page.who,
            site,
            example,
            values=values,
            errors=errors,
            status_code=422,
        ),
    )


@router.post("/sites/{code}/examples/{ref}/review")
def example_review(code: str, ref: str, page: ProgramForms) -> Response:
    """A second person, not the author, reviewed the example."""
    example = review_example(page.db, example=get_example(page.db, site=page.site, ref=ref))
    return RedirectResponse(
        f"/sites/{page.site.code}/examples/{example.ref}?done=reviewed", status_code=303
    )


@router.post("/sites/{code}/examples/{ref}/approve")
def example_approve(code: str, ref: str, page: ProgramForms) -> Response:
    """Approve a reviewed example for sharing with FDA (not by its author)."""
    example = approve_example(page.db, example=get_example(page.db, site=page.site, ref=ref))
    return RedirectResponse(
        f"/sites/{page.site.code}/examples/{example.ref}?done=approved", status_code=303
    )


# --- chosen for an FDA assessment -------------------------------------------------------------


@router.get("/fda-assessments/{fda_assessment_id}/examples")
def fda_examples_page(
    request: Request, fda_assessment_id: str, access: FdaRead, db: DB, done: str = ""
) -> Response:
    """Which examples the site shares at this FDA assessment, and which it could add."""
    visit = fda_assessment_of(db, access, fda_assessment_id)
    site = visit.site
    chosen = chosen_examples(db, fda_assessment=visit)
    others = [e for e in list_examples(db, site=site) if e not in chosen]
    return render(
        request,
        "example_choice.html",
        principal=access.who,
        title=f"Examples to share: {visit.title}",
        site=site,
        visit=visit,
        chosen=chosen,
        others=others,
        statuses=STATUS_LABELS,
        area_names=PRACTICE_AREAS,
        done=done,
        can_manage=access.who.may(db, Permission.program_manage, site=site),
        breadcrumbs=[
            ("Sites", "/"),
            (site.code, f"/sites/{site.code}"),
            (visit.title, f"/fda-assessments/{visit.id}"),
        ],
    )


class ChoiceForm(WebForm):
    """An example to add to or take off the list shared with FDA."""

    example: str = ""
    remove: str = ""


@router.post("/fda-assessments/{fda_assessment_id}/examples")
def fda_examples_choose(
    fda_assessment_id: str,
    access: FdaManage,
    db: DB,
    form: Annotated[ChoiceForm, Form()],
) -> Response:
    """Choose an example to share (or take one off with remove=yes)."""
    visit = fda_assessment_of(db, access, fda_assessment_id)
    example = get_example(db, site=visit.site, ref=form.example)
    if form.remove.strip().lower() == "yes":
        unchoose_example(db, fda_assessment=visit, example=example)
        done = "removed"
    else:
        choose_example(db, fda_assessment=visit, example=example)
        done = "chosen"
    return RedirectResponse(f"/fda-assessments/{visit.id}/examples?done={done}", status_code=303)


# --- the API -----------------------------------------------------------------------------------


class ExampleIn(BaseModel):
    """A new example as the API takes it."""

    title: str
    situation: str
    action_taken: str
    result: str
    owner: str
    practice_areas: list[str] = Field(default_factory=list)
    sub_elements: list[str] = Field(default_factory=list)
    evidence_refs: list[str] = Field(default_factory=list)
    kpis: list[str] = Field(default_factory=list)
    source_kind: str | None = None
    source_ref: str | None = None


class ChoiceIn(BaseModel):
    """An example to choose for an FDA assessment, or to take off with remove."""

    example: str
    remove: bool = False


def _refused(exc: InvalidProgramInput) -> Response:
    refused = ProblemsOut(detail=str(exc), problems=exc.problems)
    return JSONResponse(refused.model_dump(), status_code=422)


@api_router.get("/api/sites/{code}/examples", response_model=list[ExampleOut])
def api_examples(
    code: str, access: SiteRead, db: DB, status: str | None = None
) -> list[ExampleOut]:
    """The site's examples, newest first (status: draft, reviewed or approved)."""
    assert access.site is not None
    return [ExampleOut.of(e) for e in list_examples(db, site=access.site, status=status)]


@api_router.get("/api/sites/{code}/examples/{ref}", response_model=ExampleOut)
def api_example(code: str, ref: str, access: SiteRead, db: DB) -> ExampleOut:
    """One example by its ref (EX-001)."""
    assert access.site is not None
    return ExampleOut.of(get_example(db, site=access.site, ref=ref))


@api_router.post(
    "/api/sites/{code}/examples",
    status_code=201,
    response_model=ExampleOut,
    responses=NOTHING_STORED,
)
def api_add_example(code: str, body: ExampleIn, access: ProgramManage, db: DB) -> Response:
    """Write an example as a draft; 422 names every problem and stores nothing."""
    assert access.site is not None
    try:
        example = add_example(db, site=access.site, **body.model_dump())
    except InvalidProgramInput as exc:
        return _refused(exc)
    return JSONResponse(ExampleOut.of(example).model_dump(mode="json"), status_code=201)


@api_router.post(
    "/api/sites/{code}/examples/{ref}/review", response_model=ExampleOut, responses=NOTHING_CHANGED
)
def api_review_example(code: str, ref: str, access: ProgramManage, db: DB) -> ExampleOut:
    """A second person reviewed the draft (409 for its author or one reviewed already)."""
    assert access.site is not None
    return ExampleOut.of(review_example(db, example=get_example(db, site=access.site, ref=ref)))


@api_router.post(
    "/api/sites/{code}/examples/{ref}/approve", response_model=ExampleOut, responses=NOTHING_CHANGED
)
def api_approve_example(code: str, ref: str, access: ProgramManage, db: DB) -> ExampleOut:
    """Approve a reviewed example for sharing (409 for its author or a draft)."""
    assert access.site is not None
    return ExampleOut.of(approve_example(db, example=get_example(db, site=access.site, ref=ref)))


@api_router.get("/api/sites/{code}/example-candidates", response_model=list[CandidateOut])
def api_candidates(code: str, access: SiteRead, db: DB, store: Store) -> list[CandidateOut]:
    """Records suggested as examples (CAPAs, drills, decisions) not yet written up."""
    assert access.site is not None
    return [CandidateOut.of(c) for c in candidates(db, site=access.site, store=store)]


@api_router.get(
    "/api/fda-assessments/{fda_assessment_id}/examples", response_model=list[ExampleOut]
)
def api_chosen_examples(fda_assessment_id: str, access: FdaRead, db: DB) -> list[ExampleOut]:
    """The examples chosen to share at this FDA assessment."""
    visit = fda_assessment_of(db, access, fda_assessment_id)
    return [ExampleOut.of(e) for e in chosen_examples(db, fda_assessment=visit)]


@api_router.post(
    "/api/fda-assessments/{fda_assessment_id}/examples",
    response_model=list[ExampleOut],
    responses=NOTHING_CHANGED,
)
def api_choose_example(
    fda_assessment_id: str, body: ChoiceIn, access: FdaManage, db: DB
) -> list[ExampleOut]:
    """Choose an example to share (remove: true takes it off); the chosen list comes back."""
    visit = fda_assessment_of(db, access, fda_assessment_id)
    example = get_example(db, site=visit.site, ref=body.example)
    if body.remove:
        unchoose_example(db, fda_assessment=visit, example=example)
    else:
        choose_example(db, fda_assessment=visit, example=example)
    return [ExampleOut.of(e) for e in chosen_examples(db, fda_assessment=visit)]


#: One router for the app: the pages (outside the API docs) and the API routes as declared.
router.routes.extend(api_router.routes)
