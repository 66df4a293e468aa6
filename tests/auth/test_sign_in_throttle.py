"""Signing in without telling who exists, and backing off without letting anyone lock anyone out.

An unknown username costs the same password check as a real one and gets the same words; failed
attempts slow down the next ones from the same address (by username), from the address as a
whole, and for the username from addresses it was never used from; an administrator's unlock is
in the audit trail.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

import qmm.auth.passwords as passwords
from qmm.auth.service import (
    MAX_FAILED_LOGINS,
    WRONG_CREDENTIALS,
    authenticate,
    check_password,
    create_user,
    disable_user,
    finish_sign_in,
    prepare_sign_in,
    set_password,
)
from qmm.auth.throttle import (
    ACCOUNT_LIMIT,
    ADDRESS_LIMIT,
    FIRST_WAIT,
    LONGEST_WAIT,
    next_attempt_at,
    unlock_sign_in,
)
from qmm.errors import Unauthenticated
from qmm.models import AuditEntry, LoginAttempt, User, utcnow

PASSWORD = "correct horse battery"
GUESS = "guess guess guess"
ADMIN_DESK = "192.0.2.10"
ATTACKER = "203.0.113.66"
SECOND = timedelta(seconds=1)


@pytest.fixture
def root(session: Session) -> User:
    """An administrator who has signed in from their desk before."""
    user = create_user(session, username="root", full_name="Root Admin", password=PASSWORD)
    authenticate(session, username="root", password=PASSWORD, source=ADMIN_DESK)
    return user


def refusal(session: Session, username: str, password: str, **where: object) -> str:
    """The words a refused sign-in gets."""
    with pytest.raises(Unauthenticated) as refused:
        authenticate(session, username=username, password=password, **where)  # type: ignore[arg-type]
    return str(refused.value)


def reasons(session: Session, username: str) -> list[str | None]:
    return list(
        session.scalars(
            select(LoginAttempt.reason)
            .where(LoginAttempt.username == username)
            .order_by(LoginAttempt.id)
        )
    )


# --- no enumeration --------------------------------------------------------------------------


class CountingHasher(PasswordHasher):
    """The hasher, noting each hash a password is checked against."""

    def __init__(self, **parameters: int) -> None:
        super().__init__(**parameters)
        self.checked: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.checked.append(str(hash))
        return super().verify(hash, password)


@pytest.fixture
def measured_hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    """A fixed, realistic-enough argon2 cost for the timing test, whatever the suite's setting.

    The dummy hash must follow the hasher in use: were it built with other parameters than the
    stored hashes, an unknown user would cost more or less than a real one, and this would show.
    """
    hasher = CountingHasher(time_cost=2, memory_cost=32 * 1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", lambda: hasher)
    return hasher


def medians(session: Session, usernames: tuple[str, ...], times: int = 20) -> list[float]:
    """The median time of `times` wrong sign-ins per username, taken in turns (so a busy moment
    of the machine weighs on each alike), each from an address of its own so none is held back.
    """
    spent: dict[str, list[float]] = {u: [] for u in usernames}
    for n in range(times):
        for k, username in enumerate(usernames):
            start = time.perf_counter()
            with pytest.raises(Unauthenticated):
                authenticate(session, username=username, password=GUESS, source=f"10.{k}.{n}.1")
            spent[username].append(time.perf_counter() - start)
    return [statistics.median(spent[u]) for u in usernames]


def test_an_unknown_user_costs_the_same_check_as_a_wrong_password(
    session: Session, measured_hasher: CountingHasher
) -> None:
    create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    refusal(session, "nobody", GUESS, source="10.0.0.1")  # builds the dummy hash once
    measured_hasher.checked.clear()
    refusal(session, "nobody", GUESS, source="10.0.0.2")
    refusal(session, "dan", GUESS, source="10.0.0.3")
    unknown_hash, known_hash = measured_hasher.checked
    # One argon2 check each, with the same algorithm and parameters ($argon2id$v=19$m=,t=,p=$).
    assert unknown_hash.split("$")[:4] == known_hash.split("$")[:4]
    known, unknown = medians(session, ("dan", "nobody"))
    assert abs(unknown - known) <= 0.2 * known, (known, unknown)
    assert refusal(session, "nobody", GUESS) == refusal(session, "dan", GUESS)


def test_unknown_disabled_and_wrong_get_the_same_words(session: Session) -> None:
    create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    gone = create_user(session, username="eve", full_name="Eve", password=PASSWORD)
    disable_user(session, user=gone)
    create_user(session, username="fay", full_name="Fay")  # no password set yet
    answers = {
        refusal(session, "dan", GUESS),
        refusal(session, "nobody", GUESS),
        refusal(session, "eve", PASSWORD),
        refusal(session, "fay", GUESS),
    }
    assert answers == {WRONG_CREDENTIALS}


def test_a_locked_unknown_user_and_a_locked_real_one_read_the_same(session: Session) -> None:
    create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    now = utcnow()
    told = []
    for username in ("dan", "nobody"):
        for _ in range(MAX_FAILED_LOGINS):
            refusal(session, username, GUESS, source=ATTACKER, now=now)
        told.append(refusal(session, username, PASSWORD, source=ATTACKER, now=now))
    assert told[0] == told[1]
    assert "locked" in told[0]
    assert reasons(session, "dan")[-2:] == ["wrong password; locked", "locked"]
    assert reasons(session, "nobody")[-2:] == ["unknown user; locked", "locked"]


# --- back-off, not a hard lock -----------------------------------------------------------------


def test_the_wait_doubles_with_each_failure_up_to_a_ceiling(session: Session) -> None:
    create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    now = utcnow()
    for _ in range(MAX_FAILED_LOGINS - 1):
        refusal(session, "dan", GUESS, source=ATTACKER, now=now)
    assert next_attempt_at(session, username="dan", source=ATTACKER, now=now) is None
    waits = []
    for _ in range(8):
        refusal(session, "dan", GUESS, source=ATTACKER, now=now)
        allowed = next_attempt_at(session, username="dan", source=ATTACKER, now=now)
        assert allowed is not None
        assert "locked" in refusal(session, "dan", PASSWORD, source=ATTACKER, now=allowed - SECOND)
        waits.append(allowed - now)
        now = allowed
    assert waits[:4] == [FIRST_WAIT, 2 * FIRST_WAIT, 4 * FIRST_WAIT, 8 * FIRST_WAIT]
    assert waits[-1] == LONGEST_WAIT
    assert timedelta(minutes=15) >= LONGEST_WAIT
    assert authenticate(session, username="dan", password=PASSWORD, source=ATTACKER, now=now)
    # A success starts the count again.
    refusal(session, "dan", GUESS, source=ATTACKER, now=now)
    assert next_attempt_at(session, username="dan", source=ATTACKER, now=now) is None


# --- nobody elsewhere can lock the administrator out -------------------------------------------


def test_an_anonymous_client_elsewhere_cannot_lock_the_admin_out(
    session: Session, root: User
) -> None:
    now = utcnow()
    for _ in range(50):
        with pytest.raises(Unauthenticated):
            authenticate(session, username="root", password=GUESS, source=ATTACKER, now=now)
    assert "locked" in refusal(session, "root", PASSWORD, source=ATTACKER, now=now)
    signed_in = authenticate(
        session, username="root", password=PASSWORD, source=ADMIN_DESK, now=now
    )
    assert signed_in.id == root.id


def test_many_addresses_together_cannot_lock_the_admin_out_of_their_desk(
    session: Session, root: User
) -> None:
    now = utcnow()
    for n in range(ACCOUNT_LIMIT + 20):
        with pytest.raises(Unauthenticated):
            authenticate(
                session, username="root", password=GUESS, source=f"198.51.100.{n % 250}", now=now
            )
    # A new address is held back for the account now ...
    assert "locked" in refusal(session, "root", PASSWORD, source="198.18.0.1", now=now)
    # ... but the administrator's own desk is not.
    assert authenticate(session, username="root", password=PASSWORD, source=ADMIN_DESK, now=now)


def test_one_address_trying_many_usernames_is_held_back(session: Session, root: User) -> None:
    now = utcnow()
    for n in range(ADDRESS_LIMIT):
        with pytest.raises(Unauthenticated):
            authenticate(session, username=f"user{n}", password=GUESS, source=ATTACKER, now=now)
    assert "locked" in refusal(session, "someone-else", GUESS, source=ATTACKER, now=now)
    assert authenticate(session, username="root", password=PASSWORD, source=ADMIN_DESK, now=now)


# --- lifting it ------------------------------------------------------------------------------


def test_an_administrators_unlock_lifts_the_back_off_and_is_in_the_audit_trail(
    session: Session, root: User
) -> None:
    dan = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    now = utcnow()
    for _ in range(MAX_FAILED_LOGINS):
        refusal(session, "dan", GUESS, source=ATTACKER, now=now)
    assert "locked" in refusal(session, "dan", PASSWORD, source=ATTACKER, now=now)
    before = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    unlock_sign_in(session, user=dan, now=now)
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.id > before, AuditEntry.table_name != "login_attempts")
    ).all()
    assert [(e.table_name, e.action) for e in entries] == [("sign_in_unlocks", "create")]
    assert entries[0].new_values["user_id"] == dan.id
    assert authenticate(session, username="dan", password=PASSWORD, source=ATTACKER, now=now)


def test_a_new_password_lifts_the_back_off(session: Session) -> None:
    dan = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    now = utcnow() - timedelta(seconds=5)
    for _ in range(MAX_FAILED_LOGINS):
        refusal(session, "dan", GUESS, source=ATTACKER, now=now)
    set_password(session, user=dan, password="another good phrase")
    assert authenticate(session, username="dan", password="another good phrase", source=ATTACKER)


def test_a_burst_of_guesses_checked_at_once_is_held_back_as_if_they_came_in_turn(
    session: Session,
) -> None:
    """Passwords are checked outside the write lock: the back-off is read again when each
    attempt is recorded, so guesses sent together get no more tries than guesses sent in turn."""
    create_user(session, username="dan", full_name="Dan", password=PASSWORD)
    guesses = [GUESS] * MAX_FAILED_LOGINS + [PASSWORD, GUESS]
    checks = [
        prepare_sign_in(session, username="dan", source=ATTACKER) for _ in range(len(guesses))
    ]
    verdicts = [check_password(check, guess) for check, guess in zip(checks, guesses, strict=True)]
    assert all(check.held_back_until is None for check in checks)  # each saw no failure yet

    words = []
    for check, verdict in zip(checks, verdicts, strict=True):
        with pytest.raises(Unauthenticated) as refused:
            finish_sign_in(session, check=check, verdict=verdict)
        words.append(str(refused.value))

    assert words[:MAX_FAILED_LOGINS] == [WRONG_CREDENTIALS] * MAX_FAILED_LOGINS
    assert all(w.startswith("sign-in is locked") for w in words[MAX_FAILED_LOGINS:])
    assert reasons(session, "dan")[MAX_FAILED_LOGINS:] == ["locked", "locked"]
