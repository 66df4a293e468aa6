"""Administration in the browser: people, roles per site and API tokens, through the services
`qmm user` and `qmm token` use."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.auth.service import get_user
from qmm.auth.sessions import list_api_tokens, token_state
from qmm.models import ApiToken, RoleGrant, User, WebSession
from web.support import NEW_PASSWORD, World, bearer, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

VIEWER = "/admin/users/viewer-a"


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def fresh(db: Session, username: str) -> User:
    user = get_user(db, username=username)
    db.refresh(user)
    return user


def live_tokens(db: Session, username: str) -> int:
    tokens = list_api_tokens(db, user=fresh(db, username))
    for token in tokens:
        db.refresh(token)
    return sum(1 for t in tokens if token_state(t) == "active")


class TestWhoMay:
    @pytest.mark.parametrize("username", ["lead-a", "viewer-a", "contrib-a"])
    def test_only_administrators_see_the_pages(
        self, client: TestClient, db: Session, world: World, username: str
    ) -> None:
        csrf = sign_in(client, db, world, username)
        assert client.get("/admin/users").status_code == 403
        assert "/admin/users" not in client.get("/").text
        before = count(db, User)
        made = client.post(
            "/admin/users", data={"username": "mallory", "full_name": "M", "csrf_token": csrf}
        )
        assert made.status_code == 403
        assert count(db, User) == before

    def test_an_administrator_sees_everyone_and_their_roles(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "root")
        assert 'href="/admin/users"' in client.get("/").text
        page = client.get("/admin/users")
        assert page.status_code == 200
        assert 'href="/admin/users/lead-a"' in page.text
        assert "Site quality lead at SITE-A" in page.text
        assert "disabled" in page.text


class TestUsers:
    def test_an_administrator_adds_a_user_with_a_password(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        response = client.post(
            "/admin/users",
            data={
                "username": "dana",
                "full_name": "Dana Whitfield",
                "email": "dana@example.invalid",
                "password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/admin/users/dana?done=created"
        dana = fresh(db, "dana")
        assert dana.full_name == "Dana Whitfield"
        assert dana.password_hash is not None
        assert "The user was added" in client.get(response.headers["location"]).text

    def test_bad_input_is_named_by_field_never_echoes_a_password_and_stores_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        before = count(db, User)
        response = client.post(
            "/admin/users",
            data={
                "username": "Bad Name",
                "full_name": " ",
                "password": "short",
                "confirm_password": "short",
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 422
        assert "must be 2-80 lower-case" in error_of(response.text, "user-username")
        assert "full name" in error_of(response.text, "user-full_name")
        assert error_of(response.text, "user-password")
        assert 'value="short"' not in response.text
        assert 'value="Bad Name"' in response.text
        assert count(db, User) == before

    def test_a_username_is_never_reused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        response = client.post(
            "/admin/users",
            data={"username": "viewer-a", "full_name": "Another", "csrf_token": csrf},
        )
        assert response.status_code == 422
        assert "never reused" in error_of(response.text, "user-username")

    def test_a_password_reset_revokes_tokens_and_ends_sessions(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        other = TestClient(client.app, follow_redirects=False)
        sign_in(other, db, world, "viewer-a")
        assert other.get("/").status_code == 200
        assert live_tokens(db, "viewer-a") == 2
        csrf = sign_in(client, db, world, "root")
        bad = client.post(
            VIEWER + "/password",
            data={"password": NEW_PASSWORD, "confirm_password": "different", "csrf_token": csrf},
        )
        assert bad.status_code == 422
        assert "differ" in error_of(bad.text, "password-confirm_password")
        assert live_tokens(db, "viewer-a") == 2
        done = client.post(
            VIEWER + "/password",
            data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD, "csrf_token": csrf},
        )
        assert done.status_code == 303, done.text
        assert live_tokens(db, "viewer-a") == 0
        api = client.get("/api/sites", headers=bearer(world.read_tokens["viewer-a"]))
        assert api.status_code == 401
        assert other.get("/").status_code in (303, 401)
        viewer_sessions = select(func.count()).where(
            WebSession.user_id == world.user_ids["viewer-a"], WebSession.revoked_at.is_(None)
        )
        assert db.scalar(viewer_sessions) == 0

    def test_disabling_needs_a_reason_and_keeps_the_record(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        bad = client.post(VIEWER + "/disable", data={"reason": " ", "csrf_token": csrf})
        assert bad.status_code == 422
        assert "audit trail" in error_of(bad.text, "disable-reason")
        assert fresh(db, "viewer-a").is_active
        done = client.post(VIEWER + "/disable", data={"reason": "Left", "csrf_token": csrf})
        assert done.status_code == 303
        assert not fresh(db, "viewer-a").is_active
        own = client.post("/admin/users/root/disable", data={"reason": "x", "csrf_token": csrf})
        assert own.status_code == 422
        assert fresh(db, "root").is_active


class TestGrants:
    def test_an_assessor_grant_limited_to_an_assessment_and_in_time(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        response = client.post(
            VIEWER + "/grants",
            data={
                "role": "assessor",
                "site": "SITE-A",
                "assessments": [str(world.assessment_a)],
                "expires_on": "2099-06-30",
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 303, response.text
        grant = db.scalar(
            select(RoleGrant)
            .where(RoleGrant.user_id == world.user_ids["viewer-a"])
            .order_by(RoleGrant.id.desc())
        )
        assert grant is not None
        assert grant.role == "assessor"
        assert grant.assessment_ids == [world.assessment_a]
        assert grant.expires_at is not None
        assert grant.expires_at.date().isoformat() == "2099-07-01"
        assert grant.granted_by_id == world.user_ids["root"]
        page = client.get(VIEWER).text
        assert f'href="/assessments/{world.assessment_a}"' in page
        assert "last day 2099-06-30" in page

    def test_bad_grants_are_named_by_field_and_nothing_is_stored(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        before = count(db, RoleGrant)
        no_end = client.post(
            VIEWER + "/grants", data={"role": "assessor", "site": "SITE-A", "csrf_token": csrf}
        )
        assert no_end.status_code == 422
        assert "time-limited" in error_of(no_end.text, "grant-expires_on")
        everywhere = client.post(
            VIEWER + "/grants",
            data={
                "role": "administrator",
                "site": "SITE-B",
                "expires_on": "2020-01-01",
                "csrf_token": csrf,
            },
        )
        assert everywhere.status_code == 422
        assert "give no site" in error_of(everywhere.text, "grant-site")
        assert "future" in error_of(everywhere.text, "grant-expires_on")
        odd = client.post(
            VIEWER + "/grants",
            data={
                "role": "viewer",
                "site": "SITE-B",
                "assessments": [str(world.assessment_a), "999999"],
                "expires_on": "soon",
                "csrf_token": csrf,
            },
        )
        assert odd.status_code == 422
        assert "999999" in error_of(odd.text, "grant-assessments")
        assert "not a date" in error_of(odd.text, "grant-expires_on")
        elsewhere = client.post(
            VIEWER + "/grants",
            data={
                "role": "viewer",
                "site": "SITE-B",
                "assessments": [str(world.assessment_a)],
                "csrf_token": csrf,
            },
        )
        assert elsewhere.status_code == 422
        assert (
            f"Assessment {world.assessment_a} is not of site SITE-B."
            == error_of(elsewhere.text, "grant-assessments").split("</span> ")[-1].strip()
        )
        no_role = client.post(VIEWER + "/grants", data={"site": "SITE-A", "csrf_token": csrf})
        assert "Choose a role" in error_of(no_role.text, "grant-role")
        assert count(db, RoleGrant) == before

    def test_ending_a_grant_needs_a_reason_and_one_of_their_own(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        theirs = db.scalar(
            select(RoleGrant).where(
                RoleGrant.user_id == world.user_ids["lead-a"], RoleGrant.revoked_at.is_(None)
            )
        )
        root_grant = db.scalar(select(RoleGrant).where(RoleGrant.user_id == world.user_ids["root"]))
        assert theirs is not None
        assert root_grant is not None
        url = "/admin/users/lead-a/grants/revoke"
        stranger = client.post(
            url, data={"record": str(root_grant.id), "reason": "x", "csrf_token": csrf}
        )
        assert stranger.status_code == 422
        no_reason = client.post(url, data={"record": str(theirs.id), "csrf_token": csrf})
        assert no_reason.status_code == 422
        assert "audit trail" in error_of(no_reason.text, f"revoke-grant-{theirs.id}-reason")
        db.refresh(theirs)
        assert theirs.revoked_at is None
        ended = client.post(
            url, data={"record": str(theirs.id), "reason": "Moved site", "csrf_token": csrf}
        )
        assert ended.status_code == 303
        db.refresh(theirs)
        assert theirs.revoked_at is not None


class TestTokens:
    def test_a_token_is_shown_once_and_listed_with_its_true_state(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        made = client.post(
            VIEWER + "/tokens",
            data={"name": "nightly export", "scope": "read", "sites": ["SITE-A"], "days": "30",
                  "csrf_token": csrf},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        plain = re.search(r'id="new-token-value"[^>]*value="(qmm_[^"]+)"', made.text)
        assert plain is not None
        token = db.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
        assert token is not None
        assert token.name == "nightly export"
        assert token.site_ids == [world.site_a]
        assert plain.group(1) not in token.token_hash
        assert client.get("/api/sites", headers=bearer(plain.group(1))).status_code == 200
        assert plain.group(1) not in client.get(VIEWER).text
        listing = client.get("/admin/tokens").text
        assert f'id="token-{token.id}"' in listing
        revoked = client.post(
            VIEWER + "/tokens/revoke",
            data={"record": str(token.id), "reason": "Export retired", "csrf_token": csrf},
        )
        assert revoked.status_code == 303, revoked.text
        assert client.get("/api/sites", headers=bearer(plain.group(1))).status_code == 401
        row = client.get("/admin/tokens").text.split(f'id="token-{token.id}"')[1]
        assert "revoked" in row.split("</tr>")[0]

    def test_bad_tokens_are_named_by_field_and_nothing_is_stored(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        before = count(db, ApiToken)
        response = client.post(
            VIEWER + "/tokens",
            data={"name": " ", "scope": "admin", "sites": ["SITE-Q"], "days": "0",
                  "csrf_token": csrf},
        )  # fmt: skip
        assert response.status_code == 422
        assert "SITE-Q" in error_of(response.text, "token-sites")
        assert "whole number of days" in error_of(response.text, "token-days")
        assert count(db, ApiToken) == before
        unnamed = client.post(
            VIEWER + "/tokens", data={"name": " ", "scope": "admin", "csrf_token": csrf}
        )
        assert "a name" in error_of(unnamed.text, "token-name")
        assert "read, write" in error_of(unnamed.text, "token-scope")
        assert count(db, ApiToken) == before
