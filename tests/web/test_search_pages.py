"""Search from the header box, the results page and /api/search, within each person's sites."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import create_evidence
from qmm.models import Site
from qmm.search.query import MAX_QUERY_CHARS
from web.support import World, bearer, sign_in


def test_every_page_has_the_search_box(client: TestClient, db: Session, world: World) -> None:
    sign_in(client, db, world, "viewer-a")
    for path in ("/", "/sites/SITE-A", "/sites/SITE-A/evidence"):
        page = client.get(path).text
        assert 'role="search"' in page
        assert 'action="/search"' in page


def test_results_by_kind_with_links(client: TestClient, db: Session, world: World) -> None:
    sign_in(client, db, world, "lead-a")
    page = client.get("/search", params={"q": "management review"})
    assert page.status_code == 200
    assert f'href="/sites/SITE-A/evidence/{world.evidence_ref}"' in page.text
    assert "Rating rationales" in page.text  # "Management review minutes seen"
    assert f'href="/assessments/{world.assessment_a}#q-m1.q1"' in page.text


def test_one_kind_a_page_at_a_time(client: TestClient, db: Session, world: World) -> None:
    site = db.get(Site, world.site_a)
    assert site is not None
    for n in range(25):
        create_evidence(db, site, title=f"Cleanroom gowning record {n}")
    db.commit()
    sign_in(client, db, world, "lead-a")
    first = client.get("/search", params={"q": "gowning", "kind": "evidence"}).text
    assert "Showing evidence 1–20 of 25" in first
    second = client.get("/search", params={"q": "gowning", "kind": "evidence", "page": "2"}).text
    assert "Showing evidence 21–25 of 25" in second
    overview = client.get("/search", params={"q": "gowning"}).text
    assert "All 25 evidence" in overview


def test_only_the_readers_sites(client: TestClient, db: Session, world: World) -> None:
    sign_in(client, db, world, "lead-b")
    page = client.get("/search", params={"q": "management review"}).text
    assert world.evidence_ref not in page
    assert "Searched SITE-B" in page
    assert "Nothing matches" in page
    assert client.get("/search", params={"q": "sop", "site": "SITE-A"}).status_code == 422


def test_the_assessor_finds_but_cannot_change(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "assessor-a")
    page = client.get("/search", params={"q": "management review"}).text
    assert f'href="/sites/SITE-A/evidence/{world.evidence_ref}"' in page
    assert client.get(f"/sites/SITE-A/evidence/{world.evidence_ref}").status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, None),
        ({"q": "  ", "kind": "evidence"}, "Type a word to search for."),
        ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "at most 200 characters"),
        ({"q": '"**"'}, "no letter or digit"),
        ({"q": "sop", "kind": "gossip"}, "There is no kind"),
        ({"q": "sop", "kind": "evidence", "page": "two"}, "Page must be a whole number"),
        ({"q": "sop", "kind": "evidence", "page": "0"}, "Page must be a whole number"),
    ],
)
def test_a_search_that_cannot_run_is_said_beside_the_box(
    client: TestClient, db: Session, world: World, params: dict[str, str], message: str | None
) -> None:
    sign_in(client, db, world, "viewer-a")
    response = client.get("/search", params=params)
    if message is None:
        assert response.status_code == 200  # the empty search page
        assert 'id="search-q"' in response.text
        return
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text


@pytest.mark.parametrize(
    "q", ['management"', "NEAR(management review)", "review*", "title:review", "a & b | !c"]
)
def test_query_syntax_never_fails(client: TestClient, db: Session, world: World, q: str) -> None:
    sign_in(client, db, world, "viewer-a")
    assert client.get("/search", params={"q": q}).status_code == 200


def test_the_api_answers_in_one_shape(client: TestClient, world: World) -> None:
    token = world.read_tokens["lead-a"]
    found = client.get("/api/search", params={"q": "management"}, headers=bearer(token))
    assert found.status_code == 200
    body = found.json()
    assert body["sites"] == ["SITE-A"]
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert kinds["evidence"]["hits"][0]["path"] == f"/sites/SITE-A/evidence/{world.evidence_ref}"
    only = client.get(
        "/api/search", params={"q": "management", "kind": "decision"}, headers=bearer(token)
    ).json()
    assert [k["kind"] for k in only["kinds"]] in ([], ["decision"])


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": ""}, 422),
        ({"q": "x" * 201}, 422),
        ({"q": "*"}, 422),
        ({"q": "sop", "kind": "gossip"}, 422),
        ({"q": "sop", "limit": "0"}, 422),
        ({"q": "sop", "offset": "-1"}, 422),
        ({}, 422),
    ],
)
def test_the_api_refuses_bad_searches_with_a_reason(
    client: TestClient, world: World, params: dict[str, str], status: int
) -> None:
    response = client.get("/api/search", params=params, headers=bearer(world.read_tokens["root"]))
    assert response.status_code == status
    assert response.json()["detail"]


def test_the_api_needs_a_caller(client: TestClient) -> None:
    assert client.get("/api/search", params={"q": "sop"}).status_code == 401
