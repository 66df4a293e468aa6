"""A signature and a password change check the password (argon2) before their turn to write.

The app runs under uvicorn on a database file of its own; the hasher notes, each time it works,
whether this process's writer turn is taken and whether SQLite's write lock is held: argon2 takes
most of a second at the standard cost, and every other writer would wait that long behind it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.engine import make_url

import qmm.auth.passwords as passwords
from conftest import is_postgres
from factories import create_assessment_of, create_site_a
from qmm.auth.passwords import verify_password
from qmm.auth.service import create_user, grant_role
from qmm.auth.sessions import start_web_session
from qmm.db import unit_of_work
from qmm.framework.service import get_framework
from qmm.models import Signature, User
from qmm.web.deps import WriterQueue
from qmm.web.security import CSRF_FIELD, SESSION_COOKIE
from web.test_morning_rush import PASSWORD, LiveServer, serving

NEW_PASSWORD = "Evening-Calm-Harbour-9"


class WatchedHasher(PasswordHasher):
    """argon2 at the cheap cost that notes what was held each time it verified or hashed."""

    queue: WriterQueue | None = None
    database = ""
    #: (verify or hash, writer turn taken, SQLite write lock held), in order.
    held: list[tuple[str, bool, bool]]

    def _note(self, work: str) -> None:
        assert self.queue is not None
        turn_taken = any(lock.locked() for lock in list(self.queue._locks.values()))
        self.held.append((work, turn_taken, self.database != "" and _write_locked(self.database)))

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._note("verify")
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._note("hash")
        return super().hash(password, salt=salt)


def _write_locked(database: str) -> bool:
    """Whether some connection holds SQLite's write lock right now."""
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    else:
        probe.execute("ROLLBACK")
        return False
    finally:
        probe.close()


@dataclass
class Signer:
    server: LiveServer
    hasher: WatchedHasher
    assessment_id: int
    cookie: str
    csrf: str

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        with httpx.Client(
            base_url=self.server.url, timeout=60, cookies={SESSION_COOKIE: self.cookie}
        ) as client:
            return client.post(path, data={**data, CSRF_FIELD: self.csrf})


@pytest.fixture
def signer(cli_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Signer]:
    """A site quality lead on an assessment, signed in to a live server, hashes watched."""
    with serving(cli_database) as server:
        with unit_of_work(server.engine) as session:
            site = create_site_a(session)
            lead = create_user(session, username="lead", full_name="Lead", password=PASSWORD)
            grant_role(session, user=lead, role="site_quality_lead", site=site)
            framework = get_framework(session, ref="qmm-default")
            assessment = create_assessment_of(session, site, lead, framework=framework)
            secret, web_session = start_web_session(session, user=lead)
            arranged = (assessment.id, secret, web_session.csrf_token)
        hasher = WatchedHasher.from_parameters(passwords.HASH_COSTS["cheap"])
        hasher.queue, hasher.held = server.app.state.writer_queue, []
        if not is_postgres():
            hasher.database = make_url(cli_database).database or ""
        monkeypatch.setattr(passwords, "_hasher", lambda: hasher)
        yield Signer(server, hasher, *arranged)


def test_a_signature_checks_the_password_before_its_turn_to_write(signer: Signer) -> None:
    answer = signer.post(
        f"/assessments/{signer.assessment_id}/sign",
        {"password": PASSWORD, "meaning": "approved"},
    )

    assert answer.status_code == 303, answer.text
    assert "?signed=true" in answer.headers["location"]
    assert signer.hasher.held == [("verify", False, False)]
    with unit_of_work(signer.server.engine) as session:
        assert session.scalars(select(Signature.meaning)).all() == ["approved"]


def test_a_wrong_signing_password_is_still_refused_and_counted(signer: Signer) -> None:
    answer = signer.post(
        f"/assessments/{signer.assessment_id}/sign",
        {"password": "not-the-password", "meaning": "approved"},
    )

    assert answer.status_code == 422
    assert "The password is wrong; the signature was not recorded." in answer.text
    assert signer.hasher.held == [("verify", False, False)]
    with unit_of_work(signer.server.engine) as session:
        assert session.scalars(select(Signature)).all() == []
        lead = session.scalars(select(User).where(User.username == "lead")).one()
        assert lead.failed_logins == 1


def test_a_password_change_checks_and_hashes_before_its_turn_to_write(signer: Signer) -> None:
    answer = signer.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )

    assert answer.status_code == 200, answer.text
    assert "Your password was changed." in answer.text
    assert signer.hasher.held
    assert all(not turn and not lock for _, turn, lock in signer.hasher.held), signer.hasher.held
    with unit_of_work(signer.server.engine) as session:
        lead = session.scalars(select(User).where(User.username == "lead")).one()
        assert verify_password(lead.password_hash, NEW_PASSWORD)


@pytest.fixture
def administrator(signer: Signer) -> Signer:
    """The same live server, with an administrator signed in instead of the lead."""
    with unit_of_work(signer.server.engine) as session:
        root = create_user(session, username="root", full_name="Root", password=PASSWORD)
        grant_role(session, user=root, role="administrator", site=None)
        secret, web_session = start_web_session(session, user=root)
        arranged = (secret, web_session.csrf_token)
    signer.hasher.held.clear()
    return Signer(signer.server, signer.hasher, signer.assessment_id, *arranged)


def test_an_administrators_password_reset_hashes_before_its_turn_to_write(
    administrator: Signer,
) -> None:
    answer = administrator.post(
        "/admin/users/lead/password",
        {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )

    assert answer.status_code == 303, answer.text
    held = administrator.hasher.held
    assert held
    assert all(not turn and not lock for _, turn, lock in held), held
    with unit_of_work(administrator.server.engine) as session:
        lead = session.scalars(select(User).where(User.username == "lead")).one()
        assert verify_password(lead.password_hash, NEW_PASSWORD)


def test_a_new_users_first_password_is_hashed_before_the_turn_to_write(
    administrator: Signer,
) -> None:
    answer = administrator.post(
        "/admin/users",
        {
            "username": "dana",
            "full_name": "Dana Whitfield",
            "email": "",
            "password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )

    assert answer.status_code == 303, answer.text
    held = administrator.hasher.held
    assert [work for work, _, _ in held] == ["hash"], held
    assert all(not turn and not lock for _, turn, lock in held), held
    with unit_of_work(administrator.server.engine) as session:
        dana = session.scalars(select(User).where(User.username == "dana")).one()
        assert verify_password(dana.password_hash, NEW_PASSWORD)
