"""Administration in the browser: people, their roles per site and API tokens, through the same
services as `qmm user` and `qmm token`. Only administrators (user:manage at every site) see it;
every change lands in the audit trail, with the reason given where the command line asks one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment.service import list_assessments
from qmm.audit.trail import reason as audit_reason
from qmm.auth.passwords import check_password_rules
from qmm.auth.permissions import TIME_LIMITED_ROLES, Permission
from qmm.auth.service import (
    NewPassword,
    create_user,
    disable_user,
    get_user,
    grant_role,
    hash_new_password,
    list_users,
    revoke_grant,
    set_password,
)
from qmm.auth.sessions import (
    create_api_token,
    end_other_sessions,
    list_api_tokens,
    revoke_api_token,
    token_state,
)
from qmm.errors import InvalidFields, InvalidInput, NotFound
from qmm.models import ApiToken, Role, RoleGrant, User, utcnow
from qmm.record_ids import parse_record_id
from qmm.sites.service import list_sites
from qmm.web.deps import DB, in_writer_turn, password_check_queue, reads_first
from qmm.web.forms import Day, Number, Picked, WebForm, on_field, sentence, submit
from qmm.web.security import Access, Principal, require
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

UserManage = Annotated[Access, Depends(require(Permission.user_manage, every_site=True))]
Stored = TypeVar("Stored")

ROLE_NAMES: Final = {
    Role.administrator.value: "Administrator (every site)",
    Role.site_quality_lead.value: "Site quality lead",
    Role.contributor.value: "Contributor",
    Role.assessor.value: "Assessor (outside, time-limited)",
    Role.viewer.value: "Viewer",
}
DONE: Final = {
    "created": "The user was added.",
    "disabled": "The account was disabled: it can no longer sign in; its records stay.",
    "password": (
        "The password was set. Their API tokens were revoked and their browser sessions ended."
    ),
    "granted": "The role was granted.",
    "grant-revoked": "The grant was ended; it stays on record.",
    "token-revoked": "The token was revoked; scripts using it are refused from now on.",
}


def _grant_state(grant: RoleGrant, now: datetime) -> str:
    """Whether a grant is in force now, in words."""
    if grant.revoked_at is not None:
        return "ended"
    if grant.expires_at is not None and grant.expires_at <= now:
        return "expired"
    return "active"


def _grant_end(grant: RoleGrant) -> str:
    """When a grant ends, as the form took it: a grant ending at midnight UTC by its last day."""
    if grant.expires_at is None:
        return "no end"
    end = grant.expires_at.astimezone(UTC)
    if end.time() == time():
        return f"last day {(end - timedelta(days=1)).date().isoformat()}"
    return f"{end:%Y-%m-%d %H:%M} UTC"


def _password_problems(password: str, confirm: str, *, username: str) -> dict[str, str]:
    """What is wrong with a new password as typed twice, by field."""
    if not password:
        return {"password": "Type the new password."}
    try:
        check_password_rules(password, username=username)
    except InvalidInput as exc:
        return {"password": sentence(str(exc))}
    if password != confirm:
        return {"confirm_password": "The two passwords differ; type the same one twice."}
    return {}


async def _hashed_first(
    request: Request,
    db: Session,
    *,
    username: str,
    password: str,
    problems: dict[str, str],
    replacing: bool,
) -> NewPassword | None:
    """A reads_first route's new password, hashed (argon2) holding no connection, lock or turn.

    A refusal (the same as the current password) is added to PROBLEMS under "password". The
    route's reading transaction is ended either way, before its turn to write.
    """
    current = (
        await run_in_threadpool(lambda: get_user(db, username=username).password_hash)
        if replacing
        else None
    )
    await run_in_threadpool(db.rollback)
    if problems or not password or "\x00" in password:
        return None
    try:
        async with password_check_queue(request).turn():
            return await run_in_threadpool(
                lambda: hash_new_password(
                    username=username, current_hash=current, password=password
                )
            )
    except InvalidInput as exc:
        problems["password"] = sentence(str(exc))
        return None


def _reason_problem(reason: str) -> dict[str, str]:
    return {} if reason.strip() else {"reason": "Say why; it is kept in the audit trail."}


# --- the list of people ------------------------------------------------------------------------


class NewUserForm(WebForm):
    """A person to add: a username never reused, the name signatures print, a first password."""

    username: str = ""
    full_name: str = ""
    email: str = ""
    password: str = ""
    confirm_password: str = ""

    def typed(self) -> dict[str, Any]:
        """What was typed, passwords left out: a page never shows one back."""
        return {k: v for k, v in self.model_dump().items() if "password" not in k}


def _users_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    sites = {s.id: s.code for s in list_sites(db)}
    people = [
        (
            user,
            [(g, _grant_end(g)) for g in user.grants if _grant_state(g, now) == "active"],
        )
        for user in list_users(db)
    ]
    return render(
        request,
        "admin_users.html",
        principal=principal,
        title="Users",
        can_admin=True,
        people=people,
        sites=sites,
        role_names=ROLE_NAMES,
        values=values or {},
        errors={f"user-{k}": v for k, v in (errors or {}).items()},
        status_code=status_code,
    )


@router.get("/admin/users")
def users_page(request: Request, access: UserManage, db: DB) -> Response:
    """Everyone who can sign in or could, with the roles they hold now."""
    return _users_page(request, db, access.who)


@router.post("/admin/users")
@reads_first
async def user_create(
    request: Request, access: UserManage, db: DB, form: Annotated[NewUserForm, Form()]
) -> Response:
    """Add a person, with a first password when one is typed (hashed before the turn to write)."""
    problems: dict[str, str] = {}
    if not form.full_name.strip():
        problems["full_name"] = "Give the full name; it is printed on their signatures."
    username = form.username.strip()
    if form.password or form.confirm_password:
        problems.update(_password_problems(form.password, form.confirm_password, username=username))
    hashed = await _hashed_first(
        request, db, username=username, password=form.password, problems=problems, replacing=False
    )
    return await in_writer_turn(
        request, db, lambda: _create_user_submit(request, access, db, form, problems, hashed)
    )


def _create_user_submit(
    request: Request,
    access: Access,
    db: Session,
    form: NewUserForm,
    problems: dict[str, str],
    hashed: NewPassword | None,
) -> Response:
    return submit(
        form,
        store=lambda fields: on_field(
            "username",
            lambda: create_user(
                db,
                username=fields["username"].strip(),
                full_name=fields["full_name"],
                email=fields["email"].strip() or None,
                password=hashed,
            ),
        ),
        then=lambda user: f"/admin/users/{user.username}?done=created",
        again=lambda values, errors: _users_page(
            request, db, access.who, values=values, errors=errors, status_code=422
        ),
        problems=problems,
        trial=db,
    )


# --- one person --------------------------------------------------------------------------------


def _user_page(
    request: Request,
    db: Session,
    principal: Principal,
    user: User,
    *,
    done: str | None = None,
    new_token: tuple[str, ApiToken] | None = None,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    sites = list_sites(db)
    codes = {s.id: s.code for s in sites}
    return render(
        request,
        "admin_user.html",
        principal=principal,
        title=f"{user.full_name} ({user.username})",
        can_admin=True,
        person=user,
        grants=[
            (g, _grant_state(g, now), _grant_end(g))
            for g in sorted(user.grants, key=lambda g: -g.id)
        ],
        tokens=[(t, token_state(t, now=now)) for t in reversed(list_api_tokens(db, user=user))],
        sites=sites,
        codes=codes,
        assessments=list_assessments(db),
        role_names=ROLE_NAMES,
        time_limited=[r.value for r in TIME_LIMITED_ROLES],
        done=DONE.get(done or ""),
        new_token=new_token,
        form=form,
        values=values or {},
        errors={f"{form}-{k}": v for k, v in (errors or {}).items()},
        today=now.date(),
        breadcrumbs=[("Users", "/admin/users")],
        status_code=status_code,
    )


def _person(db: Session, username: str) -> User:
    """The person a URL names; the page for nobody says where everyone is listed."""
    try:
        return get_user(db, username=username)
    except NotFound:
        raise NotFound(f"no user {username!r}; the Users page lists everyone") from None


@router.get("/admin/users/{username}")
def user_page(
    request: Request, username: str, access: UserManage, db: DB, done: str | None = None
) -> Response:
    """One person: their account, every grant they held, their API tokens, and the forms."""
    return _user_page(request, db, access.who, _person(db, username), done=done)


def _user_submit(
    request: Request,
    db: Session,
    access: Access,
    user: User,
    form: WebForm,
    *,
    name: str,
    save: Callable[[dict[str, Any]], object],
    done: str,
    problems: dict[str, str] | None = None,
    trial: bool = False,
) -> Response:
    """Submit one of the person's forms; on a problem the page shows again with it open (with
    `trial`, the service's own problems are named beside the boundary's at once)."""
    return submit(
        form,
        store=save,
        then=lambda _: f"/admin/users/{user.username}?done={done}",
        again=lambda values, errors: _user_page(
            request,
            db,
            access.who,
            user,
            form=name,
            values=values,
            errors=errors,
            status_code=422,
        ),
        problems=problems,
        trial=db if trial else None,
    )


class ReasonForm(WebForm):
    """Why an account, a grant or a token ends, for the audit trail; and which one."""

    reason: str = ""
    record: str = ""


@router.post("/admin/users/{username}/disable")
def user_disable(
    request: Request,
    username: str,
    access: UserManage,
    db: DB,
    form: Annotated[ReasonForm, Form()],
) -> Response:
    """Disable an account: it can no longer sign in; its records and name stay."""
    user = _person(db, username)
    problems = _reason_problem(form.reason)
    if user.id == access.who.user.id:
        problems["reason"] = "You cannot disable your own account; ask another administrator."

    def save(fields: dict[str, Any]) -> object:
        with audit_reason(db, fields["reason"].strip()):
            return on_field("reason", lambda: disable_user(db, user=user))

    return _user_submit(
        request,
        db,
        access,
        user,
        form,
        name="disable",
        save=save,
        done="disabled",
        problems=problems,
    )


class PasswordForm(WebForm):
    """A new password typed twice; never shown back."""

    password: str = ""
    confirm_password: str = ""

    def typed(self) -> dict[str, Any]:
        return {}


@router.post("/admin/users/{username}/password")
@reads_first
async def user_password(
    request: Request,
    username: str,
    access: UserManage,
    db: DB,
    form: Annotated[PasswordForm, Form()],
) -> Response:
    """Reset a password: their API tokens are revoked and their other browser sessions end.

    The new password is hashed before the turn to write, so no other writer waits on argon2.
    """
    await run_in_threadpool(_person, db, username)
    problems = _password_problems(form.password, form.confirm_password, username=username)
    hashed = await _hashed_first(
        request, db, username=username, password=form.password, problems=problems, replacing=True
    )
    return await in_writer_turn(
        request, db, lambda: _password_submit(request, access, db, username, form, problems, hashed)
    )


def _password_submit(
    request: Request,
    access: Access,
    db: Session,
    username: str,
    form: PasswordForm,
    problems: dict[str, str],
    hashed: NewPassword | None,
) -> Response:
    user = _person(db, username)
    me = access.who

    def save(fields: dict[str, Any]) -> object:
        assert hashed is not None  # a problem would have shown the page again
        with audit_reason(db, "password set by an administrator"):
            on_field("password", lambda: set_password(db, user=user, password=hashed))
            keep = me.web_session if user.id == me.user.id else None
            return end_other_sessions(db, user=user, keep=keep)

    return _user_submit(
        request,
        db,
        access,
        user,
        form,
        name="password",
        save=save,
        done="password",
        problems=problems,
    )


class GrantForm(WebForm):
    """A role at a site (administrators: every site), maybe for named assessments, maybe until
    a last day."""

    role: str = ""
    site: str = ""
    assessments: Picked
    expires_on: Day = ""


@router.post("/admin/users/{username}/grants")
def user_grant(
    request: Request,
    username: str,
    access: UserManage,
    db: DB,
    form: Annotated[GrantForm, Form()],
) -> Response:
    """Give the person a role at a site, as `qmm user grant` does."""
    user = _person(db, username)
    problems: dict[str, str] = {}
    if form.role not in ROLE_NAMES:
        problems["role"] = "Choose a role."
    sites = {s.code: s for s in list_sites(db)}
    site = sites.get(form.site.strip()) if form.site.strip() else None
    if form.site.strip() and site is None:
        problems["site"] = "Choose a site from the list."
    by_id = {str(a.id): a for a in list_assessments(db)}
    unknown = [a for a in form.assessments if a not in by_id]
    if unknown:
        problems["assessments"] = f"No assessment {', '.join(unknown)}; choose from the list."
    last_day = form.service_fields()["expires_on"]
    expires_at: datetime | None = None
    if isinstance(last_day, str):
        problems["expires_on"] = f"{last_day!r} is not a date; use YYYY-MM-DD."
    elif last_day is not None:
        expires_at = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC)

    def save(fields: dict[str, Any]) -> RoleGrant:
        try:
            return grant_role(
                db,
                user=user,
                role=fields["role"],
                site=site,
                granted_by=access.who.user,
                expires_at=expires_at,
                assessments=[by_id[a] for a in fields["assessments"] if a in by_id],
            )
        except InvalidFields as exc:
            raise InvalidFields(
                {
                    "expires_on" if field == "expires_at" else field: sentence(words)
                    for field, words in exc.problems.items()
                }
            ) from None

    return _user_submit(
        request,
        db,
        access,
        user,
        form,
        name="grant",
        save=save,
        done="granted",
        problems=problems,
        trial=True,
    )


def _own_record(
    text: str, records: dict[int, Stored], what: str, problems: dict[str, str]
) -> Stored | None:
    """The person's own grant or token a form names by number; otherwise a problem."""
    number = parse_record_id(text.strip())
    found = records.get(number) if number is not None else None
    if found is None:
        problems["record"] = f"Choose one of this person's {what}."
    return found


@router.post("/admin/users/{username}/grants/revoke")
def user_grant_revoke(
    request: Request,
    username: str,
    access: UserManage,
    db: DB,
    form: Annotated[ReasonForm, Form()],
) -> Response:
    """End one of the person's grants now; it stays on record."""
    user = _person(db, username)
    problems = _reason_problem(form.reason)
    grant = _own_record(form.record, {g.id: g for g in user.grants}, "grants", problems)

    def save(fields: dict[str, Any]) -> object:
        assert grant is not None
        with audit_reason(db, fields["reason"].strip()):
            return on_field("record", lambda: revoke_grant(db, grant=grant))

    return _user_submit(
        request,
        db,
        access,
        user,
        form,
        name=f"revoke-grant-{form.record.strip()}",
        save=save,
        done="grant-revoked",
        problems=problems,
    )


class TokenForm(WebForm):
    """An API token for scripts: what uses it, read or write, which sites, for how long."""

    name: str = ""
    scope: str = "read"
    sites: Picked
    days: Number = "90"


@router.post("/admin/users/{username}/tokens")
def user_token_create(
    request: Request,
    username: str,
    access: UserManage,
    db: DB,
    form: Annotated[TokenForm, Form()],
) -> Response:
    """Create a token; the page shows it once, and only its hash is kept."""
    user = _person(db, username)
    problems: dict[str, str] = {}
    sites = {s.code: s for s in list_sites(db)}
    unknown = [code for code in form.sites if code not in sites]
    if unknown:
        problems["sites"] = f"No site {', '.join(unknown)}; choose from the list."
    days = form.service_fields()["days"]
    if not isinstance(days, int) or days <= 0:
        problems["days"] = "Give the lifetime as a whole number of days, e.g. 90."

    def save(fields: dict[str, Any]) -> tuple[str, ApiToken]:
        try:
            return create_api_token(
                db,
                user=user,
                name=fields["name"],
                scope=fields["scope"],
                sites=[sites[code] for code in fields["sites"] if code in sites],
                days=days if isinstance(days, int) else None,
            )
        except InvalidFields as exc:
            raise InvalidFields(
                {field: sentence(words) for field, words in exc.problems.items()}
            ) from None

    made: list[tuple[str, ApiToken]] = []

    def keep(fields: dict[str, Any]) -> tuple[str, ApiToken]:
        made.append(save(fields))
        return made[0]

    answer = _user_submit(
        request, db, access, user, form, name="token", save=keep, done="", problems=problems
    )
    if not made:
        return answer
    return _user_page(request, db, access.who, user, new_token=made[0], status_code=201)


@router.post("/admin/users/{username}/tokens/revoke")
def user_token_revoke(
    request: Request,
    username: str,
    access: UserManage,
    db: DB,
    form: Annotated[ReasonForm, Form()],
) -> Response:
    """Revoke one of the person's API tokens at once."""
    user = _person(db, username)
    problems = _reason_problem(form.reason)
    tokens = {t.id: t for t in list_api_tokens(db, user=user)}
    token = _own_record(form.record, tokens, "API tokens", problems)

    def save(fields: dict[str, Any]) -> object:
        assert token is not None
        with audit_reason(db, fields["reason"].strip()):
            return on_field("record", lambda: revoke_api_token(db, token_id=token.id))

    return _user_submit(
        request,
        db,
        access,
        user,
        form,
        name=f"revoke-token-{form.record.strip()}",
        save=save,
        done="token-revoked",
        problems=problems,
    )


@router.get("/admin/tokens")
def tokens_page(request: Request, access: UserManage, db: DB) -> Response:
    """Every API token with whether it is accepted now (never its secret)."""
    now = utcnow()
    return render(
        request,
        "admin_tokens.html",
        principal=access.who,
        title="API tokens",
        can_admin=True,
        tokens=[(t, token_state(t, now=now)) for t in reversed(list_api_tokens(db))],
        codes={s.id: s.code for s in list_sites(db)},
        breadcrumbs=[("Users", "/admin/users")],
    )
