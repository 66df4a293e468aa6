"""The 8 o'clock rush on a real HTTP server: concurrent sign-ins and saves all succeed.

The app runs under uvicorn in a thread of the test process (a real server, its thread pool and
its connection pool), on a database file of its own (commits stay), and 50 clients arrive at
once. Password checks cost a quarter of a second each here, as argon2 does at the standard cost
on a small server: slow work held inside the write lock shows as "database is locked".
"""

from __future__ import annotations

import html
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

import qmm.auth.passwords as passwords
import qmm.db
from conftest import is_postgres
from factories import create_assessment_of, create_site_a
from qmm.auth.service import create_user, grant_role
from qmm.auth.sessions import (
    TOUCH_INTERVAL,
    LastUseStamps,
    create_api_token,
    start_web_session,
)
from qmm.cli.main import app as cli
from qmm.db import make_engine, unit_of_work
from qmm.framework.service import get_framework
from qmm.models import AuditEntry, LoginAttempt, Rating, WebSession, utcnow
from qmm.web.app import create_app
from qmm.web.security import CSRF_FIELD, SESSION_COOKIE

CLIENTS = 50
PASSWORD = "Morning-Rush-Lantern-7"
PASSWORD_CHECK_SECONDS = 0.25
_TOKEN = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


class SlowHasher(PasswordHasher):
    """argon2 at the cheap cost that takes as long as the standard cost on a small server.

    The real library releases the interpreter while it hashes; sleeping does the same.
    """

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        time.sleep(PASSWORD_CHECK_SECONDS)
        return super().verify(hash, password)


@dataclass
class LiveServer:
    url: str
    engine: Engine
    app: FastAPI


@contextmanager
def serving(url: str) -> Iterator[LiveServer]:
    """The web app served by uvicorn in a thread, on the database at url."""
    engine = make_engine(url)
    application = create_app(engine)
    config = uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", engine=engine, app=application)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        engine.dispose()


@pytest.fixture
def live_server(cli_database: str) -> Iterator[LiveServer]:
    with serving(cli_database) as server:
        yield server


@pytest.fixture
def impatient_server(cli_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server on SQLite that gives up on the write lock after 0.3 s instead of 30 s."""
    if is_postgres():
        pytest.skip("holds SQLite's write lock")
    monkeypatch.setattr(qmm.db, "BUSY_TIMEOUT_SECONDS", 0.3)
    with serving(cli_database) as server:
        yield server


@contextmanager
def write_lock_held(url: str) -> Iterator[None]:
    """Another process's writer holding SQLite's write lock (a long import, say)."""
    other = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def at_once(work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..CLIENTS-1) all at the same time, one thread each; their answers in order."""
    start = threading.Barrier(CLIENTS)

    def run(n: int) -> Any:
        start.wait()
        return work(n)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(run, range(CLIENTS)))


def test_fifty_people_signing_in_at_once_all_get_in(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    usernames = [f"shift-{n}" for n in range(5)]
    with unit_of_work(live_server.engine) as session:
        for username in usernames:
            create_user(session, username=username, full_name=username, password=PASSWORD)
    hasher = SlowHasher.from_parameters(passwords.HASH_COSTS["cheap"])
    monkeypatch.setattr(passwords, "_hasher", lambda: hasher)

    def sign_in(n: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            form = client.get("/login")
            token = _TOKEN.search(form.text)
            assert token is not None, form.text
            answer = client.post(
                "/login",
                data={
                    "username": usernames[n % len(usernames)],
                    "password": PASSWORD,
                    CSRF_FIELD: token[1],
                },
            )
            return answer.status_code

    answers = Counter(at_once(sign_in))

    assert answers == {303: CLIENTS}
    with unit_of_work(live_server.engine) as session:
        succeeded = session.scalar(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.succeeded)
        )
        sessions = session.scalar(select(func.count()).select_from(WebSession))
    assert (succeeded, sessions) == (CLIENTS, CLIENTS)
    verified = CliRunner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_fifty_people_saving_ratings_at_once_lose_nothing(live_server: LiveServer) -> None:
    with unit_of_work(live_server.engine) as session:
        site = create_site_a(session)
        people = [
            create_user(session, username=f"rater-{n}", full_name=f"Rater {n}")
            for n in range(CLIENTS)
        ]
        for person in people:
            grant_role(session, user=person, role="contributor", site=site)
        framework = get_framework(session, ref="qmm-default")
        assessment = create_assessment_of(
            session, site, people[0], *people[1:], framework=framework
        )
        question = framework.practice_areas[0].sub_elements[0].questions[0].code
        cookies = [start_web_session(session, user=person) for person in people]
        assessment_id = assessment.id

    def save_rating(n: int) -> int:
        secret, web_session = cookies[n]
        with httpx.Client(
            base_url=live_server.url, timeout=60, cookies={SESSION_COOKIE: secret}
        ) as client:
            answer = client.post(
                f"/assessments/{assessment_id}/ratings",
                data={
                    "question": question,
                    "score": str(1 + n % 5),
                    "rationale": f"Rater {n}: the SOP and two records support this level.",
                    CSRF_FIELD: web_session.csrf_token,
                },
            )
            return answer.status_code

    answers = Counter(at_once(save_rating))

    assert answers == {303: CLIENTS}
    with unit_of_work(live_server.engine) as session:
        ratings = session.scalars(select(Rating).where(Rating.assessment_id == assessment_id)).all()
        audited = set(
            session.scalars(
                select(AuditEntry.record_id).where(
                    AuditEntry.table_name == "ratings", AuditEntry.action == "create"
                )
            )
        )
    assert sorted(r.rationale.split(":")[0] for r in ratings) == sorted(
        f"Rater {n}" for n in range(CLIENTS)
    )
    assert {str(r.id) for r in ratings} <= audited
    verified = CliRunner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def arrange_rater(server: LiveServer) -> tuple[int, str, str, str]:
    """One contributor on an assessment, signed in: assessment id, question, cookie, CSRF token."""
    with unit_of_work(server.engine) as session:
        site = create_site_a(session)
        rater = create_user(session, username="rater", full_name="Rater", password=PASSWORD)
        grant_role(session, user=rater, role="contributor", site=site)
        framework = get_framework(session, ref="qmm-default")
        assessment = create_assessment_of(session, site, rater, framework=framework)
        question = framework.practice_areas[0].sub_elements[0].questions[0].code
        secret, web_session = start_web_session(session, user=rater)
        return assessment.id, question, secret, web_session.csrf_token


def test_a_save_that_cannot_get_the_write_lock_answers_503_and_keeps_what_was_typed(
    impatient_server: LiveServer, cli_database: str
) -> None:
    assessment_id, question, secret, csrf = arrange_rater(impatient_server)
    typed = {
        "question": question,
        "score": "4",
        "rationale": "Deviation SOP rev. 4 & <two> closed CAPAs",
        CSRF_FIELD: csrf,
    }
    with httpx.Client(base_url=impatient_server.url, cookies={SESSION_COOKIE: secret}) as client:
        with write_lock_held(cli_database):
            refused = client.post(f"/assessments/{assessment_id}/ratings", data=typed)
            api = client.get("/api/sites")  # a reader is not held up by the lock
        again = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', refused.text)
        resent = client.post(
            f"/assessments/{assessment_id}/ratings",
            data={name: html.unescape(value) for name, value in again},
        )

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "Nothing was changed" in refused.text
    assert {name: html.unescape(value) for name, value in again} == typed
    assert api.status_code == 200
    assert resent.status_code == 303
    with unit_of_work(impatient_server.engine) as session:
        rationales = session.scalars(select(Rating.rationale)).all()
    assert rationales == [typed["rationale"]]


def test_a_sign_in_that_cannot_get_the_write_lock_answers_503_and_keeps_the_username(
    impatient_server: LiveServer, cli_database: str
) -> None:
    arrange_rater(impatient_server)
    with httpx.Client(base_url=impatient_server.url) as client:
        token = _TOKEN.search(client.get("/login").text)
        assert token is not None
        with write_lock_held(cli_database):
            refused = client.post(
                "/login",
                data={"username": "rater", "password": PASSWORD, CSRF_FIELD: token[1]},
            )

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert 'value="rater"' in refused.text
    assert PASSWORD not in refused.text
    assert "sign in again" in refused.text


def test_the_api_answers_503_in_json_when_it_cannot_write(
    impatient_server: LiveServer, cli_database: str
) -> None:
    with unit_of_work(impatient_server.engine) as session:
        admin = create_user(session, username="admin", full_name="Admin")
        grant_role(session, user=admin, role="administrator", site=None)
        plain, _token = create_api_token(session, user=admin, name="script", scope="write")
    with write_lock_held(cli_database):
        refused = httpx.post(
            f"{impatient_server.url}/api/sites",
            json={"code": "SITE-Z", "name": "Zeta"},
            headers={"Authorization": f"Bearer {plain}"},
        )

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "Nothing was changed" in refused.json()["detail"]


def test_last_seen_times_wait_out_a_busy_database_and_the_page_still_answers(
    impatient_server: LiveServer, cli_database: str
) -> None:
    _assessment, _question, secret, _csrf = arrange_rater(impatient_server)
    stamps = LastUseStamps(every=timedelta(0))
    impatient_server.app.state.last_use_stamps = stamps
    with unit_of_work(impatient_server.engine) as session:
        web_session = session.scalars(select(WebSession)).one()
        web_session.last_seen_at = utcnow() - TOUCH_INTERVAL * 2
        stale = web_session.last_seen_at
    with httpx.Client(base_url=impatient_server.url, cookies={SESSION_COOKIE: secret}) as client:
        with write_lock_held(cli_database):
            started = time.monotonic()
            during = client.get("/account/password")
            waited = time.monotonic() - started
        with unit_of_work(impatient_server.engine) as session:
            kept_back = session.scalars(select(WebSession.last_seen_at)).one()
        after = client.get("/healthz")

    assert during.status_code == 200
    assert waited < 3
    assert kept_back == stale  # not written while the lock was held, and not lost
    assert after.json() == {"status": "ok", "last_use_stamps_lost": 0}
    with unit_of_work(impatient_server.engine) as session:
        assert session.scalars(select(WebSession.last_seen_at)).one() > stale
    assert stamps.written == 1
