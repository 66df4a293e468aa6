"""The program in the web app and the API: the decision log, a decision, its forms and signing;
the program overview and its forms."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.models import Decision, EvidenceItem, ForumItem, QualityObjective, Site, SteeringMeeting
from qmm.program.decisions import get_decision
from web.support import World, bearer, password_of, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

LOG = "/sites/SITE-A/decisions"
PROGRAM = "/sites/SITE-A/program"
GOOD = {
    "title": "Hold lot 24-200 until the deviation is closed",
    "context": "Deviation DEV-2026-050 on line 1; the lot ships Friday.",
    "options": "Ship with the investigation open\nHold until closure",
    "decision": "Hold the lot until DEV-2026-050 is closed.",
    "quality_won": "yes",
    "trade_off": "Quality over the shipment date: a week late to the customer.",
    "rationale": "The root cause may touch sterility assurance.",
    "owner": "Site Quality Head",
    "decided_on": "2026-02-02",
    "sub_elements": ["m1"],
    "kpis": ["capa_on_time_closure"],
    "evidence_refs": "EV-0001",
    "record_links": "DEV-2026-050",
}


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def site_a(db: Session) -> Site:
    site = db.scalar(select(Site).where(Site.code == "SITE-A"))
    assert site is not None
    return site


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def post(client: TestClient, url: str, csrf: str, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(url, data={**fields, "csrf_token": csrf})


def log_one(client: TestClient, csrf: str, **overrides: object) -> str:
    response = post(client, LOG, csrf, **{**GOOD, **overrides})
    assert response.status_code == 303, response.text
    return response.headers["location"].split("?")[0]


def sign(client: TestClient, url: str, csrf: str, username: str):  # type: ignore[no-untyped-def]
    return post(client, url + "/sign", csrf, password=password_of(username), meaning="approved")


class TestDecisionLog:
    def test_the_log_lists_entries_with_the_trade_off_and_no_forms_for_readers(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(LOG)
        assert page.status_code == 200
        assert f'href="{LOG}/{world.decision_ref}"' in page.text
        assert "Quality over the shipment date" in page.text
        assert "Draft" in page.text
        assert "Log a decision" not in page.text
        assert 'href="/sites/SITE-A/decisions"' in page.text  # the site bar
        assert 'href="/sites/SITE-A/program"' in page.text

    def test_filters_narrow_the_log_and_bad_ones_say_why(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        log_one(client, csrf, quality_won="no", owner="Plant Director")
        both = client.get(LOG).text
        assert "DEC-0001" in both
        assert "DEC-0002" in both
        lost = client.get(LOG, params={"quality_won": "no"}).text
        assert "DEC-0002" in lost
        assert f"{LOG}/DEC-0001" not in lost
        owner = client.get(LOG, params={"owner": "plant"}).text
        assert "DEC-0002" in owner
        assert f"{LOG}/DEC-0001" not in owner
        assert f"{LOG}/DEC-0001" not in client.get(LOG, params={"status": "signed"}).text
        assert f"{LOG}/DEC-0001" not in client.get(LOG, params={"to": "2026-03-01"}).text
        bad = client.get(LOG, params={"from": "last week", "status": "maybe"})
        assert bad.status_code == 422
        assert "is not a date" in error_of(bad.text, "from")
        assert "no status" in error_of(bad.text, "status")
        assert "DEC-0001" in bad.text  # the bad filters are not applied

    def test_the_log_exports_as_csv_and_json_downloads(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(LOG)
        assert f'href="{LOG}/export?format=csv"' in page.text
        exported = client.get(f"{LOG}/export", params={"format": "csv"})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["ref"], r["status"], r["quality_won"]) for r in rows] == [
            ("DEC-0001", "draft", "yes")
        ]
        as_json = client.get(f"{LOG}/export", params={"format": "json", "status": "draft"})
        assert as_json.headers["content-type"].startswith("application/json")
        assert [d["ref"] for d in json.loads(as_json.text)] == ["DEC-0001"]
        assert client.get(f"{LOG}/export", params={"format": "xml"}).status_code == 422


class TestLoggingADecision:
    def test_a_manager_logs_a_draft(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        assert client.get(f"{LOG}/new").status_code == 200
        url = log_one(client, csrf)
        assert url == f"{LOG}/DEC-0002"
        entry = get_decision(db, site=site_a(db), ref="DEC-0002")
        assert entry.options == ["Ship with the investigation open", "Hold until closure"]
        assert (entry.quality_won, entry.evidence_refs, entry.kpis) == (
            True,
            ["EV-0001"],
            ["capa_on_time_closure"],
        )
        page = client.get(url).text
        assert 'href="/sites/SITE-A/evidence/EV-0001"' in page
        assert 'href="/sites/SITE-A/kpis/capa_on_time_closure"' in page
        assert "Edit this draft" in page

    def test_bad_input_stores_nothing_keeps_what_was_typed_and_says_why_by_field(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        before = count(db, Decision)
        response = post(
            client,
            LOG,
            csrf,
            **{
                **GOOD,
                "options": "Only one option",
                "trade_off": "",
                "quality_won": "",
                "decided_on": "soon",
                "evidence_refs": "EV-9999",
            },
        )
        assert response.status_code == 422
        page = response.text
        assert "at least 2" in error_of(page, "options")
        assert error_of(page, "trade_off")
        assert "yes or no" in error_of(page, "quality_won")
        assert "date" in error_of(page, "decided_on")
        assert "EV-9999" in error_of(page, "evidence_refs")
        assert "Only one option" in page
        assert GOOD["title"] in page
        assert count(db, Decision) == before

    def test_readers_may_not_log_or_change_decisions(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "assessor-a")
        assert client.get(f"{LOG}/new").status_code == 403
        assert post(client, LOG, csrf, **GOOD).status_code == 403
        url = f"{LOG}/{world.decision_ref}"
        assert post(client, url + "/edit", csrf, **GOOD).status_code == 403
        page = client.get(url).text
        assert "Edit this draft" not in page
        assert "Sign this decision" not in page


class TestSigning:
    def test_signing_freezes_the_decision_and_files_it_as_evidence(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"{LOG}/{world.decision_ref}"
        edited = post(client, url + "/edit", csrf, **{**GOOD, "title": "Hold the lot"})
        assert edited.status_code == 303
        wrong = post(client, url + "/sign", csrf, password="not it", meaning="approved")
        assert wrong.status_code == 422
        assert "password is wrong" in wrong.text
        assert "Hold the lot" in wrong.text
        items = count(db, EvidenceItem)
        signed = sign(client, url, csrf, "lead-a")
        assert signed.status_code == 303
        db.expire_all()
        entry = get_decision(db, site=site_a(db), ref=world.decision_ref)
        assert entry.is_signed
        assert entry.evidence_item_id is not None
        assert count(db, EvidenceItem) == items + 1
        page = client.get(url).text
        assert "Edit this draft" not in page
        assert "/edit" not in page
        assert "Supersede this decision" in page
        assert "✔</span> Valid" in page
        evidence = db.get(EvidenceItem, entry.evidence_item_id)
        assert evidence is not None
        assert f'href="/sites/SITE-A/evidence/{evidence.ref}"' in page
        assert f"Decision {entry.ref}" in client.get("/sites/SITE-A/evidence").text
        refused = post(client, url + "/edit", csrf, **GOOD)
        assert refused.status_code == 409

    def test_a_signed_decision_is_superseded_by_a_new_draft_both_ways(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        old = f"{LOG}/{world.decision_ref}"
        assert sign(client, old, csrf, "lead-a").status_code == 303
        bad = post(client, old + "/supersede", csrf, **{**GOOD, "title": ""})
        assert bad.status_code == 422
        assert error_of(bad.text, "title")
        moved = post(client, old + "/supersede", csrf, **{**GOOD, "title": "Ship after review"})
        assert moved.status_code == 303
        new = moved.headers["location"].split("?")[0]
        assert new == f"{LOG}/DEC-0002"
        own = sign(client, new, csrf, "lead-a")  # lead-a drafted DEC-0002: a second person signs
        assert own.status_code == 422
        assert "two-person rule at SITE-A: lead-a drafted DEC-0002" in own.text
        csrf = sign_in(client, db, world, "contrib-a")
        assert sign(client, new, csrf, "contrib-a").status_code == 303
        old_page = client.get(old).text
        assert "Superseded" in old_page
        assert f'href="{new}"' in old_page
        assert "Supersede this decision" not in old_page
        assert f'href="{old}"' in client.get(new).text
        again = post(client, old + "/supersede", csrf, **GOOD)
        assert again.status_code == 409

    def test_people_without_record_sign_cannot_sign(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "assessor-a")
        url = f"{LOG}/{world.decision_ref}"
        assert sign(client, url, csrf, "assessor-a").status_code == 403

    def test_an_unknown_ref_is_not_found(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        assert client.get(f"{LOG}/DEC-0999").status_code == 404
        assert client.get(f"{LOG}/EV-0001").status_code == 404


class TestDiscardingADraft:
    def test_a_draft_decision_is_discarded_with_a_reason_and_stays_on_record(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = log_one(client, csrf)
        ref = url.rsplit("/", 1)[1]
        assert 'action="' + url + '/discard"' in client.get(url).text
        no_reason = post(client, url + "/discard", csrf, reason=" ")
        assert no_reason.status_code == 422
        assert "audit trail" in error_of(no_reason.text, "discard-reason")
        assert get_decision(db, site=site_a(db), ref=ref).discarded_at is None
        done = post(client, url + "/discard", csrf, reason="Logged twice by mistake")
        assert done.status_code == 303, done.text
        db.expire_all()
        assert get_decision(db, site=site_a(db), ref=ref).discarded_at is not None
        page = client.get(url).text
        assert "Discarded" in page
        assert "Edit this draft" not in page
        assert 'action="' + url + '/sign"' not in page
        assert post(client, url + "/edit", csrf, **GOOD).status_code == 409
        assert post(client, url + "/discard", csrf, reason="again").status_code == 409
        sign_in(client, db, world, "contrib-a")
        assert f"Sign {ref}" not in client.get("/").text  # off the worklist
        listed = client.get(LOG + "?status=discarded").text
        assert f'href="{url}"' in listed
        csrf = sign_in(client, db, world, "lead-a")
        assert log_one(client, csrf) != url  # the discarded ref is not reused

    def test_a_signed_decision_cannot_be_discarded(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        url = log_one(client, sign_in(client, db, world, "contrib-a"))
        csrf = sign_in(client, db, world, "lead-a")
        assert sign(client, url, csrf, "lead-a").status_code == 303
        refused = post(client, url + "/discard", csrf, reason="Changed our mind")
        assert refused.status_code == 409
        assert "only a draft" in refused.text


class TestProgramOverview:
    def test_the_overview_shows_cadence_forum_and_no_forms_for_readers(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(PROGRAM)
        assert page.status_code == 200
        text = page.text
        assert "Quality steering" in text
        assert "Overdue" in text
        assert "2026-01-15" in text
        assert "Line clearance checklist" in text
        assert "days" in text
        assert "No objective is published yet" in text
        assert "Publish an objective" not in text
        assert "Raise a roadblock" not in text

    def test_an_objective_is_published_and_shown_with_its_status(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        done = post(
            client,
            PROGRAM + "/objectives",
            csrf,
            title="Close CAPAs on time",
            owner="Head of Quality",
            published_on="2026-01-05",
            kpi="capa_on_time_closure",
            target="90%",
            period="quarter",
        )
        assert done.status_code == 303
        objective = db.scalar(select(QualityObjective))
        assert objective is not None
        assert objective.target == pytest.approx(0.9)
        page = client.get(PROGRAM).text
        assert "Close CAPAs on time" in page
        assert "No data" in page
        assert 'href="/sites/SITE-A/kpis/capa_on_time_closure"' in page
        child = post(
            client,
            PROGRAM + "/objectives",
            csrf,
            title="Close my CAPA actions on time",
            owner="Supervisor",
            published_on="2026-01-05",
            parent=str(objective.id),
            role="Operator",
            what_good_looks_like="Every CAPA action closed by its due date",
        )
        assert child.status_code == 303
        assert "Every CAPA action closed by its due date" in client.get(PROGRAM).text

    def test_a_bad_objective_stores_nothing_and_keeps_what_was_typed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        response = post(
            client,
            PROGRAM + "/objectives",
            csrf,
            title="Fewer repeat deviations",
            owner="",
            published_on="2026-01-05",
            kpi="",
            target="lots",
        )
        assert response.status_code == 422
        assert error_of(response.text, "objective-owner")
        assert "must be a number" in error_of(response.text, "objective-target")
        assert 'value="Fewer repeat deviations"' in response.text
        assert count(db, QualityObjective) == 0

    def test_an_objective_is_retired_with_what_cascades_from_it(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        post(
            client, PROGRAM + "/objectives", csrf, title="Close CAPAs on time",
            owner="Head of Quality", published_on="2026-01-05", kpi="capa_on_time_closure",
        )  # fmt: skip
        objective = db.scalar(select(QualityObjective))
        assert objective is not None
        url = f"{PROGRAM}/objectives/{objective.id}/retire"
        early = post(client, url, csrf, retired_on="2025-12-31")
        assert early.status_code == 422
        assert "before publication" in error_of(early.text, f"retire-{objective.id}-retired_on")
        typo = post(client, url, csrf, retired_on="31/03/2026")
        assert "not a date" in error_of(typo.text, f"retire-{objective.id}-retired_on")
        db.refresh(objective)
        assert objective.retired_on is None
        done = post(client, url, csrf, retired_on="2026-03-31")
        assert done.status_code == 303
        db.refresh(objective)
        assert objective.retired_on is not None
        assert objective.retired_on.isoformat() == "2026-03-31"
        assert "No objective is published yet" in client.get(PROGRAM).text

    def test_a_steering_cadence_is_set_up_with_its_first_meeting(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        assert "qmm steering" not in client.get(PROGRAM).text
        done = post(
            client, PROGRAM + "/cadences", csrf, name="Supplier quality review",
            chair="Head of Supplier Quality", cadence_days="90", first_meeting_on="2026-04-01",
        )  # fmt: skip
        assert done.status_code == 303, done.text
        page = client.get(done.headers["location"]).text
        assert "Supplier quality review" in page
        assert "2026-04-01" in page

    def test_a_bad_cadence_is_named_by_field_and_stores_nothing(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        before = count(db, SteeringMeeting)
        response = post(
            client, PROGRAM + "/cadences", csrf, name="", chair="QA head",
            cadence_days="0", first_meeting_on="next week",
        )  # fmt: skip
        assert response.status_code == 422
        assert error_of(response.text, "cadence-name")
        assert error_of(response.text, "cadence-cadence_days")
        assert error_of(response.text, "cadence-first_meeting_on")
        assert 'value="QA head"' in response.text
        assert count(db, SteeringMeeting) == before

    def test_a_meeting_is_recorded_and_its_minutes_filed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        url = f"{PROGRAM}/meetings/{world.meeting_id}/hold"
        bad = post(client, url, csrf, held_on="2026-01-16", attendees="", agenda="", minutes="x")
        assert bad.status_code == 422
        assert error_of(bad.text, f"meeting-{world.meeting_id}-attendees")
        items = count(db, EvidenceItem)
        done = post(
            client,
            url,
            csrf,
            held_on="2026-01-16",
            attendees="Site Quality Head\nProduction Manager",
            agenda="CAPA backlog",
            minutes="Two owners named.",
            decision_refs=world.decision_ref,
        )
        assert done.status_code == 303
        meeting = db.get(SteeringMeeting, world.meeting_id)
        assert meeting is not None
        db.refresh(meeting)
        assert meeting.held_on is not None
        assert count(db, EvidenceItem) == items + 1
        assert "2026-02-15" in client.get(PROGRAM).text  # the next one, 30 days on

    def test_roadblocks_are_raised_and_removed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        bad = post(client, PROGRAM + "/forum", csrf, roadblock="", raised_by="QA", owner="QA")
        assert bad.status_code == 422
        assert error_of(bad.text, "roadblock-roadblock")
        raised = post(
            client,
            PROGRAM + "/forum",
            csrf,
            roadblock="Batch record review waits for one signer",
            raised_by="QA reviewer",
            raised_on="2026-01-10",
            owner="Head of QA",
        )
        assert raised.status_code == 303
        assert count(db, ForumItem) == 2
        url = f"{PROGRAM}/forum/{world.forum_item_id}/remove"
        early = post(client, url, csrf, removed_on="2025-12-01", resolution="Cut")
        assert early.status_code == 422
        assert "before it was raised" in error_of(
            early.text, f"remove-{world.forum_item_id}-removed_on"
        )
        done = post(client, url, csrf, removed_on="2026-01-20", resolution="Cut to one page")
        assert done.status_code == 303
        assert "Median <strong>15 days</strong>" in client.get(PROGRAM).text

    def test_readers_may_not_change_the_program(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "viewer-a")
        assert post(client, PROGRAM + "/forum", csrf, roadblock="x").status_code == 403


class TestApi:
    def test_decisions_through_the_api(self, client: TestClient, world: World) -> None:
        token = bearer(world.write_tokens["lead-a"])
        listed = client.get("/api/sites/SITE-A/decisions", headers=token)
        assert listed.status_code == 200
        assert [d["ref"] for d in listed.json()] == [world.decision_ref]
        one = client.get(f"/api/sites/SITE-A/decisions/{world.decision_ref}", headers=token)
        assert one.json()["status"] == "draft"
        assert one.json()["quality_won"] is True
        body = {
            **{k: v for k, v in GOOD.items() if k not in {"options", "quality_won"}},
            "options": ["Ship now", "Hold"],
            "quality_won": False,
            "evidence_refs": ["EV-0001"],
            "record_links": [],
        }
        added = client.post("/api/sites/SITE-A/decisions", json=body, headers=token)
        assert added.status_code == 201, added.text
        assert added.json()["ref"] == "DEC-0002"
        refused = client.post(
            "/api/sites/SITE-A/decisions", json={**body, "options": ["one"]}, headers=token
        )
        assert refused.status_code == 422
        assert "options" in refused.json()["problems"]
        lost = client.get("/api/sites/SITE-A/decisions?quality_won=false", headers=token)
        assert [d["ref"] for d in lost.json()] == ["DEC-0002"]
        reader = bearer(world.read_tokens["lead-a"])
        assert (
            client.post("/api/sites/SITE-A/decisions", json=body, headers=reader).status_code == 403
        )

    def test_the_program_through_the_api(self, client: TestClient, world: World) -> None:
        data = client.get(
            "/api/sites/SITE-A/program", headers=bearer(world.read_tokens["viewer-a"])
        ).json()
        assert data["cadences"][0]["overdue_meetings"] == ["2026-01-15"]
        assert data["forum"]["open_items"][0]["roadblock"].startswith("Line clearance")
        assert data["objectives"] == []
