"""People known to the workbench; the trust layer adds credentials and roles to them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.models import User

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,79}$")


def create_user(
    session: Session, *, username: str, full_name: str, email: str | None = None
) -> User:
    """Add a person under a unique, never reused username."""
    if not USERNAME.match(username):
        raise InvalidInput(
            f"username {username!r} must be 2-80 lower-case letters, digits, '.', '_' or '-',"
            " starting with a letter"
        )
    if not full_name.strip():
        raise InvalidInput("full name must not be empty (it is printed on signatures)")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, full_name=full_name.strip(), email=email)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, username: str) -> User:
    """Find a person by username."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}; `qmm user list` shows the users")
    return user


def list_users(session: Session) -> Sequence[User]:
    """All people, by username."""
    return session.scalars(select(User).order_by(User.username)).all()
