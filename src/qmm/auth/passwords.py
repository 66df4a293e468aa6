"""Password hashing (argon2id, memory-hard) and the rules a new password must meet."""

from __future__ import annotations

import secrets
from dataclasses import replace
from functools import lru_cache
from typing import Final

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from qmm.config import get_settings
from qmm.errors import InvalidInput

MIN_LENGTH: Final = 12

#: The cost of new hashes per setting: RFC 9106's low-memory profile for every installation,
#: and the cheapest argon2id a test suite can run thousands of times (never for real accounts).
HASH_COSTS: Final[dict[str, Parameters]] = {
    "standard": RFC_9106_LOW_MEMORY,
    "cheap": replace(RFC_9106_LOW_MEMORY, time_cost=1, memory_cost=8, parallelism=1),
}


@lru_cache(maxsize=len(HASH_COSTS))
def hasher_for(cost: str) -> PasswordHasher:
    """The argon2id hasher of a cost setting; any hash verifies, whatever its own parameters."""
    return PasswordHasher.from_parameters(HASH_COSTS[cost])


def _hasher() -> PasswordHasher:
    return hasher_for(get_settings().password_hash_cost)


def check_password_rules(password: str, *, username: str) -> None:
    """Refuse a password that is short or guessable from the username."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if username.lower() in password.lower():
        raise InvalidInput("a password must not contain the username")
    if len(set(password)) < 5:
        raise InvalidInput("a password needs at least five different characters")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


#: A hash of a random secret per set of hasher parameters: what a missing hash is checked against.
_dummy_hashes: dict[tuple[object, ...], str] = {}


def _dummy_hash() -> str:
    """A hash nobody knows the password of, made by the hasher in use (so it costs the same)."""
    hasher = _hasher()
    key = (
        hasher.type,
        hasher.time_cost,
        hasher.memory_cost,
        hasher.parallelism,
        hasher.hash_len,
        hasher.salt_len,
    )
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash(secrets.token_urlsafe(32))
    return _dummy_hashes[key]


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; never raises for a wrong or malformed hash.

    Without a hash (an unknown user, no password set) the password is still checked, against a
    dummy hash of the same cost, so the time taken does not tell whether the account exists.
    """
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made at another cost than the configured one (sign-in renews it)."""
    return _hasher().check_needs_rehash(password_hash)
