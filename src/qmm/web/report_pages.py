"""The readiness report from the web app: the same HTML the CLI writes, or the PDF printed
from it, for a site the person may read and an assessment they may read."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from qmm.errors import InvalidInput
from qmm.metrics.engine import today
from qmm.reports.builds import ReportRequest, check_part, start_build
from qmm.reports.readiness import check_period, choose_assessment
from qmm.reports.render import REPORT_FORMATS, check_format
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import download_name
from qmm.web.security import SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: The report is one document with its styles inline and no script: allow exactly that.
REPORT_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


#: How often the progress page asks again, in seconds.
REFRESH_SECONDS: Final = 2


def _day(text: str | None, name: str) -> date | None:
    if text in (None, ""):
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise InvalidInput(f"{name} {text!r} must be a date as YYYY-MM-DD") from None


@router.get("/sites/{code}/report")
def site_report(
    request: Request,
    code: str,
    access: SiteRead,
    db: DB,
    store: Store,
    fmt: Annotated[str, Query(alias="format")] = "html",
    part: str = "full",
    assessment: int | None = None,
    as_of: str | None = None,
    since: str | None = None,
    retry: bool = False,
    progress: bool = False,
) -> Response:
    """The site's readiness report (`format=html|pdf`, `part=full|summary`, `assessment=`,
    `as_of=`, `since=`): built in the background, this page shows its progress until it is, then
    offers the PDF's download (`progress=1`; the HTML opens in place) or serves the cached bytes."""
    site = access.site
    assert site is not None
    wanted = check_format(fmt)
    which = check_part(part)
    day = _day(as_of, "as_of") or today()
    start = _day(since, "since")
    check_period(day, start, today=today())
    chosen = choose_assessment(db, site=site, assessment_id=assessment, reader=access.who)
    who = access.who
    token = who.token.id if who.token is not None else ""
    state = start_build(
        db,
        store=store,
        request=ReportRequest(
            site=site.code,
            assessment_id=chosen.id,
            as_of=day,
            since=start,
            fmt=wanted,
            part=which,
            reader=who,
            reader_key=f"user:{who.user.id}:token:{token}",
        ),
        retry=retry,
    )
    if state.status != "ready" or (progress and wanted == "pdf"):
        query = {"assessment": str(chosen.id), "format": wanted, "as_of": day.isoformat()}
        if which != "full":
            query["part"] = which
        if start is not None:
            query["since"] = start.isoformat()
        href = f"/sites/{site.code}/report?{urlencode(query)}"
        page = render(
            request,
            "report_build.html",
            principal=who,
            status_code={"failed": 500, "building": 202}.get(state.status, 200),
            title=f"Readiness report of {site.code}, A-{chosen.id}, as of {day.isoformat()}"
            + (" (one-page summary)" if which == "summary" else "")
            + f", {wanted.upper()}",
            state=state,
            fmt=wanted,
            href=href,
            progress_href=href + "&progress=1",
            retry_href=href + "&retry=1",
        )
        page.headers["Cache-Control"] = "no-store"
        if state.status == "building":
            page.headers["Refresh"] = f"{REFRESH_SECONDS}; url={href}&progress=1"
        return page
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": REPORT_POLICY}
    if wanted == "pdf":
        kind = "summary" if which == "summary" else "readiness"
        name = f"qmm-{kind}-{site.code}-A{chosen.id}-{day.isoformat()}.pdf"
        headers["Content-Disposition"] = download_name(name).replace("attachment", "inline", 1)
    return Response(content=state.read(), media_type=REPORT_FORMATS[wanted], headers=headers)
