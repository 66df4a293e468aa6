"""The clause library and vendor documents in the web app and the API."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_vendor_document
from qmm.assessment.service import get_assessment
from qmm.models import Site, utcnow
from qmm.program.plan import generate_plan
from web.support import World, bearer, sign_in


def _halden(db: Session, world: World) -> Site:
    site = db.get(Site, world.site_a)
    assert site is not None
    create_vendor_document(db, site)
    return site


def test_the_coverage_view_names_the_missing_clause_and_plans_it(
    client: TestClient, db: Session, world: World
) -> None:
    site = _halden(db, world)
    generate_plan(
        db,
        assessment=get_assessment(db, assessment_id=world.assessment_a),
        owner="Site Director",
        start_on=utcnow().date() + timedelta(days=1),
    )
    db.commit()
    csrf = sign_in(client, db, world, "lead-a")
    page = client.get(f"/sites/{site.code}/clauses")
    assert page.status_code == 200, page.text
    assert "Missing: Joint drills" in page.text
    evidence = re.search(r'In the evidence index as <a class="code" href="([^"]+)">', page.text)
    assert evidence is not None
    assert "Quality agreement with Halden Closures AG" in client.get(evidence.group(1)).text
    planned = client.post(
        f"/sites/{site.code}/clauses/plan",
        data={
            "vendor": "Halden Closures AG",
            "document_type": "quality_agreement",
            "clause": "joint_drills",
            "csrf_token": csrf,
        },
    )
    assert planned.status_code == 303, planned.text
    plan_page = client.get(planned.headers["location"].split("#")[0])
    assert "Add the &#39;Joint drills&#39; clause" in plan_page.text


def test_a_bad_document_form_names_each_problem_and_stores_nothing(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    response = client.post(
        "/sites/SITE-A/clauses/documents",
        data={
            "document_type": "letter",
            "vendor": "Halden Closures AG",
            "title": "QA",
            "owner": "QA",
            "effective_on": "2026-13-01",
            "link": "eqms/QA-1",
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 422
    assert "document type &#39;letter&#39; is not one of" in response.text
    assert "must be an http:// or https:// address" in response.text
    api = client.get(
        "/api/sites/SITE-A/vendor-documents", headers=bearer(world.read_tokens["viewer-a"])
    )
    assert api.json() == []


def test_the_api_records_a_document_and_reports_coverage(client: TestClient, world: World) -> None:
    token = bearer(world.write_tokens["lead-a"])
    made = client.post(
        "/api/sites/SITE-A/vendor-documents",
        json={
            "document_type": "contract",
            "vendor": "Nordic Logistics",
            "title": "Cold-chain transport contract",
            "owner": "Supply Chain Lead",
            "effective_on": "2026-02-01",
            "link": "https://eqms.example.invalid/contracts/NL-7",
            "clauses": ["response_times", "data_formats"],
        },
        headers=token,
    )
    assert made.status_code == 201, made.text
    assert made.json()["document_type_name"] == "Contract"
    coverage = client.get("/api/sites/SITE-A/vendor-documents/coverage", headers=token).json()
    assert coverage == [
        {
            "vendor": "Nordic Logistics",
            "document_type": "contract",
            "documents": [made.json()["id"]],
            "expected": [
                "response_times",
                "data_formats",
                "risk_review_participation",
                "business_continuity",
            ],
            "included": ["response_times", "data_formats"],
            "missing": ["risk_review_participation", "business_continuity"],
        }
    ]
    refused = client.post(
        "/api/sites/SITE-A/vendor-documents",
        json={
            "document_type": "contract",
            "vendor": " ",
            "title": "x",
            "owner": "y",
            "effective_on": "2026-02-01",
            "link": "https://eqms.example.invalid/x",
            "clauses": ["nope"],
        },
        headers=token,
    )
    assert refused.status_code == 422
    assert set(refused.json()["problems"]) == {"vendor", "clauses"}
    library = client.get("/api/sites/SITE-A/clauses", headers=token).json()
    assert "joint_drills" in [c["code"] for c in library]


def test_a_lead_edits_a_clause_in_the_browser_and_the_earlier_wording_is_kept(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    page = client.get("/sites/SITE-A/clauses")
    assert 'href="/sites/SITE-A/clauses/joint_drills/edit"' in page.text
    form = client.get("/sites/SITE-A/clauses/joint_drills/edit")
    assert form.status_code == 200
    assert "The default wording" in form.text
    bad = client.post(
        "/sites/SITE-A/clauses/joint_drills/edit",
        data={
            "title": "Joint drills",
            "text": " ",
            "purpose": "p",
            "source": "s",
            "csrf_token": csrf,
        },
    )
    assert bad.status_code == 422
    assert "clause text must not be empty" in bad.text
    assert 'value="Joint drills"' in bad.text
    done = client.post(
        "/sites/SITE-A/clauses/joint_drills/edit",
        data={
            "title": "Joint drills",
            "text": "Site and supplier drill together every year.",
            "purpose": "So recovery is proven.",
            "source": "The readiness plan",
            "csrf_token": csrf,
        },
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("?done=clause#clause-joint_drills")
    library = client.get("/sites/SITE-A/clauses").text
    assert "Site and supplier drill together every year." in library
    assert "version 2" in library
    again = client.get("/sites/SITE-A/clauses/joint_drills/edit").text
    assert "Earlier wordings" in again
    assert client.get("/sites/SITE-A/clauses/no_such/edit").status_code == 404


def test_a_viewer_cannot_edit_a_clause(client: TestClient, db: Session, world: World) -> None:
    csrf = sign_in(client, db, world, "viewer-a")
    assert "/clauses/joint_drills/edit" not in client.get("/sites/SITE-A/clauses").text
    refused = client.post(
        "/sites/SITE-A/clauses/joint_drills/edit",
        data={"text": "Anything", "csrf_token": csrf},
    )
    assert refused.status_code == 403


def test_the_api_edits_a_clause_and_refuses_bad_wording(client: TestClient, world: World) -> None:
    headers = bearer(world.write_tokens["lead-a"])
    refused = client.patch(
        "/api/sites/SITE-A/clauses/joint_drills", json={"text": "  "}, headers=headers
    )
    assert refused.status_code == 422
    assert "text" in refused.json()["problems"]
    unknown = client.patch(
        "/api/sites/SITE-A/clauses/joint_drills", json={"colour": "red"}, headers=headers
    )
    assert unknown.status_code == 422
    edited = client.patch(
        "/api/sites/SITE-A/clauses/joint_drills",
        json={"text": "Drill together every year."},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["text"], edited.json()["version"]) == ("Drill together every year.", 2)
    listed = client.get("/api/sites/SITE-A/clauses", headers=headers).json()
    assert next(c for c in listed if c["code"] == "joint_drills")["version"] == 2
