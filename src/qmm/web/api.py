"""The JSON API under /api for scripts and other systems; bearer tokens or a browser session."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from qmm.assessment.schemas import AssessmentScoresOut, RatingIn, RatingOut
from qmm.assessment.service import compute_scores, get_question, record_rating
from qmm.audit.schemas import AuditEntryOut
from qmm.audit.service import audit_log
from qmm.audit.signatures import signatures_for
from qmm.auth.permissions import Permission
from qmm.errors import InvalidInput, NotFound
from qmm.events.schemas import ImportBatchOut, ImportRefusedOut
from qmm.events.uploads import batches_of
from qmm.evidence.schemas import CoverageOut, EvidenceIn, EvidenceOut
from qmm.evidence.service import InvalidEvidence, add_evidence, coverage, list_evidence
from qmm.metrics.schemas import ControlChartOut, KPIRecordsOut, KPIValueOut
from qmm.metrics.service import kpi_values
from qmm.models import utcnow
from qmm.presentation.kpis import (
    KPIRequest,
    check_group,
    kpi_definition,
    period_of_label,
    series_for,
)
from qmm.presentation.maturity import (
    COHORT_SOURCE,
    benchmark_placements,
    cohort_caveat,
    fda_cohort,
)
from qmm.presentation.schemas import BenchmarkOut, ProgramOut, SitePlacementOut
from qmm.program.common import InvalidProgramInput
from qmm.program.decisions import add_decision, list_decisions
from qmm.program.schemas.decisions import DecisionIn, DecisionOut
from qmm.sites.schemas import SiteIn, SiteOut, SiteSettingsIn
from qmm.sites.service import create_site, no_such_site, set_two_person_rule
from qmm.web import api_continuity, api_feedback, api_plans, api_week
from qmm.web.api_schemas import NOTHING_STORED, ProblemsOut, refused_with
from qmm.web.decision_pages import find_decision
from qmm.web.deps import DB, Store, reads_first
from qmm.web.evidence_pages import find_item
from qmm.web.import_pages import stored_upload
from qmm.web.security import Access, public, readable_sites, require, route_requirement
from qmm.web.templating import render

router = APIRouter(tags=["api"])

Period = Literal["month", "quarter", "year"]
IMPORT_REFUSED: Final = refused_with(ImportRefusedOut, "Nothing was stored; every problem listed")


@router.get("/api/sites", response_model=list[SiteOut])
def api_list_sites(
    access: Annotated[Access, Depends(require(Permission.site_read, any_site=True))], db: DB
) -> list[SiteOut]:
    """The sites the caller may read (further limited by the token's sites)."""
    return [SiteOut.of(site) for site in readable_sites(db, access.who)]


@router.get("/api/sites/{code}", response_model=SiteOut)
def api_get_site(
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
) -> SiteOut:
    """One site's public fields."""
    assert access.site is not None
    return SiteOut.of(access.site)


@router.post("/api/sites", status_code=201, response_model=SiteOut)
def api_create_site(
    body: SiteIn,
    access: Annotated[Access, Depends(require(Permission.site_manage, every_site=True))],
    db: DB,
) -> SiteOut:
    """Register a site; administrators only, since a new site has no site-level roles yet."""
    return SiteOut.of(create_site(db, **body.model_dump()))


@router.patch("/api/sites/{code}/settings", response_model=SiteOut)
def api_site_settings(
    code: str,
    body: SiteSettingsIn,
    access: Annotated[Access, Depends(require(Permission.site_settings, site="code"))],
    db: DB,
) -> SiteOut:
    """Change a site's settings (administrators): the two-person rule; the audit trail keeps it."""
    site = access.site
    assert site is not None
    if body.two_person_rule is not None:
        set_two_person_rule(db, site=site, on=body.two_person_rule)
    return SiteOut.of(site)


@router.get("/api/assessments/{assessment_id}")
def api_get_assessment(
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_read, assessment="assessment_id"))
    ],
    db: DB,
) -> AssessmentScoresOut:
    """The assessment's scores, agreement and progress, with every signature's validity."""
    assessment = access.assessment
    assert assessment is not None
    return AssessmentScoresOut.of(
        assessment,
        compute_scores(db, assessment=assessment),
        signatures_for(db, record_type="assessment", record_id=str(assessment.id)),
    )


@router.post("/api/assessments/{assessment_id}/ratings", status_code=201)
def api_record_rating(
    assessment_id: str,
    body: RatingIn,
    access: Annotated[
        Access, Depends(require(Permission.assessment_rate, assessment="assessment_id"))
    ],
    db: DB,
) -> RatingOut:
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
    return RatingOut.of(rating)


@router.get("/api/audit")
def api_audit(
    access: Annotated[
        Access, Depends(require(Permission.audit_read, audit_record=("table", "record_id")))
    ],
    db: DB,
    table: str | None = None,
    record_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[AuditEntryOut]:
    """Audit entries of one site's record, or (administrators) of any table, record or all."""
    return [
        AuditEntryOut.of(entry)
        for entry in audit_log(db, table_name=table, record_id=record_id, limit=limit)
    ]


def _values_error(exc: ValueError) -> InvalidInput:
    return InvalidInput(str(exc))


@router.get("/api/kpis")
def api_kpi_values(
    access: Annotated[Access, Depends(require(Permission.site_read, any_site=True))],
    db: DB,
    store: Store,
    site: Annotated[list[str] | None, Query(description="Site code; repeat. Default: all.")] = None,
    kpi: Annotated[list[str] | None, Query(description="KPI id; repeat. Default: all.")] = None,
    period: Period = "month",
    start: Annotated[str | None, Query(description="First period, e.g. 2025-01.")] = None,
    end: Annotated[str | None, Query(description="Last period, e.g. 2025-12.")] = None,
    as_of: Annotated[
        date | None,
        Query(description="Compute as of this day. Default: the data's extract date."),
    ] = None,
) -> list[KPIValueOut]:
    """KPI values per site and period, with numerator and denominator (sites you may read);
    `complete` is false for the period that holds the as-of date."""
    principal = access.who
    readable = {s.code: s for s in readable_sites(db, principal)}
    if site:
        for code in site:
            if code not in readable:
                raise no_such_site(code)  # unknown or unreadable: the same answer
        codes = list(dict.fromkeys(site))
    else:
        codes = sorted(readable)
    if kpi:
        for kpi_id in kpi:
            try:
                kpi_definition(kpi_id)
            except Exception as exc:
                raise InvalidInput(str(exc)) from None
    if not codes:
        return []
    try:
        # The stored values when they answer (current, the data's own as-of dates), else computed.
        values = kpi_values(
            db,
            store=store,
            kpis=kpi or None,
            sites=codes,
            period=period,
            start=start,
            end=end,
            as_of=as_of,
        )
    except ValueError as exc:
        raise _values_error(exc) from None
    return [KPIValueOut.of(v) for v in values]


@router.get("/api/sites/{code}/kpis/{kpi_id}/records")
def api_kpi_records(
    code: str,
    kpi_id: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
    store: Store,
    period_value: Annotated[str, Query(description="2025-03, 2025-Q1 or 2025")],
    group: str | None = None,
) -> KPIRecordsOut:
    """The records behind one KPI value, each with its role (numerator, denominator, value)."""
    assert access.site is not None
    definition = kpi_definition(kpi_id)
    picked = check_group(definition, group)
    if definition.groups and picked is None:
        raise InvalidInput(
            f"{definition.id} is split by {definition.group}: add group= one of "
            f"{', '.join(definition.groups)}"
        )
    kind = period_of_label(period_value)
    label = period_value.strip()
    kpis = KPIRequest(db, store)
    rows = kpis.records(site=access.site.code, kpi=definition.id, period_value=label, group=picked)
    value = next(
        (
            v
            for v in kpis.values(site=access.site.code, kpis=[definition.id], period=kind)
            if v.period == label and v.group == picked
        ),
        None,
    )
    return KPIRecordsOut.of(
        rows, kpi=definition.id, site=access.site.code, period=label, group=picked, value=value
    )


@router.get("/api/sites/{code}/kpis/{kpi_id}/chart")
def api_kpi_chart(
    code: str,
    kpi_id: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
    store: Store,
    period: Period = "month",
    group: str | None = None,
) -> ControlChartOut:
    """A KPI's control chart at a site: values, centre line, limits and Nelson-rule signals."""
    assert access.site is not None
    definition = kpi_definition(kpi_id)
    picked = check_group(definition, group)
    if definition.groups and picked is None:
        picked = definition.groups[0]
    values = KPIRequest(db, store).values(
        site=access.site.code, kpis=[definition.id], period=period
    )
    series = series_for(values, kpi=definition.id, site=access.site.code, group=picked)
    if series is None:
        raise NotFound(
            f"no values of {definition.id} for {access.site.code}"
            + (f" ({picked})" if picked else "")
            + "; import the site's extracts first"
        )
    return ControlChartOut.of(
        series.chart,
        kpi=definition.id,
        site=access.site.code,
        group=picked,
        period=period,
        target=definition.target(picked),
    )


@router.get("/api/sites/{code}/imports")
def api_list_imports(
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ImportBatchOut]:
    """The latest import batches holding records of the site, newest first."""
    assert access.site is not None
    return [ImportBatchOut.of(b) for b in batches_of(db, site=access.site, limit=limit)]


@router.post(
    "/api/sites/{code}/imports",
    status_code=201,
    response_model=ImportBatchOut,
    responses=IMPORT_REFUSED,
)
@reads_first
async def api_import(
    request: Request,
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_manage, site="code"))],
    db: DB,
    store: Store,
    upload: Annotated[UploadFile, File(description="The extract: .csv, .xlsx, .parquet, .jsonl")],
    record_type: Annotated[str, Form()],
    profile: Annotated[str, Form()] = "",
) -> Response:
    """Import one extract of the site as a batch; any invalid row stores nothing (422 lists all).

    The file is checked before the request's turn to write; only storing it takes the turn.
    """
    assert access.site is not None
    try:
        batch = await stored_upload(
            request,
            db,
            store=store,
            site_code=access.site.code,
            file_name=upload.filename or "upload",
            content=upload.file,
            record_type=record_type,
            profile=profile or None,
        )
    except InvalidInput as exc:
        return JSONResponse(ImportRefusedOut.of(exc).model_dump(), status_code=422)
    return JSONResponse(ImportBatchOut.of(batch).model_dump(mode="json"), status_code=201)


@router.get("/api/benchmark")
def api_benchmark(
    access: Annotated[Access, Depends(require(Permission.site_read, any_site=True))],
    db: DB,
) -> BenchmarkOut:
    """The FDA 2024 cohort's statistics and each of your sites' latest assessment placed in it."""
    placed = benchmark_placements(db, readable_sites(db, access.who), access.who)
    return BenchmarkOut(
        cohort_source=COHORT_SOURCE,
        cohort=fda_cohort().to_json(),
        sites=[SitePlacementOut.of(row) for row in placed],
        caveat=cohort_caveat(placed),
    )


@router.get("/api/sites/{code}/evidence", response_model=list[EvidenceOut])
def api_list_evidence(
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
    kind: Annotated[str | None, Query(description="Only items of this kind.")] = None,
    sub_element: Annotated[
        str | None, Query(description="Only items supporting this sub-element code.")
    ] = None,
    include_retired: bool = False,
) -> list[EvidenceOut]:
    """The site's evidence items in ref order (current ones unless retired ones are asked for)."""
    assert access.site is not None
    items = list_evidence(
        db,
        site=access.site,
        kind=kind or None,
        sub_element=sub_element or None,
        include_retired=include_retired,
    )
    today = utcnow().date()
    return [EvidenceOut.of(item, today=today) for item in items]


@router.get("/api/sites/{code}/evidence/{ref}", response_model=EvidenceOut)
def api_get_evidence(
    code: str,
    ref: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
) -> EvidenceOut:
    """One evidence item of the site by its ref (EV-0001), retired ones included."""
    assert access.site is not None
    return EvidenceOut.of(find_item(db, access.site, ref), today=utcnow().date())


@router.post(
    "/api/sites/{code}/evidence",
    status_code=201,
    response_model=EvidenceOut,
    responses=NOTHING_STORED,
)
def api_add_evidence(
    code: str,
    body: EvidenceIn,
    access: Annotated[Access, Depends(require(Permission.evidence_manage, site="code"))],
    db: DB,
) -> Response:
    """Add an item to the site's index as the next EV-nnnn; a 422 names each bad field."""
    assert access.site is not None
    try:
        item = add_evidence(
            db,
            site=access.site,
            title=body.title,
            kind=body.kind,
            owner=body.owner,
            effective_on=body.effective_on,
            review_by=body.review_by,
            link=body.link or None,
            eqms_id=body.eqms_id or None,
            description=body.description,
            sub_elements=body.sub_elements,
        )
    except InvalidEvidence as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    created = EvidenceOut.of(item, today=utcnow().date())
    return JSONResponse(created.model_dump(mode="json"), status_code=201)


@router.get("/api/assessments/{assessment_id}/evidence-coverage", response_model=CoverageOut)
def api_evidence_coverage(
    assessment_id: str,
    access: Annotated[
        Access, Depends(require(Permission.assessment_read, assessment="assessment_id"))
    ],
    db: DB,
) -> CoverageOut:
    """Sub-elements without evidence, overdue reviews, unsupported ratings and unknown refs."""
    assert access.assessment is not None
    return CoverageOut.of(coverage(db, assessment=access.assessment))


# --- the program: decisions and the overview ---------------------------------------------


@router.get("/api/sites/{code}/decisions", response_model=list[DecisionOut])
def api_list_decisions(
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
    owner: Annotated[str | None, Query(description="Owner contains this text.")] = None,
    decided_from: Annotated[date | None, Query(alias="from")] = None,
    decided_to: Annotated[date | None, Query(alias="to")] = None,
    quality_won: bool | None = None,
    status: Literal["draft", "signed", "superseded", "discarded"] | None = None,
) -> list[DecisionOut]:
    """The site's decision log, newest decision first, filtered as asked."""
    assert access.site is not None
    if owner is not None and "\x00" in owner:
        raise InvalidInput("owner must not contain a NUL character")
    found = list_decisions(
        db,
        site=access.site,
        owner=owner or None,
        decided_from=decided_from,
        decided_to=decided_to,
        quality_won=quality_won,
        status=status,
    )
    return [DecisionOut.of(db, d) for d in found]


@router.get("/api/sites/{code}/decisions/{ref}", response_model=DecisionOut)
def api_get_decision(
    code: str,
    ref: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
) -> DecisionOut:
    """One decision by its ref (DEC-0001), with its status, chain neighbours and signatures."""
    assert access.site is not None
    return DecisionOut.of(db, find_decision(db, access.site, ref))


@router.post(
    "/api/sites/{code}/decisions",
    status_code=201,
    response_model=DecisionOut,
    responses=NOTHING_STORED,
)
def api_add_decision(
    code: str,
    body: DecisionIn,
    access: Annotated[Access, Depends(require(Permission.program_manage, site="code"))],
    db: DB,
) -> Response:
    """Log a draft decision as the next DEC-nnnn; a 422 names each bad field."""
    assert access.site is not None
    try:
        entry = add_decision(db, site=access.site, **body.model_dump())
    except InvalidProgramInput as exc:
        refused = ProblemsOut(detail=str(exc), problems=exc.problems)
        return JSONResponse(refused.model_dump(), status_code=422)
    return JSONResponse(DecisionOut.of(db, entry).model_dump(mode="json"), status_code=201)


@router.get("/api/sites/{code}/program", response_model=ProgramOut)
def api_program(
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_read, site="code"))],
    db: DB,
    store: Store,
) -> ProgramOut:
    """Objectives with their KPI status, steering cadences, the forum and the running plan."""
    site = access.site
    assert site is not None
    return ProgramOut.of(db, site, today=utcnow().date(), store=store, reader=access.who)


@router.get("/api/openapi.json", include_in_schema=False)
def api_openapi(request: Request, _access: Annotated[Access, Depends(public)]) -> Response:
    """The OpenAPI description; each operation names its permission under x-permission."""
    return JSONResponse(request.app.openapi())


@router.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
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


#: The API's areas, each with its router; the app registers them in this order.
ROUTERS: Final = (
    router,
    api_plans.router,
    api_continuity.router,
    api_week.router,
    api_feedback.router,
)
