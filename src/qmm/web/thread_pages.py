"""Threads in the web app and the API: a record's thread from event to decision, and a site's
broken threads. Each view parses, calls the thread service, renders or returns its one shape."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.responses import Response

from qmm.threads.schemas import BrokenOut, ThreadOut, thread_path
from qmm.threads.service import (
    BROKEN_LABELS,
    LABELS,
    broken_threads,
    build_thread,
    check_record_type,
    find_record,
)
from qmm.web.deps import DB, Store
from qmm.web.security import SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _crumbs(code: str) -> list[tuple[str, str]]:
    return [("Sites", "/"), (code, f"/sites/{code}"), ("Threads", f"/sites/{code}/threads")]


@router.get("/sites/{code}/threads")
def threads_page(
    request: Request, code: str, access: SiteRead, db: DB, store: Store, record: str = ""
) -> Response:
    """A site's broken threads, oldest first; `?record=ID` opens the thread of any record id."""
    site = access.site
    assert site is not None
    if record.strip():
        kind, rid = find_record(db, site=site, record_id=record, store=store)
        return RedirectResponse(thread_path(site.code, kind, quote(rid, safe="")), 303)
    broken = [BrokenOut.of(b) for b in broken_threads(db, site=site, store=store)]
    return render(
        request,
        "threads.html",
        principal=access.who,
        title=f"Threads at {site.code}",
        site=site,
        broken=broken,
        labels=BROKEN_LABELS,
        breadcrumbs=_crumbs(site.code)[:2],
    )


@router.get("/sites/{code}/threads/{record_type}/{record_key}")
def thread_page(
    request: Request,
    code: str,
    record_type: str,
    record_key: str,
    access: SiteRead,
    db: DB,
    store: Store,
) -> Response:
    """One record's thread: every linked record in date order, each link's time, what is broken."""
    site = access.site
    assert site is not None
    kind = check_record_type(record_type)
    thread = ThreadOut.of(
        build_thread(db, site=site, record_type=kind, record_id=record_key, store=store)
    )
    return render(
        request,
        "thread.html",
        principal=access.who,
        title=f"Thread of {LABELS[kind]} {thread.record_id}",
        site=site,
        thread=thread,
        labels=LABELS,
        breadcrumbs=_crumbs(site.code),
    )


@router.get(
    "/api/sites/{code}/threads/{record_type}/{record_key}",
    response_model=ThreadOut,
    include_in_schema=True,
    tags=["api"],
    response_class=JSONResponse,
)
def api_thread(
    code: str, record_type: str, record_key: str, access: SiteRead, db: DB, store: Store
) -> ThreadOut:
    """A record's thread: upstream and downstream records, links with hours, broken steps."""
    site = access.site
    assert site is not None
    return ThreadOut.of(
        build_thread(db, site=site, record_type=record_type, record_id=record_key, store=store)
    )


@router.get(
    "/api/sites/{code}/threads",
    response_model=list[BrokenOut],
    include_in_schema=True,
    tags=["api"],
    response_class=JSONResponse,
)
def api_broken_threads(code: str, access: SiteRead, db: DB, store: Store) -> list[BrokenOut]:
    """The site's broken threads, oldest first."""
    site = access.site
    assert site is not None
    return [BrokenOut.of(b) for b in broken_threads(db, site=site, store=store)]
