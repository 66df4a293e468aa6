"""Cross-site request forgery: a state change without the session's token is refused, unchanged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.models import LoginAttempt, Rating, Signature
from qmm.web.security import CSRF_HEADER, LOGIN_CSRF_COOKIE, SESSION_COOKIE
from web.support import World, login_form_token, password_of, sign_in


def count(db: Session, model: type) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("token", [None, "", "forged-token-of-the-right-length-0123456789"])
def test_signing_without_the_sessions_token_is_refused_and_nothing_changes(
    client: TestClient, db: Session, world: World, token: str | None
) -> None:
    sign_in(client, db, world, "lead-a")
    before = (count(db, Signature), count(db, LoginAttempt))
    form = {"password": password_of("lead-a"), "meaning": "approved"}
    if token is not None:
        form["csrf_token"] = token
    response = client.post(f"/assessments/{world.assessment_a}/sign", data=form)
    assert response.status_code == 403
    assert "security token" in response.text
    assert (count(db, Signature), count(db, LoginAttempt)) == before


def test_the_token_in_a_header_works_too(client: TestClient, db: Session, world: World) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    response = client.post(
        f"/assessments/{world.assessment_a}/sign",
        data={"password": password_of("lead-a"), "meaning": "approved"},
        headers={CSRF_HEADER: csrf},
    )
    assert response.status_code == 303


def test_another_sessions_token_does_not_work(
    client: TestClient, db: Session, world: World
) -> None:
    other = sign_in(client, db, world, "viewer-a")
    sign_in(client, db, world, "lead-a")
    response = client.post("/logout", data={"csrf_token": other})
    assert response.status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def test_the_api_with_a_session_cookie_needs_the_csrf_header(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "contrib-a")
    url = f"/api/assessments/{world.assessment_a}/ratings"
    body = {"question": "b1.q1", "score": 2, "rationale": "Only a draft plan", "evidence": []}
    before = count(db, Rating)
    refused = client.post(url, json=body)
    assert refused.status_code == 403
    assert refused.json() == {"detail": refused.json()["detail"]}
    assert count(db, Rating) == before
    assert client.post(url, json=body, headers={CSRF_HEADER: csrf}).status_code == 201
    assert count(db, Rating) == before + 1


def test_a_bearer_token_needs_no_csrf_header(client: TestClient, db: Session, world: World) -> None:
    response = client.post(
        f"/api/assessments/{world.assessment_a}/ratings",
        json={"question": "b1.q1", "score": 2, "rationale": "Only a draft plan", "evidence": []},
        headers={"Authorization": f"Bearer {world.write_tokens['contrib-a']}"},
    )
    assert response.status_code == 201


class TestTheSignInFormIsProtectedToo:
    def test_a_sign_in_without_the_forms_token_is_refused_and_not_counted(
        self, client: TestClient, db: Session
    ) -> None:
        before = count(db, LoginAttempt)
        response = client.post(
            "/login", data={"username": "lead-a", "password": password_of("lead-a")}
        )
        assert response.status_code == 403
        assert SESSION_COOKIE not in client.cookies
        assert count(db, LoginAttempt) == before

    def test_a_token_that_does_not_match_the_cookie_is_refused(self, client: TestClient) -> None:
        login_form_token(client)
        response = client.post(
            "/login",
            data={
                "username": "lead-a",
                "password": password_of("lead-a"),
                "csrf_token": "a-token-planted-by-another-site-0123456789",
            },
        )
        assert response.status_code == 403

    def test_a_token_without_its_cookie_is_refused(self, client: TestClient) -> None:
        token = login_form_token(client)
        client.cookies.delete(LOGIN_CSRF_COOKIE, path="/login")
        assert LOGIN_CSRF_COOKIE not in client.cookies
        response = client.post(
            "/login",
            data={"username": "lead-a", "password": password_of("lead-a"), "csrf_token": token},
        )
        assert response.status_code == 403
