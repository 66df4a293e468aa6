"""The 90-day readiness plan in the web app: the site's plans, generating one, a plan's page,
editing a draft's action, approving by signature, tracking an approved plan, comparing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import create_assessment_of
from qmm.assessment.service import get_assessment, get_question, record_rating
from qmm.models import ReadinessPlan, Site, User, utcnow
from qmm.program.plan import get_plan
from web.support import World, password_of, sign_in

PLANS = "/sites/SITE-A/plans"
TODAY = utcnow().date()
GOOD = {"owner": "Site Director", "start_on": TODAY.isoformat()}


def site_a(db: Session) -> Site:
    site = db.scalar(select(Site).where(Site.code == "SITE-A"))
    assert site is not None
    return site


def count_plans(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ReadinessPlan)) or 0


def plan_of(db: Session, ref: str) -> ReadinessPlan:
    db.expire_all()
    return get_plan(db, site=site_a(db), ref=ref)


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def post(client: TestClient, url: str, csrf: str, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(url, data={**fields, "csrf_token": csrf})


def generate(client: TestClient, csrf: str, **overrides: object) -> str:
    """Generate a plan as the signed-in person; returns the plan page's path."""
    response = post(client, PLANS, csrf, **{**GOOD, **overrides})
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("?")[0]


def approve(client: TestClient, url: str, csrf: str, username: str = "lead-a"):  # type: ignore[no-untyped-def]
    return post(client, url + "/approve", csrf, password=password_of(username), meaning="approved")


def later_assessment(db: Session, world: World, score: int) -> int:
    """A second assessment of SITE-A on the same framework, m1.q1 rated `score`."""
    first = get_assessment(db, assessment_id=world.assessment_a)
    lead = db.get(User, world.user_ids["lead-a"])
    contributor = db.get(User, world.user_ids["contrib-a"])
    assert lead is not None
    assert contributor is not None
    later = create_assessment_of(
        db, site_a(db), lead, contributor, framework=first.framework, title="FY27 self-assessment"
    )
    record_rating(
        db,
        assessment=later,
        question=get_question(db, assessment=later, code="m1.q1"),
        assessor=contributor,
        score=score,
        rationale="Management review now acts on trends",
        evidence_refs=["MR-2027-01"],
    )
    db.commit()
    return later.id


class TestThePlans:
    def test_readers_see_the_plans_with_their_day_and_no_form(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf, start_on=(TODAY - timedelta(days=9)).isoformat())
        sign_in(client, db, world, "viewer-a")
        page = client.get(PLANS)
        assert page.status_code == 200
        assert f'href="{url}"' in page.text
        assert "Draft" in page.text
        assert "day 10 of 90" in page.text
        assert re.search(r">0/\d+<", page.text)
        assert "Generate a plan" not in page.text
        assert 'href="/sites/SITE-A/plans"' in page.text  # the site bar

    def test_a_manager_generates_a_draft_and_lands_on_it(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        form = client.get(PLANS).text
        assert "Generate a plan" in form
        assert "Supersede the running plan" not in form  # nothing runs yet
        url = generate(client, csrf)
        assert url == f"{PLANS}/PLAN-0001"
        plan = plan_of(db, "PLAN-0001")
        assert (plan.status, plan.owner, plan.start_on) == ("draft", "Site Director", TODAY)
        assert plan.assessment_id == world.assessment_a
        page = client.get(url + "?done=generated").text
        assert "was drafted" in page
        for workstream in ("Governance and evidence", "Systems and process maturity"):
            assert workstream in page
        assert "Name an executive owner of the QMM program" in page
        assert "Change action 1" in page
        assert "Sign this plan" in page
        assert "Day <strong>1 of 90</strong>" in page

    @pytest.mark.parametrize(
        ("fields", "field", "says"),
        [
            ({"start_on": "next week"}, "start_on", "must be a date"),
            ({"start_on": ""}, "start_on", "is required"),
            ({"start_on": "9999-12-31"}, "start_on", "too far"),
            ({"start_on": str(TODAY + timedelta(days=367))}, "start_on", "more than a year after"),
            ({"start_on": str(TODAY - timedelta(days=367))}, "start_on", "more than a year before"),
            ({"owner": "   "}, "owner", "must not be empty"),
            ({"owner": "x" * 201}, "owner", "at most 200"),
            ({"owner": "Site\x00Director"}, "owner", "NUL"),
            ({"assessment": "999999"}, "assessment", "No assessment 999999"),
            ({"assessment": "latest"}, "assessment", "no assessment &#39;latest&#39;"),
        ],
    )
    def test_bad_input_names_the_field_keeps_what_was_typed_and_stores_nothing(
        self,
        client: TestClient,
        db: Session,
        world: World,
        fields: dict[str, str],
        field: str,
        says: str,
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        response = post(client, PLANS, csrf, **{**GOOD, **fields})
        assert response.status_code == 422
        assert says in error_of(response.text, field)
        assert "No plan was generated" in response.text
        if field != "owner":
            assert 'value="Site Director"' in response.text
        assert count_plans(db) == 0

    def test_a_running_plan_is_superseded_only_when_asked(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        first = generate(client, csrf)
        assert approve(client, first, csrf).status_code == 303
        assert "Supersede the running plan PLAN-0001" in client.get(PLANS).text
        refused = post(client, PLANS, csrf, **GOOD)
        assert refused.status_code == 422
        assert "already runs approved plan PLAN-0001" in refused.text
        assert "tick &#39;supersede the running plan&#39;" in refused.text
        assert count_plans(db) == 1
        second = generate(client, csrf, supersede="yes")
        assert second == f"{PLANS}/PLAN-0002"
        assert plan_of(db, "PLAN-0002").supersedes_id == plan_of(db, "PLAN-0001").id
        assert approve(client, second, csrf).status_code == 303
        assert plan_of(db, "PLAN-0001").status == "superseded"
        old = client.get(first).text
        assert "Superseded" in old
        assert f'href="{second}"' in old
        assert "Mark action" not in old

    def test_readers_may_not_generate(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "viewer-a")
        assert post(client, PLANS, csrf, **GOOD).status_code == 403
        assert count_plans(db) == 0


class TestApproving:
    def test_the_right_password_approves_and_freezes_the_plan(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        signed = approve(client, url, csrf)
        assert signed.status_code == 303
        assert signed.headers["location"].endswith("?done=approved#signatures")
        plan = plan_of(db, "PLAN-0001")
        assert plan.status == "approved"
        assert plan.approved_at is not None
        page = client.get(url).text
        assert "✔</span> Valid" in page
        assert "Approved by Lead A (lead-a)" in page
        assert "/edit" not in page
        assert "Change action" not in page
        assert "Sign this plan" not in page  # lead-a has signed it
        assert "Mark action 1 done" in page

    def test_a_wrong_password_approves_nothing_and_counts_as_a_failed_attempt(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        wrong = post(client, url + "/approve", csrf, password="not it", meaning="approved")
        assert wrong.status_code == 422
        assert "The signature was not recorded" in wrong.text
        assert "password is wrong" in wrong.text
        assert plan_of(db, "PLAN-0001").status == "draft"
        user = db.get(User, world.user_ids["lead-a"])
        assert user is not None
        db.refresh(user)
        assert user.failed_logins == 1
        empty = post(client, url + "/approve", csrf, password="", meaning="approved")
        assert empty.status_code == 422
        assert "Enter your password" in empty.text

    def test_a_draft_that_does_not_supersede_the_running_plan_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        older = generate(client, csrf)
        newer = generate(client, csrf)
        assert approve(client, newer, csrf).status_code == 303
        refused = approve(client, older, csrf)
        assert refused.status_code == 409
        assert "does not supersede it" in refused.text
        assert plan_of(db, "PLAN-0001").status == "draft"

    def test_people_without_record_sign_cannot_approve(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        url = generate(client, sign_in(client, db, world, "lead-a"))
        csrf = sign_in(client, db, world, "assessor-a")
        assert "Sign this plan" not in client.get(url).text
        assert approve(client, url, csrf, "assessor-a").status_code == 403
        assert plan_of(db, "PLAN-0001").status == "draft"


class TestEditingADraft:
    def test_a_drafts_action_is_changed_and_its_due_date_follows(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        changed = post(
            client, url + "/actions/1/edit", csrf, title="Name the owner", owner="COO", due_day="5"
        )
        assert changed.status_code == 303
        action = plan_of(db, "PLAN-0001").actions[0]
        assert (action.title, action.owner, action.due_day) == ("Name the owner", "COO", 5)
        assert action.due_on == TODAY + timedelta(days=4)

    def test_a_bad_change_names_the_field_and_changes_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        bad = post(client, url + "/actions/1/edit", csrf, title="", owner="COO", due_day="91")
        assert bad.status_code == 422
        assert "above 90" in error_of(bad.text, "edit-1-due_day")
        assert "must not be empty" in error_of(bad.text, "edit-1-title")
        assert 'value="91"' in bad.text
        action = plan_of(db, "PLAN-0001").actions[0]
        assert (action.owner, action.due_day) == ("Site Director", 7)

    def test_an_approved_plans_action_cannot_be_changed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        assert approve(client, url, csrf).status_code == 303
        refused = post(client, url + "/actions/1/edit", csrf, title="Later", owner="x", due_day="9")
        assert refused.status_code == 409
        assert "is approved and its plan is frozen" in refused.text
        action = plan_of(db, "PLAN-0001").actions[0]
        assert (action.title, action.due_day) == ("Name an executive owner of the QMM program", 7)


class TestTracking:
    def test_an_action_is_done_then_reopened_and_progress_follows(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        assert approve(client, url, csrf).status_code == 303
        total = len(plan_of(db, "PLAN-0001").actions)
        done = post(client, url + "/actions/1/done", csrf, done_on=TODAY.isoformat(), note="EV-9")
        assert done.status_code == 303
        action = plan_of(db, "PLAN-0001").actions[0]
        assert (action.status, action.done_on, action.note) == ("done", TODAY, "EV-9")
        page = client.get(url).text
        assert f"<strong>1 of {total}</strong> actions done" in page
        assert f"Done on {TODAY.isoformat()}" in page
        assert "Reopen action 1" in page
        again = post(client, url + "/actions/1/done", csrf, done_on=TODAY.isoformat())
        assert again.status_code == 409
        reopened = post(client, url + "/actions/1/reopen", csrf, note="Charter not filed")
        assert reopened.status_code == 303
        action = plan_of(db, "PLAN-0001").actions[0]
        assert (action.status, action.done_on, action.note) == ("open", None, "Charter not filed")
        assert f"<strong>0 of {total}</strong> actions done" in client.get(url).text
        assert post(client, url + "/actions/1/reopen", csrf).status_code == 409

    def test_a_future_or_bad_date_is_refused_by_field(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        assert approve(client, url, csrf).status_code == 303
        tomorrow = (TODAY + timedelta(days=1)).isoformat()
        future = post(client, url + "/actions/2/done", csrf, done_on=tomorrow, note="Early")
        assert future.status_code == 422
        assert "is in the future" in error_of(future.text, "done-2-done_on")
        assert f'value="{tomorrow}"' in future.text
        garbled = post(client, url + "/actions/2/done", csrf, done_on="yesterday")
        assert "must be a date" in error_of(garbled.text, "done-2-done_on")
        assert plan_of(db, "PLAN-0001").actions[1].status == "open"

    def test_a_draft_is_not_tracked(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        refused = post(client, url + "/actions/1/done", csrf, done_on=TODAY.isoformat())
        assert refused.status_code == 409
        assert "approve it before tracking" in refused.text
        assert "Mark action 1 done" not in client.get(url).text

    def test_an_overdue_action_says_so_in_words_and_an_icon(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf, start_on=(TODAY - timedelta(days=10)).isoformat())
        page = client.get(url).text
        # Action 1 is due on day 7: four days ago.
        assert "⚠</span> Overdue by 4 days" in page
        assert "Day <strong>11 of 90</strong>" in page

    def test_readers_may_not_track(self, client: TestClient, db: Session, world: World) -> None:
        url = generate(client, sign_in(client, db, world, "lead-a"))
        csrf = sign_in(client, db, world, "viewer-a")
        page = client.get(url).text
        assert '<form method="post"' not in page.split("<main", 1)[1]
        for path, fields in (
            ("/actions/1/done", {"done_on": TODAY.isoformat()}),
            ("/actions/1/reopen", {}),
            ("/actions/1/edit", {"title": "x", "owner": "y", "due_day": "3"}),
            ("/approve", {"password": password_of("viewer-a"), "meaning": "approved"}),
        ):
            assert post(client, url + path, csrf, **fields).status_code == 403, path


class TestComparing:
    def test_a_later_assessment_shows_each_move_in_words(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        later = later_assessment(db, world, score=5)
        page = client.get(url, params={"compare": str(later)})
        assert page.status_code == 200
        assert f"against assessment #{later}" in page.text
        assert "▲</span> moved up by 2.00" in page.text
        assert re.search(r">3\.00<.*?>5\.00<", page.text, re.S)
        unchanged = later_assessment(db, world, score=3)
        assert "unchanged" in client.get(url, params={"compare": str(unchanged)}).text

    def test_the_plans_own_or_an_unknown_assessment_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = generate(client, csrf)
        own = client.get(url, params={"compare": str(world.assessment_a)})
        assert own.status_code == 422
        assert "compare with a later assessment" in own.text
        unknown = client.get(url, params={"compare": "nine"})
        assert unknown.status_code == 422
        assert "no assessment &#39;nine&#39;" in unknown.text


class TestNotFound:
    def test_unknown_refs_and_actions_are_not_found(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        assert client.get(f"{PLANS}/PLAN-0999").status_code == 404
        assert client.get(f"{PLANS}/{world.evidence_ref}").status_code == 404
        url = generate(client, csrf)
        assert client.get(f"{PLANS}/plan-0001").status_code == 200  # refs ignore case
        for number in ("999", "abc", "0x1"):
            done = post(client, f"{url}/actions/{number}/done", csrf, done_on=TODAY.isoformat())
            assert done.status_code == 404, number


class TestProgramOverview:
    def test_the_overview_links_to_the_plan(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        url = generate(client, sign_in(client, db, world, "lead-a"))
        page = client.get("/sites/SITE-A/program").text
        assert f'href="{url}"' in page
