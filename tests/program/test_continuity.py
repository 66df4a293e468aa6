"""Business continuity: scenarios and their risk, inventory triggers, drills and their lessons."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import (
    create_agreement,
    create_scenario,
    create_site_a,
    create_site_b,
    create_trigger,
)
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.service import file_path
from qmm.models import (
    ContinuityScenario,
    Drill,
    DrillAction,
    EvidenceItem,
    InventoryLevel,
    InventoryTrigger,
    Site,
    utcnow,
)
from qmm.program.common import InvalidProgramInput
from qmm.program.continuity import (
    action_overdue,
    add_drill_action,
    breaches,
    complete_drill_action,
    drill_actions,
    drill_state,
    get_scenario,
    get_trigger,
    list_drills,
    list_scenarios,
    plan_drill,
    record_drill_run,
    record_level,
    trigger_state,
    update_scenario,
    update_trigger,
)
from qmm.program.schemas.continuity import DrillOut, TriggerOut
from qmm.program.steering import ActionInput

TODAY = date(2026, 11, 20)


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestScenarios:
    def test_risk_is_likelihood_times_impact(self, session, site) -> None:
        assert create_scenario(session, site, likelihood=3, impact=4).risk == 12
        assert create_scenario(session, site, title="Edges", likelihood=5, impact=5).risk == 25
        assert create_scenario(session, site, title="Low", likelihood=1, impact=1).risk == 1

    def test_listed_highest_risk_first(self, session, site) -> None:
        create_scenario(session, site, title="Low", likelihood=1, impact=2)
        create_scenario(session, site, title="High", likelihood=4, impact=5)
        create_scenario(session, site, title="Middle", likelihood=3, impact=3)
        assert [s.title for s in list_scenarios(session, site=site)] == ["High", "Middle", "Low"]

    def test_the_recovery_steps_keep_their_order(self, session, site) -> None:
        steps = ["Declare", "Switch to backup", "Verify first lot", "Return to normal"]
        scenario = create_scenario(session, site, recovery_steps=steps)
        session.expire_all()
        assert get_scenario(session, site=site, scenario_id=scenario.id).recovery_steps == steps

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("likelihood", 0, "likelihood 0 is below 1"),
            ("likelihood", 6, "likelihood 6 is above 5"),
            ("impact", 2.5, "impact 2.5 must be a whole number"),
            ("impact", None, "impact is required"),
            ("recovery_target_hours", 0, "must be more than 0"),
            ("recovery_target_hours", "three days", "must be a number"),
            ("title", " ", "title must not be empty"),
            ("what_fails", None, "what fails is required"),
            ("products", [], "products affected: give at least 1"),
            ("recovery_steps", [], "recovery steps: give at least 1"),
            ("backup_strategy", None, "backup strategy is required"),
            ("owner", "x" * 201, "owner is 201 characters"),
            ("reviewed_on", "2026-09-01", "must be a date"),
        ],
    )
    def test_bad_input_is_named_and_nothing_stored(
        self, session, site, field, value, message
    ) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            create_scenario(session, site, **{field: value})
        assert message in caught.value.problems[field]
        assert count(session, ContinuityScenario) == 0

    def test_a_backup_supplier_must_not_fail_with_the_scenario(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            create_scenario(
                session,
                site,
                suppliers=["Brightseal Elastomers Inc."],
                backup_suppliers=["BRIGHTSEAL ELASTOMERS INC.", "Westcoast Closures"],
            )
        assert "also affected by the scenario" in caught.value.problems["backup_suppliers"]
        assert count(session, ContinuityScenario) == 0

    def test_every_problem_is_named_at_once(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            create_scenario(session, site, likelihood=9, impact=0, owner=None)
        assert {"likelihood", "impact", "owner"} <= set(caught.value.problems)

    def test_update_checks_again_and_keeps_the_rest(self, session, site) -> None:
        scenario = create_scenario(session, site)
        update_scenario(session, scenario=scenario, changes={"likelihood": 5})
        assert (scenario.risk, scenario.impact) == (20, 4)
        with pytest.raises(InvalidProgramInput):
            update_scenario(session, scenario=scenario, changes={"impact": 7})
        assert scenario.impact == 4
        with pytest.raises(InvalidInput, match="site cannot be changed"):
            update_scenario(session, scenario=scenario, changes={"site": 2})

    def test_a_scenario_of_another_site_is_not_found(self, session, site) -> None:
        other = create_scenario(session, create_site_b(session))
        with pytest.raises(NotFound, match="no continuity scenario"):
            get_scenario(session, site=site, scenario_id=other.id)


class TestInventoryTriggers:
    def test_below_the_minimum_is_a_breach_equal_is_not(self, session, site) -> None:
        trigger = create_trigger(session, site, minimum_level=100)
        assert (trigger_state(trigger), trigger.breached) == ("no_level", False)
        record_level(session, trigger=trigger, level=100, recorded_on=date(2026, 11, 1))
        assert (trigger_state(trigger), trigger.shortfall) == ("ok", None)
        record_level(session, trigger=trigger, level=99.5, recorded_on=date(2026, 11, 2))
        assert (trigger_state(trigger), trigger.shortfall) == ("breached", 0.5)
        assert breaches(session, site=site) == [trigger]
        record_level(session, trigger=trigger, level=250, recorded_on=date(2026, 11, 3))
        assert breaches(session, site=site) == []

    def test_a_zero_minimum_is_never_breached(self, session, site) -> None:
        trigger = create_trigger(
            session, site, minimum_level=0, current_level=0, recorded_on=date(2026, 11, 1)
        )
        assert trigger_state(trigger) == "ok"

    def test_breaches_list_only_the_site_and_the_breached(self, session, site) -> None:
        low = create_trigger(
            session, site, material="Vials", current_level=10, recorded_on=date(2026, 11, 1)
        )
        create_trigger(
            session, site, material="Caps", current_level=30000, recorded_on=date(2026, 11, 1)
        )
        create_trigger(session, site, material="Labels")
        create_trigger(
            session,
            create_site_b(session),
            material="Vials",
            current_level=1,
            recorded_on=date(2026, 11, 1),
        )
        assert breaches(session, site=site) == [low]

    def test_the_history_is_kept_and_the_newest_date_is_current(self, session, site) -> None:
        trigger = create_trigger(session, site, current_level=30000, recorded_on=date(2026, 11, 10))
        record_level(session, trigger=trigger, level=12000, recorded_on=date(2026, 10, 1))
        assert (trigger.current_level, trigger.level_recorded_on) == (30000, date(2026, 11, 10))
        record_level(session, trigger=trigger, level=18000, recorded_on=date(2026, 11, 10))
        assert trigger.current_level == 18000
        assert [(lv.level, lv.recorded_on) for lv in trigger.levels] == [
            (12000, date(2026, 10, 1)),
            (30000, date(2026, 11, 10)),
            (18000, date(2026, 11, 10)),
        ]
        history = TriggerOut.of(trigger).model_dump(mode="json")["levels"]
        assert [h["level"] for h in history] == [12000, 30000, 18000]
        assert TriggerOut.of(trigger).model_dump(mode="json")["state"] == "breached"

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"minimum_level": -1}, "minimum_level", "below 0"),
            ({"minimum_level": None}, "minimum_level", "minimum level is required"),
            ({"material": ""}, "material", "material must not be empty"),
            ({"unit": "u" * 41}, "unit", "at most 40"),
            ({"current_level": 5}, "recorded_on", "needs the date it was recorded"),
            ({"recorded_on": date(2026, 1, 1)}, "current_level", "needs the current level"),
            (
                {"current_level": -5, "recorded_on": date(2026, 1, 1)},
                "current_level",
                "below 0",
            ),
        ],
    )
    def test_bad_input_is_named_and_nothing_stored(
        self, session, site, fields, field, message
    ) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            create_trigger(session, site, **fields)
        assert message in caught.value.problems[field]
        assert (count(session, InventoryTrigger), count(session, InventoryLevel)) == (0, 0)

    def test_one_trigger_per_material_and_site(self, session, site) -> None:
        create_trigger(session, site, material="Vials")
        with pytest.raises(InvalidProgramInput, match="already has a trigger for vials"):
            create_trigger(session, site, material="vials")
        assert count(session, InventoryTrigger) == 1

    def test_a_scenario_of_another_site_is_refused(self, session, site) -> None:
        other = create_scenario(session, create_site_b(session))
        with pytest.raises(InvalidProgramInput, match="of another site"):
            create_trigger(session, site, scenario=other)
        assert count(session, InventoryTrigger) == 0

    def test_a_bad_level_stores_nothing(self, session, site) -> None:
        trigger = create_trigger(session, site, current_level=5, recorded_on=date(2026, 1, 1))
        with pytest.raises(InvalidProgramInput) as caught:
            record_level(session, trigger=trigger, level=-1, recorded_on=None)  # type: ignore[arg-type]
        assert set(caught.value.problems) == {"level", "recorded_on"}
        assert (count(session, InventoryLevel), trigger.current_level) == (1, 5)

    def test_a_level_dated_after_today_is_refused(self, session, site) -> None:
        trigger = create_trigger(session, site, current_level=5, recorded_on=date(2026, 1, 1))
        tomorrow = utcnow().date() + timedelta(days=1)
        with pytest.raises(InvalidProgramInput, match="is in the future"):
            record_level(session, trigger=trigger, level=1, recorded_on=tomorrow)
        with pytest.raises(InvalidProgramInput, match="is in the future"):
            create_trigger(session, site, material="Vials", current_level=1, recorded_on=tomorrow)
        assert (count(session, InventoryLevel), trigger.current_level) == (1, 5)
        record_level(session, trigger=trigger, level=1, recorded_on=utcnow().date())
        assert trigger.current_level == 1

    def test_update_the_minimum_moves_the_breach(self, session, site) -> None:
        scenario = create_scenario(session, site)
        trigger = create_trigger(session, site, current_level=15000, recorded_on=TODAY)
        assert trigger.breached
        update_trigger(session, trigger=trigger, changes={"minimum_level": 15000})
        assert not trigger.breached
        update_trigger(session, trigger=trigger, changes={"scenario": scenario})
        assert trigger.scenario is scenario
        with pytest.raises(InvalidProgramInput):
            update_trigger(session, trigger=trigger, changes={"minimum_level": -3, "unit": ""})
        assert (trigger.minimum_level, trigger.unit) == (15000, "pieces")

    def test_found_by_id_or_material(self, session, site) -> None:
        trigger = create_trigger(session, site)
        assert get_trigger(session, site=site, trigger=trigger.id) is trigger
        assert get_trigger(session, site=site, trigger=" 20 MM Bromobutyl Stoppers") is trigger
        with pytest.raises(NotFound, match="no inventory trigger glass"):
            get_trigger(session, site=site, trigger="glass")


def run(session: Session, drill: Drill, hours: float, **overrides: Any) -> Drill:
    fields: dict[str, Any] = {
        "run_on": date(2026, 10, 14),
        "achieved_hours": hours,
        "lessons": "The backup supplier's call-off took a day to authorise.",
        "actions": [ActionInput("Pre-authorise call-off", "Supply Chain Lead", date(2026, 11, 30))],
        **overrides,
    }
    return record_drill_run(session, drill=drill, **fields)


class TestDrills:
    def test_met_when_within_the_target_equal_included(self, session, site) -> None:
        scenario = create_scenario(session, site, recovery_target_hours=72)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        run(session, drill, 72, actions=[])
        assert (drill.met, drill.target_hours, drill_state(drill, today=TODAY)) == (
            True,
            72,
            "met",
        )

    def test_missed_when_over_the_target(self, session, site) -> None:
        scenario = create_scenario(session, site, recovery_target_hours=72)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        run(session, drill, 96.5)
        assert (drill.met, drill_state(drill, today=TODAY)) == (False, "missed")
        assert [a.title for a in drill.actions] == ["Pre-authorise call-off"]

    def test_the_target_is_kept_as_run(self, session, site) -> None:
        scenario = create_scenario(session, site, recovery_target_hours=72)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        run(session, drill, 80)
        update_scenario(session, scenario=scenario, changes={"recovery_target_hours": 96})
        assert (drill.target_hours, drill.met) == (72, False)

    def test_a_missed_drill_needs_an_action_and_stores_nothing_without(self, session, site) -> None:
        scenario = create_scenario(session, site, recovery_target_hours=24)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        with pytest.raises(InvalidProgramInput) as caught:
            run(session, drill, 30, actions=[])
        assert "turn the lessons into at least one action" in caught.value.problems["actions"]
        assert (drill.run_on, count(session, EvidenceItem), count(session, DrillAction)) == (
            None,
            0,
            0,
        )

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"achieved_hours": -1}, "achieved_hours", "must not be negative"),
            ({"achieved_hours": None}, "achieved_hours", "is required"),
            ({"lessons": " "}, "lessons", "lessons learned must not be empty"),
            ({"run_on": None}, "run_on", "date run is required"),
            (
                {"actions": [ActionInput("Fix", "QA", date(2026, 10, 1))]},
                "action1.due_on",
                "before the drill",
            ),
            ({"actions": [ActionInput("", "QA", date(2026, 12, 1))]}, "action1.title", "empty"),
        ],
    )
    def test_a_bad_run_is_named_and_nothing_stored(
        self, session, site, fields, field, message
    ) -> None:
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        with pytest.raises(InvalidProgramInput) as caught:
            run(session, drill, 10, **fields)
        assert message in caught.value.problems[field]
        assert (drill.run_on, count(session, EvidenceItem), count(session, DrillAction)) == (
            None,
            0,
            0,
        )

    def test_a_run_files_a_drill_report_for_the_continuity_sub_elements(
        self, session, site
    ) -> None:
        scenario = create_scenario(session, site)
        drill = plan_drill(
            session,
            site=site,
            scenario=scenario,
            planned_on=date(2026, 10, 10),
            supplier="Brightseal Elastomers Inc.",
        )
        run(session, drill, 96)
        item = session.get(EvidenceItem, drill.evidence_item_id)
        assert item is not None
        assert (item.kind, item.effective_on, item.owner) == (
            "drill_report",
            date(2026, 10, 14),
            "Supply Quality Lead",
        )
        assert sorted(m.sub_element_code for m in item.sub_elements) == [
            "continuity_planning",
            "drills_recovery",
            "supplier_oversight",
        ]
        [report] = item.files
        text = file_path(report).read_text()
        assert "96 h achieved against a target of 72 h: MISSED" in text
        assert "Joint drill with supplier: Brightseal Elastomers Inc." in text
        assert "Pre-authorise call-off (Supply Chain Lead, due 2026-11-30)" in text
        assert "  2. Release safety stock" in text
        assert DrillOut.of(session, drill, today=TODAY).evidence_item == item.ref

    def test_an_internal_drill_is_not_supplier_evidence(self, session, site) -> None:
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        run(session, drill, 10, actions=[])
        item = session.get(EvidenceItem, drill.evidence_item_id)
        assert item is not None
        assert sorted(m.sub_element_code for m in item.sub_elements) == [
            "continuity_planning",
            "drills_recovery",
        ]

    def test_a_joint_drill_counts_for_the_suppliers_agreement(self, session, site) -> None:
        agreement = create_agreement(session, site, last_drill_on=date(2026, 2, 1))
        scenario = create_scenario(session, site)
        drill = plan_drill(
            session,
            site=site,
            scenario=scenario,
            planned_on=date(2026, 10, 10),
            supplier="brightseal elastomers inc.",
        )
        run(session, drill, 10, actions=[])
        assert agreement.last_drill_on == date(2026, 10, 14)

    def test_run_once(self, session, site) -> None:
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        run(session, drill, 10, actions=[])
        with pytest.raises(Conflict, match="was run on 2026-10-14"):
            run(session, drill, 5, actions=[])
        assert count(session, EvidenceItem) == 1

    def test_a_run_dated_after_today_is_refused_and_nothing_filed(self, session, site) -> None:
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        tomorrow = utcnow().date() + timedelta(days=1)
        with pytest.raises(InvalidProgramInput, match="is in the future"):
            run(session, drill, 10, run_on=tomorrow, actions=[])
        assert drill.run_on is None
        assert count(session, EvidenceItem) == 0

    def test_planned_then_overdue_once_the_date_has_passed(self, session, site) -> None:
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=TODAY)
        assert drill_state(drill, today=TODAY) == "planned"
        assert drill_state(drill, today=date(2026, 11, 21)) == "overdue"
        assert DrillOut.of(session, drill, today=TODAY).target_hours == 72

    def test_planning_refuses_a_duplicate_and_another_sites_scenario(self, session, site) -> None:
        scenario = create_scenario(session, site)
        plan_drill(session, site=site, scenario=scenario, planned_on=TODAY)
        with pytest.raises(Conflict, match="already planned"):
            plan_drill(session, site=site, scenario=scenario, planned_on=TODAY)
        other = create_scenario(session, create_site_b(session))
        with pytest.raises(InvalidProgramInput, match="of another site"):
            plan_drill(session, site=site, scenario=other, planned_on=TODAY)
        with pytest.raises(InvalidProgramInput, match="planned date is required"):
            plan_drill(session, site=site, scenario=scenario, planned_on=None)  # type: ignore[arg-type]
        assert count(session, Drill) == 1

    def test_drills_are_listed_newest_planned_first(self, session, site) -> None:
        scenario = create_scenario(session, site)
        first = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 3, 1))
        second = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 9, 1))
        assert list_drills(session, site=site) == [second, first]


class TestDrillActions:
    @pytest.fixture
    def drill(self, session, site) -> Drill:
        scenario = create_scenario(session, site)
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 10))
        return run(session, drill, 96)

    def test_overdue_when_open_past_due(self, session, site, drill) -> None:
        [action] = drill.actions
        assert not action_overdue(action, today=date(2026, 11, 30))
        assert action_overdue(action, today=date(2026, 12, 1))
        complete_drill_action(session, action=action, done_on=date(2026, 12, 5))
        assert not action_overdue(action, today=date(2026, 12, 10))

    def test_added_listed_and_done_once(self, session, site, drill) -> None:
        extra = add_drill_action(
            session, drill=drill, title="Drill again", owner="QA", due_on=date(2026, 11, 15)
        )
        assert [a.title for a in drill_actions(session, site=site, open_only=True)] == [
            "Drill again",
            "Pre-authorise call-off",
        ]
        complete_drill_action(session, action=extra, done_on=date(2026, 11, 14))
        assert [a.title for a in drill_actions(session, site=site, open_only=True)] == [
            "Pre-authorise call-off"
        ]
        assert len(drill_actions(session, site=site)) == 2
        with pytest.raises(Conflict, match="was done on"):
            complete_drill_action(session, action=extra, done_on=date(2026, 11, 20))

    def test_done_before_the_drill_is_refused(self, session, site, drill) -> None:
        [action] = drill.actions
        with pytest.raises(InvalidProgramInput, match="before the drill"):
            complete_drill_action(session, action=action, done_on=date(2026, 10, 1))
        assert action.done_on is None

    def test_actions_come_from_a_run_drill(self, session, site) -> None:
        scenario = create_scenario(session, site)
        planned = plan_drill(session, site=site, scenario=scenario, planned_on=TODAY)
        with pytest.raises(Conflict, match="has not been run"):
            add_drill_action(session, drill=planned, title="x", owner="y", due_on=TODAY)

    def test_a_bad_action_stores_nothing(self, session, site, drill) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            add_drill_action(session, drill=drill, title="", owner="", due_on=date(2026, 1, 1))
        assert set(caught.value.problems) == {"action1.title", "action1.owner", "action1.due_on"}
        assert count(session, DrillAction) == 1
