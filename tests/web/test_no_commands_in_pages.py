"""Pages name no command-line command where the browser has a form for the task (issue 16)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_fda_assessment
from qmm.models import Site, utcnow
from web.support import World, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

COMMAND = re.compile(r"\bqmm [a-z]")


def test_the_pages_a_lead_and_an_administrator_use_name_no_command(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    made = client.post(
        "/sites/SITE-A/plans",
        data={
            "owner": "Site Director",
            "start_on": utcnow().date().isoformat(),
            "csrf_token": csrf,
        },
    )
    assert made.status_code == 303, made.text
    pages = [
        "/",
        "/sites/SITE-A",
        "/sites/SITE-A/program",
        "/sites/SITE-A/plans",
        made.headers["location"].split("?")[0],
        f"/sites/SITE-A/decisions/{world.decision_ref}",
        "/sites/SITE-A/continuity",
        "/sites/SITE-A/evidence",
        f"/assessments/{world.assessment_a}",
        "/sites/SITE-A/assessments/new",
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert not COMMAND.search(page.text), f"{url} names a command: {COMMAND.search(page.text)}"
    sign_in(client, db, world, "root")
    for url in ["/admin/users", "/admin/users/lead-a", "/admin/tokens", "/admin/users/nobody"]:
        page = client.get(url)
        assert page.status_code in (200, 404), url
        assert not COMMAND.search(page.text), f"{url} names a command"


def test_the_week_and_search_pages_name_no_command(
    client: TestClient, db: Session, world: World
) -> None:
    site = db.get(Site, world.site_a)
    assert site is not None
    visit = create_fda_assessment(db, site)
    db.commit()
    sign_in(client, db, world, "lead-a")
    pages = [
        "/sites/SITE-A/fda-assessments",
        "/sites/SITE-A/people",
        *(
            f"/fda-assessments/{visit.id}{tail}"
            for tail in (
                "",
                "/agenda",
                "/examples",
                "/mock-interviews",
                "/feedback",
                "/questionnaire",
            )
        ),
        "/search",
        "/search?q=management",
        "/search?q=qmm",
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert not COMMAND.search(page.text), f"{url} names a command: {COMMAND.search(page.text)}"
