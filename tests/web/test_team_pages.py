"""Starting an assessment and keeping its team in the browser, through the services the CLI uses."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.assessment.service import get_assessment
from qmm.models import Assessment, AssessmentMember
from web.support import World, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

NEW = "/sites/SITE-A/assessments/new"
CREATE = "/sites/SITE-A/assessments"
GOOD = {
    "title": "FY27 self-assessment",
    "kind": "self",
    "framework": "web-tiny@1",
    "lead": "lead-a",
    "assessors": ["contrib-a"],
    "started_on": "2026-03-02",
}


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def team_of(db: Session, assessment_id: int) -> dict[str, str]:
    assessment = get_assessment(db, assessment_id=assessment_id)
    db.refresh(assessment)
    return {m.user.username: m.role for m in assessment.team}


class TestStartAnAssessment:
    def test_a_site_lead_creates_an_assessment_with_its_team(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        site = client.get("/sites/SITE-A")
        assert f'href="{NEW}"' in site.text
        form = client.get(NEW)
        assert form.status_code == 200
        assert 'value="web-tiny@1"' in form.text
        assert 'value="contrib-a"' in form.text
        assert 'value="viewer-a"' not in form.text  # may not rate, so no team member
        response = client.post(CREATE, data={**GOOD, "csrf_token": csrf})
        assert response.status_code == 303, response.text
        number = int(response.headers["location"].split("?")[0].rsplit("/", 1)[1])
        assert team_of(db, number) == {"lead-a": "lead", "contrib-a": "assessor"}
        made = get_assessment(db, assessment_id=number)
        assert (made.title, made.kind, made.framework.ref) == (GOOD["title"], "self", "web-tiny@1")
        assert made.started_on.isoformat() == "2026-03-02"
        workspace = client.get(response.headers["location"])
        assert "The assessment was created" in workspace.text
        assert "Contrib A" in workspace.text

    def test_bad_input_shows_each_problem_by_its_field_and_stores_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        before = count(db, Assessment)
        response = client.post(
            CREATE,
            data={
                "title": "  ",
                "kind": "rehearsal",
                "framework": "nope@9",
                "lead": "viewer-a",
                "assessors": ["nobody"],
                "started_on": "2026-02-30",
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 422
        page = response.text
        assert "Give the assessment a title" in error_of(page, "assessment-title")
        assert "Choose the kind" in error_of(page, "assessment-kind")
        assert "published framework" in error_of(page, "assessment-framework")
        assert "may rate at SITE-A" in error_of(page, "assessment-lead")
        assert "nobody" in error_of(page, "assessment-assessors")
        assert "not a date" in error_of(page, "assessment-started_on")
        assert 'value="2026-02-30"' in page  # what was typed is kept
        assert count(db, Assessment) == before

    def test_a_contributor_may_not_start_one(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        assert 'href="/sites/SITE-A/assessments/new"' not in client.get("/sites/SITE-A").text
        assert client.get(NEW).status_code == 403
        before = count(db, Assessment)
        assert client.post(CREATE, data={**GOOD, "csrf_token": csrf}).status_code == 403
        assert count(db, Assessment) == before

    def test_the_lead_of_another_site_is_not_offered_nor_accepted(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        assert 'value="lead-b"' not in client.get(NEW).text
        response = client.post(CREATE, data={**GOOD, "lead": "lead-b", "csrf_token": csrf})
        assert response.status_code == 422
        assert "Choose the lead" in error_of(response.text, "assessment-lead")


class TestTeam:
    def test_the_lead_adds_and_removes_a_member(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"/assessments/{world.assessment_a}"
        page = client.get(url)
        assert 'action="' + url + '/team"' in page.text
        added = client.post(url + "/team", data={"username": "root", "csrf_token": csrf})
        assert added.status_code == 303, added.text
        assert team_of(db, world.assessment_a)["root"] == "assessor"
        assert "The team member was added" in client.get(added.headers["location"]).text
        removed = client.post(url + "/team/remove", data={"username": "root", "csrf_token": csrf})
        assert removed.status_code == 303, removed.text
        assert "root" not in team_of(db, world.assessment_a)

    def test_a_member_who_rated_stays_and_the_page_says_why(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"/assessments/{world.assessment_a}"
        before = count(db, AssessmentMember)
        response = client.post(
            url + "/team/remove", data={"username": "contrib-a", "csrf_token": csrf}
        )
        assert response.status_code == 422
        assert "rating(s)" in error_of(response.text, "team-username")
        assert count(db, AssessmentMember) == before

    def test_bad_team_input_is_named_by_field_and_nothing_changes(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"/assessments/{world.assessment_a}"
        before = count(db, AssessmentMember)
        nobody = client.post(url + "/team", data={"username": "viewer-a", "csrf_token": csrf})
        assert nobody.status_code == 422
        assert "Choose a person" in error_of(nobody.text, "team-username")
        second_lead = client.post(
            url + "/team", data={"username": "root", "role": "lead", "csrf_token": csrf}
        )
        assert second_lead.status_code == 422
        assert "already has a lead" in error_of(second_lead.text, "team-username")
        odd_role = client.post(
            url + "/team", data={"username": "root", "role": "chair", "csrf_token": csrf}
        )
        assert odd_role.status_code == 422
        assert "lead or assessor" in error_of(odd_role.text, "team-role")
        lead = client.post(url + "/team/remove", data={"username": "lead-a", "csrf_token": csrf})
        assert lead.status_code == 422
        assert "keeps its lead" in error_of(lead.text, "team-username")
        assert count(db, AssessmentMember) == before

    def test_a_contributor_sees_the_team_but_cannot_change_it(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        url = f"/assessments/{world.assessment_a}"
        page = client.get(url)
        assert "Lead A" in page.text
        assert 'action="' + url + '/team"' not in page.text
        refused = client.post(url + "/team", data={"username": "root", "csrf_token": csrf})
        assert refused.status_code == 403
