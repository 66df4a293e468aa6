"""People: unique usernames, clear refusals."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from factories import create_alice
from qmm.auth.service import create_user, get_user, list_users
from qmm.errors import Conflict, InvalidInput, NotFound


class TestCreateUser:
    def test_it_adds_a_user(self, session: Session) -> None:
        create_alice(session)
        assert get_user(session, username="alice").full_name == "Alice Moreau"
        assert [u.username for u in list_users(session)] == ["alice"]

    def test_it_refuses_a_taken_username(self, session: Session) -> None:
        create_alice(session)
        with pytest.raises(Conflict, match="'alice' already exists"):
            create_user(session, username="alice", full_name="Another Alice")

    @pytest.mark.parametrize("username", ["A", "Alice", "9lives", "has space", ""])
    def test_it_refuses_a_malformed_username(self, session: Session, username: str) -> None:
        with pytest.raises(InvalidInput, match="username"):
            create_user(session, username=username, full_name="X")

    def test_it_refuses_an_empty_name(self, session: Session) -> None:
        with pytest.raises(InvalidInput, match="full name"):
            create_user(session, username="bob", full_name="  ")

    def test_an_unknown_user_is_not_found(self, session: Session) -> None:
        with pytest.raises(NotFound, match="no user 'zoe'"):
            get_user(session, username="zoe")
