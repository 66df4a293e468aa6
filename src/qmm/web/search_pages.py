"""Search in the web app and the API: the header box's results page and /api/search.

Each view reads the query, calls the search service over the sites the caller may read, and
renders the results page or returns the one JSON shape. A query that cannot run is answered
with what is wrong with it (422), on the page beside the box, never as a server error.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from qmm.errors import InvalidInput
from qmm.models import Site
from qmm.presentation.paging import counted_page, parse_page
from qmm.search.query import MAX_QUERY_CHARS, InvalidSearch
from qmm.search.schemas import SearchResultsOut
from qmm.search.service import KIND_NAMES, PER_KIND, SearchResults, search
from qmm.web.deps import DB
from qmm.web.security import Principal, SignedIn, readable_sites
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
API: Any = {"include_in_schema": True, "tags": ["api"], "response_class": JSONResponse}

#: Hits per page when one kind is listed alone.
KIND_PAGE_SIZE: Final = 20


def searched_sites(db: DB, principal: Principal, site: str) -> list[Site]:
    """The sites a search covers: every one the caller reads, or the one named among them."""
    sites = readable_sites(db, principal)
    code = site.strip()
    if not code:
        return sites
    named = [s for s in sites if s.code == code.upper()]
    if not named:
        raise InvalidSearch(f"There is no site {code!r} among the sites you may read.")
    return named


@router.get("/search")
def search_page(
    request: Request,
    access: SignedIn,
    db: DB,
    q: str = "",
    kind: str = "",
    site: str = "",
    page: str = "",
) -> Response:
    """Search every site one may read; by kind, the first few, or one kind a page at a time."""
    principal = access.who
    results: SearchResults | None = None
    error = ""
    pager = None
    kind = kind.strip()
    try:
        number = parse_page(page)
        if kind and kind not in KIND_NAMES:
            raise InvalidSearch(f"There is no kind {kind!r} to search; choose one from the list.")
        sites = searched_sites(db, principal, site)
        if q.strip() or kind or site.strip():
            size = KIND_PAGE_SIZE if kind else PER_KIND
            results = search(
                db,
                reader=principal,
                sites=sites,
                query=q,
                kinds=[kind] if kind else None,
                offset=(number - 1) * size if kind else 0,
                limit=size,
            )
            if kind and results.kinds:
                found = results.kinds[0]
                pager = counted_page(found.hits, number, size=size, total=found.total)
    except InvalidInput as exc:
        message = str(exc)
        error = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return render(
        request,
        "search.html",
        principal=principal,
        title=f"Search: {q.strip()[:60]}" if q.strip() and not error else "Search",
        q=q,
        header_q=q,
        kind=kind,
        site_code=site.strip(),
        kinds=KIND_NAMES,
        results=results,
        pager=pager,
        error=error,
        max_chars=MAX_QUERY_CHARS,
        breadcrumbs=[("Sites", "/")],
        status_code=422 if error else 200,
    )


@router.get("/api/search", response_model=SearchResultsOut, **API)
def api_search(
    access: SignedIn,
    db: DB,
    q: Annotated[str, Query(description="Words to find; quote a phrase. At most 200 characters.")],
    kind: Annotated[
        list[str] | None, Query(description="Only these kinds (evidence, decision, ...).")
    ] = None,
    site: Annotated[str, Query(description="Only this site (its code).")] = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = PER_KIND,
) -> SearchResultsOut:
    """Records matching every word, best first per kind, at the sites the caller may read."""
    principal = access.who
    return SearchResultsOut.of(
        search(
            db,
            reader=principal,
            sites=searched_sites(db, principal, site),
            query=q,
            kinds=kind,
            offset=offset,
            limit=limit,
        )
    )
