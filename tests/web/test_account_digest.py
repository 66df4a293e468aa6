"""The account page's e-mail digest: each person opts in (daily or weekly) or out for themself."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qmm.models import User
from qmm.notify.digest import digest_choice
from web.support import World, sign_in


def post(client: TestClient, csrf: str, **fields: str):
    return client.post(
        "/account/digest", data={**fields, "csrf_token": csrf}, follow_redirects=False
    )


def test_opting_in_and_out_from_the_account_page(
    client: TestClient, db: Session, world: World
) -> None:
    lead = db.get(User, world.user_ids["lead-a"])
    assert lead is not None
    lead.email = "lead-a@example.test"
    db.commit()
    csrf = sign_in(client, db, world, "lead-a")
    page = client.get("/account/digest")
    assert page.status_code == 200
    assert "<strong>off</strong>" in page.text
    assert 'href="/account/digest"' in page.text  # the header links the page
    saved = post(client, csrf, enabled="yes", frequency="daily")
    assert saved.status_code == 303
    assert saved.headers["location"] == "/account/digest?saved=1"
    shown = client.get("/account/digest?saved=1").text
    assert "<strong>on, daily</strong>" in shown
    assert "was saved" in shown
    db.expire_all()
    assert digest_choice(db, user=lead).enabled
    assert post(client, csrf, enabled="no", frequency="daily").status_code == 303
    db.expire_all()
    assert not digest_choice(db, user=lead).enabled


def test_bad_choices_are_named_by_field_and_nothing_is_stored(
    client: TestClient, db: Session, world: World
) -> None:
    csrf = sign_in(client, db, world, "viewer-a")
    viewer = db.get(User, world.user_ids["viewer-a"])
    assert viewer is not None
    viewer.email = None
    db.commit()
    no_address = post(client, csrf, enabled="yes", frequency="weekly")
    assert no_address.status_code == 422
    assert "no e-mail address" in no_address.text
    hourly = post(client, csrf, enabled="no", frequency="hourly")
    assert hourly.status_code == 422
    assert "Frequency &#39;hourly&#39; is not one of daily, weekly" in hourly.text
    odd = post(client, csrf, enabled="maybe", frequency="weekly")
    assert odd.status_code == 422
    assert "Choose yes or no" in odd.text
    db.expire_all()
    assert not digest_choice(db, user=viewer).chosen
