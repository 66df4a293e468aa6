"""The JSON API under /api for scripts and other systems; bearer tokens or a browser session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from qmm.assessment.service import compute_scores, get_question, record_rating
from qmm.audit.service import audit_log, entry_to_json
from qmm.audit.signatures import signatures_for
from qmm.auth.permissions import Permission
from qmm.sites.service import create_site, site_to_json
from qmm.web.deps import DB
from qmm.web.security import Access, public, readable_sites, require, route_requirement
from qmm.web.templating import render


class SiteIn(BaseModel):
    """A site to register; the service checks the code, FEI and type and says what is wrong."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    fei: str | None = None
    site_type: str | None = None
    headcount: int | None = None


class RatingIn(BaseModel):
    """One rating by the authenticated user: a score of 1 to 5, or null for not applicable."""

    model_config = ConfigDict(extra="forbid")

    question: str
    score: Annotated[int, Field(ge=1, le=5)] | None
    rationale: str
    evidence: list[str] = Field(default_factory=list)


def api_list_sites(
    access: Annotated[Access, Depends(require(Permission.site_read, any_site=True))], db: DB
) -> list[dict[str, Any]]:
    """The sites the caller may read (further limited by the token's sites)."""
    return [site_to_json(site) for site in readable_sites(db, access.who)]


def api_get_site(
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
) -> dict[str, Any]:
    """One site's public fields."""
    assert access.site is not None
    return site_to_json(access.site)


def api_create_site(
    body: SiteIn,
    access: Annotated[Access, Depends(require(Permission.site_manage, every_site=True))],
    db: DB,
) -> dict[str, Any]:
    """Register a site; administrators only, since a new site has no site-level roles yet."""
    site = create_site(
        db,
        code=body.code,
        name=body.name,
        fei=body.fei,
        site_type=body.site_type,
        headcount=body.headcount,
    )
    return site_to_json(site)


def api_get_assessment(
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_read, assessment="assessment_id"))
    ],
    db: DB,
) -> dict[str, Any]:
    """The assessment's scores, agreement and progress, with every signature's validity."""
    assessment = access.assessment
    assert assessment is not None
    data = compute_scores(db, assessment=assessment).to_json()
    data["assessment"] = {
        "id": assessment.id,
        "site": assessment.site.code,
        "title": assessment.title,
        "status": assessment.status,
        "framework": assessment.framework.ref,
    }
    data["signatures"] = [
        s.to_json()
        for s in signatures_for(db, record_type="assessment", record_id=str(assessment.id))
    ]
    return data


def api_record_rating(
    assessment_id: str,
    body: RatingIn,
    access: Annotated[
        Access, Depends(require(Permission.assessment_rate, assessment="assessment_id"))
    ],
    db: DB,
) -> dict[str, Any]:
    """Record the caller's own rating of one question; it supersedes their earlier one."""
    assessment = access.assessment
    assert assessment is not None
    rating = record_rating(
        db,
        assessment=assessment,
        question=get_question(db, assessment=assessment, code=body.question),
        assessor=access.who.user,
        score=body.score,
        rationale=body.rationale,
        evidence_refs=body.evidence,
    )
    return {
        "id": rating.id,
        "assessment": assessment.id,
        "question": body.question,
        "assessor": access.who.user.username,
        "score": rating.score,
        "not_applicable": rating.not_applicable,
        "rationale": rating.rationale,
        "evidence": list(rating.evidence_refs),
        "recorded_at": rating.recorded_at.isoformat(),
    }


def api_audit(
    access: Annotated[
        Access, Depends(require(Permission.audit_read, audit_record=("table", "record_id")))
    ],
    db: DB,
    table: str | None = None,
    record_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[dict[str, Any]]:
    """Audit entries of one site's record, or (administrators) of any table, record or all."""
    return [
        entry_to_json(entry)
        for entry in audit_log(db, table_name=table, record_id=record_id, limit=limit)
    ]


def api_openapi(request: Request, _access: Annotated[Access, Depends(public)]) -> Response:
    """The OpenAPI description; each operation names its permission under x-permission."""
    return JSONResponse(request.app.openapi())


def api_docs(request: Request, _access: Annotated[Access, Depends(public)]) -> Response:
    """A self-contained page listing the API (nothing is loaded from another site)."""
    operations = []
    for route in request.app.routes:
        requirement = route_requirement(route)
        if not getattr(route, "include_in_schema", False) or requirement is None:
            continue
        for method in sorted(getattr(route, "methods", ())):
            operations.append(
                {
                    "method": method,
                    "path": route.path,
                    "summary": (route.endpoint.__doc__ or "").strip(),
                    "rule": requirement.describe(),
                }
            )
    return render(
        request,
        "api_docs.html",
        principal=None,
        title="QMM Workbench API",
        operations=operations,
    )


def add_routes(app: FastAPI) -> None:
    """The API, in one table; each endpoint declares its permission through its guard."""
    operations: list[tuple[str, str, Callable[..., Any], int]] = [
        ("GET", "/api/sites", api_list_sites, 200),
        ("GET", "/api/sites/{code}", api_get_site, 200),
        ("POST", "/api/sites", api_create_site, 201),
        ("GET", "/api/assessments/{assessment_id}", api_get_assessment, 200),
        ("POST", "/api/assessments/{assessment_id}/ratings", api_record_rating, 201),
        ("GET", "/api/audit", api_audit, 200),
    ]
    for method, path, endpoint, status_code in operations:
        app.add_api_route(path, endpoint, methods=[method], status_code=status_code, tags=["api"])
    app.add_api_route("/api/openapi.json", api_openapi, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/api/docs",
        api_docs,
        methods=["GET"],
        include_in_schema=False,
        response_class=HTMLResponse,
    )
