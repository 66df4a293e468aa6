"""The pages a quality head and an assessor work in: portfolio, site dashboard, KPIs, imports,
benchmark, and the assessment workspace's ratings. Each parses, calls services, renders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment.scoring import AssessmentScores
from qmm.assessment.service import (
    compute_scores,
    get_question,
    list_assessments,
    record_consensus,
    record_rating,
)
from qmm.audit.signatures import signatures_for
from qmm.auth.permissions import Permission
from qmm.auth.service import MAX_FAILED_LOGINS
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.events.uploads import (
    accepted_suffixes,
    batch_of_site,
    batches_of,
    import_upload,
    problems_of,
    profile_names,
    record_type_names,
)
from qmm.framework.practice_areas import PRACTICE_AREA_CODES, PRACTICE_AREAS
from qmm.framework.service import load_tree
from qmm.models import Assessment, AssessmentStatus, ImportBatch, SignatureMeaning, Site
from qmm.presentation.kpis import (
    CHART_PERIODS,
    KPIRequest,
    chart_view,
    check_group,
    check_period,
    dashboard_tiles,
    kpi_definition,
    period_of_label,
    record_columns,
)
from qmm.presentation.maturity import (
    COHORT_NAME,
    COHORT_SOURCE,
    area_bands,
    benchmark_placements,
    cohort_caveat,
    fda_cohort,
    heat_class,
    overall_band,
    overall_of,
    placement_of,
    portfolio,
    scale_x,
    shown_assessment,
)
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import site_coverage, workspace_evidence
from qmm.web.forms import parse_refs
from qmm.web.security import (
    Access,
    Principal,
    SignedIn,
    SiteRead,
    readable_sites,
    require,
)
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

MEANINGS: Final = [m.value for m in SignatureMeaning]
SCORE_CHOICES: Final = ("1", "2", "3", "4", "5", "na")


def chart_helpers() -> dict[str, Any]:
    """What the score and band templates need besides the data."""
    return {
        "heat_class": heat_class,
        "scale_x": scale_x,
        "area_names": PRACTICE_AREAS,
        "area_codes": PRACTICE_AREA_CODES,
        "cohort_name": COHORT_NAME,
    }


# --- portfolio -----------------------------------------------------------------------------


@router.get("/")
def home(request: Request, access: SignedIn, db: DB) -> Response:
    """Start page: the sites this person may see, side by side by practice area."""
    sites = readable_sites(db, access.who)
    return render(
        request,
        "home.html",
        principal=access.who,
        title="Your sites",
        sites=sites,
        rows=portfolio(db, sites, access.who),
        overall_band=overall_band(),
        **chart_helpers(),
    )


# --- site dashboard ------------------------------------------------------------------------


@router.get("/sites/{code}")
def site_page(
    request: Request,
    code: str,
    access: SiteRead,
    db: DB,
    store: Store,
    period: str = "month",
) -> Response:
    """The site's answer first (scores against the cohort, KPIs), then its assessments."""
    principal = access.who
    site = access.site
    assert site is not None
    chosen = check_period(period, CHART_PERIODS)
    assessments = [
        a
        for a in list_assessments(db, site=site)
        if principal.may(db, Permission.assessment_read, assessment=a)
    ]
    shown = shown_assessment(db, principal, site)
    scores = compute_scores(db, assessment=shown) if shown is not None else None
    tiles = dashboard_tiles(KPIRequest(db, store), site=site.code, period=chosen)
    return render(
        request,
        "site.html",
        principal=principal,
        title=f"{site.code}: {site.name}",
        site=site,
        assessments=assessments,
        shown=shown,
        scores=scores,
        overall=overall_of(scores) if scores is not None else None,
        placement=placement_of(scores) if scores is not None else None,
        bands=area_bands(),
        overall_band=overall_band(),
        tiles=tiles,
        period=chosen,
        periods=CHART_PERIODS,
        evidence_coverage=site_coverage(db, shown),
        can_audit=principal.may(db, Permission.audit_read, site=site),
        can_import=principal.may(db, Permission.site_manage, site=site),
        breadcrumbs=[("Sites", "/")],
        **chart_helpers(),
    )


# --- KPI chart and records -----------------------------------------------------------------


@router.get("/sites/{code}/kpis/{kpi_id}")
def kpi_page(
    request: Request,
    code: str,
    kpi_id: str,
    access: SiteRead,
    db: DB,
    store: Store,
    period: str = "month",
    group: str | None = None,
) -> Response:
    """One KPI at one site: its control chart, the signals in words, and every value."""
    site = access.site
    assert site is not None
    definition = kpi_definition(kpi_id)
    chosen = check_period(period, CHART_PERIODS)
    picked = check_group(definition, group)
    if definition.groups and picked is None:
        picked = definition.groups[0]
    values = KPIRequest(db, store).values(site=site.code, kpis=[definition.id], period=chosen)
    view = chart_view(values, site=site.code, kpi=definition.id, group=picked, period=chosen)
    return render(
        request,
        "kpi.html",
        principal=access.who,
        title=f"{definition.name}{f' ({picked})' if picked else ''} at {site.code}",
        site=site,
        definition=definition,
        group=picked,
        period=chosen,
        periods=CHART_PERIODS,
        view=view,
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}?period={chosen}")],
    )


@router.get("/sites/{code}/kpis/{kpi_id}/records")
def kpi_records_page(
    request: Request,
    code: str,
    kpi_id: str,
    access: SiteRead,
    db: DB,
    store: Store,
    period_value: str,
    group: str | None = None,
) -> Response:
    """The records behind one KPI value, each marked numerator, denominator or value."""
    site = access.site
    assert site is not None
    definition = kpi_definition(kpi_id)
    picked = check_group(definition, group)
    if definition.groups and picked is None:
        raise InvalidInput(
            f"{definition.id} is split by {definition.group}: add group= one of "
            f"{', '.join(definition.groups)}"
        )
    kind = period_of_label(period_value)
    kpis = KPIRequest(db, store)
    rows = kpis.records(site=site.code, kpi=definition.id, period_value=period_value, group=picked)
    value = next(
        (
            v
            for v in kpis.values(site=site.code, kpis=[definition.id], period=kind)
            if v.period == period_value.strip() and v.group == picked
        ),
        None,
    )
    chart_period = kind if kind in CHART_PERIODS else "month"
    chart_href = f"/sites/{site.code}/kpis/{definition.id}?period={chart_period}" + (
        f"&group={picked}" if picked else ""
    )
    return render(
        request,
        "kpi_records.html",
        principal=access.who,
        title=f"Records behind {definition.name}{f' ({picked})' if picked else ''}, "
        f"{period_value.strip()}",
        site=site,
        definition=definition,
        group=picked,
        period_value=period_value.strip(),
        value=value,
        rows=rows,
        columns=record_columns(rows),
        breadcrumbs=[
            ("Sites", "/"),
            (site.code, f"/sites/{site.code}"),
            (definition.name + (f" ({picked})" if picked else ""), chart_href),
        ],
    )


# --- imports -------------------------------------------------------------------------------


def _imports_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    batch: ImportBatch | None = None,
    error: str | None = None,
    problems: list[Any] | None = None,
    problem_total: int = 0,
    record_type: str = "",
    profile: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "imports.html",
        principal=principal,
        title=f"Imports for {site.code}",
        site=site,
        batch=batch,
        error=error,
        problems=problems or [],
        problem_total=problem_total,
        batches=batches_of(db, site=site),
        record_types=record_type_names(),
        profiles=profile_names(),
        suffixes=accepted_suffixes(),
        record_type=record_type,
        profile=profile,
        max_mb=request.app.state.web_settings.max_upload_bytes // (1024 * 1024),
        can_import=principal.may(db, Permission.site_manage, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        status_code=status_code,
    )


@router.get("/sites/{code}/imports")
def imports_page(request: Request, code: str, access: SiteRead, db: DB) -> Response:
    """The site's import batches, newest first, and (for those who may) the upload form."""
    site = access.site
    assert site is not None
    batch = batch_of_site(db, site=site, batch_id=request.query_params.get("batch", ""))
    return _imports_page(request, db, access.who, site, batch=batch)


@router.post("/sites/{code}/imports")
def import_file(
    request: Request,
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_manage, site="code"))],
    db: DB,
    store: Store,
    record_type: Annotated[str, Form()] = "",
    profile: Annotated[str, Form()] = "",
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import one extract for this site; any bad row stores nothing and every error is listed."""
    site = access.site
    assert site is not None
    principal = access.who
    if upload is None or not upload.filename:
        return _imports_page(
            request,
            db,
            principal,
            site,
            error="Choose the extract file to upload.",
            record_type=record_type,
            profile=profile,
            status_code=422,
        )
    try:
        batch = import_upload(
            db,
            store=store,
            site=site,
            file_name=upload.filename,
            content=upload.file,
            record_type=record_type,
            profile=profile or None,
        )
    except InvalidInput as exc:
        problems, total = problems_of(exc)
        message = (
            f"{upload.filename}: {total} problem{'s' if total != 1 else ''} found; "
            "nothing was stored. Correct the rows below in the extract and upload it again."
            if problems
            else str(exc)
        )
        return _imports_page(
            request,
            db,
            principal,
            site,
            error=message,
            problems=problems,
            problem_total=total,
            record_type=record_type,
            profile=profile,
            status_code=422,
        )
    return RedirectResponse(f"/sites/{site.code}/imports?batch={batch.id}", status_code=303)


# --- benchmark -----------------------------------------------------------------------------


@router.get("/benchmark")
def benchmark_page(
    request: Request,
    access: Annotated[Access, Depends(require(Permission.site_read, any_site=True))],
    db: DB,
) -> Response:
    """The FDA 2024 cohort in figures, and where each of the person's sites sits in it."""
    principal = access.who
    placed = benchmark_placements(db, readable_sites(db, principal), principal)
    return render(
        request,
        "benchmark.html",
        principal=principal,
        title=f"Benchmark: the {COHORT_NAME}",
        cohort=fda_cohort(),
        source=COHORT_SOURCE,
        caveat=cohort_caveat(placed),
        placed=placed,
        bands=area_bands(),
        overall_band=overall_band(),
        breadcrumbs=[("Sites", "/")],
        **chart_helpers(),
    )


# --- assessment workspace ------------------------------------------------------------------


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
    status_code: int = 200,
) -> Response:
    """The workspace: questions by sub-element with anchors, ratings, roll-up and sign-off."""
    scores: AssessmentScores = compute_scores(db, assessment=assessment)
    framework = load_tree(db, framework_id=assessment.framework_id)
    signatures = signatures_for(db, record_type="assessment", record_id=str(assessment.id))
    rated_count = sum(1 for q in scores.questions.values() if q.consensus_source != "unrated")
    me = principal.user.username
    mine = {
        code: next((r for r in q.ratings if r.assessor == me), None)
        for code, q in scores.questions.items()
    }
    read_only = _read_only_reason(db, principal, assessment)
    focus = (rating_error or consensus_error or {}).get("question") or rated or agreed
    open_sub_elements = {
        q.sub_element for code, q in scores.questions.items() if code == focus
    } or {
        next(
            (q.sub_element for q in scores.questions.values() if q.consensus_source == "unrated"),
            "",
        )
    }
    return render(
        request,
        "assessment.html",
        principal=principal,
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
        f"/assessments/{assessment.id}?rated={question}#q-{question}", status_code=303
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
        f"/assessments/{assessment.id}?agreed={question}#q-{question}", status_code=303
    )
