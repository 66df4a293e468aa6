"""Rating at speed: parts for a save in place, the next unrated question, filters kept in the
URL, a form's address that can be opened again, and a form sent after the session ended."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.models import Rating, WebSession, utcnow
from qmm.web.pages import Resume
from qmm.web.security import CSRF_FIELD
from web.support import World, login_form_token, password_of, sign_in

PART = {"X-QMM-Part": "rating"}
RATING = {"question": "m1.q2", "score": "4", "rationale": "Council minutes", "evidence": ""}


def page_of(world: World) -> str:
    return f"/assessments/{world.assessment_a}"


def rate(client: TestClient, world: World, csrf: str, query: str = "", **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"{page_of(world)}/ratings{query}", data={**RATING, **fields, CSRF_FIELD: csrf}
    )


def shown_questions(html: str) -> list[str]:
    return re.findall(r'<article class="question[^"]*" id="q-([^"]+)"', html)


def ratings_of(db: Session, world: World) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Rating)
            .where(Rating.assessment_id == world.assessment_a, Rating.superseded_by_id.is_(None))
        )
        or 0
    )


class TestSavingInPlace:
    def test_the_saved_question_comes_back_with_the_parts_it_changed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        saved = rate(client, world, csrf)
        assert saved.status_code == 303
        part = client.get(saved.headers["location"], headers=PART)
        assert part.status_code == 200
        assert '<div data-part="rating">' in part.text
        assert "<html" not in part.text  # only the parts, not the page
        assert shown_questions(part.text) == ["m1.q2"]
        for element in ('id="summary"', 'id="scores"', 'id="next-unrated"', 'id="se-m1-summary"'):
            assert element in part.text
        assert 'id="pa-management_commitment-score"' in part.text
        assert "Your rating of" in part.text
        assert "2 of 20" in part.text  # the roll-up counts it already
        assert 'data-next-question="m2.q1"' in part.text  # m1.q1 and m1.q2 are rated

    def test_a_refused_rating_comes_back_as_its_part_with_the_problem_and_the_text(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        before = ratings_of(db, world)
        refused = client.post(
            f"{page_of(world)}/ratings?question=m1.q2",
            data={**RATING, "score": "", "rationale": "Typed, not lost", CSRF_FIELD: csrf},
            headers=PART,
        )
        assert refused.status_code == 422
        assert '<div data-part="rating">' in refused.text
        assert "Choose a level from 1 to 5, or not applicable." in refused.text
        assert "Typed, not lost" in refused.text
        assert ratings_of(db, world) == before

    def test_without_the_header_the_whole_page_is_answered(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        page = client.get(f"{page_of(world)}?rated=m1.q1")
        assert "<html" in page.text
        assert 'data-part="rating"' not in page.text
        assert '<script src="/static/rating.js" defer></script>' in page.text

    def test_the_script_is_served_and_allowed_by_the_content_policy(
        self, client: TestClient
    ) -> None:
        script = client.get("/static/rating.js")
        assert script.status_code == 200
        assert "X-QMM-Part" in script.text


class TestNextUnrated:
    def test_the_bar_at_the_top_names_the_first_question_not_rated_by_me(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        page = client.get(page_of(world)).text
        bar = page[page.index('<nav class="rating-bar"') :]
        assert bar.index('id="next-unrated"') < bar.index('id="summary"')
        assert f'href="{page_of(world)}?question=m1.q2#q-m1.q2"' in page

    def test_after_a_save_it_goes_on_from_the_saved_question(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        saved = rate(client, world, csrf, question="b1.q1")
        page = client.get(saved.headers["location"]).text
        assert 'data-next-question="b1.q2"' in page
        assert "Next unrated question: <span" in page

    def test_a_question_in_the_url_is_opened(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        page = client.get(f"{page_of(world)}?question=t2.q1").text
        assert re.search(r'<details class="sub-element" id="se-t2" open>', page)
        assert not re.search(r'<details class="sub-element" id="se-m1" open>', page)

    def test_people_who_may_not_rate_get_no_bar(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(page_of(world)).text
        assert 'id="next-unrated"' not in page
        assert "rating.js" not in page
        assert 'id="question-filter"' in page  # reading can still be filtered


class TestFilters:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("?sub_element=m1", ["m1.q1", "m1.q2"]),
            ("?status=rated", ["m1.q1"]),
            ("?status=no-evidence", []),
            ("?sub_element=m1&status=unrated", ["m1.q2"]),
        ],
    )
    def test_a_filter_in_the_url_shows_only_its_questions(
        self, client: TestClient, db: Session, world: World, query: str, expected: list[str]
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        page = client.get(page_of(world) + query)
        assert page.status_code == 200
        assert shown_questions(page.text) == expected
        assert f"Showing {len(expected)} of 20 questions." in page.text

    def test_unrated_shows_the_rest(self, client: TestClient, db: Session, world: World) -> None:
        sign_in(client, db, world, "contrib-a")
        shown = shown_questions(client.get(f"{page_of(world)}?status=unrated").text)
        assert len(shown) == 19
        assert "m1.q1" not in shown

    def test_disagreement_shows_questions_two_levels_apart(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        assert rate(client, world, csrf, question="m1.q1", score="1").status_code == 303
        page = client.get(f"{page_of(world)}?status=disagreement").text
        assert shown_questions(page) == ["m1.q1"]
        assert '<option value="disagreement" selected>' in page

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("?sub_element=zz9", "There is no sub-element &#39;zz9&#39; in this framework."),
            ("?status=done", "There is no status &#39;done&#39;; choose one of unrated"),
        ],
    )
    def test_a_bad_filter_is_named_and_every_question_shown(
        self, client: TestClient, db: Session, world: World, query: str, message: str
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        page = client.get(page_of(world) + query)
        assert page.status_code == 200
        assert message in page.text
        assert len(shown_questions(page.text)) == 20

    def test_the_filter_is_kept_by_the_form_and_after_a_save(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        page = client.get(f"{page_of(world)}?sub_element=m1&status=unrated").text
        action = f"{page_of(world)}/ratings?question=m1.q2&amp;sub_element=m1&amp;status=unrated"
        assert f'action="{action}#q-m1.q2"' in page
        saved = rate(client, world, csrf, query="?question=m1.q2&sub_element=m1&status=unrated")
        assert saved.headers["location"] == (
            f"{page_of(world)}?rated=m1.q2&sub_element=m1&status=unrated#q-m1.q2"
        )
        after = client.get(saved.headers["location"]).text
        assert shown_questions(after) == ["m1.q2"]  # rated now, but kept in sight
        assert "You have rated every question this filter shows." in after


class TestTheFormAddressOpenedAgain:
    @pytest.mark.parametrize("form", ["ratings", "consensus"])
    def test_it_leads_back_to_the_question_not_to_a_405(
        self, client: TestClient, db: Session, world: World, form: str
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        again = client.get(f"{page_of(world)}/{form}?question=m1.q2&status=unrated")
        assert again.status_code == 303
        assert again.headers["location"] == f"{page_of(world)}?status=unrated#q-m1.q2"
        bare = client.get(f"{page_of(world)}/{form}")
        assert bare.headers["location"] == f"{page_of(world)}#questions-title"

    def test_it_needs_the_right_to_read_the_assessment(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        assert client.get(f"{page_of(world)}/ratings").status_code == 404


def end_session(db: Session) -> None:
    web_session = db.scalars(select(WebSession).order_by(WebSession.id.desc())).first()
    assert web_session is not None
    web_session.last_seen_at = utcnow() - timedelta(hours=1)
    db.commit()


class TestARatingSentAfterTheSessionEnded:
    def test_it_gets_a_sign_in_page_that_keeps_what_was_typed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        end_session(db)
        before = ratings_of(db, world)
        refused = client.post(
            f"{page_of(world)}/ratings?question=m1.q2",
            data={**RATING, "rationale": "Typed for <half> an hour", CSRF_FIELD: csrf},
            headers={"Referer": f"http://testserver{page_of(world)}?question=m1.q2"},
        )
        assert refused.status_code == 401
        assert "Your session has ended" in refused.text
        assert "Bearer" not in refused.text
        assert 'action="/login"' in refused.text
        assert 'name="kept_value" value="Typed for &lt;half&gt; an hour"' in refused.text
        assert csrf not in refused.text  # the old session's token is not carried on
        assert (
            f'name="resume_action" value="{page_of(world)}/ratings?question=m1.q2"' in refused.text
        )
        assert f'name="next" value="{page_of(world)}?question=m1.q2"' in refused.text
        assert ratings_of(db, world) == before

    def test_after_signing_in_it_is_offered_to_send_and_then_saved(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        end_session(db)
        refused = client.post(
            f"{page_of(world)}/ratings?question=m1.q2",
            data={**RATING, "rationale": "Kept across sign-in", CSRF_FIELD: csrf},
            headers={"Origin": "http://testserver"},
        )
        fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', refused.text)
        carried: dict[str, list[str]] = {}
        for name, value in fields:
            if name != CSRF_FIELD:
                carried.setdefault(name, []).append(value)
        signed = client.post(
            "/login",
            data={
                **carried,
                "username": "contrib-a",
                "password": password_of("contrib-a"),
                CSRF_FIELD: login_form_token(client),
            },
        )
        assert signed.status_code == 200, signed.text[-3000:]
        assert "You are signed in again" in signed.text
        assert "Kept across sign-in" in signed.text
        offered = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', signed.text)
        )
        assert offered[CSRF_FIELD] not in ("", csrf)  # the new session's token
        assert f'action="{page_of(world)}/ratings?question=m1.q2"' in signed.text
        sent = client.post(f"{page_of(world)}/ratings?question=m1.q2", data=offered)
        assert sent.status_code == 303
        stored = db.scalars(select(Rating).where(Rating.rationale == "Kept across sign-in")).one()
        assert stored.score == 4

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Origin": "https://elsewhere.example"}, {"Referer": "https://elsewhere.example/"}],
    )
    def test_a_form_sent_from_another_site_is_not_carried(
        self, client: TestClient, db: Session, world: World, headers: dict[str, str]
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        end_session(db)
        refused = client.post(
            f"{page_of(world)}/ratings?question=m1.q2",
            data={**RATING, "rationale": "Planted elsewhere", CSRF_FIELD: csrf},
            headers=headers,
        )
        assert refused.status_code == 401
        assert "Your session has ended" in refused.text
        assert "Planted elsewhere" not in refused.text
        assert "resume_action" not in refused.text
        assert 'name="next" value="/"' in refused.text

    def test_signing_out_after_the_session_ended_offers_nothing_to_send(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        end_session(db)
        refused = client.post(
            "/logout", data={CSRF_FIELD: csrf}, headers={"Origin": "http://testserver"}
        )
        assert refused.status_code == 401
        assert "Sign in again." in refused.text
        assert "resume_action" not in refused.text

    def test_a_wrong_password_keeps_the_form_for_the_next_try(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        signed = client.post(
            "/login",
            data={
                "username": "contrib-a",
                "password": "wrong",
                "next": "/",
                "resume_action": f"{page_of(world)}/ratings",
                "kept_name": ["question", "rationale"],
                "kept_value": ["m1.q2", "Still here"],
                CSRF_FIELD: login_form_token(client),
            },
        )
        assert signed.status_code == 401
        assert 'name="kept_value" value="Still here"' in signed.text


class TestResume:
    def test_it_keeps_neither_passwords_nor_the_old_security_token(self) -> None:
        resume = Resume.from_form(
            "/assessments/1/ratings",
            ["question", "password", CSRF_FIELD, "rationale"],
            ["m1.q2", "secret", "old", "why"],
        )
        assert resume == Resume(
            "/assessments/1/ratings", (("question", "m1.q2"), ("rationale", "why"))
        )

    @pytest.mark.parametrize("action", ["", "https://elsewhere.example/x", "//elsewhere/x"])
    def test_it_goes_nowhere_but_this_site(self, action: str) -> None:
        assert Resume.from_form(action, ["a"], ["b"]) is None

    def test_names_and_values_must_pair_up(self) -> None:
        assert Resume.from_form("/x", ["a", "b"], ["1"]) is None
