"""The FastAPI application: routes, error pages, security headers, one session per request."""

from __future__ import annotations

import logging
import os
from typing import Final
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import qmm
from qmm.auth.sessions import LastUseStamps
from qmm.db import get_engine, is_busy, session_factory
from qmm.errors import QMMError, Unauthenticated
from qmm.events.store import EventStore
from qmm.web import (
    admin_pages,
    api,
    assessment_pages,
    clause_pages,
    continuity_pages,
    decision_pages,
    evidence_pages,
    examples_pages,
    export_pages,
    feedback_pages,
    import_pages,
    insight_pages,
    pages,
    plan_pages,
    program_pages,
    questionnaire_pages,
    report_pages,
    search_pages,
    team_pages,
    thread_pages,
    week_pages,
)
from qmm.web.deps import RETRY_AFTER_SECONDS, DatabaseBusy, WebSettings, WriterQueue
from qmm.web.security import (
    API_PREFIX,
    CSRF_FIELD,
    PublicMount,
    clear_session_cookie,
    is_api,
    route_requirement,
    safe_next,
)
from qmm.web.templating import STATIC_DIR, render, render_text

logger = logging.getLogger("qmm.web")

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: Sent on answers to requests that came over TLS (directly, or through a trusted proxy whose
#: X-Forwarded-Proto uvicorn has turned into the scheme): keep using https for a year.
HSTS: Final = "max-age=31536000"
GENERIC_ERROR: Final = "Something went wrong on our side; nothing was saved. Try again later."
TITLES: Final = {
    400: "The request could not be understood",
    401: "Sign in to continue",
    403: "You do not have access to this",
    404: "Not found",
    405: "That action is not possible here",
    409: "That clashes with what is stored",
    413: "The upload is too large",
    422: "Please check what you entered",
    500: "Something went wrong",
    503: "The server is busy",
}
#: A sign-in waits this long for a free core to check its password: a rush of sign-ins is
#: bound by the CPU (50 at once on 2 cores: about 20 s for the last), and waiting beats failing.
PASSWORD_CHECK_WAIT_SECONDS: Final = 120
BUSY_MESSAGE: Final = (
    "Many people are saving at this moment and your request did not get its turn in time. "
    "Nothing was changed. Wait a few seconds and send it again."
)


def _is_api_path(path: str) -> bool:
    """For the crash handler, which runs outside routing: decide JSON or HTML from the path."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, and turns any crash into a plain 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        path: str = scope.get("path", "")
        over_tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    # A response with a policy of its own (the self-contained report) keeps it.
                    if name != "Content-Security-Policy" or name not in headers:
                        headers[name] = value
                if over_tls:
                    headers["Strict-Transport-Security"] = HSTS
                if not path.startswith("/static/") and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:
                raise
            response: Response
            if _is_api_path(path):
                response = JSONResponse({"detail": GENERIC_ERROR}, status_code=500)
            else:
                body = render_text("error.html", title=TITLES[500], code=500, message=GENERIC_ERROR)
                response = HTMLResponse(body, status_code=500)
            await response(scope, receive, send_with_headers)


class BodyTooLarge(StarletteHTTPException):
    """A request body grew past the limit while it was being read (a chunked upload declares no
    length). An HTTP exception, so that FastAPI's body parsing passes it on as the 413 it is
    instead of answering 400 "error parsing the body"."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class BodyLimitMiddleware:
    """Refuses request bodies over the limit (413) before they fill the disk or the memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        limit = f"{self.max_bytes / (1024 * 1024):g} MB"
        return (
            f"The request is larger than the {limit} the web server accepts; nothing was stored. "
            "Import bigger extracts with `qmm import` on the server."
        )

    def _refusal(self, path: str) -> Response:
        message = self._message()
        if _is_api_path(path):
            return JSONResponse({"detail": message}, status_code=413)
        body = render_text("error.html", title=TITLES[413], code=413, message=message)
        return HTMLResponse(body, status_code=413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refusal(path)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refusal(path)(scope, receive, send)


def _error_page(request: Request, status_code: int, message: str) -> Response:
    """A plain page that says what went wrong in words, with a way back."""
    return render(
        request,
        "error.html",
        principal=None,
        title=TITLES.get(status_code, "Something is not right"),
        status_code=status_code,
        code=status_code,
        message=message,
    )


async def handle_qmm_error(request: Request, exc: Exception) -> Response:
    """Known errors keep their status: JSON for the API, a page (or sign-in) for people."""
    assert isinstance(exc, QMMError)
    message = str(exc)
    if is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse({"detail": message}, status_code=exc.status_code, headers=headers)
    settings: WebSettings = request.app.state.web_settings
    response: Response
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if isinstance(exc, Unauthenticated) and request.method in {"GET", "HEAD"}:
        response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    elif isinstance(exc, Unauthenticated) and request.url.path != "/login":
        kept, _retype, _files = await _kept_form(request) if _from_here(request) else ([], [], [])
        response = pages.sign_in_again_page(
            request,
            settings,
            action=target,
            next_url=_came_from(request),
            kept=[(name, value) for name, value in kept if name != CSRF_FIELD],
        )
    else:
        response = _error_page(request, exc.status_code, message)
    if isinstance(exc, Unauthenticated):
        clear_session_cookie(response, request=request, settings=settings)
    return response


def _from_here(request: Request) -> bool:
    """Whether a form was sent from one of this site's pages (Origin, else Referer): only then
    is what it carried offered to be sent again after signing in, never from another site."""
    sender = request.headers.get("origin") or request.headers.get("referer") or ""
    parts = urlsplit(sender)
    return bool(parts.netloc) and parts.netloc == request.url.netloc


def _came_from(request: Request) -> str:
    """The page a form was sent from, on this site (else the start page): where to return."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods: JSON for the API, a page for people."""
    assert isinstance(exc, StarletteHTTPException)
    if is_api(request):
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
    message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
    response = _error_page(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """Malformed input: FastAPI's detailed JSON for the API, a readable list for people."""
    assert isinstance(exc, RequestValidationError)
    if is_api(request):
        return await request_validation_exception_handler(request, exc)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error.get('loc', ())[1:]) or 'input'}: {error.get('msg')}"
        for error in exc.errors()
    )
    return _error_page(request, 422, problems)


async def _kept_form(request: Request) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """What a refused form carried: fields to send again, password fields, file fields."""
    kept: list[tuple[str, str]] = []
    retype: list[str] = []
    files: list[str] = []
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return kept, retype, files
    try:
        form = await request.form()
    except Exception:  # a body already read and not kept: nothing to offer again
        return kept, retype, files
    for name, value in form.multi_items():
        if not isinstance(value, str):
            files.append(name)
        elif "password" in name:
            if name not in retype:
                retype.append(name)
        else:
            kept.append((name, value))
    return kept, retype, files


async def handle_database_busy(request: Request, exc: Exception) -> Response:
    """A request that could not write in time: 503 with Retry-After, and what was typed kept."""
    if not isinstance(exc, DatabaseBusy) and not is_busy(exc):
        raise exc
    logger.warning(
        "answered 503, the database was busy: %s %s (%s)",
        request.method,
        request.url.path,
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if is_api(request):
        return JSONResponse({"detail": BUSY_MESSAGE}, status_code=503, headers=headers)
    kept, retype, files = await _kept_form(request)
    response: Response
    if request.url.path == "/login" and request.method == "POST":
        fields = dict(kept)
        response = pages.login_page(
            request,
            request.app.state.web_settings,
            next_url=fields.get("next", "/"),
            username=fields.get("username", ""),
            error=BUSY_MESSAGE.replace("send it again", "sign in again"),
            status_code=503,
        )
    else:
        response = render(
            request,
            "busy.html",
            principal=None,
            title=TITLES[503],
            status_code=503,
            message=BUSY_MESSAGE,
            action=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            kept=kept,
            shown=[(name, value) for name, value in kept if name != CSRF_FIELD],
            retype=retype,
            files=files,
        )
    response.headers.update(headers)
    return response


def _declare_in_openapi(app: FastAPI) -> None:
    """Publish each API operation's permission in the OpenAPI document as x-permission."""
    for route in app.routes:
        requirement = route_requirement(route)
        if isinstance(route, APIRoute) and requirement is not None and route.include_in_schema:
            route.openapi_extra = {
                **(route.openapi_extra or {}),
                "x-permission": requirement.to_openapi(),
            }


def add_area(app: FastAPI, router: APIRouter) -> None:
    """Register an area's routes on the app itself: FastAPI 0.165 keeps an included router as a
    nested object, which the OpenAPI permissions, the access matrix and overrides cannot see."""
    for route in router.routes:
        assert isinstance(route, APIRoute)
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            status_code=route.status_code,
            response_model=route.response_model,
            responses=route.responses,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            tags=route.tags,
            name=route.name,
        )


#: Each area's pages come with its own router; sign-in and the site pages first.
PAGE_AREAS: Final = (
    pages,
    insight_pages,
    import_pages,
    assessment_pages,
    team_pages,
    evidence_pages,
    decision_pages,
    program_pages,
    plan_pages,
    continuity_pages,
    export_pages,
    report_pages,
    thread_pages,
    clause_pages,
    week_pages,
    examples_pages,
    questionnaire_pages,
    admin_pages,
    feedback_pages,
    search_pages,
)


def create_app(
    engine: Engine | None = None,
    *,
    settings: WebSettings | None = None,
    store: EventStore | None = None,
) -> FastAPI:
    """Build the web application on an engine and event store (the configured ones by default)."""
    app = FastAPI(
        title="QMM Workbench",
        version=qmm.__version__,
        summary="Quality Management Maturity self-assessment, benchmark and trust layer.",
        openapi_url=None,  # served by api.api_openapi, which declares itself public
        docs_url=None,  # the default page loads Swagger UI from a CDN; see api.api_docs
        redoc_url=None,
    )
    app.state.session_factory = session_factory(engine or get_engine())
    app.state.web_settings = settings or WebSettings()
    app.state.writer_queue = WriterQueue()
    app.state.password_check_queue = WriterQueue(
        PASSWORD_CHECK_WAIT_SECONDS, at_once=max(1, os.cpu_count() or 1)
    )
    app.state.last_use_stamps = LastUseStamps()
    app.state.event_store = store
    for router in (*(area.router for area in PAGE_AREAS), *api.ROUTERS):
        add_area(app, router)
    app.router.routes.append(
        PublicMount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")
    )
    app.add_exception_handler(QMMError, handle_qmm_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(DatabaseBusy, handle_database_busy)
    app.add_exception_handler(OperationalError, handle_database_busy)
    app.add_exception_handler(PoolTimeout, handle_database_busy)
    app.add_middleware(BodyLimitMiddleware, max_bytes=app.state.web_settings.max_upload_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    _declare_in_openapi(app)
    return app
