"""Downloads of a site's evidence index and KPI series, and of an assessment's ratings, as CSV
or XLSX. Each parses, builds the table with the reports service, and answers with the file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import NotFound
from qmm.models import utcnow
from qmm.reports.exports import (
    FORMATS,
    SITE_TABLES,
    ExportTable,
    check_format,
    check_kpis,
    check_period,
    evidence_table,
    kpi_table,
    ratings_table,
    render,
)
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import download_name
from qmm.web.security import Access, SiteRead, require

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

AssessmentRead = Annotated[
    Access, Depends(require(Permission.assessment_read, assessment="assessment_id"))
]
Format = Annotated[str, Query(alias="format")]


def _download(table: ExportTable, fmt: str) -> Response:
    return Response(
        content=render(table, fmt),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": download_name(table.file_name(fmt))},
    )


@router.get("/sites/{code}/exports/{export}")
def site_export(
    code: str,
    export: str,
    access: SiteRead,
    db: DB,
    store: Store,
    fmt: Format = "csv",
    kpi: Annotated[list[str] | None, Query()] = None,
    period: str = "month",
) -> Response:
    """The site's evidence index, or its KPI series (`kpi=` repeatable, `period=`), as a file."""
    site = access.site
    assert site is not None
    if export not in SITE_TABLES:
        raise NotFound(f"no export {export!r} of a site; choose one of {', '.join(SITE_TABLES)}")
    wanted = check_format(fmt)
    today = utcnow().date()
    if export == "evidence":
        return _download(evidence_table(db, site=site, as_of=today), wanted)
    table = kpi_table(
        db,
        site=site,
        as_of=today,
        kpis=check_kpis(kpi or []),
        period=check_period(period),
        store=store,
    )
    return _download(table, wanted)


@router.get("/assessments/{assessment_id}/export")
def ratings_export(
    assessment_id: str, access: AssessmentRead, db: DB, fmt: Format = "csv"
) -> Response:
    """The assessment's current ratings, with each question's consensus, as a file."""
    assessment = access.assessment
    assert assessment is not None
    wanted = check_format(fmt)
    return _download(ratings_table(db, assessment=assessment), wanted)
