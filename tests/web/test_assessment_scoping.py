"""Assessment-level scope: a person limited to some assessments sees nothing of the others.

A grant may name assessments (an outside assessor is given one), so the site alone does not
decide what shows. These cases extend the access matrix (tests/web/test_access_matrix.py), which
checks routes against site-level rules: here every page and API answer that is not guarded by an
assessment of its own is swept for any trace of an assessment the reader may not read (its title,
its id, the plan made from it), and a lookup of such an assessment must be answered exactly as a
lookup of one that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from factories import create_assessment_of, create_fda_assessment, create_person
from qmm.assessment.service import get_assessment, get_question, record_rating
from qmm.assessment_week.agenda import add_attendee, add_session
from qmm.assessment_week.mock import start_mock_interview
from qmm.assessment_week.questionnaire import draft_from, start_questionnaire
from qmm.auth.service import create_user, grant_role
from qmm.auth.sessions import create_api_token
from qmm.models import Site, User, utcnow
from qmm.program.plan import generate_plan
from qmm.web.security import API_PREFIX, Where, route_requirement
from web.support import World, bearer, bound_factory, sign_in

HIDDEN_TITLE = "Unannounced mock inspection"
HIDDEN_OWNER = "Owner of the hidden plan"
OTHER_SITE_TITLE = "Northfield readiness check"
NOWHERE = 987654  # an assessment id that does not exist


@dataclass
class Scoped:
    """The module's extra records: ids and secrets safe to use across sessions."""

    own: int  # SITE-A's first assessment (the world's), readable to the limited people
    hidden: int  # a later SITE-A assessment they may not read
    other_site: int  # an assessment of SITE-B
    own_plan: str  # a plan generated from `own`
    hidden_plan: str  # a plan generated from `hidden`
    hidden_plan_id: int
    tokens: dict[str, str]
    fda: dict[str, str]  # SITE-A's FDA assessment prepared from the hidden self-assessment


SCOPED: list[Scoped] = []


def _rate(session: Session, assessment_id: int, user: User, score: int, evidence: str) -> None:
    assessment = get_assessment(session, assessment_id=assessment_id)
    record_rating(
        session,
        assessment=assessment,
        question=get_question(session, assessment=assessment, code="m1.q1"),
        assessor=user,
        score=score,
        rationale="Seen at the site visit",
        evidence_refs=[evidence],
    )


@pytest.fixture(scope="module")
def scoped(connection: Connection, world: World) -> Scoped:
    with bound_factory(connection)() as session:
        site_a = session.get(Site, world.site_a)
        site_b = session.get(Site, world.site_b)
        lead_a = session.get(User, world.user_ids["lead-a"])
        lead_b = session.get(User, world.user_ids["lead-b"])
        contributor = session.get(User, world.user_ids["contrib-a"])
        assert site_a is not None
        assert site_b is not None
        assert lead_a is not None
        assert lead_b is not None
        assert contributor is not None
        own = get_assessment(session, assessment_id=world.assessment_a)
        hidden = create_assessment_of(
            session, site_a, lead_a, contributor, framework=own.framework, title=HIDDEN_TITLE
        )
        hidden.started_on = utcnow().date() + timedelta(days=1)  # the site's latest
        _rate(session, hidden.id, contributor, 2, world.evidence_ref)
        other = create_assessment_of(
            session, site_b, lead_b, framework=own.framework, title=OTHER_SITE_TITLE
        )
        _rate(session, other.id, lead_b, 4, "NF-1")
        in_a_month = utcnow() + timedelta(days=30)
        tokens: dict[str, str] = {}
        for username, role, limited_to in (
            ("assessor-own", "assessor", own),
            ("assessor-hidden", "assessor", hidden),
            ("contrib-own", "contributor", own),
        ):
            user = create_user(session, username=username, full_name=username.title())
            grant_role(
                session,
                user=user,
                role=role,
                site=site_a,
                assessments=[limited_to],
                expires_at=in_a_month if role == "assessor" else None,
            )
            world.user_ids[username] = user.id
            tokens[username], _ = create_api_token(
                session, user=user, name="scope sweep", scope="read"
            )
        today = utcnow().date()
        own_plan = generate_plan(session, assessment=own, owner="Site Director", start_on=today)
        hidden_plan = generate_plan(session, assessment=hidden, owner=HIDDEN_OWNER, start_on=today)
        visit = create_fda_assessment(session, site_a)
        person = create_person(session, site_a)
        planned = add_session(
            session,
            fda_assessment=visit,
            day=visit.starts_on,
            starts_at="09:00",
            ends_at="10:00",
            practice_area="management_commitment",
            room="Board room",
        )
        add_attendee(session, agenda_session=planned, person=person)
        start_questionnaire(session, fda_assessment=visit)
        draft_from(session, fda_assessment=visit, assessment=hidden)
        mock = start_mock_interview(
            session,
            fda_assessment=visit,
            practice_area="management_commitment",
            assessor="Sam Ode",
            held_on=today,
        )
        session.commit()
        found = Scoped(
            own=own.id,
            hidden=hidden.id,
            other_site=other.id,
            own_plan=own_plan.ref,
            hidden_plan=hidden_plan.ref,
            hidden_plan_id=hidden_plan.id,
            tokens=tokens,
            fda={
                "fda_assessment_id": str(visit.id),
                "person_id": str(person.id),
                "mock_id": str(mock.id),
            },
        )
    SCOPED[:] = [found]
    return found


def traces_of_hidden(text: str, scoped: Scoped) -> list[str]:
    """Every sign in a page or answer of the assessment the reader may not read."""
    found = [s for s in (HIDDEN_TITLE, HIDDEN_OWNER, scoped.hidden_plan) if s in text]
    patterns = (
        rf"/assessments/{scoped.hidden}\b",
        rf"assessment #{scoped.hidden}\b",
        rf"\(#{scoped.hidden},",
        rf"\"assessment\":\s*{scoped.hidden}\b",
        # a picker's choice; a bare value= could be any number on the page (a plan's due day)
        rf"<option value=\"{scoped.hidden}\"",
    )
    found.extend(p for p in patterns if re.search(p, text))
    return found


def same_answer(
    one: httpx.Response, other: httpx.Response, one_id: object, other_id: object
) -> None:
    """Two answers that must not be told apart: same status, same words but for the id asked."""
    either = "|".join(re.escape(str(i)) for i in (one_id, other_id))
    ids = re.compile(rf"(?<![0-9])(?:{either})(?![0-9])")
    assert one.status_code == other.status_code
    assert ids.sub("<id>", one.text) == ids.sub("<id>", other.text)


# --- the sweep: every answer not guarded by an assessment of its own --------------------------

SWEPT = (Where.site, Where.any_site, Where.signed_in, Where.fda_assessment)


def _route_values(world: World, scoped: Scoped) -> dict[str, list[str]]:
    return {
        "code": ["SITE-A"],
        "kpi_id": ["capa_effectiveness"],
        "period_value": ["2025-03"],
        "file_id": [str(world.evidence_file)],
        "export": ["evidence", "kpis"],
        "record_type": ["capa", "decision"],
        "record_key": ["CAPA-M1", world.decision_ref],
        **{name: [value] for name, value in scoped.fda.items()},
        "fmt": ["docx", "pdf"],
        "clause_code": ["joint_drills"],
        "q": ["unannounced mock inspection"],
    }


def _refs(path: str, world: World, scoped: Scoped) -> str:
    if "/plans/" in path:
        return scoped.own_plan
    if "/decisions/" in path:
        return world.decision_ref
    return world.evidence_ref


def swept_urls(app: FastAPI, world: World, scoped: Scoped) -> list[str]:
    """A URL for every GET route whose guard is the site, any site, or just being signed in."""
    urls: list[str] = []
    values = _route_values(world, scoped)
    for route in app.routes:
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        requirement = route_requirement(route)
        if requirement is None or requirement.where not in SWEPT:
            continue
        filled = [route.path]
        for name in route.param_convertors:
            choices = [_refs(route.path, world, scoped)] if name == "ref" else values[name]
            filled = [u.replace("{" + name + "}", c) for u in filled for c in choices]
        for url in filled:
            query = {
                q.alias: values[q.alias][0]
                for q in route.dependant.query_params
                if q.field_info.is_required()
            }
            urls.append(url + ("?" + str(httpx.QueryParams(query)) if query else ""))
    return urls


@pytest.mark.usefixtures("world_files")
@pytest.mark.parametrize("username", ["assessor-own", "contrib-own"])
def test_no_page_or_answer_shows_an_assessment_the_reader_may_not_read(
    app: FastAPI, client: TestClient, db: Session, world: World, scoped: Scoped, username: str
) -> None:
    csrf = sign_in(client, db, world, username)
    assert csrf
    leaks = {}
    answered = 0
    for url in swept_urls(app, world, scoped):
        headers = bearer(scoped.tokens[username]) if url.startswith(API_PREFIX + "/") else {}
        response = client.get(url, headers=headers)
        assert response.status_code < 500, url
        answered += response.status_code == 200
        found = traces_of_hidden(response.text, scoped)
        if found:
            leaks[url] = found
    assert leaks == {}
    assert answered > 20  # the sweep reached the pages, not only refusals


def test_the_sweep_would_see_a_leak(
    app: FastAPI, client: TestClient, db: Session, world: World, scoped: Scoped
) -> None:
    """The site's lead may read every assessment: the same sweep finds the hidden one."""
    sign_in(client, db, world, "lead-a")
    assert traces_of_hidden(client.get("/sites/SITE-A/plans").text, scoped)
    page = client.get(f"/sites/SITE-A/plans/{scoped.hidden_plan}").text
    assert HIDDEN_OWNER in traces_of_hidden(page, scoped)


# --- the plan: baseline, compare and the pickers ----------------------------------------------


class TestThePlan:
    def test_a_plan_from_an_unreadable_assessment_is_not_there(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "assessor-own")
        hidden = client.get(f"/sites/SITE-A/plans/{scoped.hidden_plan}")
        missing = client.get("/sites/SITE-A/plans/PLAN-0999")
        same_answer(hidden, missing, scoped.hidden_plan, "PLAN-0999")
        assert hidden.status_code == 404
        own = client.get(f"/sites/SITE-A/plans/{scoped.own_plan}")
        assert own.status_code == 200
        assert "The baseline" in own.text

    def test_the_reader_of_the_plans_assessment_sees_it_and_its_baseline(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "assessor-hidden")
        page = client.get(f"/sites/SITE-A/plans/{scoped.hidden_plan}")
        assert page.status_code == 200
        assert HIDDEN_OWNER in page.text
        assert "The baseline" in page.text

    def test_comparing_with_an_unreadable_assessment_is_answered_as_with_none(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "assessor-hidden")
        url = f"/sites/SITE-A/plans/{scoped.hidden_plan}"
        unreadable = client.get(url, params={"compare": str(scoped.own)})
        missing = client.get(url, params={"compare": str(NOWHERE)})
        assert unreadable.status_code == 422
        same_answer(unreadable, missing, scoped.own, NOWHERE)
        assert "FY26 self-assessment" not in unreadable.text

    def test_comparing_with_another_sites_assessment_does_not_name_the_site(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "lead-a")
        url = f"/sites/SITE-A/plans/{scoped.own_plan}"
        elsewhere = client.get(url, params={"compare": str(scoped.other_site)})
        missing = client.get(url, params={"compare": str(NOWHERE)})
        same_answer(elsewhere, missing, scoped.other_site, NOWHERE)
        assert "SITE-B" not in elsewhere.text

    def test_an_administrator_is_still_told_which_site_it_is_of(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "root")
        url = f"/sites/SITE-A/plans/{scoped.own_plan}"
        page = client.get(url, params={"compare": str(scoped.other_site)})
        assert page.status_code == 422
        assert "is of SITE-B" in page.text

    def test_the_compare_picker_lists_only_readable_assessments(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "assessor-hidden")
        page = client.get(f"/sites/SITE-A/plans/{scoped.hidden_plan}").text
        assert f'value="{scoped.own}"' not in page
        sign_in(client, db, world, "lead-a")
        page = client.get(f"/sites/SITE-A/plans/{scoped.hidden_plan}").text
        assert f'value="{scoped.own}"' in page

    def test_the_baseline_chooser_lists_only_readable_assessments(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-own")
        form = client.get("/sites/SITE-A/plans").text
        assert "Generate a plan" in form
        assert f'value="{scoped.own}" selected' in form
        assert HIDDEN_TITLE not in form
        refused = client.post(
            "/sites/SITE-A/plans",
            data={
                "owner": "Site Director",
                "start_on": utcnow().date().isoformat(),
                "assessment": str(scoped.hidden),
                "csrf_token": csrf,
            },
        )
        missing = client.post(
            "/sites/SITE-A/plans",
            data={
                "owner": "Site Director",
                "start_on": utcnow().date().isoformat(),
                "assessment": str(NOWHERE),
                "csrf_token": csrf,
            },
        )
        assert refused.status_code == 422
        same_answer(refused, missing, scoped.hidden, NOWHERE)

    def test_the_api_lists_and_finds_only_readable_plans(
        self, client: TestClient, scoped: Scoped
    ) -> None:
        token = bearer(scoped.tokens["assessor-own"])
        listed = client.get("/api/sites/SITE-A/plans", headers=token)
        assert listed.status_code == 200
        assert [p["ref"] for p in listed.json()] == [scoped.own_plan]
        hidden = client.get(f"/api/sites/SITE-A/plans/{scoped.hidden_plan}", headers=token)
        missing = client.get("/api/sites/SITE-A/plans/PLAN-0999", headers=token)
        same_answer(hidden, missing, scoped.hidden_plan, "PLAN-0999")
        assert hidden.status_code == 404


# --- the readiness report ---------------------------------------------------------------------


class TestTheReport:
    def test_an_unreadable_or_foreign_assessment_is_answered_as_none(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "assessor-own")
        missing = client.get("/sites/SITE-A/report", params={"assessment": NOWHERE})
        assert missing.status_code == 404
        for wanted in (scoped.hidden, scoped.other_site):
            answer = client.get("/sites/SITE-A/report", params={"assessment": wanted})
            same_answer(answer, missing, wanted, NOWHERE)

    def test_the_default_report_is_of_an_assessment_the_reader_may_read(
        self, client: TestClient, db: Session, world: World, scoped: Scoped
    ) -> None:
        sign_in(client, db, world, "assessor-own")
        report = client.get("/sites/SITE-A/report")
        assert report.status_code == 200
        assert "FY26 self-assessment" in report.text
        assert traces_of_hidden(report.text, scoped) == []


# --- the site's own pages ---------------------------------------------------------------------


def test_the_dashboard_answers_from_the_latest_assessment_the_reader_may_read(
    client: TestClient, db: Session, world: World, scoped: Scoped
) -> None:
    sign_in(client, db, world, "assessor-own")
    page = client.get("/sites/SITE-A").text
    assert f'href="/assessments/{scoped.own}"' in page
    assert "No assessment of this site that you can see yet" not in page


# --- what the guards in qmm.web.security still tell (for the lead to change there) ------------


def test_an_unreadable_assessment_page_is_answered_as_a_missing_one(
    client: TestClient, db: Session, world: World, scoped: Scoped
) -> None:
    sign_in(client, db, world, "lead-a")
    same_answer(
        client.get(f"/assessments/{scoped.other_site}"),
        client.get(f"/assessments/{NOWHERE}"),
        scoped.other_site,
        NOWHERE,
    )


def test_the_history_of_a_plan_from_an_unreadable_assessment_is_refused(
    client: TestClient, db: Session, world: World, scoped: Scoped
) -> None:
    sign_in(client, db, world, "assessor-own")
    history = client.get(f"/audit/readiness_plans/{scoped.hidden_plan_id}")
    assert history.status_code in (403, 404)
    assert traces_of_hidden(history.text, scoped) == []
