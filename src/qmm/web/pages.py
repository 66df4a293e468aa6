"""The app's own pages: the health check, signing in and out, a record's audit history and
changing one's password."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.audit.scope import record_label
from qmm.audit.service import audit_log
from qmm.audit.trail import Actor, set_actor
from qmm.auth.permissions import Permission
from qmm.auth.service import (
    PASSWORD_CHANGE,
    CheckedPassword,
    NewPassword,
    PasswordVerdict,
    SignInCheck,
    check_password,
    confirm_current_password,
    finish_sign_in,
    hash_new_password,
    prepare_sign_in,
    set_password,
)
from qmm.auth.sessions import (
    LastUseStamps,
    end_other_sessions,
    end_web_session,
    resolve_web_session,
    start_web_session,
)
from qmm.db import begin_writing, database_answers
from qmm.errors import Conflict, InvalidFields, InvalidInput, Unauthenticated
from qmm.models import SignatureMeaning
from qmm.notify.digest import FREQUENCIES, choose_digest, digest_choice
from qmm.presentation.paging import page_of
from qmm.web.deps import (
    DB,
    Settings,
    in_writer_turn,
    last_use_stamps,
    password_check_queue,
    password_checked_first,
    reads_first,
    writer_queue,
)
from qmm.web.forms import WebForm, YesNo, on_field, submit
from qmm.web.history import changes
from qmm.web.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Access,
    Principal,
    SignedIn,
    clear_session_cookie,
    login_csrf_token,
    public,
    require,
    safe_next,
    set_login_csrf_cookie,
    set_session_cookie,
)
from qmm.web.templating import STATIC_DIR, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

Public = Annotated[Access, Depends(public)]
FAVICON: Final = STATIC_DIR / "favicon.svg"
MEANINGS: Final = [m.value for m in SignatureMeaning]
#: Entries a page of a record's audit history shows.
AUDIT_PAGE_SIZE: Final = 50


@router.get("/favicon.ico", include_in_schema=False)
def favicon(_access: Public) -> Response:
    """Browsers ask for /favicon.ico whatever a page links: answer with the SVG icon."""
    return Response(
        content=FAVICON.read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/healthz", response_class=JSONResponse)
def healthz(
    _access: Public, db: DB, stamps: Annotated[LastUseStamps, Depends(last_use_stamps)]
) -> JSONResponse:
    """Liveness for load balancers: the app answers and its database does too.

    Also how many "last seen" times this worker process dropped because the database was too
    busy (bookkeeping, never shown to the person; a growing count says: move to PostgreSQL).
    """
    if not database_answers(db):
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "last_use_stamps_lost": stamps.lost})


# --- signing in and out --------------------------------------------------------------------


def login_page(
    request: Request,
    settings: Settings,
    *,
    next_url: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    resume: Resume | None = None,
) -> Response:
    """The form, re-shown with what was typed and why it failed; the CSRF cookie is renewed."""
    token = login_csrf_token(request)
    response = render(
        request,
        "login.html",
        principal=None,
        title="Sign in again" if resume else "Sign in",
        csrf_token=token,
        next_url=safe_next(next_url),
        username=username,
        error=error,
        resume=resume,
        status_code=status_code,
    )
    set_login_csrf_cookie(response, token, request=request, settings=settings)
    return response


@dataclass(frozen=True)
class Resume:
    """A form sent after the session ended: where it was going and what it carried (never a
    password or the old security token), to send again once the person has signed in."""

    action: str
    kept: tuple[tuple[str, str], ...]

    @classmethod
    def from_form(cls, action: str, names: list[str], values: list[str]) -> Resume | None:
        """What the sign-in form carried back; None when it carried nothing to send again."""
        target = safe_next(action)
        if not action or target != action or len(names) != len(values):
            return None
        kept = tuple(
            (name, value)
            for name, value in zip(names, values, strict=True)
            if name != CSRF_FIELD and "password" not in name
        )
        return cls(action=target, kept=kept)


def sign_in_again_page(
    request: Request,
    settings: Settings,
    *,
    action: str,
    next_url: str,
    kept: list[tuple[str, str]],
) -> Response:
    """A form was sent after the session ended: sign in again, and what it carried is kept."""
    return login_page(
        request,
        settings,
        next_url=next_url,
        error=(
            "Your session has ended (after a while without use, or it was signed out), so what "
            "you sent was not saved. Sign in again"
            + (
                ": what you typed is kept, and you can send it once you are signed in."
                if kept
                else "."
            )
        ),
        status_code=401,
        resume=Resume(action=safe_next(action), kept=tuple(kept)) if kept else None,
    )


@router.get("/login")
def login_form(
    request: Request,
    _access: Public,
    settings: Settings,
    next_url: Annotated[str, Query(alias="next")] = "/",
) -> Response:
    """The sign-in form, with a pre-session CSRF token in a short-lived cookie and the form."""
    return login_page(request, settings, next_url=next_url)


def _end_previous_session(request: Request, db: Session) -> None:
    """Signing in again ends the browser's earlier session, so an old cookie stays useless."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return
    with suppress(Unauthenticated):  # an ended session needs no ending
        end_web_session(db, web_session=resolve_web_session(db, secret=secret))


@router.post("/login")
@reads_first
async def login(
    request: Request,
    _access: Public,
    db: DB,
    settings: Settings,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_url: Annotated[str, Form(alias="next")] = "/",
    resume_action: Annotated[str, Form()] = "",
    kept_name: Annotated[list[str] | None, Form()] = None,
    kept_value: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Check the password (failures count toward lockout and are kept) and start a session.

    The password check (argon2, most of a second) holds no connection, lock or turn: the
    attempt is recorded afterwards, in a short transaction of its own, when its turn comes.
    """
    username = username.strip()
    resume = Resume.from_form(resume_action, kept_name or [], kept_value or [])
    if not username or not password:
        return login_page(
            request,
            settings,
            next_url=next_url,
            username=username,
            error="Enter your username and your password.",
            status_code=422,
            resume=resume,
        )
    client = request.client.host if request.client else None
    check = await run_in_threadpool(
        prepare_sign_in, db, username=username, channel="web", source=client
    )
    await run_in_threadpool(db.rollback)  # end the read: nothing is held while argon2 works
    async with password_check_queue(request).turn():
        verdict = await run_in_threadpool(check_password, check, password)
    async with writer_queue(request).turn():
        return await run_in_threadpool(
            _record_sign_in,
            request,
            db,
            settings,
            check=check,
            verdict=verdict,
            next_url=next_url,
            resume=resume,
        )


def _record_sign_in(
    request: Request,
    db: Session,
    settings: Settings,
    *,
    check: SignInCheck,
    verdict: PasswordVerdict | None,
    next_url: str,
    resume: Resume | None = None,
) -> Response:
    """The sign-in's writing part, in its turn: the attempt, and the session when it succeeds;
    a form that was sent after the session ended is then offered to be sent again."""
    begin_writing(db)
    try:
        user = finish_sign_in(db, check=check, verdict=verdict)
    except Unauthenticated as exc:
        db.commit()  # the failed attempt is recorded
        return login_page(
            request,
            settings,
            next_url=next_url,
            username=check.username,
            error=str(exc).capitalize() + ".",
            status_code=401,
            resume=resume,
        )
    set_actor(db, Actor(label=user.username, user_id=user.id))
    _end_previous_session(request, db)
    secret, web_session = start_web_session(db, user=user)
    db.commit()
    response: Response
    if resume is not None:
        response = render(
            request,
            "resume.html",
            principal=Principal(user=user, web_session=web_session),
            title="Send what you typed",
            resume=resume,
            next_url=safe_next(next_url),
        )
    else:
        response = RedirectResponse(safe_next(next_url), status_code=303)
    set_session_cookie(
        response, secret, web_session=web_session, request=request, settings=settings
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, access: SignedIn, db: DB, settings: Settings) -> Response:
    """End the browser session on the server, then forget the cookie."""
    web_session = access.who.web_session
    if web_session is not None:
        end_web_session(db, web_session=web_session)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request=request, settings=settings)
    return response


# --- audit history -------------------------------------------------------------------------


@router.get("/audit/{table_name}/{record_id}")
def audit_history(
    request: Request,
    table_name: str,
    record_id: str,
    access: Annotated[
        Access,
        Depends(require(Permission.audit_read, audit_record=("table_name", "record_id"))),
    ],
    db: DB,
    page: str = "",
) -> Response:
    """A record's history from the audit trail: who, when (UTC), what changed, and why;
    a page at a time, oldest first."""
    history = page_of(
        audit_log(db, table_name=table_name, record_id=record_id), page, size=AUDIT_PAGE_SIZE
    )
    breadcrumbs = [("Sites", "/")]
    if access.site is not None:
        breadcrumbs.append((access.site.code, f"/sites/{access.site.code}"))
    return render(
        request,
        "audit.html",
        principal=access.who,
        title=f"History of {record_label(db, table=table_name, record_id=record_id)}",
        table_name=table_name,
        record_id=record_id,
        entries=[(entry, changes(entry)) for entry in history.rows],
        history=history,
        breadcrumbs=breadcrumbs,
    )


# --- account -------------------------------------------------------------------------------


class DigestForm(WebForm):
    """Whether to get the worklist by e-mail (yes or no), and how often."""

    enabled: YesNo = "no"
    frequency: str = "weekly"


def _digest_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    changed: bool = False,
    status_code: int = 200,
) -> Response:
    choice = digest_choice(db, user=principal.user)
    shown = values or {
        "enabled": "yes" if choice.enabled else "no",
        "frequency": choice.frequency,
    }
    return render(
        request,
        "account_digest.html",
        principal=principal,
        title="E-mail digest",
        choice=choice,
        frequencies=FREQUENCIES,
        values=shown,
        errors=errors or {},
        changed=changed,
        status_code=status_code,
    )


@router.get("/account/digest")
def digest_form(request: Request, access: SignedIn, db: DB, saved: str | None = None) -> Response:
    """One's own e-mail digest: on or off, daily or weekly."""
    return _digest_page(request, db, access.who, changed=saved is not None)


@router.post("/account/digest")
def digest_change(
    request: Request, access: SignedIn, db: DB, form: Annotated[DigestForm, Form()]
) -> Response:
    """Opt in to the e-mail digest (daily or weekly) or out."""
    principal = access.who

    def save(fields: dict[str, Any]) -> object:
        enabled = fields["enabled"]
        if not isinstance(enabled, bool):
            raise InvalidFields({"enabled": "Choose yes or no."})
        return on_field(
            "frequency" if fields["frequency"] not in FREQUENCIES else "enabled",
            lambda: choose_digest(
                db, user=principal.user, enabled=enabled, frequency=fields["frequency"]
            ),
        )

    return submit(
        form,
        store=save,
        then=lambda _: "/account/digest?saved=1",
        again=lambda values, errors: _digest_page(
            request, db, principal, values=values, errors=errors, status_code=422
        ),
    )


@router.get("/account/password")
def password_form(request: Request, access: SignedIn) -> Response:
    """The form to change one's own password."""
    return render(
        request,
        "password.html",
        principal=access.who,
        title="Change your password",
        errors={},
        changed=False,
    )


@router.post("/account/password")
@reads_first
async def password_change(
    request: Request,
    access: SignedIn,
    db: DB,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    """Change one's own password: the current one again, then the new one twice.

    The current password is checked and the new one hashed (argon2, slow) holding no lock or
    turn; the change is written in the request's turn, only over the password checked.
    """
    principal = access.who
    errors: dict[str, str] = {}
    if not current_password:
        errors["current_password"] = "Enter your current password."
    if not new_password:
        errors["new_password"] = "Enter a new password."
    elif new_password != confirm_password:
        errors["confirm_password"] = "The two new passwords differ; type the same one twice."
    if not errors:
        checked = await password_checked_first(
            request,
            db,
            user=principal.user,
            password=current_password,
            channel=PASSWORD_CHANGE,
        )
        new: NewPassword | InvalidInput = InvalidInput("the current password was not checked")
        if checked.verdict is not None and checked.verdict.matches:
            async with password_check_queue(request).turn():
                new = await run_in_threadpool(
                    _hash_new_password, checked.check, password=new_password
                )
        errors = await in_writer_turn(
            request,
            db,
            lambda: _record_password_change(db, principal, checked=checked, new=new),
        )
    return await run_in_threadpool(
        lambda: render(
            request,
            "password.html",
            principal=principal,
            title="Change your password",
            errors=errors,
            changed=not errors,
            status_code=422 if errors else 200,
        )
    )


def _hash_new_password(check: SignInCheck, *, password: str) -> NewPassword | InvalidInput:
    """The new password hashed, or why it is refused (said once the current one is confirmed)."""
    try:
        return hash_new_password(
            username=check.username, current_hash=check.password_hash, password=password
        )
    except InvalidInput as exc:
        return exc


def _record_password_change(
    db: Session,
    principal: Principal,
    *,
    checked: CheckedPassword,
    new: NewPassword | InvalidInput,
) -> dict[str, str]:
    """The password change's writing part, in its turn: the attempt, then the new password."""
    try:
        confirm_current_password(db, user=principal.user, current_password=checked)
    except Unauthenticated as exc:
        return {"current_password": str(exc).capitalize() + "."}
    try:
        if isinstance(new, InvalidInput):
            raise new
        changed = set_password(db, user=principal.user, password=new)
    except (InvalidInput, Conflict) as exc:
        return {"new_password": str(exc).capitalize() + "."}
    end_other_sessions(db, user=changed, keep=principal.web_session)
    return {}
