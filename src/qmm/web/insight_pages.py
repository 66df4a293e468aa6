"""What a quality head reads first: the portfolio, a site's dashboard, each KPI's chart and
records, and the benchmark. Each view parses, calls services and read models, renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from qmm.assessment.service import (
    compute_scores,
    list_assessments,
)
from qmm.auth.permissions import Permission
from qmm.errors import InvalidInput
from qmm.events.extract_dates import site_data_as_of
from qmm.framework.practice_areas import PRACTICE_AREA_CODES, PRACTICE_AREAS
from qmm.presentation.kpis import (
    CHART_PERIODS,
    RECORDS_PAGE_SIZE,
    KPIRequest,
    chart_view,
    check_group,
    check_period,
    chosen_baseline,
    dashboard_tiles,
    em_rooms,
    kpi_definition,
    period_of_label,
    record_columns,
    records_by_role,
    records_in_order,
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
from qmm.presentation.paging import page_of
from qmm.threads.index import KEYS as THREAD_KEYS
from qmm.web.api_plans import worklist_of
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import site_coverage
from qmm.web.security import (
    Access,
    SignedIn,
    SiteRead,
    readable_sites,
    require,
)
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


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
def home(request: Request, access: SignedIn, db: DB, store: Store) -> Response:
    """Start page: what needs attention first, then the sites side by side by practice area."""
    sites = readable_sites(db, access.who)
    return render(
        request,
        "home.html",
        principal=access.who,
        title="Your sites",
        sites=sites,
        worklist=worklist_of(db, access.who, sites, store),
        show_site=len(sites) > 1,
        rows=portfolio(db, sites, access.who),
        overall_band=overall_band(),
        can_admin=access.who.may(db, Permission.user_manage),
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
        data_as_of=site_data_as_of(db, site.code),
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
        worklist=worklist_of(db, principal, [site], store),
        show_site=False,
        can_audit=principal.may(db, Permission.audit_read, site=site),
        can_import=principal.may(db, Permission.site_manage, site=site),
        can_start_assessment=principal.may(db, Permission.assessment_manage, site=site),
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
    baseline_from: str = "",
    baseline_to: str = "",
) -> Response:
    """One KPI at one site: its control chart, the signals in words, and every value.

    A baseline (from and to periods) takes the limits from those periods alone and judges the
    later ones against them; without one, the limits come from the whole history."""
    site = access.site
    assert site is not None
    definition = kpi_definition(kpi_id)
    chosen = check_period(period, CHART_PERIODS)
    picked = check_group(definition, group)
    if definition.groups and picked is None:
        picked = definition.groups[0]
    baseline = chosen_baseline(baseline_from, baseline_to)
    kpi_request = KPIRequest(db, store)
    values = kpi_request.values(site=site.code, kpis=[definition.id], period=chosen)
    view = chart_view(
        values,
        site=site.code,
        kpi=definition.id,
        group=picked,
        period=chosen,
        refreshing=kpi_request.refreshing,
        baseline=baseline,
    )
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
        baseline_from=baseline_from.strip(),
        baseline_to=baseline_to.strip(),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}?period={chosen}")],
    )


@router.get("/sites/{code}/em")
def em_page(request: Request, code: str, access: SiteRead, db: DB, store: Store) -> Response:
    """EM by room and grade: each room's excursion rate per month, its chart and its signals,
    so a drift in one room shows even when the site's overall rate looks steady."""
    site = access.site
    assert site is not None
    return render(
        request,
        "em.html",
        principal=access.who,
        title=f"Environmental monitoring by room at {site.code}",
        site=site,
        data_as_of=site_data_as_of(db, site.code, ["em_sample"]),
        rooms=em_rooms(db, site=site.code, store=store),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
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
    role: str = "",
    page: str = "",
) -> Response:
    """The records behind one KPI value, each marked numerator, denominator or value; the
    numerator's (the excursions, the late ones) first, a page at a time, or one role alone."""
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
    roles = records_by_role(rows)
    if role and role not in roles:
        raise InvalidInput(
            f"role must be one of {', '.join(roles) or 'the roles of these records'}, not {role!r}"
        )
    shown = page_of(roles[role] if role else records_in_order(rows), page, size=RECORDS_PAGE_SIZE)
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
        rows=shown.rows,
        records=shown,
        roles={name: len(found) for name, found in roles.items()},
        role=role,
        columns=record_columns(rows),
        thread_keys=THREAD_KEYS,
        breadcrumbs=[
            ("Sites", "/"),
            (site.code, f"/sites/{site.code}"),
            (definition.name + (f" ({picked})" if picked else ""), chart_href),
        ],
    )


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
