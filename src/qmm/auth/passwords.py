"""Password hashing (argon2id, memory-hard) and the rules a new password must meet."""

from __future__ import annotations

import secrets
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from qmm.errors import InvalidInput

MIN_LENGTH: Final = 12
_hasher = PasswordHasher()


def check_password_rules(password: str, *, username: str) -> None:
    """Refuse a password that is short or guessable from the username."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if username.lower() in password.lower():
        raise InvalidInput("a password must not contain the username")
    if len(set(password)) < 5:
        raise InvalidInput("a password needs at least five different characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


#: A hash of a random secret per set of hasher parameters: what a missing hash is checked against.
_dummy_hashes: dict[tuple[object, ...], str] = {}


def _dummy_hash() -> str:
    """A hash nobody knows the password of, made by the hasher in use (so it costs the same)."""
    key = (
        _hasher.type,
        _hasher.time_cost,
        _hasher.memory_cost,
        _hasher.parallelism,
        _hasher.hash_len,
        _hasher.salt_len,
    )
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(32))
    return _dummy_hashes[key]


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; never raises for a wrong or malformed hash.

    Without a hash (an unknown user, no password set) the password is still checked, against a
    dummy hash of the same cost, so the time taken does not tell whether the account exists.
    """
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
