"""A person learns nothing of a site they may not read, not even that it exists: its pages and API
answer exactly as for a site code nobody registered (issue 17)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from web.support import World, bearer, sign_in

UNKNOWN = "SITE-Q"

PAGES = [
    "/sites/{code}",
    "/sites/{code}/evidence",
    "/sites/{code}/evidence/EV-0001",
    "/sites/{code}/imports",
    "/sites/{code}/program",
]
API = [
    "/api/sites/{code}",
    "/api/sites/{code}/evidence",
    "/api/sites/{code}/evidence/EV-0001",
    "/api/sites/{code}/imports",
    "/api/kpis?site={code}",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_of_a_site_one_may_not_read_answers_as_for_no_site(
    client: TestClient, db: Session, world: World, path: str
) -> None:
    sign_in(client, db, world, "lead-a")
    hidden = client.get(path.format(code="SITE-B"))
    unknown = client.get(path.format(code=UNKNOWN))
    assert unknown.status_code == 404
    assert hidden.status_code == 404, hidden.text[:300]
    assert "no site" in hidden.text
    assert hidden.text.replace("SITE-B", UNKNOWN) == unknown.text


@pytest.mark.parametrize("path", API)
def test_an_api_answer_about_a_site_one_may_not_read_is_as_for_no_site(
    client: TestClient, world: World, path: str
) -> None:
    token = bearer(world.write_tokens["lead-a"])
    hidden = client.get(path.format(code="SITE-B"), headers=token)
    unknown = client.get(path.format(code=UNKNOWN), headers=token)
    assert unknown.status_code == 404
    assert hidden.status_code == 404, hidden.text[:300]
    assert hidden.json()["detail"].replace("SITE-B", UNKNOWN) == unknown.json()["detail"]


def test_a_token_narrowed_to_other_sites_does_not_tell_a_site_exists(
    client: TestClient, world: World
) -> None:
    token = bearer(world.site_b_token)  # root's token, for SITE-B only
    hidden = client.get("/api/sites/SITE-A/evidence", headers=token)
    unknown = client.get(f"/api/sites/{UNKNOWN}/evidence", headers=token)
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.json()["detail"].replace("SITE-A", UNKNOWN) == unknown.json()["detail"]


def test_a_change_at_a_site_one_may_not_read_is_refused_as_for_no_site(
    client: TestClient, world: World
) -> None:
    token = bearer(world.write_tokens["lead-a"])
    body = {"title": "SOP", "kind": "sop", "sub_elements": ["m1"], "link": "https://x.example/1"}
    hidden = client.post("/api/sites/SITE-B/evidence", json=body, headers=token)
    unknown = client.post(f"/api/sites/{UNKNOWN}/evidence", json=body, headers=token)
    assert (hidden.status_code, unknown.status_code) == (404, 404)


def test_a_reader_of_the_site_still_hears_which_right_is_missing(
    client: TestClient, world: World
) -> None:
    token = bearer(world.write_tokens["viewer-a"])
    body = {"title": "SOP", "kind": "sop", "sub_elements": ["m1"], "link": "https://x.example/1"}
    answer = client.post("/api/sites/SITE-A/evidence", json=body, headers=token)
    assert answer.status_code == 403
    assert "evidence:manage" in answer.json()["detail"]
