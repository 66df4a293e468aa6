"""The app as `qmm serve` builds it: the configured database, real commits, no overrides."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from qmm.auth.service import create_user, grant_role
from qmm.db import get_engine, unit_of_work
from qmm.framework.service import install_default
from qmm.migrate import upgrade
from qmm.models import AuditEntry, LoginAttempt, WebSession
from qmm.sites.service import create_site
from qmm.web.app import create_app
from web.support import login_form_token

PASSWORD = "Lantern-Harbour-Quill-7"


def test_a_sign_in_and_a_page_on_the_configured_database(cli_database: str) -> None:
    engine = get_engine()
    upgrade(engine)
    with unit_of_work(engine) as session:
        install_default(session)
        site = create_site(session, code="SITE-W", name="Westbank")
        user = create_user(session, username="wendy", full_name="Wendy Ito", password=PASSWORD)
        grant_role(session, user=user, role="viewer", site=site)

    app = create_app()  # no engine given: the one QMM_DATABASE_URL names
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/healthz").json() == {"status": "ok", "last_use_stamps_lost": 0}
        token = login_form_token(client)
        signed = client.post(
            "/login", data={"username": "wendy", "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 303
        assert "Westbank" in client.get("/sites/SITE-W").text
        csrf_free_refusal = client.post("/logout")
        assert csrf_free_refusal.status_code == 403

    with unit_of_work(engine) as session:
        # The requests committed: the sign-in is on record, and the refused sign-out changed
        # nothing (the session is still live).
        [attempt] = session.scalars(select(LoginAttempt)).all()
        assert attempt.succeeded
        [web_session] = session.scalars(select(WebSession)).all()
        assert web_session.revoked_at is None
        actors = set(session.scalars(select(AuditEntry.actor)))
        assert "wendy" not in actors  # reading pages changes no audited record
