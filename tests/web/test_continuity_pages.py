"""The continuity page: breaches, drills against target and overdue suppliers at a glance, and
the forms to record levels, drill runs, reviews and joint drills and to add what is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import create_agreement, create_scenario, create_trigger
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import (
    ContinuityScenario,
    Drill,
    DrillAction,
    EvidenceItem,
    InventoryLevel,
    InventoryTrigger,
    Site,
    SupplierAgreement,
    utcnow,
)
from qmm.program.continuity import plan_drill, record_drill_run, record_level
from qmm.program.steering import ActionInput
from web.support import World, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

PAGE = "/sites/SITE-A/continuity"
BRIGHTSEAL = "Brightseal Elastomers Inc."
ALDON = "Aldon Glass Tubing GmbH"


def today() -> date:
    return utcnow().date()


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def site_of(db: Session, code: str) -> Site:
    site = db.scalar(select(Site).where(Site.code == code))
    assert site is not None
    return site


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def post(client: TestClient, url: str, csrf: str, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(url, data={**fields, "csrf_token": csrf})


@dataclass
class Continuity:
    """Ids of SITE-A's continuity records as the demo has them, relative to today."""

    stoppers: int  # scenario, risk 12, target 72 h
    water: int  # scenario, risk 10
    breached: int  # trigger: 95,000 counted against a minimum of 120,000
    at_minimum: int  # trigger: exactly at its minimum, not a breach
    missed_drill: int  # joint drill with Brightseal: 96 h against 72 h
    planned_drill: int  # planned for next week, not run
    late_action: int  # from the missed drill, open past its due date
    brightseal: int  # agreement: maturity review overdue
    aldon: int  # agreement: up to date


def build_continuity(db: Session) -> Continuity:
    """SITE-A as the demo has it: a breached stopper trigger, a missed joint drill, an overdue
    supplier review; dates counted back from today so the page's states hold on any day."""
    site = site_of(db, "SITE-A")
    stoppers = create_scenario(
        db,
        site,
        title="Sole stopper supplier cannot ship for six weeks",
        suppliers=[BRIGHTSEAL],
        backup_suppliers=["Halden Closures AG"],
        recovery_steps=["Declare the interruption", "Allocate safety stock", "Call off backup"],
    )
    water = create_scenario(
        db,
        site,
        title="WFI loop out of specification",
        likelihood=2,
        impact=5,
        products=["All sterile products"],
        suppliers=["Everpure WFI Systems"],
        backup_suppliers=["Northgate Pharma Waters"],
        recovery_target_hours=96,
    )
    breached = create_trigger(
        db,
        site,
        minimum_level=120_000,
        scenario=stoppers,
        current_level=180_000,
        recorded_on=days_ago(50),
    )
    record_level(db, trigger=breached, level=95_000, recorded_on=days_ago(10))
    at_minimum = create_trigger(
        db,
        site,
        material="0.2 um sterilising filters",
        minimum_level=400,
        current_level=400,
        recorded_on=days_ago(10),
    )
    brightseal = create_agreement(
        db,
        site,
        signed_on=days_ago(700),
        expires_on=today() + timedelta(days=700),
        review_every_months=6,
        last_review_on=days_ago(300),
    )
    aldon = create_agreement(
        db,
        site,
        supplier=ALDON,
        signed_on=days_ago(100),
        expires_on=today() + timedelta(days=1000),
        review_every_months=12,
        drill_every_months=12,
    )
    drill = plan_drill(
        db, site=site, scenario=stoppers, planned_on=days_ago(40), supplier=BRIGHTSEAL
    )
    record_drill_run(
        db,
        drill=drill,
        run_on=days_ago(38),
        achieved_hours=96,
        lessons="The backup call-off needed a purchase order out of hours.",
        actions=[
            ActionInput("Pre-authorise an emergency call-off", "Supply Chain Lead", days_ago(5)),
            ActionInput("Write the allocation into the plan", "Supply Quality Lead", days_ago(-30)),
        ],
    )
    planned = plan_drill(db, site=site, scenario=water, planned_on=today() + timedelta(days=7))
    db.commit()
    return Continuity(
        stoppers=stoppers.id,
        water=water.id,
        breached=breached.id,
        at_minimum=at_minimum.id,
        missed_drill=drill.id,
        planned_drill=planned.id,
        late_action=drill.actions[0].id,
        brightseal=brightseal.id,
        aldon=aldon.id,
    )


@pytest.fixture
def demo(db: Session) -> Continuity:
    return build_continuity(db)


class TestThePage:
    def test_breach_missed_drill_and_overdue_review_show_at_a_glance_in_words_and_icons(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(PAGE)
        assert page.status_code == 200
        text = page.text
        lead = text.split('<p class="lead">', 1)[1].split("</p>", 1)[0]
        assert "⚠</span> 1 inventory trigger in BREACH" in lead
        assert "✖</span> 1 drill missed the recovery-time target" in lead
        assert "⚠</span> 1 drill action overdue" in lead
        assert "⚠</span> 1 supplier agreement overdue" in lead
        breached_row = text.split(f'id="trigger-{demo.breached}"', 1)[1].split("</tr>", 1)[0]
        assert "95,000 pieces" in breached_row
        assert "25,000 short" in breached_row
        assert "⚠</span> BREACH: below the minimum" in breached_row
        at_minimum = text.split(f'id="trigger-{demo.at_minimum}"', 1)[1].split("</tr>", 1)[0]
        assert "✔</span> At or above the minimum" in at_minimum  # equal is no breach
        # what needs attention comes first (by material, filters would come before stoppers)
        assert text.index(f'id="trigger-{demo.breached}"') < text.index(
            f'id="trigger-{demo.at_minimum}"'
        )
        assert text.index(f'id="agreement-{demo.brightseal}"') < text.index(
            f'id="agreement-{demo.aldon}"'
        )
        missed = text.split(f'id="drill-{demo.missed_drill}"', 1)[1].split("</li>", 1)[0]
        assert "✖</span> Target MISSED" in missed
        assert "<strong>96 h</strong> against a target of 72 h (missed by 24 h)" in missed
        assert f"joint drill with {BRIGHTSEAL}" in missed
        assert "purchase order out of hours" in missed
        assert "⚠</span> OVERDUE" in missed  # the late action
        planned = text.split(f'id="drill-{demo.planned_drill}"', 1)[1].split("</li>", 1)[0]
        assert "○</span> Planned" in planned
        brightseal = text.split(f'id="agreement-{demo.brightseal}"', 1)[1].split("</li>", 1)[0]
        assert "⚠</span> Maturity review overdue" in brightseal
        assert "Responds within 24 h" in brightseal
        aldon = text.split(f'id="agreement-{demo.aldon}"', 1)[1].split("</li>", 1)[0]
        assert "✔</span> Up to date" in aldon
        assert "no data: no SCAR of this supplier" in aldon
        assert 'href="/sites/SITE-A/continuity" aria-current="page">Continuity' in text
        for form in ("Record a level", "Record this drill as run", "Add a scenario"):
            assert form not in text  # a viewer sees no form

    def test_scenarios_come_highest_risk_first_with_what_they_affect_and_how_to_recover(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        text = client.get(PAGE).text
        scenarios = text.split('id="scenarios"', 1)[1]
        assert scenarios.index(f'id="scenario-{demo.stoppers}"') < scenarios.index(
            f'id="scenario-{demo.water}"'
        )
        stoppers = scenarios.split(f'id="scenario-{demo.stoppers}"', 1)[1].split("</tr>", 1)[0]
        assert "<strong>12</strong>" in stoppers
        assert "likelihood 3 × impact 4" in stoppers
        assert f"Suppliers: {BRIGHTSEAL}" in stoppers
        assert "Backup suppliers: Halden Closures AG" in stoppers
        assert "<li>Declare the interruption</li><li>Allocate safety stock</li>" in stoppers
        assert "recovered within 72 h" in stoppers

    def test_a_suppliers_scar_ratio_shows_its_n_and_the_target(
        self,
        client: TestClient,
        db: Session,
        world: World,
        demo: Continuity,
        store: EventStore,
        tmp_path: Path,
    ) -> None:
        header = "scar_id,site,supplier,issued_on,due_on,closed_on,effective"
        rows = [  # two of Brightseal's SCARs closed on time, one late, one open past due
            f"S-1,SITE-A,{BRIGHTSEAL},{days_ago(90)},{days_ago(60)},{days_ago(70)},yes",
            f"S-2,SITE-A,{BRIGHTSEAL},{days_ago(90)},{days_ago(60)},{days_ago(60)},yes",
            f"S-3,SITE-A,{BRIGHTSEAL},{days_ago(90)},{days_ago(60)},{days_ago(20)},no",
            f"S-4,SITE-A,{BRIGHTSEAL},{days_ago(40)},{days_ago(10)},,",
        ]
        path = tmp_path / "supplier_car.csv"
        path.write_text("\n".join([header, *rows]) + "\n")
        import_files(db, paths=[path], store=store)
        db.commit()
        sign_in(client, db, world, "viewer-a")
        text = client.get(PAGE).text
        brightseal = text.split(f'id="agreement-{demo.brightseal}"', 1)[1].split("</li>", 1)[0]
        assert "67% (2/3)" in brightseal
        assert "too few to judge" in brightseal
        assert "below the 90% target" not in brightseal  # no verdict on three SCARs
        assert "1 open past due" in brightseal
        assert "SCARs closed late (below target)" in brightseal

    def test_a_site_with_nothing_recorded_says_so(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-a")
        text = client.get(PAGE).text
        assert "no inventory trigger set up" in text  # not "none below its minimum"
        assert "no inventory trigger below its minimum" not in text
        assert "no drill planned or run" in text
        assert "no drill missed its target" not in text
        assert "no supplier agreement set up" in text
        assert "No risk scenario is recorded yet" in text
        assert "No supplier agreement is recorded yet" in text
        assert "Add a scenario" in text  # a lead may start

    def test_another_sites_page_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-a")
        assert client.get("/sites/SITE-B/continuity").status_code == 404  # as for no site


class TestRecordingALevel:
    def test_a_count_at_the_minimum_clears_the_breach(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        url = f"{PAGE}/triggers/{demo.breached}/levels"
        done = post(client, url, csrf, level="120000", recorded_on=str(today()))
        assert done.status_code == 303
        assert done.headers["location"] == f"{PAGE}?done=level#triggers"
        trigger = db.get(InventoryTrigger, demo.breached)
        assert trigger is not None
        db.refresh(trigger)
        assert (trigger.current_level, trigger.level_recorded_on) == (120_000, today())
        text = client.get(done.headers["location"]).text
        assert "The inventory level was recorded." in text
        assert "no inventory trigger below its minimum" in text

    @pytest.mark.parametrize(
        ("fields", "field", "says"),
        [
            ({"level": "95,000"}, "level", "must be a number"),
            ({"level": "lots"}, "level", "must be a number"),
            ({"level": "-5"}, "level", "below 0"),
            ({"level": ""}, "level", "required"),
            ({"recorded_on": "yesterday"}, "recorded_on", "must be a date"),
            ({"recorded_on": "FUTURE"}, "recorded_on", "is in the future"),
        ],
    )
    def test_a_bad_count_stores_nothing_and_says_why_by_its_field(
        self,
        client: TestClient,
        db: Session,
        world: World,
        demo: Continuity,
        fields: dict[str, str],
        field: str,
        says: str,
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        typed = {"level": "100000", "recorded_on": str(today()), **fields}
        if typed["recorded_on"] == "FUTURE":
            typed["recorded_on"] = str(today() + timedelta(days=1))
        before = count(db, InventoryLevel)
        response = post(client, f"{PAGE}/triggers/{demo.breached}/levels", csrf, **typed)
        assert response.status_code == 422
        assert says in error_of(response.text, f"level-{demo.breached}-{field}")
        assert f'value="{typed[field]}"' in response.text  # what was typed is kept
        assert count(db, InventoryLevel) == before
        trigger = db.get(InventoryTrigger, demo.breached)
        assert trigger is not None
        assert trigger.current_level == 95_000

    def test_an_unknown_or_another_sites_trigger_is_not_found_and_left_alone(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        other = create_trigger(
            db, site_of(db, "SITE-B"), current_level=500, recorded_on=days_ago(3)
        )
        db.commit()
        csrf = sign_in(client, db, world, "lead-a")
        good = {"level": "1", "recorded_on": str(today())}
        for trigger_id in (str(other.id), "999999", "abc", "１", "9" * 40):
            response = post(client, f"{PAGE}/triggers/{trigger_id}/levels", csrf, **good)
            assert response.status_code == 404, trigger_id
        db.refresh(other)
        assert other.current_level == 500
        assert len(other.levels) == 1

    def test_readers_may_not_record_anything(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "viewer-a")
        before = count(db, InventoryLevel)
        forms = {
            f"{PAGE}/triggers/{demo.breached}/levels": {"level": "1", "recorded_on": str(today())},
            f"{PAGE}/drills/{demo.planned_drill}/run": {"run_on": str(today())},
            f"{PAGE}/agreements/{demo.brightseal}/review": {"reviewed_on": str(today())},
            f"{PAGE}/agreements/{demo.brightseal}/drill": {"drilled_on": str(today())},
            f"{PAGE}/scenarios": {"title": "x"},
            f"{PAGE}/triggers": {"material": "x"},
            f"{PAGE}/drills": {"scenario": str(demo.water)},
            f"{PAGE}/agreements": {"supplier": "x"},
        }
        for url, fields in forms.items():
            assert post(client, url, csrf, **fields).status_code == 403, url
        assert count(db, InventoryLevel) == before


class TestTriggersAndScenarios:
    def test_a_trigger_is_set_with_its_scenario_and_level(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        done = post(
            client,
            f"{PAGE}/triggers",
            csrf,
            material="10 mL type I glass vials",
            unit="pieces",
            minimum_level="150000",
            scenario=str(demo.stoppers),
            current_level="140000",
            recorded_on=str(days_ago(1)),
        )
        assert done.status_code == 303
        trigger = db.scalar(
            select(InventoryTrigger).where(InventoryTrigger.material == "10 mL type I glass vials")
        )
        assert trigger is not None
        assert (trigger.scenario_id, trigger.current_level, trigger.breached) == (
            demo.stoppers,
            140_000,
            True,
        )
        assert "2 inventory triggers in BREACH" in client.get(PAGE).text

    def test_a_bad_trigger_stores_nothing_and_names_every_problem(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        before = count(db, InventoryTrigger)
        response = post(
            client,
            f"{PAGE}/triggers",
            csrf,
            material="20 MM BROMOBUTYL STOPPERS",
            unit="",
            minimum_level="a lot",
            current_level="5",
        )
        assert response.status_code == 422
        page = response.text
        assert "already has a trigger" in error_of(page, "trigger-material")
        assert error_of(page, "trigger-unit")
        assert "must be a number" in error_of(page, "trigger-minimum_level")
        assert "needs the date it was recorded" in error_of(page, "trigger-recorded_on")
        assert count(db, InventoryTrigger) == before
        other_site = create_scenario(db, site_of(db, "SITE-B"))
        db.commit()
        refused = post(
            client,
            f"{PAGE}/triggers",
            csrf,
            material="Glass",
            unit="pieces",
            minimum_level="1",
            scenario=str(other_site.id),
        )
        assert refused.status_code == 422
        assert "No continuity scenario" in error_of(refused.text, "trigger-scenario")
        assert count(db, InventoryTrigger) == before

    def test_a_scenario_is_added_and_ranked(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        done = post(
            client,
            f"{PAGE}/scenarios",
            csrf,
            title="Filling line isolator breach",
            what_fails="The isolator glove fails integrity testing mid-campaign.",
            likelihood="4",
            impact="5",
            products="Ceftriaxone 1 g vials\nMeropenem 500 mg vials",
            suppliers="",
            backup_strategy="Second isolator with qualified gloves in stock.",
            backup_suppliers="",
            recovery_steps="Stop filling\nChange the glove\nTest integrity\nResume",
            recovery_target_hours="12",
            owner="Production Manager",
            reviewed_on=str(today()),
        )
        assert done.status_code == 303
        scenario = db.scalar(
            select(ContinuityScenario).where(ContinuityScenario.title.like("Filling line%"))
        )
        assert scenario is not None
        assert (scenario.risk, scenario.recovery_steps[1]) == (20, "Change the glove")
        text = client.get(PAGE).text.split('id="scenarios"', 1)[1]
        assert text.index(f'id="scenario-{scenario.id}"') < text.index(
            f'id="scenario-{demo.stoppers}"'
        )

    def test_a_bad_scenario_stores_nothing_and_keeps_what_was_typed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        response = post(
            client,
            f"{PAGE}/scenarios",
            csrf,
            title="Stopper outage",
            what_fails="No stoppers",
            likelihood="7",
            impact="high",
            products="",
            suppliers=BRIGHTSEAL,
            backup_strategy="Backup",
            backup_suppliers=BRIGHTSEAL.upper(),
            recovery_steps="",
            recovery_target_hours="0",
            owner="QA",
            reviewed_on="2026-13-01",
        )
        assert response.status_code == 422
        page = response.text
        assert "above 5" in error_of(page, "scenario-likelihood")
        assert "must be a number" in error_of(page, "scenario-impact")
        assert "at least 1" in error_of(page, "scenario-products")
        assert "also affected" in error_of(page, "scenario-backup_suppliers")
        assert "at least 1" in error_of(page, "scenario-recovery_steps")
        assert "more than 0" in error_of(page, "scenario-recovery_target_hours")
        assert "must be a date" in error_of(page, "scenario-reviewed_on")
        assert 'value="Stopper outage"' in page
        assert count(db, ContinuityScenario) == 0


class TestDrills:
    def test_a_drill_is_planned_once_per_scenario_and_day(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        day = str(today() + timedelta(days=30))
        fields = {"scenario": str(demo.stoppers), "planned_on": day, "supplier": ALDON}
        assert post(client, f"{PAGE}/drills", csrf, **fields).status_code == 303
        again = post(client, f"{PAGE}/drills", csrf, **fields)
        assert again.status_code == 422
        assert "already planned" in error_of(again.text, "plan-planned_on")
        none_chosen = post(client, f"{PAGE}/drills", csrf, scenario="", planned_on=day)
        assert "choose the scenario" in error_of(none_chosen.text, "plan-scenario").lower()
        assert count(db, Drill) == 3

    def test_a_missed_target_without_actions_is_refused_and_nothing_is_stored(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"{PAGE}/drills/{demo.planned_drill}/run"
        items = count(db, EvidenceItem)
        response = post(
            client, url, csrf, run_on=str(today()), achieved_hours="120", lessons="Too slow."
        )
        assert response.status_code == 422
        fid = f"run-{demo.planned_drill}"
        assert "missed its target (120 h against 96 h)" in error_of(response.text, f"{fid}-actions")
        assert "Too slow." in response.text
        drill = db.get(Drill, demo.planned_drill)
        assert drill is not None
        assert drill.run_on is None
        assert count(db, EvidenceItem) == items

    @pytest.mark.parametrize(
        ("fields", "field", "says"),
        [
            ({"run_on": "FUTURE"}, "run_on", "is in the future"),
            ({"achieved_hours": "two days"}, "achieved_hours", "must be a number"),
            ({"achieved_hours": "-1"}, "achieved_hours", "must not be negative"),
            ({"lessons": " "}, "lessons", "must not be empty"),
            ({"action_owner": ["", ""]}, "action1_owner", "must not be empty"),
            ({"action_due_on": ["2000-01-01", ""]}, "action1_due_on", "before the drill"),
        ],
    )
    def test_a_bad_run_names_its_field(
        self,
        client: TestClient,
        db: Session,
        world: World,
        demo: Continuity,
        fields: dict[str, object],
        field: str,
        says: str,
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        typed: dict[str, object] = {
            "run_on": str(today()),
            "achieved_hours": "100",
            "lessons": "The bought-in WFI took a day to arrive.",
            "action_title": ["Pre-contract bulk WFI", ""],
            "action_owner": ["Engineering Lead", ""],
            "action_due_on": [str(today() + timedelta(days=20)), ""],
            **fields,
        }
        if typed["run_on"] == "FUTURE":
            typed["run_on"] = str(today() + timedelta(days=1))
        response = post(client, f"{PAGE}/drills/{demo.planned_drill}/run", csrf, **typed)
        assert response.status_code == 422
        assert says in error_of(response.text, f"run-{demo.planned_drill}-{field}")
        assert count(db, DrillAction) == 2  # the demo's own

    def test_a_run_with_its_actions_is_recorded_filed_and_shown(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        items = count(db, EvidenceItem)
        due = str(today() + timedelta(days=20))
        done = post(
            client,
            f"{PAGE}/drills/{demo.planned_drill}/run",
            csrf,
            run_on=str(today()),
            achieved_hours="100.5",
            lessons="The bought-in WFI took a day to arrive.",
            # the first row left empty: the second is the action
            action_title=["", "Pre-contract bulk WFI", ""],
            action_owner=["", "Engineering Lead", ""],
            action_due_on=["", due, ""],
        )
        assert done.status_code == 303, done.text
        drill = db.get(Drill, demo.planned_drill)
        assert drill is not None
        db.refresh(drill)
        assert (drill.achieved_hours, drill.met) == (100.5, False)
        assert [(a.title, a.due_on.isoformat()) for a in drill.actions] == [
            ("Pre-contract bulk WFI", due)
        ]
        assert count(db, EvidenceItem) == items + 1
        text = client.get(PAGE).text
        row = text.split(f'id="drill-{demo.planned_drill}"', 1)[1].split("</li>", 1)[0]
        assert "<strong>100.5 h</strong> against a target of 96 h (missed by 4.5 h)" in row
        assert "Pre-contract bulk WFI" in row
        assert "Record this drill as run" not in row
        again = post(client, f"{PAGE}/drills/{demo.planned_drill}/run", csrf, run_on="2026-01-01")
        assert again.status_code == 409

    def test_a_met_joint_drill_needs_no_action_and_counts_for_the_agreement(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        site = site_of(db, "SITE-A")
        scenario = db.get(ContinuityScenario, demo.stoppers)
        assert scenario is not None
        drill = plan_drill(db, site=site, scenario=scenario, planned_on=days_ago(2), supplier=ALDON)
        db.commit()
        csrf = sign_in(client, db, world, "lead-a")
        done = post(
            client,
            f"{PAGE}/drills/{drill.id}/run",
            csrf,
            run_on=str(days_ago(1)),
            achieved_hours="72",
            lessons="The call-off worked first time.",
        )
        assert done.status_code == 303
        agreement = db.get(SupplierAgreement, demo.aldon)
        assert agreement is not None
        db.refresh(agreement)
        assert agreement.last_drill_on == days_ago(1)
        row = client.get(PAGE).text.split(f'id="drill-{drill.id}"', 1)[1].split("</li>", 1)[0]
        assert "✔</span> Target met" in row

    def test_another_sites_drill_is_not_found(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        site_b = site_of(db, "SITE-B")
        drill = plan_drill(
            db, site=site_b, scenario=create_scenario(db, site_b), planned_on=today()
        )
        db.commit()
        csrf = sign_in(client, db, world, "lead-a")
        fields = {"run_on": str(today()), "achieved_hours": "1", "lessons": "x"}
        assert post(client, f"{PAGE}/drills/{drill.id}/run", csrf, **fields).status_code == 404
        db.refresh(drill)
        assert drill.run_on is None


class TestDrillActions:
    def test_an_overdue_action_is_marked_done_and_no_longer_overdue(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        before = client.get(PAGE).text
        assert "1 drill action overdue" in before
        assert f"/continuity/actions/{demo.late_action}/done" in before
        done = post(client, f"{PAGE}/actions/{demo.late_action}/done", csrf, done_on=str(today()))
        assert done.status_code == 303, done.text
        action = db.get(DrillAction, demo.late_action)
        assert action is not None
        db.refresh(action)
        assert action.done_on == today()
        after = client.get(PAGE).text
        assert "drill action overdue" not in after
        assert f"Done {today().isoformat()}" in after
        assert f"/continuity/actions/{demo.late_action}/done" not in after
        again = post(client, f"{PAGE}/actions/{demo.late_action}/done", csrf, done_on=str(today()))
        assert again.status_code == 409

    def test_an_action_done_already_is_refused_on_the_page_and_keeps_its_date(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"{PAGE}/actions/{demo.late_action}/done"
        assert post(client, url, csrf, done_on=str(days_ago(1))).status_code == 303
        again = post(client, url, csrf, done_on=str(today()))
        assert again.status_code == 409
        assert "<h1>Business continuity" in again.text  # the page, not a bare error page
        said = f"Drill action {demo.late_action} was done on {days_ago(1).isoformat()}."
        assert error_of(again.text, f"action-{demo.late_action}") == (
            f'<span class="visually-hidden">Error:</span> {said}'
        )
        summary = again.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
        assert "Nothing was stored" in summary
        assert f'<a href="#action-{demo.late_action}">{said}</a>' in summary
        row = again.text.split(f'id="action-{demo.late_action}"', 1)[1].split("</tr>", 1)[0]
        assert f"Done {days_ago(1).isoformat()}" in row
        assert said in row
        action = db.get(DrillAction, demo.late_action)
        assert action is not None
        db.refresh(action)
        assert action.done_on == days_ago(1)

    @pytest.mark.parametrize(
        ("done_on", "says"),
        [
            ("", "Date done is required"),
            ("someday", "must be a date"),
            (str(today() + timedelta(days=1)), "is in the future"),
            (str(days_ago(60)), "is before the drill that raised it"),
        ],
    )
    def test_a_bad_date_is_named_by_its_field_and_nothing_stored(
        self,
        client: TestClient,
        db: Session,
        world: World,
        demo: Continuity,
        done_on: str,
        says: str,
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        page = post(client, f"{PAGE}/actions/{demo.late_action}/done", csrf, done_on=done_on)
        assert page.status_code == 422
        assert says in error_of(page.text, f"action-{demo.late_action}-done_on")
        action = db.get(DrillAction, demo.late_action)
        assert action is not None
        db.refresh(action)
        assert action.done_on is None

    def test_another_sites_action_is_not_found_and_a_viewer_may_not(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        site_b = site_of(db, "SITE-B")
        drill = plan_drill(
            db, site=site_b, scenario=create_scenario(db, site_b), planned_on=days_ago(3)
        )
        record_drill_run(
            db,
            drill=drill,
            run_on=days_ago(2),
            achieved_hours=100,
            lessons="Too slow.",
            actions=[ActionInput("Speed up", "Lead B", today())],
        )
        db.commit()
        csrf = sign_in(client, db, world, "lead-a")
        url = f"{PAGE}/actions/{drill.actions[0].id}/done"
        assert post(client, url, csrf, done_on=str(today())).status_code == 404
        assert (
            post(client, f"{PAGE}/actions/x1/done", csrf, done_on=str(today())).status_code == 404
        )
        csrf = sign_in(client, db, world, "viewer-a")
        page = post(client, f"{PAGE}/actions/{demo.late_action}/done", csrf, done_on=str(today()))
        assert page.status_code == 403
        db.refresh(drill.actions[0])
        assert drill.actions[0].done_on is None


class TestSupplierForms:
    def test_a_review_moves_the_next_one_and_clears_overdue(
        self, client: TestClient, db: Session, world: World, demo: Continuity
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        url = f"{PAGE}/agreements/{demo.brightseal}/review"
        done = post(client, url, csrf, reviewed_on=str(today()))
        assert done.status_code == 303
        assert done.headers["location"] == f"{PAGE}?done=review#suppliers"
        text = client.get(PAGE).text
        assert "no supplier agreement overdue" in text
        agreement = db.get(SupplierAgreement, demo.brightseal)
        assert agreement is not None
        db.refresh(agreement)
        assert agreement.last_review_on == today()

    @pytest.mark.parametrize(
        ("kind", "field", "day", "says"),
        [
            ("review", "reviewed_on", "EARLIER", "before the last one"),
            ("review", "reviewed_on", "FUTURE", "is in the future"),
            ("review", "reviewed_on", "", "required"),
            ("drill", "drilled_on", "FUTURE", "is in the future"),
            ("drill", "drilled_on", "EARLIER", "before the last one"),
            ("drill", "drilled_on", "31/12/2025", "must be a date"),
        ],
    )
    def test_a_bad_review_or_joint_drill_date_is_refused(
        self,
        client: TestClient,
        db: Session,
        world: World,
        demo: Continuity,
        kind: str,
        field: str,
        day: str,
        says: str,
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        typed = {
            "EARLIER": str(days_ago(400)),
            "FUTURE": str(today() + timedelta(days=1)),
        }.get(day, day)
        agreement = db.get(SupplierAgreement, demo.brightseal)
        assert agreement is not None
        before = (agreement.last_review_on, agreement.last_drill_on)
        response = post(
            client, f"{PAGE}/agreements/{demo.brightseal}/{kind}", csrf, **{field: typed}
        )
        assert response.status_code == 422
        prefix = "review" if kind == "review" else "jointdrill"
        assert says in error_of(response.text, f"{prefix}-{demo.brightseal}-{field}")
        db.refresh(agreement)
        assert (agreement.last_review_on, agreement.last_drill_on) == before

    def test_another_sites_agreement_is_not_found(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        other = create_agreement(db, site_of(db, "SITE-B"))
        db.commit()
        csrf = sign_in(client, db, world, "lead-a")
        url = f"{PAGE}/agreements/{other.id}/review"
        assert post(client, url, csrf, reviewed_on=str(today())).status_code == 404
        db.refresh(other)
        assert other.last_review_on is None

    def test_an_agreement_is_added_and_a_bad_one_is_refused_whole(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        good = {
            "supplier": "Halden Closures AG",
            "signed_on": str(days_ago(30)),
            "expires_on": str(today() + timedelta(days=60)),
            "response_hours": "48",
            "data_format": "CoA per lot as PDF and CSV",
            "participates_in_risk_reviews": "yes",
            "review_every_months": "6",
            "drill_every_months": "12",
        }
        bad = post(
            client,
            f"{PAGE}/agreements",
            csrf,
            **{
                **good,
                "expires_on": str(days_ago(60)),
                "participates_in_risk_reviews": "maybe",
                "review_every_months": "1.5",
                "last_review_on": str(today() + timedelta(days=3)),
            },
        )
        assert bad.status_code == 422
        assert "before it is signed" in error_of(bad.text, "agreement-expires_on")
        assert "yes or no" in error_of(bad.text, "agreement-participates_in_risk_reviews")
        assert "whole number" in error_of(bad.text, "agreement-review_every_months")
        assert "in the future" in error_of(bad.text, "agreement-last_review_on")
        assert count(db, SupplierAgreement) == 0
        done = post(client, f"{PAGE}/agreements", csrf, **good)
        assert done.status_code == 303
        text = client.get(PAGE).text
        assert "Halden Closures AG" in text
        assert "⚠</span> Expiring soon" in text
