"""Shared pieces of the web tests: the cast of people, their data, and how to act as them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from factories import (
    create_assessment_of,
    create_decision,
    create_evidence,
    create_site_a,
    create_site_b,
    create_tiny_framework,
    tiny_pdf,
)
from qmm.assessment.service import get_question, record_rating
from qmm.auth.service import create_user, disable_user, grant_role
from qmm.auth.sessions import create_api_token, start_web_session
from qmm.config import get_settings
from qmm.events.store import EventStore
from qmm.models import User, utcnow
from qmm.program.forum import raise_roadblock
from qmm.program.steering import set_up_cadence
from qmm.web.app import create_app
from qmm.web.deps import get_session_factory
from qmm.web.security import CSRF_FIELD, SESSION_COOKIE

# Who is who: username -> (role, site code) of the grant they hold (None: no grant in force).
CAST: dict[str, tuple[str, str | None] | None] = {
    "root": ("administrator", None),
    "lead-a": ("site_quality_lead", "SITE-A"),
    "contrib-a": ("contributor", "SITE-A"),
    "assessor-a": ("assessor", "SITE-A"),
    "viewer-a": ("viewer", "SITE-A"),
    "lead-b": ("site_quality_lead", "SITE-B"),
    "expired-a": None,  # an assessor of SITE-A whose time-limited grant has run out
    "disabled-a": None,  # a viewer of SITE-A whose account is disabled
}
ANONYMOUS = "anonymous"
EVERYONE = [*CAST, ANONYMOUS]
NEW_PASSWORD = "Fresh-Meadow-Lantern-42"


def password_of(username: str) -> str:
    """Each person's password: long enough, varied, and free of their username."""
    return f"Quiet-River-Stone-{sorted(CAST).index(username)}!" if username in CAST else ""


@dataclass
class World:
    """Ids and secrets of the module's data, safe to use across sessions."""

    site_a: int
    site_b: int
    assessment_a: int
    user_ids: dict[str, int]
    write_tokens: dict[str, str] = field(default_factory=dict)
    read_tokens: dict[str, str] = field(default_factory=dict)
    site_b_token: str = ""
    evidence_ref: str = ""  # SITE-A's EV-0001, with one file
    evidence_file: int = 0
    evidence_dir: str = ""  # where the world's evidence files were stored
    decision_ref: str = ""  # SITE-A's DEC-0001, a draft
    meeting_id: int = 0  # SITE-A's first steering meeting, planned
    forum_item_id: int = 0  # SITE-A's open roadblock


def build_world(session: Session) -> World:
    """Two sites, the cast with their grants and tokens, and an assessment of SITE-A."""
    site_a = create_site_a(session)
    site_b = create_site_b(session)
    sites = {"SITE-A": site_a, "SITE-B": site_b}
    users: dict[str, User] = {}
    for username in CAST:
        users[username] = create_user(
            session,
            username=username,
            full_name=username.replace("-", " ").title(),
            password=password_of(username),
        )
    in_a_month = utcnow() + timedelta(days=30)
    for username, grant in CAST.items():
        if grant is None:
            continue
        role, code = grant
        grant_role(
            session,
            user=users[username],
            role=role,
            site=sites[code] if code else None,
            expires_at=in_a_month if role == "assessor" else None,
        )
    expired = grant_role(
        session, user=users["expired-a"], role="assessor", site=site_a, expires_at=in_a_month
    )
    grant_role(session, user=users["disabled-a"], role="viewer", site=site_a)
    world = World(
        site_a=site_a.id,
        site_b=site_b.id,
        assessment_a=0,
        user_ids={name: user.id for name, user in users.items()},
    )
    for username, user in users.items():
        world.write_tokens[username], _ = create_api_token(
            session, user=user, name="matrix write", scope="write"
        )
        world.read_tokens[username], _ = create_api_token(
            session, user=user, name="matrix read", scope="read"
        )
    world.site_b_token, _ = create_api_token(
        session, user=users["root"], name="SITE-B only", scope="write", sites=[site_b]
    )
    expired.expires_at = utcnow() - timedelta(days=1)
    disable_user(session, user=users["disabled-a"])
    assessment = create_assessment_of(
        session,
        site_a,
        users["lead-a"],
        users["contrib-a"],
        framework=create_tiny_framework(session, code="web-tiny"),
    )
    record_rating(
        session,
        assessment=assessment,
        question=get_question(session, assessment=assessment, code="m1.q1"),
        assessor=users["contrib-a"],
        score=3,
        rationale="Management review minutes seen",
        evidence_refs=["MR-2026-01"],
    )
    world.assessment_a = assessment.id
    item = create_evidence(
        session,
        site_a,
        title="Management review procedure",
        sub_elements=("m1", "deviations_investigations"),
        files=[("mr-procedure.pdf", tiny_pdf("Management review procedure"))],
    )
    world.evidence_ref = item.ref
    world.evidence_file = item.files[0].id
    world.evidence_dir = str(get_settings().evidence_dir)
    world.decision_ref = create_decision(session, site_a).ref
    cadence = set_up_cadence(
        session,
        site=site_a,
        name="Quality steering",
        chair="Site Quality Head",
        cadence_days=30,
        first_meeting_on=date(2026, 1, 15),
    )
    world.meeting_id = cadence.meetings[0].id
    world.forum_item_id = raise_roadblock(
        session,
        site=site_a,
        roadblock="Line clearance checklist is three pages long",
        raised_by="Operator, filling line 2",
        raised_on=date(2026, 1, 5),
        owner="Production Manager",
    ).id
    session.flush()
    return world


def bound_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions that each open a savepoint on the shared connection (commit releases it)."""
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


def make_app(engine: Engine, connection: Connection, store: EventStore) -> FastAPI:
    """The real app, with its sessions bound to the test connection and its own event store."""
    app = create_app(engine, store=store)
    factory = bound_factory(connection)
    app.dependency_overrides[get_session_factory] = lambda: factory
    return app


def sign_in(client: TestClient, db: Session, world: World, username: str) -> str:
    """Give the client a session cookie for a person, as a sign-in would; returns its CSRF."""
    user = db.get(User, world.user_ids[username])
    assert user is not None
    secret, web_session = start_web_session(db, user=user)
    db.commit()
    client.cookies.set(SESSION_COOKIE, secret)
    return web_session.csrf_token


def login_form_token(client: TestClient) -> str:
    """Open the sign-in page as a browser would and read its CSRF token from the form."""
    page = client.get("/login")
    assert page.status_code == 200
    match = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', page.text)
    assert match is not None, "the sign-in form has no CSRF field"
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CAPA_COLUMNS = [
    "capa_id",
    "site",
    "opened_on",
    "due_on",
    "root_cause_category",
    "closed_on",
    "voe_due_on",
    "voe_done_on",
    "voe_result",
]


def capa_rows(
    site: str = "SITE-A", *, months: int = 12, per_month: int = 30, low_month: int | None = None
) -> list[list[str]]:
    """CAPAs verified in each month of 2025: 80 % effective, except a bad `low_month`."""
    rows = []
    for month in range(1, months + 1):
        effective = per_month // 5 if month == low_month else per_month * 4 // 5
        for n in range(per_month):
            day = f"2025-{month:02d}-{n % 28 + 1:02d}"
            rows.append(
                [
                    f"CAPA-{site[-1]}-{month:02d}-{n:03d}",
                    site,
                    "2024-12-01",
                    "2025-12-31",
                    "training",
                    day,
                    day,
                    day,
                    "effective" if n < effective else "not_effective",
                ]
            )
    return rows


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """An extract as a spreadsheet program saves it."""
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()
