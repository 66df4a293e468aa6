"""The readiness report from the web app: the same HTML the CLI writes, or the PDF printed
from it, for a site the person may read and an assessment they may read."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from qmm.errors import InvalidInput
from qmm.metrics.engine import today
from qmm.reports.readiness import build_report, choose_assessment
from qmm.reports.render import REPORT_FORMATS, check_format, render_report
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import download_name
from qmm.web.security import SiteRead

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: The report is one document with its styles inline and no script: allow exactly that.
REPORT_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _day(text: str | None, name: str) -> date | None:
    if text in (None, ""):
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise InvalidInput(f"{name} {text!r} must be a date as YYYY-MM-DD") from None


@router.get("/sites/{code}/report")
def site_report(
    code: str,
    access: SiteRead,
    db: DB,
    store: Store,
    fmt: Annotated[str, Query(alias="format")] = "html",
    assessment: int | None = None,
    as_of: str | None = None,
    since: str | None = None,
) -> Response:
    """The site's readiness report (`format=html|pdf`, `assessment=`, `as_of=`, `since=`)."""
    site = access.site
    assert site is not None
    wanted = check_format(fmt)
    day = _day(as_of, "as_of") or today()
    start = _day(since, "since")
    chosen = choose_assessment(db, site=site, assessment_id=assessment, reader=access.who)
    built = build_report(
        db,
        site=site,
        store=store,
        assessment_id=chosen.id,
        as_of=day,
        since=start,
        reader=access.who,
    )
    content = render_report(built, wanted)
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": REPORT_POLICY}
    if wanted == "pdf":
        name = f"qmm-readiness-{site.code}-A{chosen.id}-{day.isoformat()}.pdf"
        headers["Content-Disposition"] = download_name(name).replace("attachment", "inline", 1)
    return Response(content=content, media_type=REPORT_FORMATS[wanted], headers=headers)
