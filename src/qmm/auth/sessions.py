"""Browser sessions and API tokens: random secrets of which only a hash is stored."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidFields, NotFound, Unauthenticated
from qmm.models import ApiToken, Site, User, WebSession, utcnow

SESSION_IDLE: Final = timedelta(minutes=30)
SESSION_MAX: Final = timedelta(hours=12)
TOKEN_PREFIX: Final = "qmm_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start_web_session(session: Session, *, user: User) -> tuple[str, WebSession]:
    """A new browser session; the returned secret goes in the cookie and nowhere else."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    web_session = WebSession(
        token_hash=_digest(secret),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_MAX,
    )
    session.add(web_session)
    session.flush()
    return secret, web_session


#: How stale "last seen" and "last used" may get: recording every request would make every
#: request a writer, and the idle timeout is counted in minutes anyway.
TOUCH_INTERVAL: Final = timedelta(minutes=1)
_TOUCHES: Final = "qmm_deferred_touches"


def defer_touch(session: Session, model: type[Any], row_id: int, **values: datetime) -> None:
    """Note a "last seen" time to record after the request's own work has committed."""
    session.info.setdefault(_TOUCHES, []).append((model, row_id, values))


#: A batch of "last seen" times: (model, row id) -> the columns to set.
Stamps = dict[tuple[type[Any], int], dict[str, datetime]]


class LastUseStamps:
    """ "Last seen" times noted by requests, written together every few seconds (per process).

    Bookkeeping that must never make a request wait for the write lock or fail it: a batch the
    database is too busy for waits for the next round, and when too many wait the newest are
    dropped and counted in `lost` (an idle window a little shorter, nothing more).
    """

    def __init__(self, *, every: timedelta = timedelta(seconds=5), limit: int = 10_000) -> None:
        self.every = every
        self.limit = limit
        self.lost = 0
        self.written = 0
        self._pending: Stamps = {}
        self._last_round: datetime | None = None
        self._lock = threading.Lock()

    def note(self, session: Session) -> None:
        """Take the times a request noted (defer_touch) into the waiting batch."""
        touches = session.info.pop(_TOUCHES, [])
        with self._lock:
            for model, row_id, values in touches:
                self._keep((model, row_id), values)

    def _keep(self, key: tuple[type[Any], int], values: dict[str, datetime]) -> None:
        if key not in self._pending and len(self._pending) >= self.limit:
            self.lost += 1
            return
        self._pending.setdefault(key, {}).update(values)

    def take_due(self, now: datetime | None = None) -> Stamps:
        """The waiting batch when a round is due (empty otherwise); it is no longer waiting."""
        moment = now or utcnow()
        with self._lock:
            if not self._pending or (
                self._last_round is not None and moment - self._last_round < self.every
            ):
                return {}
            self._last_round = moment
            batch, self._pending = self._pending, {}
            return batch

    def give_back(self, batch: Stamps) -> None:
        """A batch the database was too busy for waits for the next round (newer times win)."""
        with self._lock:
            for key, values in batch.items():
                if key not in self._pending:
                    self._keep(key, values)

    def count_written(self, batch: Stamps) -> None:
        with self._lock:
            self.written += len(batch)


def write_last_use(session: Session, *, batch: Stamps) -> int:
    """Record a batch of "last seen" times (the caller commits); how many rows were touched."""
    for (model, row_id), values in batch.items():
        session.execute(update(model).where(model.id == row_id).values(**values))
    return len(batch)


def resolve_web_session(session: Session, *, secret: str) -> WebSession:
    """The live session for a cookie, refreshed; expired, idle or revoked ones are refused."""
    web_session = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(secret)))
    now = utcnow()
    if (
        web_session is None
        or web_session.revoked_at is not None
        or web_session.expires_at <= now
        or web_session.last_seen_at + SESSION_IDLE <= now
        or not web_session.user.is_active
    ):
        raise Unauthenticated("your session has ended; sign in again")
    if now - web_session.last_seen_at >= TOUCH_INTERVAL:
        defer_touch(session, WebSession, web_session.id, last_seen_at=now)
    return web_session


def end_web_session(session: Session, *, web_session: WebSession) -> None:
    web_session.revoked_at = utcnow()
    session.flush()


def end_other_sessions(session: Session, *, user: User, keep: WebSession | None = None) -> int:
    """End every live browser session of a user but one: after a password change, say."""
    ended = 0
    for web_session in session.scalars(
        select(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
    ):
        if keep is None or web_session.id != keep.id:
            web_session.revoked_at = utcnow()
            ended += 1
    session.flush()
    return ended


def create_api_token(
    session: Session,
    *,
    user: User,
    name: str,
    scope: str,
    sites: Sequence[Site] = (),
    days: int | None = 90,
) -> tuple[str, ApiToken]:
    """A token for scripts; the plain text is shown once and only its hash is kept."""
    problems: dict[str, str] = {}
    if scope not in {"read", "write"}:
        problems["scope"] = f"token scope {scope!r} is not one of read, write"
    if not name.strip():
        problems["name"] = "a token needs a name that says what uses it"
    if days is not None and days <= 0:
        problems["days"] = "a token's lifetime must be a positive number of days"
    if problems:
        raise InvalidFields(problems)
    prefix = secrets.token_hex(4)
    plain = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        name=name.strip(),
        prefix=prefix,
        token_hash=_digest(plain),
        user_id=user.id,
        scope=scope,
        site_ids=[s.id for s in sites] or None,
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    session.add(token)
    session.flush()
    return plain, token


def resolve_api_token(session: Session, *, plain: str) -> ApiToken:
    """The live token for a bearer credential; revoked, expired or unknown ones are refused."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plain)))
    now = utcnow()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not token.user.is_active
    ):
        raise Unauthenticated("the API token is unknown, revoked or expired")
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        defer_touch(session, ApiToken, token.id, last_used_at=now)
    return token


def revoke_api_token(session: Session, *, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id}; `qmm token list` shows them")
    if token.revoked_at is not None:
        raise Conflict(f"API token {token_id} is already revoked")
    token.revoked_at = utcnow()
    session.flush()
    return token


def revoke_user_tokens(session: Session, *, user: User) -> int:
    """Revoke every live token of a user (after a new password, say); how many were revoked."""
    revoked = 0
    for token in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = utcnow()
        revoked += 1
    session.flush()
    return revoked


def token_state(token: ApiToken, *, now: datetime | None = None) -> str:
    """Whether a token is accepted now, in words: active, or why it is refused."""
    moment = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= moment:
        return "expired"
    if not token.user.is_active:
        return "user disabled"
    return "active"


def list_api_tokens(session: Session, *, user: User | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return session.scalars(query).all()
