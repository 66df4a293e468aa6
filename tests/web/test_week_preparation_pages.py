"""The examples library and the questionnaire workspace in the web app and the API: writing,
reviewing and approving an example, its KPI trend, choosing examples for an FDA assessment,
the questionnaire from start to signature and download, and the refusals."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from docx import Document
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import create_fda_assessment
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import Questionnaire, Site, WeekExample
from web.support import CAPA_COLUMNS, World, capa_rows, csv_bytes, password_of, sign_in

LIBRARY = "/sites/SITE-A/examples"
STORY = {
    "title": "CAPA effectiveness held at 80 %",
    "situation": "CAPAs were closed without checking that they worked.",
    "action_taken": "Every CAPA now has an effectiveness check 90 days after closure.",
    "result": "80 % of CAPAs verified effective each month of 2025.",
    "owner": "QA Systems Lead",
    "sub_elements": ["capa_effectiveness"],
    "kpis": ["capa_effectiveness"],
}


def site_a(db: Session) -> Site:
    site = db.scalar(select(Site).where(Site.code == "SITE-A"))
    assert site is not None
    return site


def post(client: TestClient, url: str, csrf: str, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(url, data={**fields, "csrf_token": csrf})


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def count_examples(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(WeekExample)) or 0


@pytest.fixture
def visit(db: Session) -> int:
    made = create_fda_assessment(db, site_a(db))
    db.commit()
    return made.id


def write_example(client: TestClient, csrf: str, **overrides: object) -> str:
    response = post(client, LIBRARY, csrf, **{**STORY, **overrides})
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("?")[0]


def test_an_example_is_written_reviewed_approved_and_shows_its_kpi_trend(
    client: TestClient, db: Session, world: World, store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows()))
    import_files(db, paths=[path], store=store)
    db.commit()
    csrf = sign_in(client, db, world, "contrib-a")
    assert client.get(LIBRARY).status_code == 200
    assert "Write an example" in client.get(LIBRARY + "/new").text
    url = write_example(client, csrf)
    assert url == LIBRARY + "/EX-001"
    page = client.get(url).text
    assert "CAPA effectiveness held at 80 %" in page
    assert "<svg" in page  # the KPI's control chart, drawn by the presentation read model
    assert "Advanced Pharmaceutical Quality System" in page
    refused = post(client, url + "/review", csrf)
    assert refused.status_code == 409
    assert "a second person reviews it" in refused.text
    lead = sign_in(client, db, world, "lead-a")
    assert post(client, url + "/review", lead).status_code == 303
    assert "Reviewed" in client.get(url).text
    assert post(client, url + "/approve", lead).status_code == 303
    db.expire_all()
    example = db.scalars(select(WeekExample)).one()
    assert (example.status, example.reviewed_by, example.approved_by) == (
        "approved",
        "lead-a",
        "lead-a",
    )
    assert example.created_by == "contrib-a"


def test_bad_input_is_named_by_field_and_nothing_is_stored(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    response = post(
        client, LIBRARY, csrf, **{**STORY, "title": "", "sub_elements": ["nope"], "kpis": ["x"]}
    )
    assert response.status_code == 422
    assert "title must not be empty" in error_of(response.text, "title").lower()
    assert "nope is not in any published framework" in response.text
    assert "KPI x is not in the KPI catalogue" in response.text
    assert 'value="CAPA effectiveness held' not in response.text
    assert count_examples(db) == 0
    nul = post(client, LIBRARY, csrf, **{**STORY, "situation": "a\x00b"})
    assert nul.status_code == 422
    assert count_examples(db) == 0
    assert client.get(LIBRARY + "/EX-999").status_code == 404
    assert client.get(LIBRARY + "?status=lost").status_code in (400, 422)


def test_a_viewer_reads_but_does_not_write(client: TestClient, db: Session, world: World) -> None:
    csrf = sign_in(client, db, world, "viewer-a")
    assert client.get(LIBRARY).status_code == 200
    assert post(client, LIBRARY, csrf, **STORY).status_code == 403
    assert count_examples(db) == 0


def test_examples_are_chosen_for_an_fda_assessment(
    client: TestClient, db: Session, world: World, visit: int
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    write_example(client, csrf)
    page = f"/fda-assessments/{visit}/examples"
    assert "None chosen yet" in client.get(page).text
    assert post(client, page, csrf, example="EX-001").status_code == 303
    assert "EX-001: CAPA effectiveness" in client.get(page).text.split("Not chosen")[0]
    assert post(client, page, csrf, example="EX-001").status_code == 409
    assert post(client, page, csrf, example="EX-404").status_code == 404
    assert post(client, page, csrf, example="EX-001", remove="yes").status_code == 303


def test_another_sites_lead_cannot_see_the_fda_assessment(
    client: TestClient, db: Session, world: World, visit: int
) -> None:
    sign_in(client, db, world, "lead-b")
    assert client.get(f"/fda-assessments/{visit}/questionnaire").status_code == 404
    assert client.get(f"/api/fda-assessments/{visit}/examples").status_code == 404


def test_the_questionnaire_from_start_to_signature_and_download(
    client: TestClient, db: Session, world: World, visit: int
) -> None:
    page = f"/fda-assessments/{visit}/questionnaire"
    contrib = sign_in(client, db, world, "contrib-a")
    assert "not started yet" in client.get(page).text
    assert post(client, page + "/start", contrib).status_code == 303
    text = client.get(page).text
    assert "Management Commitment to Quality" in text
    assert "No self-assessment is chosen" in text
    answer = page + "/answers/business_continuity"
    bad = post(client, answer, contrib, answer="  ")
    assert bad.status_code == 422
    assert "must not be empty" in bad.text
    assert post(client, answer, contrib, answer="Our drills meet their targets.").status_code == 303
    assert post(client, page + "/answers/nowhere", contrib, answer="x").status_code == 404
    assert post(client, page + "/review", contrib).status_code == 409  # contrib-a wrote it
    lead = sign_in(client, db, world, "lead-a")
    chosen = post(client, page + "/self-assessment", lead, assessment=str(world.assessment_a))
    assert chosen.status_code == 303
    text = client.get(page).text
    assert "(web-tiny@1): practice area score" in text
    assert "Our drills meet their targets." in text  # the edited answer stays
    assert post(client, page + "/self-assessment", lead, assessment="x").status_code == 404
    assert post(client, page + "/review", lead, note="Checked.").status_code == 303
    wrong = post(client, page + "/sign", lead, password="not it", meaning="approved")
    assert wrong.status_code == 422
    signed = post(client, page + "/sign", lead, password=password_of("lead-a"), meaning="approved")
    assert signed.status_code == 303, signed.text
    db.expire_all()
    assert db.scalars(select(Questionnaire)).one().status == "signed"
    assert "Signed off" in client.get(page).text
    docx = client.get(page + "/export/docx")
    assert docx.status_code == 200
    assert "Our drills meet their targets." in [
        p.text for p in Document(io.BytesIO(docx.content)).paragraphs
    ]
    pdf = client.get(page + "/export/pdf")
    assert pdf.content.startswith(b"%PDF-")
    assert "attachment" in pdf.headers["content-disposition"]
    assert client.get(page + "/export/odt").status_code in (400, 422)
    assert post(client, answer, lead, answer="Too late.").status_code == 409


def test_the_api_speaks_one_json_shape(
    client: TestClient, db: Session, world: World, visit: int
) -> None:
    headers = {"Authorization": f"Bearer {world.write_tokens['lead-a']}"}
    bad = client.post("/api/sites/SITE-A/examples", json={**STORY, "title": " "}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.json()["problems"]) == {"title"}
    made = client.post("/api/sites/SITE-A/examples", json=STORY, headers=headers)
    assert made.status_code == 201
    assert made.json()["ref"] == "EX-001"
    chosen = client.post(
        f"/api/fda-assessments/{visit}/examples", json={"example": "EX-001"}, headers=headers
    )
    assert [e["ref"] for e in chosen.json()] == ["EX-001"]
    started = client.post(f"/api/fda-assessments/{visit}/questionnaire", headers=headers)
    assert started.status_code == 201
    assert len(started.json()["answers"]) == 5
    edited = client.post(
        f"/api/fda-assessments/{visit}/questionnaire/answers/advanced_pqs",
        json={"answer": "See EX-001."},
        headers=headers,
    )
    assert edited.json()["answers"][2]["answer"] == "See EX-001.\n"
    assert client.get("/api/sites/SITE-A/pre-interview-questions", headers=headers).json()
    assert client.get("/api/sites/SITE-A/example-candidates", headers=headers).json() == []


def test_the_site_edits_its_pre_interview_questions(
    client: TestClient, db: Session, world: World
) -> None:
    url = "/sites/SITE-A/pre-interview-questions"
    csrf = sign_in(client, db, world, "lead-a")
    assert "shipped default" in client.get(url).text
    assert post(client, url, csrf, code="capa_effectiveness.q2", action="tag").status_code == 303
    assert "edited its set" in client.get(url).text
    assert post(client, url, csrf, code="x.q9", action="tag").status_code in (400, 422)
    assert post(client, url, csrf, action="dance").status_code in (400, 422)
    assert post(client, url, csrf, action="reset").status_code == 303
