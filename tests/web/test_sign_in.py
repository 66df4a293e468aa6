"""Signing in and out: the form, lockout, the session cookie, expiry and where people land."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from qmm.auth.service import MAX_FAILED_LOGINS
from qmm.auth.sessions import SESSION_MAX
from qmm.models import LoginAttempt, User, WebSession, utcnow
from qmm.web.deps import WebSettings
from qmm.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, safe_next
from web.support import World, login_form_token, password_of, sign_in


def post_login(
    client: TestClient, username: str, password: str, *, next_url: str = "/", token: str = ""
):
    token = token or login_form_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": next_url, "csrf_token": token},
    )


def set_cookie_header(response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert headers, f"no {name} cookie was set"
    return headers[0]


def attempts(db: Session, username: str) -> list[LoginAttempt]:
    db.expire_all()
    return list(
        db.scalars(
            select(LoginAttempt).where(LoginAttempt.username == username).order_by(LoginAttempt.id)
        )
    )


class TestTheSignInForm:
    def test_it_has_labelled_fields_and_a_csrf_token_in_form_and_cookie(
        self, client: TestClient
    ) -> None:
        page = client.get("/login")
        assert page.status_code == 200
        assert '<label for="username">' in page.text
        assert '<label for="password">' in page.text
        assert 'autocomplete="current-password"' in page.text
        cookie = set_cookie_header(page, LOGIN_CSRF_COOKIE)
        assert "HttpOnly" in cookie
        assert "Path=/login" in cookie
        assert "Max-Age=3600" in cookie
        assert client.cookies.get(LOGIN_CSRF_COOKIE) in page.text

    def test_a_right_password_starts_a_session_and_goes_where_asked(
        self, client: TestClient
    ) -> None:
        response = post_login(client, "lead-a", password_of("lead-a"), next_url="/sites/SITE-A")
        assert response.status_code == 303
        assert response.headers["location"] == "/sites/SITE-A"
        assert client.get("/sites/SITE-A").status_code == 200

    def test_the_session_cookie_is_httponly_lax_and_lives_as_long_as_the_session(
        self, client: TestClient
    ) -> None:
        response = post_login(client, "lead-a", password_of("lead-a"))
        cookie = set_cookie_header(response, SESSION_COOKIE)
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "path=/" in flags
        assert "secure" not in flags  # plain http to the test server, a local host
        [max_age] = [int(f.split("=")[1]) for f in flags if f.startswith("max-age=")]
        assert SESSION_MAX.total_seconds() - 60 <= max_age <= SESSION_MAX.total_seconds()

    def test_over_https_the_cookie_is_secure(self, app: FastAPI, rollback: None) -> None:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            response = post_login(client, "lead-a", password_of("lead-a"))
        assert "secure" in [
            p.strip().lower() for p in set_cookie_header(response, SESSION_COOKIE).split(";")
        ]

    def test_a_wrong_password_gets_a_generic_message_and_keeps_the_username(
        self, client: TestClient, db: Session
    ) -> None:
        response = post_login(client, "lead-a", "not the password")
        assert response.status_code == 401
        assert "Unknown username or wrong password" in response.text
        assert 'value="lead-a"' in response.text
        assert SESSION_COOKIE not in client.cookies
        [attempt] = attempts(db, "lead-a")
        assert (attempt.succeeded, attempt.channel, attempt.reason) == (
            False,
            "web",
            "wrong password",
        )

    def test_an_unknown_user_gets_the_same_message(self, client: TestClient) -> None:
        response = post_login(client, "nobody", "whatever-it-is")
        assert response.status_code == 401
        assert "Unknown username or wrong password" in response.text

    def test_a_disabled_user_cannot_sign_in(self, client: TestClient) -> None:
        response = post_login(client, "disabled-a", password_of("disabled-a"))
        assert response.status_code == 401
        assert "Unknown username or wrong password" in response.text

    def test_empty_fields_are_asked_for_without_counting_an_attempt(
        self, client: TestClient, db: Session
    ) -> None:
        response = post_login(client, "lead-a", "")
        assert response.status_code == 422
        assert "Enter your username and your password" in response.text
        assert attempts(db, "lead-a") == []

    def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
        self, client: TestClient, db: Session
    ) -> None:
        token = login_form_token(client)
        for _ in range(MAX_FAILED_LOGINS):
            assert (
                post_login(client, "viewer-a", "guess-guess-guess", token=token).status_code == 401
            )
        response = post_login(client, "viewer-a", password_of("viewer-a"), token=token)
        assert response.status_code == 401
        assert "locked" in response.text
        assert SESSION_COOKIE not in client.cookies
        recorded = attempts(db, "viewer-a")
        assert len(recorded) == MAX_FAILED_LOGINS + 1
        assert not any(a.succeeded for a in recorded)
        assert recorded[-2].reason == "wrong password; locked"
        assert recorded[-1].reason == "locked"


class TestNobodyLocksAnyoneOut:
    """The back-off is per address: an anonymous client elsewhere cannot lock the admin out."""

    def test_an_anonymous_client_at_another_address_cannot_lock_the_admin_out(
        self, app: FastAPI, rollback: None
    ) -> None:
        with (
            TestClient(app, follow_redirects=False, client=("203.0.113.66", 40000)) as attacker,
            TestClient(app, follow_redirects=False, client=("192.0.2.10", 50000)) as admin,
        ):
            token = login_form_token(attacker)
            for _ in range(3 * MAX_FAILED_LOGINS):
                guessed = post_login(attacker, "root", "guess-guess-guess", token=token)
                assert guessed.status_code == 401
            assert "locked" in post_login(attacker, "root", password_of("root"), token=token).text
            signed_in = post_login(admin, "root", password_of("root"))
            assert signed_in.status_code == 303
            assert SESSION_COOKIE in admin.cookies

    def test_a_locked_unknown_name_reads_as_a_locked_real_one(
        self, app: FastAPI, rollback: None
    ) -> None:
        told = []
        for n, username in enumerate(("viewer-a", "no-such-person")):
            with TestClient(app, client=(f"203.0.113.{n + 1}", 40000)) as someone:
                token = login_form_token(someone)
                for _ in range(MAX_FAILED_LOGINS):
                    post_login(someone, username, "guess-guess-guess", token=token)
                refused = post_login(someone, username, "guess-guess-guess", token=token)
                assert refused.status_code == 401
                text = refused.text.replace(username, "<name>")
                text = re.sub(r'name="csrf_token" value="[^"]+"', "<csrf>", text)
                told.append(re.sub(r"\b\d\d:\d\d(:\d\d)?\b", "<time>", text))
        assert told[0] == told[1]
        assert "locked" in told[0]


class TestWhereTheyLand:
    def test_a_page_asks_for_sign_in_and_remembers_where_it_was(self, client: TestClient) -> None:
        response = client.get("/sites/SITE-A?tab=history")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fsites%2FSITE-A%3Ftab%3Dhistory"
        page = client.get(response.headers["location"])
        assert 'name="next" value="/sites/SITE-A?tab=history"' in page.text

    @pytest.mark.parametrize(
        "target",
        ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""],
    )
    def test_it_never_sends_anyone_to_another_site(self, client: TestClient, target: str) -> None:
        response = post_login(client, "lead-a", password_of("lead-a"), next_url=target)
        assert response.headers["location"] == "/"

    def test_only_relative_paths_are_accepted(self) -> None:
        assert safe_next("/assessments/3?x=1#y") == "/assessments/3?x=1#y"
        assert safe_next("http://localhost/") == "/"
        assert safe_next("/\r\nSet-Cookie: x") == "/"


class TestTheSessionEnds:
    def test_signing_out_ends_the_session_on_the_server(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        secret = client.cookies[SESSION_COOKIE]
        response = client.post("/logout", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        client.cookies.set(SESSION_COOKIE, secret)  # a copy of the old cookie is worthless
        assert client.get("/").headers["location"].startswith("/login")
        db.expire_all()
        assert db.scalar(select(WebSession).where(WebSession.revoked_at.is_not(None))) is not None

    def test_signing_in_again_ends_the_earlier_session(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-a")
        earlier = client.cookies[SESSION_COOKIE]
        again = post_login(client, "lead-a", password_of("lead-a"))
        assert again.status_code == 303
        assert earlier not in set_cookie_header(again, SESSION_COOKIE)
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, earlier)
        assert client.get("/").status_code == 303

    @pytest.mark.parametrize("clock", ["expires_at", "last_seen_at"])
    def test_an_expired_or_idle_session_no_longer_works(
        self, client: TestClient, db: Session, world: World, clock: str
    ) -> None:
        sign_in(client, db, world, "lead-a")
        web_session = db.scalars(select(WebSession).order_by(WebSession.id.desc())).first()
        assert web_session is not None
        setattr(web_session, clock, utcnow() - timedelta(hours=13))
        db.commit()
        response = client.get("/")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        assert client.get("/api/sites").status_code == 401

    def test_disabling_a_user_ends_their_sessions(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        assert client.get("/").status_code == 200
        user = db.get(User, world.user_ids["viewer-a"])
        assert user is not None
        user.is_active = False
        db.commit()
        assert client.get("/").status_code == 303


class TestCookieSecurity:
    @pytest.mark.parametrize(
        ("url", "secure"),
        [
            ("http://localhost:8000/", False),
            ("http://127.0.0.1:8000/", False),
            ("http://testserver/", False),
            ("https://localhost/", True),
            ("http://qmm.example.com/", True),
            ("https://qmm.example.com/", True),
        ],
    )
    def test_cookies_are_secure_except_over_plain_http_to_this_machine(
        self, url: str, secure: bool
    ) -> None:
        scheme, rest = url.split("://")
        host = rest.split("/")[0]
        request = Request(
            {
                "type": "http",
                "scheme": scheme,
                "server": (host.split(":")[0], 80),
                "path": "/",
                "headers": [(b"host", host.encode())],
                "query_string": b"",
            }
        )
        assert WebSettings().cookie_secure(request) is secure
        assert WebSettings(secure_cookies=True).cookie_secure(request) is True
