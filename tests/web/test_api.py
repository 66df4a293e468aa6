"""The JSON API: bearer tokens with their scope and sites, JSON errors, and the operations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.auth.sessions import create_api_token, revoke_api_token
from qmm.models import ApiToken, AuditEntry, Rating, Site, User, utcnow
from web.support import World, bearer


def token_for(db: Session, world: World, username: str, **options: object) -> tuple[str, ApiToken]:
    user = db.get(User, world.user_ids[username])
    assert user is not None
    plain, token = create_api_token(db, user=user, name="test", **options)  # type: ignore[arg-type]
    db.commit()
    return plain, token


RATING = {"question": "m2.q1", "score": 3, "rationale": "Defined in SOP-QA-001", "evidence": []}


class TestTokens:
    def test_no_credentials_get_a_json_401_that_names_the_scheme(self, client: TestClient) -> None:
        response = client.get("/api/sites")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()

    @pytest.mark.parametrize("header", ["Bearer qmm_nope_nope", "Token abc", "Bearer "])
    def test_an_unknown_or_malformed_token_is_refused(
        self, client: TestClient, header: str
    ) -> None:
        response = client.get("/api/sites", headers={"Authorization": header})
        assert response.status_code == 401

    def test_a_revoked_token_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        plain, token = token_for(db, world, "lead-a", scope="read")
        assert client.get("/api/sites", headers=bearer(plain)).status_code == 200
        revoke_api_token(db, token_id=token.id)
        db.commit()
        assert client.get("/api/sites", headers=bearer(plain)).status_code == 401

    def test_an_expired_token_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        plain, token = token_for(db, world, "lead-a", scope="read")
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
        response = client.get("/api/sites", headers=bearer(plain))
        assert response.status_code == 401
        assert "revoked or expired" in response.json()["detail"]

    def test_a_read_token_cannot_write(self, client: TestClient, world: World) -> None:
        url = f"/api/assessments/{world.assessment_a}/ratings"
        response = client.post(url, json=RATING, headers=bearer(world.read_tokens["lead-a"]))
        assert response.status_code == 403
        assert "through this API token" in response.json()["detail"]

    def test_a_write_token_rates_as_its_owner(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        url = f"/api/assessments/{world.assessment_a}/ratings"
        response = client.post(url, json=RATING, headers=bearer(world.write_tokens["lead-a"]))
        assert response.status_code == 201
        assert response.json()["assessor"] == "lead-a"
        rating = db.get(Rating, response.json()["id"])
        assert rating is not None
        assert rating.assessor_id == world.user_ids["lead-a"]
        entry = db.scalar(
            select(AuditEntry).where(
                AuditEntry.table_name == "ratings", AuditEntry.record_id == str(rating.id)
            )
        )
        assert entry is not None
        assert (entry.actor, entry.actor_id) == ("lead-a", world.user_ids["lead-a"])

    def test_a_token_limited_to_site_b_cannot_reach_site_a(
        self, client: TestClient, world: World
    ) -> None:
        headers = bearer(world.site_b_token)  # the administrator's, limited to SITE-B
        # A site out of the token's reach is answered as a site nobody registered (issue 17).
        outside = client.get("/api/sites/SITE-A", headers=headers)
        assert outside.status_code == 404
        assert "no site with code 'SITE-A'" in outside.json()["detail"]
        # An assessment out of the token's reach is answered as a missing one (issue 17, M1).
        hidden = client.get(f"/api/assessments/{world.assessment_a}", headers=headers)
        assert hidden.status_code == 404
        assert f"no assessment {world.assessment_a}" in hidden.json()["detail"]
        assert client.get("/api/sites/SITE-B", headers=headers).status_code == 200
        assert [s["code"] for s in client.get("/api/sites", headers=headers).json()] == ["SITE-B"]
        new_site = {"code": "SITE-Q", "name": "Quay"}
        assert client.post("/api/sites", json=new_site, headers=headers).status_code == 403


class TestSites:
    def test_people_see_only_their_sites(self, client: TestClient, world: World) -> None:
        lead_a = client.get("/api/sites", headers=bearer(world.read_tokens["lead-a"]))
        assert [s["code"] for s in lead_a.json()] == ["SITE-A"]
        root = client.get("/api/sites", headers=bearer(world.read_tokens["root"]))
        assert {"SITE-A", "SITE-B"} <= {s["code"] for s in root.json()}

    def test_an_administrator_registers_a_site(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        body = {"code": "SITE-N", "name": "Newport", "fei": "3009998887", "site_type": "api"}
        response = client.post("/api/sites", json=body, headers=bearer(world.write_tokens["root"]))
        assert response.status_code == 201
        assert response.json()["code"] == "SITE-N"
        assert db.scalar(select(Site).where(Site.code == "SITE-N")) is not None

    def test_a_new_site_keeps_the_two_person_rule(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        body = {"code": "SITE-N", "name": "Newport"}
        made = client.post("/api/sites", json=body, headers=bearer(world.write_tokens["root"]))
        assert made.json()["two_person_rule"] is True

    def test_only_an_administrator_changes_the_two_person_rule_and_it_is_audited(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        url = "/api/sites/SITE-A/settings"
        lead = client.patch(
            url, json={"two_person_rule": False}, headers=bearer(world.write_tokens["lead-a"])
        )
        assert lead.status_code == 403
        assert "site:settings" in lead.json()["detail"]
        bad = client.patch(
            url, json={"two_person_rule": "perhaps"}, headers=bearer(world.write_tokens["root"])
        )
        assert bad.status_code == 422
        assert "two_person_rule" in bad.text
        unknown = client.patch(
            url, json={"colour": "red"}, headers=bearer(world.write_tokens["root"])
        )
        assert unknown.status_code == 422
        db.expire_all()
        assert db.get(Site, world.site_a).two_person_rule is True
        done = client.patch(
            url, json={"two_person_rule": False}, headers=bearer(world.write_tokens["root"])
        )
        assert (done.status_code, done.json()["two_person_rule"]) == (200, False)
        db.expire_all()
        assert db.get(Site, world.site_a).two_person_rule is False
        entry = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == "sites", AuditEntry.actor == "root")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None
        assert entry.new_values == {"two_person_rule": False}

    def test_a_duplicate_code_is_a_409_with_the_reason(
        self, client: TestClient, world: World
    ) -> None:
        response = client.post(
            "/api/sites",
            json={"code": "SITE-A", "name": "Again"},
            headers=bearer(world.write_tokens["root"]),
        )
        assert response.status_code == 409
        assert response.json() == {"detail": "site 'SITE-A' already exists"}

    def test_invalid_fields_are_a_422_that_says_what_is_wrong(
        self, client: TestClient, world: World
    ) -> None:
        response = client.post(
            "/api/sites",
            json={"code": "site a", "name": "X", "fei": "12"},
            headers=bearer(world.write_tokens["root"]),
        )
        assert response.status_code == 422
        assert "FEI '12' must be 7 to 10 digits" in response.json()["detail"]

    def test_an_unknown_site_is_a_json_404(self, client: TestClient, world: World) -> None:
        response = client.get("/api/sites/NOPE", headers=bearer(world.read_tokens["root"]))
        assert response.status_code == 404
        assert "no site with code 'NOPE'" in response.json()["detail"]


class TestAssessments:
    def test_it_returns_the_scores_and_signatures(self, client: TestClient, world: World) -> None:
        response = client.get(
            f"/api/assessments/{world.assessment_a}", headers=bearer(world.read_tokens["viewer-a"])
        )
        assert response.status_code == 200
        data = response.json()
        assert {"practice_areas", "sub_elements", "agreement", "overall", "signatures"} <= set(data)
        assert data["assessment"]["site"] == "SITE-A"
        assert data["signatures"] == []

    def test_a_rating_outside_the_scale_is_refused(self, client: TestClient, world: World) -> None:
        response = client.post(
            f"/api/assessments/{world.assessment_a}/ratings",
            json={**RATING, "score": 6},
            headers=bearer(world.write_tokens["lead-a"]),
        )
        assert response.status_code == 422

    def test_not_applicable_is_null(self, client: TestClient, world: World) -> None:
        response = client.post(
            f"/api/assessments/{world.assessment_a}/ratings",
            json={**RATING, "score": None},
            headers=bearer(world.write_tokens["lead-a"]),
        )
        assert response.status_code == 201
        assert response.json()["not_applicable"] is True

    def test_an_unknown_question_is_a_404(self, client: TestClient, world: World) -> None:
        response = client.post(
            f"/api/assessments/{world.assessment_a}/ratings",
            json={**RATING, "question": "zz.q9"},
            headers=bearer(world.write_tokens["lead-a"]),
        )
        assert response.status_code == 404

    def test_someone_off_the_team_gets_a_409(self, client: TestClient, world: World) -> None:
        # The administrator may rate anywhere, but only members of the team rate an assessment.
        response = client.post(
            f"/api/assessments/{world.assessment_a}/ratings",
            json=RATING,
            headers=bearer(world.write_tokens["root"]),
        )
        assert response.status_code == 409
        assert "not on the team" in response.json()["detail"]


class TestAudit:
    def test_a_site_lead_reads_their_sites_history(self, client: TestClient, world: World) -> None:
        response = client.get(
            f"/api/audit?table=sites&record_id={world.site_a}",
            headers=bearer(world.read_tokens["lead-a"]),
        )
        assert response.status_code == 200
        [created] = [e for e in response.json() if e["action"] == "create"]
        assert created["new_values"]["code"] == "SITE-A"

    def test_but_not_another_sites(self, client: TestClient, world: World) -> None:
        response = client.get(
            f"/api/audit?table=sites&record_id={world.site_b}",
            headers=bearer(world.read_tokens["lead-a"]),
        )
        assert response.status_code == 403

    def test_the_whole_trail_is_for_administrators(self, client: TestClient, world: World) -> None:
        lead = client.get("/api/audit", headers=bearer(world.read_tokens["lead-a"]))
        assert lead.status_code == 403
        root = client.get("/api/audit?limit=5", headers=bearer(world.read_tokens["root"]))
        assert root.status_code == 200
        assert len(root.json()) == 5

    def test_an_unknown_table_is_a_404(self, client: TestClient, world: World) -> None:
        response = client.get(
            "/api/audit?table=nope&record_id=1", headers=bearer(world.read_tokens["root"])
        )
        assert response.status_code == 404


def test_the_openapi_document_names_each_operations_permission(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert operations
    for operation in operations:
        assert operation["x-permission"]["rule"], operation["operationId"]
    site = spec["paths"]["/api/sites/{code}"]["get"]["x-permission"]
    assert site["permission"] == "site:read"
    assert site["where"] == "site"


def test_the_docs_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "/api/openapi.json" in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert "<script" not in page.text
