"""Sign-in back-off: failures slow down the next attempts, yet nobody can lock anyone out.

A hard lock per account let any anonymous client lock any account, the administrator's
included, by typing wrong passwords. The back-off is read from the sign-in attempts themselves
(`login_attempts`), keyed by the username as typed (known or not, so it tells nothing about who
exists) and by the client address:

- **username at an address**: five failures in a row are free; after that the next attempt from
  that address for that username waits 1 minute, then 2, 4, 8, and at most 15 minutes. A success
  there, a new password or an administrator's unlock starts the count again;
- **an address, whatever the username**: 30 failures within 15 minutes hold the address back until
  the oldest of them is 15 minutes old (guessing many usernames from one place);
- **a username, whatever the address**: 100 failures within an hour hold the username back at
  addresses it has not signed in from in the last 90 days (guessing from many places).

A person signing in where they have signed in before is held back only by their own address's
failures for their own username: somebody elsewhere cannot lock them out. Attempts refused while
held back are kept too (reason "locked") but do not count as failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from qmm.models import LoginAttempt, SignInUnlock, User, utcnow

#: Failures in a row, at one address for one username, before the next attempt must wait.
FREE_FAILURES: Final = 5
FIRST_WAIT: Final = timedelta(minutes=1)
LONGEST_WAIT: Final = timedelta(minutes=15)
#: Failures older than this never count (the longest wait is far shorter).
REMEMBERED: Final = timedelta(hours=24)
ADDRESS_LIMIT: Final = 30
ADDRESS_PERIOD: Final = timedelta(minutes=15)
ACCOUNT_LIMIT: Final = 100
ACCOUNT_PERIOD: Final = timedelta(hours=1)
#: An address a username signed in from within this long is its own: only its own failures count.
KNOWN_ADDRESS: Final = timedelta(days=90)
#: The reason recorded for an attempt refused while held back (not counted as a failure).
LOCKED: Final = "locked"


@dataclass(frozen=True)
class SignInState:
    """Where a username stands at an address: failures in a row, and when it may try again."""

    failures_in_a_row: int
    not_before: datetime | None


def _same_source(source: str | None) -> ColumnElement[bool]:
    if source is None:
        return LoginAttempt.source.is_(None)
    return LoginAttempt.source == source


def _counted() -> ColumnElement[bool]:
    """A failure that checked a password (not one refused while held back)."""
    return and_(LoginAttempt.succeeded.is_(False), LoginAttempt.reason != LOCKED)


def _fresh_start(session: Session, user: User | None) -> datetime | None:
    """When the account's count last started again: a new password or an administrator's unlock."""
    # Asked for an unknown username too (of no one), so both take the same queries.
    unlocked = session.scalar(
        select(SignInUnlock.unlocked_at)
        .where(SignInUnlock.user_id == (user.id if user is not None else -1))
        .order_by(SignInUnlock.unlocked_at.desc())
        .limit(1)
    )
    changed = user.password_changed_at if user is not None else None
    starts = [t for t in (unlocked, changed) if t is not None]
    return max(starts) if starts else None


def _window_full(
    session: Session, where: ColumnElement[bool], *, limit: int, period: timedelta, since: datetime
) -> datetime | None:
    """When a sliding window of `limit` failures within `period` lets the next attempt in."""
    recent = session.scalars(
        select(LoginAttempt.attempted_at)
        .where(where, _counted(), LoginAttempt.attempted_at > since)
        .order_by(LoginAttempt.attempted_at.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return None
    return min(recent) + period


def sign_in_state(
    session: Session, *, username: str, source: str | None, user: User | None, now: datetime
) -> SignInState:
    """How a username stands at an address now (the same queries whether the user exists)."""
    since = now - REMEMBERED
    started = _fresh_start(session, user)
    if started is not None and started > since:
        since = started
    rows = session.execute(
        select(LoginAttempt.attempted_at, LoginAttempt.succeeded, LoginAttempt.reason)
        .where(
            LoginAttempt.username == username,
            _same_source(source),
            LoginAttempt.attempted_at > since,
        )
        .order_by(LoginAttempt.attempted_at.desc(), LoginAttempt.id.desc())
        .limit(4 * FREE_FAILURES + 64)
    ).all()
    failures = 0
    last_failure: datetime | None = None
    for attempted_at, succeeded, reason in rows:
        if succeeded:
            break
        if reason == LOCKED:
            continue
        failures += 1
        last_failure = last_failure or attempted_at
    waits: list[datetime] = []
    if failures >= FREE_FAILURES and last_failure is not None:
        doublings = min(failures - FREE_FAILURES, 10)
        waits.append(last_failure + min(FIRST_WAIT * 2**doublings, LONGEST_WAIT))
    known_here = session.scalar(
        select(LoginAttempt.id)
        .where(
            LoginAttempt.username == username,
            _same_source(source),
            LoginAttempt.succeeded.is_(True),
            LoginAttempt.attempted_at > now - KNOWN_ADDRESS,
        )
        .limit(1)
    )
    if known_here is None:
        if source is not None:
            address = _window_full(
                session,
                LoginAttempt.source == source,
                limit=ADDRESS_LIMIT,
                period=ADDRESS_PERIOD,
                since=now - ADDRESS_PERIOD,
            )
            waits.extend([address] if address is not None else [])
        account = _window_full(
            session,
            LoginAttempt.username == username,
            limit=ACCOUNT_LIMIT,
            period=ACCOUNT_PERIOD,
            since=max(since, now - ACCOUNT_PERIOD),
        )
        waits.extend([account] if account is not None else [])
    later = [w for w in waits if w > now]
    return SignInState(failures, max(later) if later else None)


def next_attempt_at(
    session: Session, *, username: str, source: str | None, now: datetime | None = None
) -> datetime | None:
    """When the next attempt for a username from an address will be checked; None: now."""
    user = session.scalar(select(User).where(User.username == username))
    state = sign_in_state(session, username=username, source=source, user=user, now=now or utcnow())
    return state.not_before


def unlock_sign_in(session: Session, *, user: User, now: datetime | None = None) -> SignInUnlock:
    """Lift an account's back-off at every address; the unlock is recorded in the audit trail."""
    unlock = SignInUnlock(user_id=user.id, unlocked_at=now or utcnow())
    session.add(unlock)
    session.flush()
    return unlock
