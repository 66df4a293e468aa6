"""Ids in paths, queries and forms are ASCII digits within a database integer's range: anything
else is not found (404) or refused (422), never a server error (issue 17, L1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from web.support import World, bearer, sign_in

HUGE = "99999999999999999999"
NOT_IDS = [HUGE, str(2**63), "²", "٣"]


@pytest.mark.parametrize("bad", NOT_IDS)
@pytest.mark.parametrize(
    "path",
    [
        "/assessments/{bad}",
        "/assessments/{bad}/export",
        "/audit/sites/{bad}",
        "/sites/SITE-A/imports?batch={bad}",
        "/sites/SITE-A/plans/PLAN-0001?compare={bad}",
    ],
)
def test_a_page_named_by_a_bad_id_is_not_a_server_error(
    client: TestClient, db: Session, world: World, path: str, bad: str
) -> None:
    sign_in(client, db, world, "root")
    answer = client.get(path.format(bad=bad))
    assert answer.status_code in (200, 404, 422), answer.text[:300]


@pytest.mark.parametrize("bad", NOT_IDS)
@pytest.mark.parametrize(
    "path", ["/api/assessments/{bad}", "/api/assessments/{bad}/evidence-coverage"]
)
def test_an_api_answer_named_by_a_bad_id_is_not_a_server_error(
    client: TestClient, world: World, path: str, bad: str
) -> None:
    answer = client.get(path.format(bad=bad), headers=bearer(world.write_tokens["root"]))
    assert answer.status_code in (404, 422), answer.text[:300]


@pytest.mark.parametrize("bad", NOT_IDS)
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/sites/SITE-A/program/meetings/{bad}/hold", {"held_on": "2026-01-05"}),
        ("/sites/SITE-A/program/forum/{bad}/remove", {"removed_on": "2026-01-05"}),
        ("/sites/SITE-A/continuity/drills/{bad}/run", {"run_on": "2026-01-05"}),
        ("/sites/SITE-A/program/objectives", {"title": "T", "parent": "{bad}"}),
    ],
)
def test_a_form_naming_a_bad_id_is_not_a_server_error(
    client: TestClient, db: Session, world: World, path: str, data: dict[str, str], bad: str
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    filled = {k: v.format(bad=bad) for k, v in data.items()}
    answer = client.post(path.format(bad=bad), data={**filled, "csrf_token": csrf})
    assert answer.status_code in (404, 422), answer.text[:300]
