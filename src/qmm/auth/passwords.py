"""Password hashing (argon2id, memory-hard) and the rules a new password must meet."""

from __future__ import annotations

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


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; never raises for a wrong or malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
