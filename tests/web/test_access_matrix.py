"""The access matrix: every route x every kind of person x every way in, against the rules.

Routes are read from the app itself, so a new route is checked the moment it exists: if it
declares no permission, or needs a path parameter or body this file does not know, its cases
fail and say what to add. The expectation comes from the permission table (ROLE_PERMISSIONS)
and each person's grant, never from the code under test.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Mount

from factories import (
    create_agreement,
    create_fda_assessment,
    create_person,
    create_scenario,
    create_trigger,
    tiny_pdf,
)
from qmm.assessment.service import get_assessment
from qmm.assessment_week.agenda import add_attendee, add_session
from qmm.assessment_week.examples import add_example
from qmm.assessment_week.mock import start_mock_interview
from qmm.assessment_week.questionnaire import start_questionnaire
from qmm.assessment_week.service import choose_self_assessment
from qmm.auth.permissions import READ_PERMISSIONS, ROLE_PERMISSIONS
from qmm.models import Role, Site, utcnow
from qmm.program.continuity import plan_drill, record_drill_run
from qmm.program.objectives import add_objective
from qmm.program.plan import generate_plan
from qmm.program.steering import ActionInput
from qmm.web.app import create_app
from qmm.web.security import (
    API_PREFIX,
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    Requirement,
    Where,
    route_requirement,
)
from web.support import (
    ANONYMOUS,
    CAST,
    EVERYONE,
    NEW_PASSWORD,
    World,
    bearer,
    bound_factory,
    login_form_token,
    password_of,
    sign_in,
)

UNDECLARED = (
    "{method} {path} declares no permission. Give its endpoint exactly one guard: "
    "Depends(public), Depends(signed_in) or Depends(require(Permission.x, site=...|"
    "assessment=...|audit_record=...|any_site=True|every_site=True)) from qmm.web.security."
)
UNKNOWN_PARAM = (
    "{method} {path} takes the parameter {name!r}, which the access matrix cannot fill. Add it "
    "to params() in tests/web/test_access_matrix.py with a value naming a SITE-A resource."
)
UNKNOWN_BODY = (
    "{method} {path} changes state but the access matrix has no valid body for it. Add one to "
    "bodies() in tests/web/test_access_matrix.py."
)
UNKNOWN_MOUNT = (
    "{path} is a mounted app; add a sample URL under it to MOUNT_SAMPLES in "
    "tests/web/test_access_matrix.py."
)

MOUNT_SAMPLES = {"/static": "/static/qmm.css"}
# Ids of SITE-A's continuity records (a scenario, a trigger, a planned drill, an agreement),
# set up once per module beside the shared world by `continuity_records`.
CONTINUITY: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def continuity_records(connection: Connection, world: World) -> None:
    with bound_factory(connection)() as session:
        site = session.get(Site, world.site_a)
        assert site is not None
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 1, 20))
        ran = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 1, 10))
        record_drill_run(
            session,
            drill=ran,
            run_on=date(2026, 1, 12),
            achieved_hours=100,
            lessons="The call-off took too long.",
            actions=[ActionInput("Pre-authorise call-off", "Supply Lead", date(2026, 2, 1))],
        )
        CONTINUITY.update(
            action_id=str(ran.actions[0].id),
            scenario_id=str(scenario.id),
            trigger_id=str(create_trigger(session, site).id),
            drill_id=str(drill.id),
            agreement_id=str(create_agreement(session, site).id),
            objective_id=str(
                add_objective(
                    session,
                    site=site,
                    title="Close CAPAs on time",
                    owner="Head of Quality",
                    published_on=date(2026, 1, 5),
                    kpi="capa_on_time_closure",
                ).id
            ),
        )
        session.commit()


def params(world: World) -> dict[str, str]:
    """Path and query parameter values: each names a resource of SITE-A."""
    return {
        "code": "SITE-A",
        "clause_code": "joint_drills",
        "assessment_id": str(world.assessment_a),
        "table_name": "sites",
        "table": "sites",
        "record_id": str(world.site_a),
        "kpi_id": "capa_effectiveness",
        "period_value": "2025-03",
        "ref": world.evidence_ref,
        "file_id": str(world.evidence_file),
        "meeting_id": str(world.meeting_id),
        "item_id": str(world.forum_item_id),
        **CONTINUITY,
        **WEEK,
        "export": "evidence",
        "record_type": "capa",
        "record_key": "CAPA-M1",
        "username": "viewer-a",
        "fda_assessment_id": WEEK.get("fda_assessment_id", ""),
        "area": "advanced_pqs",
        "fmt": "docx",
        "q": "management review",
    }


# SITE-A's FDA assessment with one of its people and a session they attend, a draft example, the
# assessment's questionnaire (started), its self-assessment chosen and a mock interview, set up
# once per module by `week_records`.
WEEK: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def week_records(connection: Connection, world: World) -> None:
    with bound_factory(connection)() as session:
        site = session.get(Site, world.site_a)
        assert site is not None
        visit = create_fda_assessment(session, site)
        person = create_person(session, site)
        planned = add_session(
            session,
            fda_assessment=visit,
            day=date(2027, 3, 8),
            starts_at="09:00",
            ends_at="10:00",
            topic="Opening meeting",
            room="Board room",
        )
        add_attendee(session, agenda_session=planned, person=person)
        example = add_example(
            session,
            site=site,
            title="Repeat deviations stopped",
            situation="Three deviations from one air handler.",
            action_taken="Filters changed quarterly.",
            result="No repeat in six months.",
            owner="QA Engineer",
            practice_areas=["advanced_pqs"],
        )
        start_questionnaire(session, fda_assessment=visit)
        choose_self_assessment(
            session,
            fda_assessment=visit,
            assessment=get_assessment(session, assessment_id=world.assessment_a),
        )
        mock = start_mock_interview(
            session,
            fda_assessment=visit,
            practice_area="management_commitment",
            assessor="Sam Ode",
            held_on=date(2026, 12, 1),
        )
        WEEK.update(
            fda_assessment_id=str(visit.id),
            person_id=str(person.id),
            session_id=str(planned.id),
            example_ref=example.ref,
            assessment_id=str(world.assessment_a),
            mock_id=str(mock.id),
        )
        session.commit()


# SITE-A's readiness plan (a draft) and its first action, set up once per module by `plan_record`.
PLAN: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def plan_record(connection: Connection, world: World) -> None:
    with bound_factory(connection)() as session:
        plan = generate_plan(
            session,
            assessment=get_assessment(session, assessment_id=world.assessment_a),
            owner="Site Director",
            start_on=utcnow().date(),
        )
        PLAN.update(ref=plan.ref, number=str(plan.actions[0].number))
        session.commit()


def path_params(world: World) -> dict[str, dict[str, str]]:
    """Parameters whose value depends on the route: a decision's ref is no evidence ref."""
    decision = {"ref": world.decision_ref}
    example = {"ref": WEEK.get("example_ref", "")}
    return {
        **dict.fromkeys(DECISION_PATHS, decision),
        **dict.fromkeys(PLAN_PATHS, PLAN),
        **dict.fromkeys(EXAMPLE_PATHS, example),
    }


DECISION_PATHS = (
    "/sites/{code}/decisions/{ref}",
    "/sites/{code}/decisions/{ref}/edit",
    "/sites/{code}/decisions/{ref}/supersede",
    "/sites/{code}/decisions/{ref}/sign",
    "/sites/{code}/decisions/{ref}/discard",
    "/api/sites/{code}/decisions/{ref}",
)
EXAMPLE_PATHS = (
    "/sites/{code}/examples/{ref}",
    "/sites/{code}/examples/{ref}/edit",
    "/sites/{code}/examples/{ref}/review",
    "/sites/{code}/examples/{ref}/approve",
    "/api/sites/{code}/examples/{ref}",
    "/api/sites/{code}/examples/{ref}/review",
    "/api/sites/{code}/examples/{ref}/approve",
)
PLAN_PATHS = (
    "/sites/{code}/plans/{ref}",
    "/sites/{code}/plans/{ref}/approve",
    "/sites/{code}/plans/{ref}/discard",
    "/sites/{code}/plans/{ref}/actions/{number}/edit",
    "/sites/{code}/plans/{ref}/actions/{number}/done",
    "/sites/{code}/plans/{ref}/actions/{number}/reopen",
    "/api/sites/{code}/plans/{ref}",
    "/api/sites/{code}/plans/{ref}/actions/{number}/complete",
    "/api/sites/{code}/plans/{ref}/actions/{number}/reopen",
)


FILES = "__files__"  # a body key whose value is sent as multipart file uploads
CAPA_EXTRACT = (
    b"capa_id,site,opened_on,due_on,root_cause_category,closed_on\n"
    b"CAPA-M1,SITE-A,2025-03-03,2025-04-03,training,2025-03-28\n"
)


def week_bodies() -> dict[tuple[str, str], dict[str, Any]]:
    """The assessment week's forms and JSON bodies (a repeat may be refused, never a 5xx)."""
    visit = "/fda-assessments/{fda_assessment_id}"
    session = f"{visit}/agenda/sessions/{{session_id}}"
    plan = {
        "title": "FDA QMM assessment 2028",
        "starts_on": "2028-03-06",
        "ends_on": "2028-03-10",
        "time_zone": "Europe/Dublin",
        "owner": "Dana Whitfield",
    }
    person = {"name": "Lena Brandt", "job_title": "QA director", "department": "Quality"}
    planned = {
        "day": "2027-03-09",
        "starts_at": "09:00",
        "ends_at": "10:00",
        "topic": "Plant tour",
        "video_link": "https://meet.example.invalid/tour",
    }
    return {
        ("POST", "/sites/{code}/fda-assessments"): plan,
        ("POST", "/api/sites/{code}/fda-assessments"): plan,
        ("POST", "/sites/{code}/people"): person,
        ("POST", "/api/sites/{code}/people"): person,
        ("POST", "/sites/{code}/people/{person_id}/areas"): {"practice_areas": []},
        ("POST", "/api/sites/{code}/people/{person_id}/practice-areas"): {"practice_areas": []},
        ("POST", f"{visit}/milestones"): {"kind": "agenda_sent", "owner": "Sam Ortiz"},
        ("POST", f"/api{visit}/milestones"): {"kind": "agenda_sent", "owner": "Sam Ortiz"},
        ("POST", f"{visit}/agenda/sessions"): planned,
        ("POST", f"/api{visit}/agenda/sessions"): planned,
        ("POST", session): {**planned, "day": "2027-03-08", "room": "Board room"},
        ("POST", f"/api{session}"): {"topic": "Opening meeting"},
        ("POST", f"{session}/cancel"): {},
        ("POST", f"/api{session}/cancel"): {},
        ("POST", f"{session}/attendees"): {"person_id": WEEK.get("person_id", "")},
        ("POST", f"/api{session}/attendees"): {"person_id": int(WEEK.get("person_id") or 1)},
        ("POST", f"{session}/attendees/{{person_id}}/remove"): {},
        ("DELETE", f"/api{session}/attendees/{{person_id}}"): {},
    }


def bodies(username: str) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body for every state-changing route (forms for pages, JSON for the API)."""
    own = password_of(username) or "not-anyones-password"
    extract = {
        "record_type": "capa",
        FILES: {"upload": ("capa.csv", CAPA_EXTRACT, "text/csv")},
    }
    new_item = {
        "title": "Quality council charter",
        "kind": "policy",
        "owner": "Head of Quality",
        "effective_on": "2026-01-05",
        "link": "https://eqms.example.invalid/documents/POL-QA-009",
        "sub_elements": ["m1"],
    }
    return {
        ("POST", "/sites/{code}/evidence"): {
            **new_item,
            FILES: {"upload": ("charter.pdf", tiny_pdf("Council charter"), "application/pdf")},
        },
        ("POST", "/api/sites/{code}/evidence"): new_item,
        ("PATCH", "/api/sites/{code}/settings"): {"two_person_rule": True},
        ("POST", "/sites/{code}/evidence/{ref}/edit"): {
            **new_item,
            "title": "Management review procedure, revision 2",
            "kind": "sop",
        },
        ("POST", "/sites/{code}/evidence/{ref}/map"): {"sub_elements": ["m1", "m2"]},
        ("POST", "/sites/{code}/evidence/{ref}/files"): {
            FILES: {"upload": ("signed.pdf", tiny_pdf("Signed copy"), "application/pdf")}
        },
        ("POST", "/sites/{code}/evidence/{ref}/retire"): {"reason": "Superseded by revision 5"},
        # Anyone may sign in with valid credentials: the public route must not refuse them.
        ("POST", "/login"): {"username": "root", "password": password_of("root")},
        **week_bodies(),
        ("POST", "/logout"): {},
        ("POST", "/assessments/{assessment_id}/sign"): {"password": own, "meaning": "reviewed"},
        ("POST", "/assessments/{assessment_id}/ratings"): {
            "question": "m1.q2",
            "score": "4",
            "rationale": "Quality council minutes for four quarters",
            "evidence": "QC-2026-Q1",
        },
        ("POST", "/assessments/{assessment_id}/consensus"): {
            "question": "m1.q2",
            "score": "4",
            "rationale": "Agreed at the calibration meeting",
        },
        ("POST", "/sites/{code}/assessments"): {
            "title": "FY27 self-assessment",
            "kind": "self",
            "framework": "web-tiny@1",
            "lead": "lead-a",
            "assessors": ["contrib-a"],
            "started_on": "2026-03-02",
        },
        ("POST", "/assessments/{assessment_id}/team"): {"username": "root", "role": "assessor"},
        # contrib-a has rated: taking them off is refused (422, by field), never a 5xx.
        ("POST", "/assessments/{assessment_id}/team/remove"): {"username": "contrib-a"},
        ("POST", "/admin/users"): {"username": "dana", "full_name": "Dana Whitfield"},
        ("POST", "/admin/users/{username}/disable"): {"reason": "Left the company"},
        ("POST", "/admin/users/{username}/password"): {
            "password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        ("POST", "/admin/users/{username}/grants"): {"role": "viewer", "site": "SITE-A"},
        # The matrix names no grant or token of viewer-a: refused by field (422), never a 5xx.
        ("POST", "/admin/users/{username}/grants/revoke"): {"record": "1", "reason": "Moved"},
        ("POST", "/admin/users/{username}/tokens"): {"name": "nightly export", "days": "30"},
        ("POST", "/admin/users/{username}/tokens/revoke"): {"record": "1", "reason": "Retired"},
        ("POST", "/sites/{code}/imports"): extract,
        ("POST", "/api/sites/{code}/imports"): extract,
        ("POST", "/account/digest"): {"enabled": "no", "frequency": "weekly"},
        ("POST", "/account/password"): {
            "current_password": own,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        ("POST", "/sites/{code}/decisions"): DECISION_FORM,
        ("POST", "/sites/{code}/decisions/{ref}/edit"): {
            **DECISION_FORM,
            "title": "Hold lot 24-118 until DEV-2026-041 is closed",
        },
        # The world's decision is a draft: superseding it is refused (409), never a 5xx.
        ("POST", "/sites/{code}/decisions/{ref}/supersede"): DECISION_FORM,
        ("POST", "/sites/{code}/decisions/{ref}/sign"): {"password": own, "meaning": "approved"},
        ("POST", "/api/sites/{code}/decisions"): {
            **DECISION_FORM,
            "options": ["Ship now", "Hold the lot"],
            "quality_won": True,
            "record_links": [],
            "kpis": [],
            "evidence_refs": [],
            "sub_elements": ["m1"],
        },
        ("POST", "/sites/{code}/decisions/{ref}/discard"): {"reason": "Logged twice"},
        ("POST", "/sites/{code}/plans/{ref}/discard"): {"reason": "Wrong assessment"},
        **WEEK_BODIES,
        ("POST", "/sites/{code}/program/objectives"): {
            "title": "Close CAPAs on time",
            "owner": "Head of Quality",
            "published_on": "2026-01-05",
            "kpi": "capa_on_time_closure",
            "target": "0.9",
            "period": "quarter",
        },
        ("POST", "/sites/{code}/program/objectives/{objective_id}/retire"): {
            "retired_on": "2026-03-31"
        },
        ("POST", "/sites/{code}/program/cadences"): {
            "name": "Supplier quality review",
            "chair": "Head of Supplier Quality",
            "cadence_days": "90",
            "first_meeting_on": "2026-04-01",
        },
        ("POST", "/sites/{code}/program/meetings/{meeting_id}/hold"): {
            "held_on": "2026-01-16",
            "attendees": "Site Quality Head\nProduction Manager",
            "agenda": "CAPA backlog",
            "minutes": "Reviewed the CAPA backlog; two owners named.",
        },
        ("POST", "/sites/{code}/program/forum"): {
            "roadblock": "Batch record review waits for one signer",
            "raised_by": "QA reviewer",
            "raised_on": "2026-01-10",
            "owner": "Head of QA",
        },
        ("POST", "/sites/{code}/program/forum/{item_id}/remove"): {
            "removed_on": "2026-01-20",
            "resolution": "Checklist cut to one page",
        },
        ("POST", "/sites/{code}/continuity/scenarios"): {
            "title": "WFI loop out of specification",
            "what_fails": "The WFI loop fails its endotoxin limit.",
            "likelihood": "2",
            "impact": "5",
            "products": "All sterile products",
            "backup_strategy": "Hot sanitisation and bought-in bulk WFI.",
            "recovery_steps": "Stop compounding\nSanitise the loop",
            "recovery_target_hours": "96",
            "owner": "QA Systems",
            "reviewed_on": "2026-01-10",
        },
        ("POST", "/sites/{code}/continuity/triggers"): {
            "material": "10 mL type I glass vials",
            "unit": "pieces",
            "minimum_level": "150000",
        },
        ("POST", "/sites/{code}/continuity/triggers/{trigger_id}/levels"): {
            "level": "95000",
            "recorded_on": "2026-01-10",
        },
        ("POST", "/sites/{code}/continuity/drills"): {
            "scenario": CONTINUITY.get("scenario_id", ""),
            "planned_on": "2026-03-02",
        },
        ("POST", "/sites/{code}/continuity/actions/{action_id}/done"): {"done_on": "2026-01-30"},
        ("POST", "/sites/{code}/continuity/drills/{drill_id}/run"): {
            "run_on": "2026-01-21",
            "achieved_hours": "48",
            "lessons": "The call-off worked first time.",
        },
        ("POST", "/sites/{code}/continuity/agreements"): {
            "supplier": "Halden Closures AG",
            "signed_on": "2026-01-05",
            "response_hours": "48",
            "data_format": "CoA per lot as CSV",
            "participates_in_risk_reviews": "yes",
            "review_every_months": "6",
            "drill_every_months": "12",
        },
        ("POST", "/sites/{code}/continuity/agreements/{agreement_id}/review"): {
            "reviewed_on": "2026-01-15"
        },
        ("POST", "/sites/{code}/continuity/agreements/{agreement_id}/drill"): {
            "drilled_on": "2026-01-15"
        },
        ("POST", "/api/sites/{code}/continuity/triggers/{trigger_id}/levels"): {
            "level": 95000,
            "recorded_on": "2026-01-10",
        },
        ("POST", "/sites/{code}/plans"): {"owner": "Site Director", "start_on": "2026-02-02"},
        ("POST", "/sites/{code}/plans/{ref}/approve"): {"password": own, "meaning": "approved"},
        ("POST", "/sites/{code}/plans/{ref}/actions/{number}/edit"): {
            "title": "Name the executive owner",
            "owner": "Chief Operating Officer",
            "due_day": "5",
        },
        # The module's plan is a draft: marking done or reopening is refused (409), never a 5xx.
        ("POST", "/sites/{code}/plans/{ref}/actions/{number}/done"): {"done_on": "2026-01-20"},
        ("POST", "/sites/{code}/plans/{ref}/actions/{number}/reopen"): {"note": "Not filed"},
        ("POST", "/api/sites/{code}/plans/{ref}/actions/{number}/complete"): {
            "done_on": "2026-01-20",
            "note": "Charter filed",
        },
        ("POST", "/api/sites/{code}/plans/{ref}/actions/{number}/reopen"): {"note": "Not filed"},
        ("POST", "/api/sites"): {"code": "SITE-Z", "name": "Zenith Sterile", "site_type": "fdf"},
        ("POST", "/sites/{code}/clauses/documents"): VENDOR_DOCUMENT,
        ("POST", "/api/sites/{code}/vendor-documents"): VENDOR_DOCUMENT,
        # The matrix's SITE-A has no vendor document: planning a clause is refused (404).
        ("POST", "/sites/{code}/clauses/plan"): MISSING_CLAUSE,
        ("POST", "/sites/{code}/clauses/{clause_code}/edit"): {
            "text": "Drill yearly with the site."
        },
        ("PATCH", "/api/sites/{code}/clauses/{clause_code}"): {"text": "Drill yearly."},
        ("POST", "/api/sites/{code}/vendor-documents/coverage/plan"): MISSING_CLAUSE,
        ("POST", "/sites/{code}/examples"): EXAMPLE_FORM,
        ("POST", "/sites/{code}/examples/{ref}/edit"): EXAMPLE_FORM,
        # The example is a draft written by the system: review is allowed, approval refused (409).
        ("POST", "/sites/{code}/examples/{ref}/review"): {},
        ("POST", "/sites/{code}/examples/{ref}/approve"): {},
        ("POST", "/api/sites/{code}/examples"): {**EXAMPLE_FORM, "sub_elements": ["m1"]},
        ("POST", "/api/sites/{code}/examples/{ref}/review"): {},
        ("POST", "/api/sites/{code}/examples/{ref}/approve"): {},
        ("POST", "/fda-assessments/{fda_assessment_id}/examples"): {
            "example": WEEK.get("example_ref", "")
        },
        ("POST", "/api/fda-assessments/{fda_assessment_id}/examples"): {
            "example": WEEK.get("example_ref", "")
        },
        # The module's questionnaire is started already: starting again is refused (409).
        ("POST", "/fda-assessments/{fda_assessment_id}/questionnaire/start"): {},
        ("POST", "/api/fda-assessments/{fda_assessment_id}/questionnaire"): {},
        ("POST", "/fda-assessments/{fda_assessment_id}/questionnaire/self-assessment"): {
            "assessment": WEEK.get("assessment_id", "")
        },
        ("POST", "/fda-assessments/{fda_assessment_id}/questionnaire/answers/{area}"): {
            "answer": "Our CAPAs are verified for effectiveness."
        },
        ("POST", "/api/fda-assessments/{fda_assessment_id}/questionnaire/answers/{area}"): {
            "answer": "Our CAPAs are verified for effectiveness."
        },
        # Not reviewed yet: reviewing is allowed; signing is refused (409), never a 5xx.
        ("POST", "/fda-assessments/{fda_assessment_id}/questionnaire/review"): {"note": "Ok"},
        ("POST", "/api/fda-assessments/{fda_assessment_id}/questionnaire/review"): {},
        ("POST", "/fda-assessments/{fda_assessment_id}/questionnaire/sign"): {
            "password": own,
            "meaning": "approved",
        },
        ("POST", "/sites/{code}/pre-interview-questions"): {
            "code": "capa_effectiveness.q2",
            "action": "tag",
        },
        ("POST", "/api/assessments/{assessment_id}/ratings"): {
            "question": "m1.q2",
            "score": 4,
            "rationale": "Quality council minutes for four quarters",
            "evidence": ["QC-2026-Q1"],
        },
    }


WEEK_FEEDBACK: dict[str, Any] = {
    "received_on": "2025-08-01",
    "evidence_ref": "EV-0001",
    "area_scores": {"management_commitment": 2.5},
}
WEEK_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/fda-assessments/{fda_assessment_id}/mock-interviews"): {
        "practice_area": "management_commitment",
        "assessor": "Sam Ode",
        "held_on": "2025-05-21",
    },
    ("POST", "/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/answers"): {
        "question": "m1.q1",
        "score": "2",
        "notes": "Minutes not at hand",
    },
    ("POST", "/fda-assessments/{fda_assessment_id}/feedback"): {
        "received_on": "2025-08-01",
        "evidence_ref": "EV-0001",
        "score_management_commitment": "2.5",
    },
    ("POST", "/fda-assessments/{fda_assessment_id}/feedback/plan"): {
        "owner": "Site Director",
        "start_on": "2026-01-05",
    },
    ("POST", "/api/fda-assessments/{fda_assessment_id}/mock-interviews"): {
        "practice_area": "management_commitment",
        "assessor": "Sam Ode",
        "held_on": "2025-05-21",
    },
    ("POST", "/api/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/answers"): {
        "question": "m1.q1",
        "score": 2,
    },
    ("PUT", "/api/fda-assessments/{fda_assessment_id}/feedback"): WEEK_FEEDBACK,
    # The module's mock interview has no follow-up: planning one is refused (404), never a 5xx.
    ("POST", "/api/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/follow-ups"): {
        "question": "m1.q1",
        "plan": "PLAN-0001",
    },
    ("POST", "/fda-assessments/{fda_assessment_id}/mock-interviews/{mock_id}/follow-ups"): {
        "question": "m1.q1",
        "plan": "PLAN-0001",
    },
    ("POST", "/api/fda-assessments/{fda_assessment_id}/feedback/plan"): {
        "owner": "Site Director",
        "start_on": "2026-01-05",
    },
}

VENDOR_DOCUMENT: dict[str, Any] = {
    "document_type": "quality_agreement",
    "vendor": "Halden Closures AG",
    "title": "Quality agreement, stoppers, revision 3",
    "owner": "Supplier Quality Manager",
    "effective_on": "2026-01-05",
    "link": "https://eqms.example.invalid/documents/QA-HALDEN-3",
    "clauses": ["maturity_reviews"],
}
MISSING_CLAUSE: dict[str, Any] = {
    "vendor": "Nobody GmbH",
    "document_type": "quality_agreement",
    "clause": "joint_drills",
}

EXAMPLE_FORM: dict[str, Any] = {
    "title": "Lot held until the deviation closed",
    "situation": "A deviation on line 1 days before shipment.",
    "action_taken": "The lot was held until the investigation closed.",
    "result": "Shipped a week late; no complaint since.",
    "owner": "Site Quality Head",
    "practice_areas": ["management_commitment"],
}

DECISION_FORM: dict[str, Any] = {
    "title": "Hold lot 24-200 until the deviation is closed",
    "context": "Deviation DEV-2026-050 on line 1; the lot ships Friday.",
    "options": "Ship with the investigation open\nHold until closure",
    "decision": "Hold the lot until DEV-2026-050 is closed.",
    "quality_won": "yes",
    "trade_off": "Quality over the shipment date: a week late.",
    "rationale": "The root cause may touch sterility assurance.",
    "owner": "Site Quality Head",
    "decided_on": "2026-02-02",
    "sub_elements": ["m1"],
}


def operations(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, read from its routes."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path))
        else:
            path = getattr(route, "path", repr(route))
            methods = sorted(getattr(route, "methods", None) or {"GET"})
            found.extend((method, path) for method in methods if method != "HEAD")
    return found


def channels(path: str) -> list[str]:
    """Pages are used with a browser session; the API also with read and write tokens."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return ["cookie", "bearer-write", "bearer-read"]
    return ["cookie"]


# Collection needs only the route table: an engine that is never connected is enough.
_ROUTES = create_app(create_engine("sqlite://")).routes
CASES = [
    pytest.param(method, path, who, channel, id=f"{method} {path} | {who} | {channel}")
    for method, path in operations(_ROUTES)
    for channel in channels(path)
    for who in EVERYONE
]


def find_route(app: FastAPI, method: str, path: str) -> BaseRoute:
    for route in app.routes:
        if getattr(route, "path", None) != path:
            continue
        if isinstance(route, Mount) or method in (getattr(route, "methods", None) or ()):
            return route
    raise AssertionError(
        f"{method} {path} is not a plain route of the app. Register an area's router with "
        "qmm.web.app.add_area, not include_router: FastAPI 0.165 keeps routers added by "
        "include_router as nested objects without their full paths."
    )


def plan(
    route: BaseRoute, method: str, world: World, username: str
) -> tuple[Requirement, str, dict[str, Any] | None]:
    """What to request: the declared requirement, the URL and the body; a gap fails loudly."""
    path = getattr(route, "path", repr(route))
    requirement = route_requirement(route)
    if requirement is None:
        pytest.fail(UNDECLARED.format(method=method, path=path))
    if isinstance(route, Mount):
        if path not in MOUNT_SAMPLES:
            pytest.fail(UNKNOWN_MOUNT.format(path=path))
        return requirement, MOUNT_SAMPLES[path], None
    assert isinstance(route, APIRoute)
    values = {**params(world), **path_params(world).get(path, {})}
    url = path
    for name in route.param_convertors:
        if name not in values:
            pytest.fail(UNKNOWN_PARAM.format(method=method, path=path, name=name))
        url = url.replace("{" + name + "}", values[name])
    query = {}
    for query_param in route.dependant.query_params:
        name = query_param.alias
        if name in values:
            query[name] = values[name]
        elif query_param.field_info.is_required():
            pytest.fail(UNKNOWN_PARAM.format(method=method, path=path, name=name))
    if query:
        url += "?" + str(httpx.QueryParams(query))
    body = None
    if method not in SAFE_METHODS:
        body = bodies(username).get((method, path))
        if body is None:
            pytest.fail(UNKNOWN_BODY.format(method=method, path=path))
    return requirement, url, body


def may(requirement: Requirement, username: str, channel: str) -> bool:
    """The rule, from the permission table and the person's grant: may they use this route?"""
    if requirement.where is Where.public:
        return True
    if username == ANONYMOUS or username == "disabled-a":
        return False
    if requirement.where is Where.signed_in:
        return True
    permission = requirement.permission
    assert permission is not None
    if channel == "bearer-read" and permission not in READ_PERMISSIONS:
        return False
    grant = CAST[username]
    if grant is None:
        return False
    role, site = Role(grant[0]), grant[1]
    if permission not in ROLE_PERMISSIONS[role]:
        return False
    if role is Role.administrator:
        return True
    if requirement.where is Where.any_site:
        return True
    if requirement.where is Where.every_site:
        return False
    return site == "SITE-A"  # every resource the matrix names belongs to SITE-A


def send(
    client: TestClient,
    db: Session,
    world: World,
    *,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    username: str,
    channel: str,
    requirement: Requirement,
) -> httpx.Response:
    api = url.startswith(API_PREFIX + "/")
    headers: dict[str, str] = {}
    csrf = ""
    if username != ANONYMOUS:
        if channel == "cookie":
            csrf = sign_in(client, db, world, username)
        elif channel == "bearer-write":
            headers.update(bearer(world.write_tokens[username]))
        else:
            headers.update(bearer(world.read_tokens[username]))
    if method in SAFE_METHODS:
        return client.request(method, url, headers=headers)
    if requirement.where is Where.public and not api:
        csrf = login_form_token(client)  # the pre-session token of the sign-in form
    form = dict(body or {})
    files = form.pop(FILES, None)
    if api and files is None:
        if csrf:
            headers[CSRF_HEADER] = csrf
        return client.request(method, url, json=body, headers=headers)
    if api and csrf:
        headers[CSRF_HEADER] = csrf
    if not api:
        form[CSRF_FIELD] = csrf
    return client.request(method, url, data=form, files=files, headers=headers)


def refused(
    response: httpx.Response, *, method: str, url: str, requirement: Requirement | None = None
) -> bool:
    if response.status_code in (401, 403):
        return True
    # An assessment one may not read is answered as one that is not there (issue 17, M1).
    unreadable = requirement is not None and requirement.where is Where.assessment
    if unreadable and response.status_code == 404 and "no assessment" in response.text:
        return True
    # So is a site one may not read: as one with a code nobody registered (issue 17).
    hidden = requirement is not None and requirement.where is Where.site
    if hidden and response.status_code == 404 and "no site with code" in response.text:
        return True
    # And FDA's assessment of a site one may not read: as one that is not there.
    unseen = requirement is not None and requirement.where is Where.fda_assessment
    if unseen and response.status_code == 404 and "no FDA assessment" in response.text:
        return True
    to_login = response.headers.get("location", "").startswith("/login?next=")
    return not url.startswith(API_PREFIX) and method == "GET" and to_login


@pytest.mark.parametrize(("method", "path", "username", "channel"), CASES)
@pytest.mark.usefixtures("world_files")
def test_the_access_matrix(
    app: FastAPI,
    client: TestClient,
    db: Session,
    world: World,
    method: str,
    path: str,
    username: str,
    channel: str,
) -> None:
    route = find_route(app, method, path)
    requirement, url, body = plan(route, method, world, username)
    response = send(
        client,
        db,
        world,
        method=method,
        url=url,
        body=body,
        username=username,
        channel=channel,
        requirement=requirement,
    )
    allowed = may(requirement, username, channel)
    outcome = f"{method} {url} as {username} by {channel}: {response.status_code}"
    if allowed:
        assert not refused(response, method=method, url=url), f"refused but allowed: {outcome}"
        assert response.status_code < 500, f"server error: {outcome}"
    else:
        assert refused(response, method=method, url=url, requirement=requirement), (
            f"allowed but must refuse: {outcome}"
        )


def test_every_route_declares_its_permission(app: FastAPI) -> None:
    undeclared = [
        f"{method} {path}"
        for method, path in operations(app.routes)
        if route_requirement(find_route(app, method, path)) is None
    ]
    assert undeclared == [], "declare a permission on: " + ", ".join(undeclared)


def test_the_matrix_covers_pages_api_and_static_files() -> None:
    paths = {path for _, path in operations(_ROUTES)}
    assert {"/", "/sites/{code}", "/api/sites", "/static", "/api/openapi.json"} <= paths
    assert len(CASES) >= len(paths) * len(EVERYONE)


def test_an_undeclared_route_fails_the_matrix_with_a_clear_message(world: World) -> None:
    app = create_app(create_engine("sqlite://"))

    def leaky() -> dict[str, str]:
        """A route someone forgot to guard."""
        return {"secret": "yes"}

    app.add_api_route("/leaky", leaky, methods=["GET"])
    route = find_route(app, "GET", "/leaky")
    with pytest.raises(pytest.fail.Exception, match="declares no permission"):
        plan(route, "GET", world, "root")


def test_a_route_with_an_unknown_parameter_fails_the_matrix(world: World) -> None:
    from fastapi import Depends

    from qmm.auth.permissions import Permission
    from qmm.web.security import Access, require

    app = create_app(create_engine("sqlite://"))

    def plant(
        plant_code: str,
        access: Access = Depends(require(Permission.site_read, site="plant_code")),  # noqa: B008
    ) -> dict[str, str]:
        """A route with a parameter the matrix does not know."""
        return {}

    app.add_api_route("/plants/{plant_code}", plant, methods=["GET"])
    route = find_route(app, "GET", "/plants/{plant_code}")
    with pytest.raises(pytest.fail.Exception, match="'plant_code'"):
        plan(route, "GET", world, "root")
