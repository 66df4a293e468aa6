"""The QMM clause library and vendor documents in the web app and the API: the library, the
documents with the clauses they carry, the coverage per vendor and document type, and a
missing clause made a 90-day plan action. Each view parses, calls the service, renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.models import Site, utcnow
from qmm.program.clauses import (
    DOCUMENT_TYPES,
    add_document,
    clause_coverage,
    edit_clause,
    get_clause,
    list_clauses,
    list_documents,
    plan_missing_clause,
)
from qmm.program.common import InvalidProgramInput
from qmm.program.schemas.clauses import (
    ClauseCoverageOut,
    ClauseEditIn,
    ClauseOut,
    MissingClauseIn,
    VendorDocumentIn,
    VendorDocumentOut,
)
from qmm.program.schemas.plans import PlanActionOut
from qmm.web.api_schemas import NOTHING_STORED, ProblemsOut
from qmm.web.deps import DB
from qmm.web.forms import Day, Picked, ProgramForms, WebForm, submit
from qmm.web.security import Principal, ProgramManage, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
API: Any = {"include_in_schema": True, "tags": ["api"], "response_class": JSONResponse}


class VendorDocumentForm(WebForm):
    """A vendor document as its form sends it."""

    document_type: str = ""
    vendor: str = ""
    title: str = ""
    owner: str = ""
    effective_on: Day = ""
    expires_on: Day = ""
    link: str = ""
    clauses: Picked


class ClauseEditForm(WebForm):
    """A clause's wording as the edit form sends it."""

    title: str = ""
    text: str = ""
    purpose: str = ""
    source: str = ""


class MissingClauseForm(WebForm):
    """Which missing clause to plan."""

    vendor: str = ""
    document_type: str = ""
    clause: str = ""


def _page(
    request: Request,
    db: Session,
    who: Principal,
    site: Site,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    library = list_clauses(db, site=site)
    return render(
        request,
        "clauses.html",
        principal=who,
        title=f"QMM clauses in vendor documents at {site.code}",
        site=site,
        library=library,
        names={c.code: c.title for c in library},
        documents=list_documents(db, site=site),
        coverage=clause_coverage(db, site=site),
        types=DOCUMENT_TYPES,
        can_manage=who.may(db, Permission.program_manage, site=site),
        values=values or {},
        errors=errors or {},
        done=done,
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        status_code=status_code,
    )


@router.get("/sites/{code}/clauses")
def clauses_page(request: Request, code: str, access: SiteRead, db: DB, done: str = "") -> Response:
    """The clause library, the vendor documents, and the expected clauses each vendor lacks."""
    assert access.site is not None
    return _page(request, db, access.who, access.site, done=done)


@router.post("/sites/{code}/clauses/documents")
def document_add(
    code: str, page: ProgramForms, form: Annotated[VendorDocumentForm, Form()]
) -> Response:
    """Record a vendor document and the clauses it carries."""
    site = page.site

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _page(
            page.request, page.db, page.who, site, values=values, errors=errors, status_code=422
        )

    return submit(
        form,
        store=lambda fields: add_document(page.db, site=site, **fields),
        then=lambda _: f"/sites/{site.code}/clauses?done=document#coverage",
        again=again,
        trial=page.db,
    )


def _edit_page(
    request: Request,
    db: Session,
    who: Principal,
    site: Site,
    clause_code: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    clause = get_clause(db, site=site, code=clause_code)
    shown = values or {k: getattr(clause, k) for k in ("title", "text", "purpose", "source")}
    return render(
        request,
        "clause_edit.html",
        principal=who,
        title=f"Edit the clause {clause.title} at {site.code}",
        site=site,
        clause=clause,
        values=shown,
        errors=errors or {},
        breadcrumbs=[
            ("Sites", "/"),
            (site.code, f"/sites/{site.code}"),
            ("QMM clauses", f"/sites/{site.code}/clauses"),
        ],
        status_code=status_code,
    )


@router.get("/sites/{code}/clauses/{clause_code}/edit")
def clause_edit_page(
    request: Request, code: str, clause_code: str, access: ProgramManage, db: DB
) -> Response:
    """The form to change a clause's wording for the site (a copy of the default at first)."""
    assert access.site is not None
    return _edit_page(request, db, access.who, access.site, clause_code)


@router.post("/sites/{code}/clauses/{clause_code}/edit")
def clause_edit(
    code: str, clause_code: str, page: ProgramForms, form: Annotated[ClauseEditForm, Form()]
) -> Response:
    """Change the clause's wording; the earlier one is kept as a version."""
    site = page.site
    clause = get_clause(page.db, site=site, code=clause_code)

    def again(values: dict[str, Any], errors: dict[str, str]) -> Response:
        return _edit_page(
            page.request,
            page.db,
            page.who,
            site,
            clause.code,
            values=values,
            errors=errors,
            status_code=422,
        )

    return submit(
        form,
        store=lambda fields: edit_clause(page.db, site=site, code=clause.code, **fields),
        then=lambda _: f"/sites/{site.code}/clauses?done=clause#clause-{clause.code}",
        again=again,
    )


@router.post("/sites/{code}/clauses/plan")
def clause_plan(
    code: str, page: ProgramForms, form: Annotated[MissingClauseForm, Form()]
) -> Response:
    """Make a missing clause an action of the site's draft 90-day plan."""
    site = page.site
    action = plan_missing_clause(page.db, site=site, **form.service_fields())
    return RedirectResponse(
        f"/sites/{site.code}/plans/{action.plan.ref}#action-{action.number}", 303
    )


# --- API -----------------------------------------------------------------------------------


@router.get("/api/sites/{code}/clauses", response_model=list[ClauseOut], **API)
def api_clauses(code: str, access: SiteRead, db: DB) -> list[ClauseOut]:
    """The site's clause library (its own copies, then the defaults it has not copied)."""
    assert access.site is not None
    return [ClauseOut.of(c) for c in list_clauses(db, site=access.site)]


@router.get("/api/sites/{code}/vendor-documents", response_model=list[VendorDocumentOut], **API)
def api_documents(code: str, access: SiteRead, db: DB) -> list[VendorDocumentOut]:
    """The site's vendor documents."""
    assert access.site is not None
    return [VendorDocumentOut.of(d) for d in list_documents(db, site=access.site)]


@router.post(
    "/api/sites/{code}/vendor-documents",
    status_code=201,
    response_model=VendorDocumentOut,
    responses=NOTHING_STORED,
    **API,
)
def api_document_add(code: str, body: VendorDocumentIn, access: ProgramManage, db: DB) -> Response:
    """Record a vendor document and the clauses it carries."""
    assert access.site is not None
    try:
        document = add_document(db, site=access.site, **body.model_dump())
    except InvalidProgramInput as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(VendorDocumentOut.of(document).model_dump(mode="json"), status_code=201)


@router.patch(
    "/api/sites/{code}/clauses/{clause_code}",
    response_model=ClauseOut,
    responses=NOTHING_STORED,
    **API,
)
def api_clause_edit(
    code: str, clause_code: str, body: ClauseEditIn, access: ProgramManage, db: DB
) -> Response:
    """Change a clause's wording for the site (a copy of the default at first); the earlier
    wording is kept as a version."""
    assert access.site is not None
    changes = body.model_dump(exclude_none=True)
    try:
        edited = edit_clause(db, site=access.site, code=clause_code, **changes)
    except InvalidProgramInput as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(ClauseOut.of(edited).model_dump(mode="json"))


@router.get(
    "/api/sites/{code}/vendor-documents/coverage",
    response_model=list[ClauseCoverageOut],
    **API,
)
def api_coverage(code: str, access: SiteRead, db: DB) -> list[ClauseCoverageOut]:
    """Per vendor and document type, the expected clauses carried and missing."""
    assert access.site is not None
    return [ClauseCoverageOut.of(r) for r in clause_coverage(db, site=access.site)]


@router.post(
    "/api/sites/{code}/vendor-documents/coverage/plan",
    status_code=201,
    response_model=PlanActionOut,
    **API,
)
def api_plan_clause(code: str, body: MissingClauseIn, access: ProgramManage, db: DB) -> Response:
    """Make a missing clause an action of the site's draft 90-day plan."""
    assert access.site is not None
    action = plan_missing_clause(db, site=access.site, **body.model_dump())
    out = PlanActionOut.of(action, today=utcnow().date())
    return JSONResponse(out.model_dump(mode="json"), status_code=201)
