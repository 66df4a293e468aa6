"""People, their credentials and roles: sign-in with back-off, grants scoped to sites, checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.auth.passwords import (
    check_password_rules,
    hash_password,
    needs_rehash,
    verify_password,
)
from qmm.auth.permissions import (
    READ_PERMISSIONS,
    TIME_LIMITED_ROLES,
    Permission,
    role_allows,
)
from qmm.auth.sessions import revoke_user_tokens
from qmm.auth.throttle import FREE_FAILURES, LOCKED, sign_in_state
from qmm.errors import (
    Conflict,
    Forbidden,
    InvalidFields,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from qmm.models import (
    Assessment,
    LoginAttempt,
    Role,
    RoleGrant,
    Site,
    User,
    utcnow,
)

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,79}$")
#: Failures in a row (at one address, for one username) before sign-in backs off.
MAX_FAILED_LOGINS: Final = FREE_FAILURES
WRONG_CREDENTIALS: Final = "unknown username or wrong password"
#: The channel a password change's check of the current password is recorded under.
PASSWORD_CHANGE: Final = "password-change"


def create_user(
    session: Session,
    *,
    username: str,
    full_name: str,
    email: str | None = None,
    password: str | NewPassword | None = None,
) -> User:
    """Add a person under a unique, never reused username (PASSWORD may be hashed already)."""
    if not USERNAME.match(username):
        raise InvalidInput(
            f"username {username!r} must be 2-80 lower-case letters, digits, '.', '_' or '-',"
            " starting with a letter"
        )
    if not full_name.strip():
        raise InvalidInput("full name must not be empty (it is printed on signatures)")
    if isinstance(password, str):
        check_password_rules(password, username=username)
    elif password is not None and password.username != username:
        raise InvalidInput(f"the password given was hashed for {password.username!r}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists (usernames are never reused)")
    user = User(username=username, full_name=full_name.strip(), email=email)
    if password is not None:
        user.password_hash = (
            hash_password(password) if isinstance(password, str) else password.password_hash
        )
        user.password_changed_at = utcnow()
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, username: str) -> User:
    """Find a person by username."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}; `qmm user list` shows the users")
    return user


def find_user(session: Session, *, user_id: int) -> User | None:
    """The person with this id, or None: an audit actor may name a user that is gone."""
    return session.get(User, user_id)


def list_users(session: Session) -> Sequence[User]:
    """All people, by username."""
    return session.scalars(select(User).order_by(User.username)).all()


@dataclass(frozen=True)
class NewPassword:
    """A new password checked against the rules and hashed before the write step begins."""

    username: str
    #: The stored hash it was found to differ from: the write step stores it only over this one.
    replaces_hash: str | None
    password_hash: str


def hash_new_password(*, username: str, current_hash: str | None, password: str) -> NewPassword:
    """The slow part of a password change (argon2 twice), outside any transaction."""
    check_password_rules(password, username=username)
    if current_hash is not None and verify_password(current_hash, password):
        raise InvalidInput("the new password must differ from the current one")
    return NewPassword(
        username=username, replaces_hash=current_hash, password_hash=hash_password(password)
    )


def set_password(session: Session, *, user: User, password: str | NewPassword) -> User:
    """Set a new password (an administrator's reset, or the user's own change).

    PASSWORD may be hashed already (hash_new_password, before the write step): it is stored only
    if the password it replaces is still the one it was checked against. The user's API tokens are
    revoked: whoever knew the old password may have made one.
    """
    new = (
        hash_new_password(
            username=user.username, current_hash=user.password_hash, password=password
        )
        if isinstance(password, str)
        else password
    )
    if new.username != user.username or new.replaces_hash != user.password_hash:
        raise Conflict(
            f"the password of {user.username} was changed meanwhile; nothing was changed, try again"
        )
    user.password_hash = new.password_hash
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    revoke_user_tokens(session, user=user)
    session.flush()
    return user


def change_password(
    session: Session,
    *,
    user: User,
    current_password: str | CheckedPassword,
    new_password: str | NewPassword,
) -> User:
    """A user's own password change: the current password again, counted toward lockout.

    Both may be checked and hashed before the write step (check_own_password, hash_new_password).
    """
    confirm_current_password(session, user=user, current_password=current_password)
    return set_password(session, user=user, password=new_password)


def confirm_current_password(
    session: Session, *, user: User, current_password: str | CheckedPassword
) -> None:
    """The current password of a password change, recorded as an attempt; refusals say why."""
    try:
        confirm_password(session, user=user, password=current_password, channel=PASSWORD_CHANGE)
    except Unauthenticated as exc:
        locked = str(exc) != WRONG_CREDENTIALS
        raise Unauthenticated(str(exc) if locked else "the current password is wrong") from None


def disable_user(session: Session, *, user: User) -> User:
    """Disable an account: it can no longer sign in; its history stays."""
    if user.disabled_at is not None:
        raise Conflict(f"user {user.username!r} is already disabled")
    user.is_active = False
    user.disabled_at = utcnow()
    session.flush()
    return user


def _record_attempt(
    session: Session,
    *,
    username: str,
    user: User | None,
    succeeded: bool,
    channel: str,
    source: str | None,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        LoginAttempt(
            username=username[:200],
            user_id=user.id if user else None,
            attempted_at=at or utcnow(),
            succeeded=succeeded,
            channel=channel,
            source=source,
            reason=reason,
        )
    )
    session.flush()


@dataclass(frozen=True)
class SignInCheck:
    """What a sign-in read before its password check: enough to check it with no database."""

    username: str
    user_id: int | None
    password_hash: str | None
    held_back_until: datetime | None
    channel: str
    source: str | None
    moment: datetime


@dataclass(frozen=True)
class PasswordVerdict:
    """The outcome of the slow password check, and the renewed hash when its cost changed."""

    matches: bool
    renewed_hash: str | None = None


def prepare_sign_in(
    session: Session,
    *,
    username: str,
    channel: str = "web",
    source: str | None = None,
    now: datetime | None = None,
) -> SignInCheck:
    """Read who is signing in and whether they are held back; writes nothing.

    The boundary may end this transaction before the password check, so that no connection and
    no lock is held while argon2 works.
    """
    moment = now or utcnow()
    user = session.scalar(select(User).where(User.username == username))
    state = sign_in_state(session, username=username, source=source, user=user, now=moment)
    return SignInCheck(
        username=username,
        user_id=user.id if user is not None else None,
        password_hash=user.password_hash if user is not None else None,
        held_back_until=state.not_before,
        channel=channel,
        source=source,
        moment=moment,
    )


def check_password(check: SignInCheck, password: str) -> PasswordVerdict | None:
    """The slow part of a sign-in, outside any transaction; None when held back (not checked).

    Every attempt that is not held back checks one argon2 hash (a dummy one for an unknown user
    or a missing password), so the time taken does not tell who exists.
    """
    if check.held_back_until is not None:
        return None
    matches = verify_password(check.password_hash, password)
    renewed = None
    if matches and check.password_hash and needs_rehash(check.password_hash):
        renewed = hash_password(password)
    return PasswordVerdict(matches=matches, renewed_hash=renewed)


def finish_sign_in(
    session: Session, *, check: SignInCheck, verdict: PasswordVerdict | None
) -> User:
    """Record the attempt and decide, under the write lock; refusals raise Unauthenticated.

    The back-off is read again here: attempts recorded since the check (a burst of guesses sent
    at once) hold this one back as if they had come first, whatever its password check found.
    """
    user = session.scalar(select(User).where(User.username == check.username))

    def attempt(succeeded: bool, reason: str | None = None) -> None:
        _record_attempt(
            session,
            username=check.username,
            user=user,
            succeeded=succeeded,
            channel=check.channel,
            source=check.source,
            reason=reason,
            at=check.moment,
        )

    state = sign_in_state(
        session, username=check.username, source=check.source, user=user, now=check.moment
    )
    not_before = state.not_before or check.held_back_until
    if not_before is not None or verdict is None:
        attempt(False, LOCKED)
        raise Unauthenticated(held_back_message(not_before or check.moment))
    # A password changed since the check makes the verdict stale: it refers to the old hash.
    matches = (
        verdict.matches
        and user is not None
        and user.id == check.user_id
        and user.password_hash == check.password_hash
    )
    if user is None or not user.is_active or not matches:
        reason = (
            "unknown user"
            if user is None
            else ("disabled" if not user.is_active else "wrong password")
        )
        if user is not None:
            user.failed_logins += 1
        if state.failures_in_a_row + 1 >= MAX_FAILED_LOGINS:
            reason += "; locked"
        attempt(False, reason)
        raise Unauthenticated(WRONG_CREDENTIALS)
    user.failed_logins = 0
    user.locked_until = None
    if verdict.renewed_hash is not None:
        user.password_hash = verdict.renewed_hash
    attempt(True)
    return user


@dataclass(frozen=True)
class CheckedPassword:
    """A signed-in person's password checked again before the write step: what was read, and
    what argon2 found. The write step confirms it cheaply (confirm_password)."""

    check: SignInCheck
    verdict: PasswordVerdict | None


def check_own_password(
    session: Session, *, user: User, password: str, channel: str
) -> CheckedPassword:
    """Read and check a person's password again, writing nothing; slow (argon2).

    Call it before the write transaction begins. A boundary that also ends the read before the
    check runs prepare_sign_in and check_password itself.
    """
    check = prepare_sign_in(session, username=user.username, channel=channel)
    return CheckedPassword(check=check, verdict=check_password(check, password))


def confirm_password(
    session: Session, *, user: User, password: str | CheckedPassword, channel: str
) -> None:
    """In the write step: record the attempt and refuse (Unauthenticated) a wrong password.

    A password checked before (CheckedPassword) counts only while the stored hash is still the
    one it was checked against, so a password changed in between is not bypassed.
    """
    checked = (
        check_own_password(session, user=user, password=password, channel=channel)
        if isinstance(password, str)
        else password
    )
    if checked.check.username != user.username:
        raise Unauthenticated(WRONG_CREDENTIALS)
    finish_sign_in(session, check=checked.check, verdict=checked.verdict)


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    channel: str = "web",
    source: str | None = None,
    now: datetime | None = None,
) -> User:
    """Check a username and password, the same way whether or not the account exists.

    Every attempt checks one argon2 hash (a dummy one for an unknown user or a missing password)
    and every refusal reads the same, so neither the time nor the words tell who exists. Failures
    slow down later attempts by username and client address (`qmm.auth.throttle`): somebody
    elsewhere cannot lock an account out. In one transaction: the web sign-in runs the three
    steps itself, with the password check outside any transaction.
    """
    check = prepare_sign_in(session, username=username, channel=channel, source=source, now=now)
    verdict = check_password(check, password)
    return finish_sign_in(session, check=check, verdict=verdict)


def held_back_message(not_before: datetime) -> str:
    """The words for an attempt refused while held back: the same for every username."""
    return (
        "sign-in is locked for a while after repeated failures from here; try again after "
        f"{not_before:%H:%M:%S} UTC, or ask an administrator to unlock the account"
    )


def grant_role(
    session: Session,
    *,
    user: User,
    role: str,
    site: Site | None,
    granted_by: User | None = None,
    expires_at: datetime | None = None,
    assessments: Sequence[Assessment] = (),
) -> RoleGrant:
    """Give a user a role at a site (administrators: every site), maybe until a date."""
    if role not in Role.__members__:
        raise InvalidFields(
            {"role": f"role {role!r} is not one of {', '.join(r.value for r in Role)}"}
        )
    role_ = Role(role)
    problems: dict[str, str] = {}
    if role_ is Role.administrator and site is not None:
        problems["site"] = "the administrator role covers every site; give no site"
    if role_ is not Role.administrator and site is None:
        problems["site"] = f"the {role} role is granted for one site; name it"
    if role_ in TIME_LIMITED_ROLES and expires_at is None:
        problems["expires_at"] = f"the {role} role must be time-limited; give an expiry date"
    if expires_at is not None and expires_at <= utcnow():
        problems["expires_at"] = "the expiry must be in the future"
    for assessment in assessments:
        if site is not None and assessment.site_id != site.id:
            problems["assessments"] = f"assessment {assessment.id} is not of site {site.code}"
        elif site is None and "site" not in problems:
            problems["assessments"] = (
                f"assessment {assessment.id} limits a grant at its own site; name the site"
            )
    if problems:
        raise InvalidFields(problems)
    grant = RoleGrant(
        user_id=user.id,
        role=role_.value,
        site_id=site.id if site else None,
        assessment_ids=[a.id for a in assessments] or None,
        granted_by_id=granted_by.id if granted_by else None,
        granted_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(grant)
    session.flush()
    return grant


def revoke_grant(session: Session, *, grant: RoleGrant) -> RoleGrant:
    """End a grant now; it stays on record."""
    if grant.revoked_at is not None:
        raise Conflict(f"grant {grant.id} is already revoked")
    grant.revoked_at = utcnow()
    session.flush()
    return grant


def get_grant(session: Session, *, grant_id: int) -> RoleGrant:
    grant = session.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id}; `qmm user list --grants` shows them")
    return grant


def active_grants(session: Session, *, user: User) -> list[RoleGrant]:
    """The grants in force now: not revoked, not expired."""
    now = utcnow()
    return [
        g
        for g in session.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id))
        if g.revoked_at is None and (g.expires_at is None or g.expires_at > now)
    ]


def is_administrator(session: Session, *, user: User) -> bool:
    return any(g.role == Role.administrator.value for g in active_grants(session, user=user))


def visible_site_ids(session: Session, *, user: User) -> set[int] | None:
    """The sites a user may see; None means every site."""
    grants = active_grants(session, user=user)
    if any(g.role == Role.administrator.value for g in grants):
        return None
    return {g.site_id for g in grants if g.site_id is not None}


def can(
    session: Session,
    *,
    user: User,
    permission: Permission,
    site: Site | None = None,
    assessment: Assessment | None = None,
    token_scope: str | None = None,
    token_site_ids: Sequence[int] | None = None,
) -> bool:
    """Whether a user (through a token, if any) may do this, at this site, to this record."""
    if not user.is_active:
        return False
    if token_scope == "read" and permission not in READ_PERMISSIONS:
        return False
    site_id = site.id if site else (assessment.site_id if assessment else None)
    if token_site_ids is not None and (site_id is None or site_id not in token_site_ids):
        return False
    for grant in active_grants(session, user=user):
        role = Role(grant.role)
        if not role_allows(role, permission):
            continue
        if role is Role.administrator:
            return True
        if site_id is None or grant.site_id != site_id:
            continue
        if (
            assessment is not None
            and grant.assessment_ids
            and (assessment.id not in grant.assessment_ids)
        ):
            continue
        return True
    return False


def authorize(
    session: Session,
    *,
    user: User,
    permission: Permission,
    site: Site | None = None,
    assessment: Assessment | None = None,
) -> None:
    """Refuse with a clear message when the user may not do this here."""
    if not can(session, user=user, permission=permission, site=site, assessment=assessment):
        where = (
            f" at {site.code}"
            if site
            else (f" on assessment {assessment.id}" if assessment else "")
        )
        raise Forbidden(f"{user.username} has no {permission.value} permission{where}")
