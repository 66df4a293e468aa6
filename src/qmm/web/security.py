"""Who is asking and whether they may: cookies and bearer tokens, CSRF, and per-route guards.

Every route declares what it needs by depending on exactly one guard: `public`, `signed_in`, or
`require(permission, <where>)`. The guard is also the declaration: `route_requirement` reads it
back from any route, so the access-matrix test can check every route the app has.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from qmm.assessment.service import get_assessment, no_such_assessment
from qmm.assessment_week.service import get_fda_assessment
from qmm.audit.scope import audit_scope
from qmm.audit.trail import Actor, set_actor
from qmm.auth.permissions import Permission
from qmm.auth.service import can, visible_site_ids
from qmm.auth.sessions import resolve_api_token, resolve_web_session
from qmm.errors import Forbidden, NotFound, Unauthenticated
from qmm.models import (
    ApiToken,
    Assessment,
    Site,
    User,
    WebSession,
    utcnow,
)
from qmm.record_ids import parse_record_id
from qmm.sites.service import get_site, list_sites, no_such_site
from qmm.web.deps import DB, WebSettings

SESSION_COOKIE: Final = "qmm_session"
LOGIN_CSRF_COOKIE: Final = "qmm_login_csrf"
LOGIN_CSRF_MAX_AGE: Final = 3600
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX: Final = "/api"


def is_api(request: Request) -> bool:
    """API requests answer in JSON and accept bearer tokens; the rest are web pages."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def is_unsafe(request: Request) -> bool:
    """Methods that may change state: these need a CSRF token when a browser sends them."""
    return request.method not in SAFE_METHODS


# --- declarations --------------------------------------------------------------------------


class Where(StrEnum):
    """Where a permission must hold for a route's request."""

    public = "public"  # anyone, signed in or not
    signed_in = "signed_in"  # any signed-in, active user
    site = "site"  # at the site whose code is in a path parameter
    assessment = "assessment"  # at the site of the assessment whose id is in a path parameter
    fda_assessment = "fda_assessment"  # at the site of FDA's assessment whose id is in the path
    audit_record = "audit_record"  # at the site of the audited record named by two parameters
    any_site = "any_site"  # at one site at least; results are limited to those sites
    every_site = "every_site"  # across all sites: administrators only


@dataclass(frozen=True)
class Requirement:
    """What a route needs: a permission and where it must hold (none for public/signed-in)."""

    where: Where
    permission: Permission | None = None
    params: tuple[str, ...] = ()

    def describe(self) -> str:
        """A one-line statement of the rule, for the API docs and error messages."""
        if self.where is Where.public:
            return "public"
        if self.where is Where.signed_in:
            return "any signed-in user"
        assert self.permission is not None
        at = {
            Where.site: f"at the site named by {{{self.params[0] if self.params else ''}}}",
            Where.assessment: "at the assessment's site",
            Where.fda_assessment: "at the site FDA assesses",
            Where.audit_record: "at the record's site (administrators for other tables)",
            Where.any_site: "at one site at least (results limited to those sites)",
            Where.every_site: "at every site (administrators)",
        }[self.where]
        return f"{self.permission.value} {at}"

    def to_openapi(self) -> dict[str, Any]:
        """The rule as data, published on each API operation as `x-permission`."""
        return {
            "permission": self.permission.value if self.permission else None,
            "where": self.where.value,
            "params": list(self.params),
            "rule": self.describe(),
        }


@dataclass(frozen=True)
class Principal:
    """A signed-in user and how they came: a browser session or an API token."""

    user: User
    web_session: WebSession | None = None
    token: ApiToken | None = None

    @property
    def csrf_token(self) -> str:
        """The token forms must echo; empty for tokens, which need none."""
        return self.web_session.csrf_token if self.web_session is not None else ""

    def may(
        self,
        db: Session,
        permission: Permission,
        *,
        site: Site | None = None,
        assessment: Assessment | None = None,
    ) -> bool:
        """Whether this user, through this credential, holds a permission here."""
        return can(
            db,
            user=self.user,
            permission=permission,
            site=site,
            assessment=assessment,
            token_scope=self.token.scope if self.token is not None else None,
            token_site_ids=self.token.site_ids if self.token is not None else None,
        )


@dataclass(frozen=True)
class Access:
    """What a guard established: who is asking, and the site or assessment concerned."""

    principal: Principal | None
    site: Site | None = None
    assessment: Assessment | None = None

    @property
    def who(self) -> Principal:
        """The signed-in principal (every non-public guard guarantees one)."""
        if self.principal is None:
            raise Unauthenticated("sign in first")
        return self.principal


# --- credentials ---------------------------------------------------------------------------


def _bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header; any other scheme is refused, not ignored."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("send the API token as 'Authorization: Bearer <token>'")
    return value.strip()


def identify(request: Request, db: Session) -> Principal | None:
    """The user behind the request: a bearer token (API only) or the session cookie."""
    if is_api(request):
        plain = _bearer_token(request)
        if plain is not None:
            token = resolve_api_token(db, plain=plain)
            return Principal(user=token.user, token=token)
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    web_session = resolve_web_session(db, secret=secret)
    return Principal(user=web_session.user, web_session=web_session)


async def submitted_csrf_token(request: Request) -> str | None:
    """The CSRF token an unsafe request carries: the header, or the form field on web pages."""
    if not is_unsafe(request):
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if is_api(request):
        return None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _same_token(expected: str | None, submitted: str | None) -> bool:
    """Constant-time comparison, so response timing reveals nothing of the expected token."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def check_csrf(principal: Principal, submitted: str | None) -> None:
    """Refuse an unsafe cookie-authenticated request that lacks the session's CSRF token."""
    if principal.web_session is None:
        return  # bearer tokens are never sent by a browser on its own: no CSRF risk
    if not _same_token(principal.web_session.csrf_token, submitted):
        raise Forbidden(
            "the form is missing its security token or it is out of date; "
            "reload the page and submit it again"
        )


def login_csrf_token(request: Request) -> str:
    """The pre-session CSRF token for the sign-in form (reused while its cookie lives)."""
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if 32 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum():
        return existing
    return secrets.token_urlsafe(32)


def check_login_csrf(request: Request, submitted: str | None) -> None:
    """Double-submit check for requests made before a session exists (the sign-in form)."""
    if not _same_token(request.cookies.get(LOGIN_CSRF_COOKIE), submitted):
        raise Forbidden(
            "the sign-in form has expired or was not sent from this site; "
            "reload the sign-in page and try again"
        )


def set_login_csrf_cookie(
    response: Response, token: str, *, request: Request, settings: WebSettings
) -> None:
    """The sign-in form's token cookie: short-lived and sent only to /login."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_CSRF_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure(request),
    )


def set_session_cookie(
    response: Response,
    secret: str,
    *,
    web_session: WebSession,
    request: Request,
    settings: WebSettings,
) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure off local http, lives as the session."""
    max_age = max(0, int((web_session.expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure(request),
    )


def clear_session_cookie(response: Response, *, request: Request, settings: WebSettings) -> None:
    """Tell the browser to forget a session that has ended."""
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure(request),
    )


def safe_next(url: str | None) -> str:
    """A post-sign-in destination on this site only: relative paths, never another host."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in url):
        return "/"
    return url


# --- scope resolution ----------------------------------------------------------------------


def _param(request: Request, name: str) -> str | None:
    """A parameter from the path, else the query string (guards name either)."""
    value = request.path_params.get(name)
    if value is None:
        value = request.query_params.get(name)
    return None if value is None else str(value)


def assessment_by_param(db: Session, value: str | None) -> Assessment:
    """The assessment a path parameter names; anything but a number is simply not found."""
    number = parse_record_id(value)
    if number is None:
        raise NotFound(f"no assessment {value!r}")
    return get_assessment(db, assessment_id=number)


def no_such_fda_assessment(value: str | None) -> NotFound:
    """The answer for FDA's assessment of a site one may not read: as if it did not exist."""
    return NotFound(f"no FDA assessment {value!r}")


def fda_assessment_site(db: Session, value: str | None) -> Site:
    """The site of FDA's assessment a path parameter names; anything but a number is not found."""
    number = parse_record_id(value)
    if number is None:
        raise no_such_fda_assessment(value)
    try:
        return get_fda_assessment(db, fda_assessment_id=number).site
    except NotFound:
        raise no_such_fda_assessment(value) from None


def readable_sites(db: Session, principal: Principal) -> list[Site]:
    """The sites this user may read through this credential, by code."""
    visible = visible_site_ids(db, user=principal.user)
    return [
        site
        for site in list_sites(db)
        if (visible is None or site.id in visible)
        and principal.may(db, Permission.site_read, site=site)
    ]


def _holds_anywhere(db: Session, principal: Principal, permission: Permission) -> bool:
    """Whether the permission holds at one site at least, so a list route has something to show."""
    if principal.may(db, permission):
        return True
    visible = visible_site_ids(db, user=principal.user)
    return any(
        principal.may(db, permission, site=site)
        for site in list_sites(db)
        if visible is None or site.id in visible
    )


# --- guards --------------------------------------------------------------------------------


class Guard:
    """A dependency that authenticates, checks CSRF and enforces one route's requirement."""

    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement

    def __repr__(self) -> str:
        return f"Guard({self.requirement.describe()})"

    def __call__(
        self,
        request: Request,
        db: DB,
        submitted_csrf: Annotated[str | None, Depends(submitted_csrf_token)],
    ) -> Access:
        requirement = self.requirement
        if requirement.where is Where.public:
            if is_unsafe(request) and not is_api(request):
                check_login_csrf(request, submitted_csrf)
            return Access(principal=None)
        principal = identify(request, db)
        if principal is None:
            raise Unauthenticated("sign in first, or send 'Authorization: Bearer <token>'")
        set_actor(db, Actor(label=principal.user.username, user_id=principal.user.id))
        if is_unsafe(request):
            check_csrf(principal, submitted_csrf)
        if requirement.where is Where.signed_in:
            return Access(principal=principal)
        return self._authorize(request, db, principal)

    def _authorize(self, request: Request, db: Session, principal: Principal) -> Access:
        requirement = self.requirement
        permission = requirement.permission
        assert permission is not None
        site: Site | None = None
        assessment: Assessment | None = None
        if requirement.where is Where.site:
            code = _param(request, requirement.params[0]) or ""
            site = get_site(db, code=code)
            if not principal.may(db, Permission.site_read, site=site):
                raise no_such_site(code)  # no word of its existence
            allowed = principal.may(db, permission, site=site)
            where = f" at {site.code}"
        elif requirement.where is Where.assessment:
            assessment = assessment_by_param(db, _param(request, requirement.params[0]))
            if not principal.may(db, Permission.assessment_read, assessment=assessment):
                raise no_such_assessment(assessment.id)  # no word of its site or existence
            allowed = principal.may(db, permission, assessment=assessment)
            where = f" on assessment {assessment.id} of {assessment.site.code}"
        elif requirement.where is Where.fda_assessment:
            site = fda_assessment_site(db, _param(request, requirement.params[0]))
            if not principal.may(db, Permission.site_read, site=site):
                raise no_such_fda_assessment(_param(request, requirement.params[0]))
            allowed = principal.may(db, permission, site=site)
            where = f" at {site.code}"
        elif requirement.where is Where.audit_record:
            table_param, record_param = requirement.params
            site, assessment = audit_scope(
                db, table=_param(request, table_param), record_id=_param(request, record_param)
            )
            allowed = principal.may(db, permission, site=site, assessment=assessment)
            where = f" at {site.code}" if site else " across all sites (administrators only)"
        elif requirement.where is Where.any_site:
            allowed = _holds_anywhere(db, principal, permission)
            where = " at any site"
        else:
            allowed = principal.may(db, permission)
            where = " across all sites (administrators only)"
        if not allowed:
            through = " through this API token" if principal.token is not None else ""
            raise Forbidden(
                f"{principal.user.username} has no {permission.value} permission{where}{through}"
            )
        return Access(principal=principal, site=site, assessment=assessment)


public: Final = Guard(Requirement(Where.public))
signed_in: Final = Guard(Requirement(Where.signed_in))


def require(
    permission: Permission,
    *,
    site: str | None = None,
    assessment: str | None = None,
    fda_assessment: str | None = None,
    audit_record: tuple[str, str] | None = None,
    any_site: bool = False,
    every_site: bool = False,
) -> Guard:
    """Declare and enforce a route's permission and where it must hold (name exactly one)."""
    chosen = [
        (Where.site, (site,) if site else None),
        (Where.assessment, (assessment,) if assessment else None),
        (Where.fda_assessment, (fda_assessment,) if fda_assessment else None),
        (Where.audit_record, audit_record),
        (Where.any_site, () if any_site else None),
        (Where.every_site, () if every_site else None),
    ]
    given = [(where, params) for where, params in chosen if params is not None]
    if len(given) != 1:
        raise ValueError(
            "require() needs exactly one of site=, assessment=, fda_assessment=, audit_record=, "
            "any_site=True or every_site=True"
        )
    where, params = given[0]
    return Guard(Requirement(where, permission, tuple(params)))


class PublicMount(Mount):
    """A mounted app (static files) that anyone may read."""

    requirement: Final = Requirement(Where.public)


def _guards(dependant: Dependant) -> Iterator[Guard]:
    if isinstance(dependant.call, Guard):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _guards(sub)


def route_requirement(route: BaseRoute) -> Requirement | None:
    """The requirement a route declares, or None when it declares none (or several)."""
    if isinstance(route, PublicMount):
        return route.requirement
    if isinstance(route, APIRoute):
        found = {guard.requirement for guard in _guards(route.dependant)}
        return found.pop() if len(found) == 1 else None
    return None


def undeclared_routes(routes: Sequence[BaseRoute]) -> list[str]:
    """Routes that declare no requirement: each is a hole in the permission model."""
    return [getattr(r, "path", repr(r)) for r in routes if route_requirement(r) is None]


# Guards the pages and the API share, named by what they let a person do at the site in the path.
SignedIn = Annotated[Access, Depends(signed_in)]
SiteRead = Annotated[Access, Depends(require(Permission.site_read, site="code"))]
ProgramManage = Annotated[Access, Depends(require(Permission.program_manage, site="code"))]
RecordSign = Annotated[Access, Depends(require(Permission.record_sign, site="code"))]
FdaRead = Annotated[
    Access, Depends(require(Permission.site_read, fda_assessment="fda_assessment_id"))
]
FdaManage = Annotated[
    Access, Depends(require(Permission.program_manage, fda_assessment="fda_assessment_id"))
]
