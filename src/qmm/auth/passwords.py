"""Password hashing (argon2id, memory-hard) and the rules a new password must meet."""

from __future__ import annotations

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


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; never raises for a wrong or malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made at another cost than the configured one (sign-in renews it)."""
    return _hasher().check_needs_rehash(password_hash)
