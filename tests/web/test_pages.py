"""The pages: sites, an assessment with its signatures, audit history, password, errors."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from qmm.audit.trail import Actor, reason, set_actor
from qmm.auth.service import MAX_FAILED_LOGINS
from qmm.events.store import EventStore
from qmm.models import LoginAttempt, Signature, Site, User
from qmm.sites.service import create_site
from qmm.web.app import SECURITY_HEADERS
from qmm.web.deps import DB
from qmm.web.security import CSRF_HEADER, Access, public
from web.support import NEW_PASSWORD, World, bearer, make_app, password_of, sign_in


def signed_in(client: TestClient, db: Session, world: World, username: str) -> str:
    return sign_in(client, db, world, username)


class TestSites:
    def test_the_start_page_lists_only_the_persons_sites(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "lead-a")
        page = client.get("/")
        assert page.status_code == 200
        assert '<a href="/sites/SITE-A">SITE-A</a>' in page.text
        assert "SITE-B" not in page.text
        assert "Signed in as" in page.text

    def test_an_administrator_sees_every_site(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "root")
        page = client.get("/")
        assert "/sites/SITE-A" in page.text
        assert "/sites/SITE-B" in page.text

    def test_someone_whose_grant_expired_is_told_why_they_see_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "expired-a")
        page = client.get("/")
        assert page.status_code == 200
        assert "no access to any site" in page.text

    def test_a_site_page_shows_its_details_and_assessments(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert page.status_code == 200
        assert "Riverside Sterile" in page.text
        assert f'href="/assessments/{world.assessment_a}"' in page.text
        assert "/audit/sites/" not in page.text  # viewers have no audit:read

    def test_an_unknown_site_is_a_404_page(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "root")
        page = client.get("/sites/NOPE")
        assert page.status_code == 404
        assert "<h1>Not found</h1>" in page.text
        assert "no site with code" in page.text

    def test_another_sites_page_answers_as_for_no_site(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "lead-b")
        page = client.get("/sites/SITE-A")
        assert page.status_code == 404  # not 403, which would tell that SITE-A exists
        assert "no site with code &#39;SITE-A&#39;" in page.text


class TestAssessmentPage:
    def test_it_shows_scores_agreement_and_that_nobody_has_signed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "viewer-a")
        page = client.get(f"/assessments/{world.assessment_a}")
        assert page.status_code == 200
        assert "Scores by practice area" in page.text
        assert 'id="se-m1"' in page.text  # sub-element scores sit with their questions
        assert "Krippendorff" in page.text
        assert 'Overall score <span class="tag">ours, not FDA\'s</span>' in page.text
        assert "Nobody has signed this assessment yet." in page.text
        spoofed = client.get(f"/assessments/{world.assessment_a}?signed=true")
        assert "Your signature was recorded." not in spoofed.text
        assert "Sign this assessment" not in page.text  # viewers cannot sign

    def test_a_signature_shows_valid_then_invalid_after_a_rating_changes(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = signed_in(client, db, world, "lead-a")
        url = f"/assessments/{world.assessment_a}"
        signed = client.post(
            f"{url}/sign",
            data={"password": password_of("lead-a"), "meaning": "approved", "csrf_token": csrf},
        )
        assert signed.status_code == 303
        page = client.get(signed.headers["location"])
        assert "Your signature was recorded." in page.text
        assert "Approved by Lead A (lead-a)" in page.text
        assert "status-valid" in page.text
        assert "status-invalid" not in page.text

        rated = client.post(
            f"/api/assessments/{world.assessment_a}/ratings",
            json={"question": "m1.q1", "score": 5, "rationale": "Second look", "evidence": []},
            headers={CSRF_HEADER: csrf},
        )
        assert rated.status_code == 201
        page = client.get(url)
        assert "INVALID: the assessment changed after it was signed" in page.text
        assert "status-invalid" in page.text
        assert "1 INVALID" in page.text  # the summary at the top says so too
        api = client.get(f"/api/assessments/{world.assessment_a}")
        assert [s["valid"] for s in api.json()["signatures"]] == [False]

    def test_a_wrong_signing_password_is_refused_and_counts_toward_lockout(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = signed_in(client, db, world, "contrib-a")
        response = client.post(
            f"/assessments/{world.assessment_a}/sign",
            data={"password": "not-my-password", "meaning": "reviewed", "csrf_token": csrf},
        )
        assert response.status_code == 422
        assert "The password is wrong; the signature was not recorded." in response.text
        assert f"{MAX_FAILED_LOGINS} wrong passwords in a row lock the account" in response.text
        assert 'value="reviewed" checked' in response.text  # the choice made is kept
        db.expire_all()
        assert db.scalars(select(Signature)).all() == []
        user = db.get(User, world.user_ids["contrib-a"])
        assert user is not None
        assert user.failed_logins == 1
        [attempt] = db.scalars(
            select(LoginAttempt).where(LoginAttempt.username == "contrib-a")
        ).all()
        assert (attempt.channel, attempt.succeeded) == ("signature", False)

    def test_a_signature_needs_a_meaning(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = signed_in(client, db, world, "lead-a")
        response = client.post(
            f"/assessments/{world.assessment_a}/sign",
            data={"password": password_of("lead-a"), "meaning": "", "csrf_token": csrf},
        )
        assert response.status_code == 422
        assert "Choose what your signature means" in response.text


class TestAuditHistory:
    def test_it_shows_who_changed_what_when_and_why(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        site = db.get(Site, world.site_a)
        assert site is not None
        set_actor(db, Actor(label="root", user_id=world.user_ids["root"]))
        with reason(db, "renamed after the merger"):
            site.name = "Riverside Sterile Operations"
            db.commit()
        signed_in(client, db, world, "lead-a")
        page = client.get(f"/audit/sites/{world.site_a}")
        assert page.status_code == 200
        assert "History of site SITE-A (Riverside Sterile Operations)" in page.text
        assert "Create" in page.text
        assert "Update" in page.text
        assert "renamed after the merger" in page.text
        assert "Riverside Sterile</td>" in page.text  # the old value
        assert "Riverside Sterile Operations</td>" in page.text  # the new value
        assert re.search(r"by root on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.text)

    def test_other_tables_are_for_administrators(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "lead-a")
        users = f"/audit/users/{world.user_ids['lead-a']}"
        assert client.get(users).status_code == 403
        signed_in(client, db, world, "root")
        assert client.get(users).status_code == 200

    def test_an_assessments_history_follows_its_site(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "assessor-a")
        page = client.get(f"/audit/assessments/{world.assessment_a}")
        assert page.status_code == 200
        assert "FY26 self-assessment" in page.text


class TestPasswordChange:
    def url(self) -> str:
        return "/account/password"

    def test_it_changes_the_password(self, client: TestClient, db: Session, world: World) -> None:
        csrf = signed_in(client, db, world, "viewer-a")
        form = client.get(self.url())
        assert '<label for="new_password">' in form.text
        response = client.post(
            self.url(),
            data={
                "current_password": password_of("viewer-a"),
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 200
        assert "Your password was changed." in response.text

    @pytest.mark.parametrize(
        ("current", "new", "confirm", "message"),
        [
            ("wrong-password-here", NEW_PASSWORD, NEW_PASSWORD, "The current password is wrong."),
            (None, NEW_PASSWORD, NEW_PASSWORD + "x", "The two new passwords differ"),
            (None, "short", "short", "A password needs at least 12 characters."),
        ],
    )
    def test_it_says_what_is_wrong_next_to_the_field(
        self,
        client: TestClient,
        db: Session,
        world: World,
        current: str | None,
        new: str,
        confirm: str,
        message: str,
    ) -> None:
        csrf = signed_in(client, db, world, "viewer-a")
        response = client.post(
            self.url(),
            data={
                "current_password": current or password_of("viewer-a"),
                "new_password": new,
                "confirm_password": confirm,
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 422
        assert message in response.text
        assert 'aria-invalid="true"' in response.text


class TestEveryResponse:
    @pytest.mark.parametrize(
        "path", ["/login", "/healthz", "/static/qmm.css", "/api/sites", "/nowhere", "/"]
    )
    def test_it_carries_the_security_headers(self, client: TestClient, path: str) -> None:
        response = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, f"{name} missing on {path}"
        assert "default-src 'self'" in response.headers["content-security-policy"]

    def test_pages_load_nothing_from_other_sites(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed_in(client, db, world, "lead-a")
        for path in ["/login", "/", "/sites/SITE-A", f"/assessments/{world.assessment_a}"]:
            page = client.get(path).text
            assert not re.search(r'(src|href)="(https?:)?//', page), path
            # scripts come from the app's own static files only: no inline script
            assert not re.search(r'<script(?![^>]*\bsrc="/static/[a-z_-]+\.js")', page), path
            assert "style=" not in page  # inline styles would break the CSP

    def test_the_stylesheet_is_served_by_the_app(self, client: TestClient) -> None:
        response = client.get("/static/qmm.css")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")
        assert "@import" not in response.text
        assert "url(" not in response.text

    def test_an_unknown_page_is_a_404_page_and_an_unknown_api_path_is_json(
        self, client: TestClient
    ) -> None:
        page = client.get("/nowhere")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        api = client.get("/api/nowhere")
        assert api.status_code == 404
        assert api.json() == {"detail": "Not Found"}

    def test_healthz_says_ok(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok", "last_use_stamps_lost": 0}


class TestUnexpectedErrors:
    @pytest.fixture
    def broken_app(
        self, engine: Engine, connection: Connection, store: EventStore, rollback: None
    ) -> FastAPI:
        app = make_app(engine, connection, store)

        def boom(_access: Annotated[Access, Depends(public)], db: DB) -> None:
            """Store something, then fail: nothing of it may remain."""
            create_site(db, code="SITE-BOOM", name="Half done")
            raise RuntimeError("connection string postgres://secret@db")

        app.add_api_route("/boom", boom, methods=["GET"])
        app.add_api_route("/api/boom", boom, methods=["GET"])
        return app

    @pytest.mark.parametrize("path", ["/boom", "/api/boom"])
    def test_a_crash_is_a_plain_500_that_leaks_nothing_and_stores_nothing(
        self, broken_app: FastAPI, db: Session, path: str
    ) -> None:
        with TestClient(broken_app) as client:
            response = client.get(path)
        assert response.status_code == 500
        assert "secret" not in response.text
        assert "Traceback" not in response.text
        assert "Something went wrong on our side" in response.text
        assert response.headers["x-frame-options"] == "DENY"
        db.expire_all()
        assert db.scalar(select(Site).where(Site.code == "SITE-BOOM")) is None


def test_a_bearer_token_is_not_accepted_by_the_pages(client: TestClient, world: World) -> None:
    response = client.get("/sites/SITE-A", headers=bearer(world.write_tokens["root"]))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
