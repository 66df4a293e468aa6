"""Business continuity's one JSON shape: what the API returns and `qmm continuity --format json`
prints for a scenario, an inventory trigger, a drill and a drill action."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from qmm.models import ContinuityScenario, Drill, DrillAction, InventoryTrigger, Site
from qmm.program.continuity import (
    action_overdue,
    drill_actions,
    drill_evidence,
    drill_state,
    list_drills,
    list_scenarios,
    list_triggers,
    trigger_state,
)


class ScenarioOut(BaseModel):
    """A risk to supply: risk is likelihood x impact (1 to 25)."""

    id: int
    site: str
    title: str
    what_fails: str
    likelihood: int
    impact: int
    risk: int
    products: list[str]
    suppliers: list[str]
    backup_strategy: str
    backup_suppliers: list[str]
    recovery_steps: list[str]
    recovery_target_hours: float
    owner: str
    reviewed_on: date

    @classmethod
    def of(cls, scenario: ContinuityScenario) -> ScenarioOut:
        return cls(
            id=scenario.id,
            site=scenario.site.code,
            title=scenario.title,
            what_fails=scenario.what_fails,
            likelihood=scenario.likelihood,
            impact=scenario.impact,
            risk=scenario.risk,
            products=list(scenario.products),
            suppliers=list(scenario.suppliers),
            backup_strategy=scenario.backup_strategy,
            backup_suppliers=list(scenario.backup_suppliers),
            recovery_steps=list(scenario.recovery_steps),
            recovery_target_hours=scenario.recovery_target_hours,
            owner=scenario.owner,
            reviewed_on=scenario.reviewed_on,
        )


class InventoryLevelOut(BaseModel):
    level: float
    recorded_on: date
    recorded_by: str


class TriggerOut(BaseModel):
    """A minimum-inventory trigger: breached when the current level is below the minimum;
    `levels` is every level recorded, oldest first."""

    id: int
    site: str
    material: str
    unit: str
    minimum_level: float
    current_level: float | None
    level_recorded_on: date | None
    state: Literal["breached", "ok", "no_level"]
    breached: bool
    shortfall: float | None
    scenario: int | None
    levels: list[InventoryLevelOut]

    @classmethod
    def of(cls, trigger: InventoryTrigger) -> TriggerOut:
        return cls(
            id=trigger.id,
            site=trigger.site.code,
            material=trigger.material,
            unit=trigger.unit,
            minimum_level=trigger.minimum_level,
            current_level=trigger.current_level,
            level_recorded_on=trigger.level_recorded_on,
            state=trigger_state(trigger),
            breached=trigger.breached,
            shortfall=trigger.shortfall,
            scenario=trigger.scenario_id,
            levels=[
                InventoryLevelOut(
                    level=lv.level, recorded_on=lv.recorded_on, recorded_by=lv.recorded_by
                )
                for lv in trigger.levels
            ],
        )


class DrillActionOut(BaseModel):
    """An action from a drill's lessons; overdue when open past its due date."""

    id: int
    drill: int
    title: str
    owner: str
    due_on: date
    done_on: date | None
    overdue: bool

    @classmethod
    def of(cls, action: DrillAction, *, today: date) -> DrillActionOut:
        return cls(
            id=action.id,
            drill=action.drill_id,
            title=action.title,
            owner=action.owner,
            due_on=action.due_on,
            done_on=action.done_on,
            overdue=action_overdue(action, today=today),
        )


class DrillOut(BaseModel):
    """A drill, planned or run, with the recovery time achieved against its target."""

    id: int
    site: str
    scenario: int
    scenario_title: str
    supplier: str | None
    planned_on: date
    run_on: date | None
    achieved_hours: float | None
    target_hours: float
    met: bool | None
    state: Literal["planned", "overdue", "met", "missed"]
    lessons: str | None
    actions: list[DrillActionOut]
    evidence_item: str | None

    @classmethod
    def of(cls, session: Session, drill: Drill, *, today: date) -> DrillOut:
        evidence = drill_evidence(session, drill=drill)
        return cls(
            id=drill.id,
            site=drill.site.code,
            scenario=drill.scenario_id,
            scenario_title=drill.scenario.title,
            supplier=drill.supplier,
            planned_on=drill.planned_on,
            run_on=drill.run_on,
            achieved_hours=drill.achieved_hours,
            target_hours=(
                drill.target_hours
                if drill.target_hours is not None
                else drill.scenario.recovery_target_hours
            ),
            met=drill.met,
            state=drill_state(drill, today=today),
            lessons=drill.lessons,
            actions=[DrillActionOut.of(a, today=today) for a in drill.actions],
            evidence_item=evidence.ref if evidence is not None else None,
        )


class ContinuityOut(BaseModel):
    """Where a site's business continuity stands on a day."""

    site: str
    today: date
    breaches: int
    scenarios: list[ScenarioOut]
    triggers: list[TriggerOut]
    drills: list[DrillOut]
    actions: list[DrillActionOut]

    @classmethod
    def of(cls, session: Session, site: Site, *, today: date) -> ContinuityOut:
        """Scenarios by risk, triggers with breaches, drills and their actions, on a day."""
        triggers = [TriggerOut.of(t) for t in list_triggers(session, site=site)]
        return cls(
            site=site.code,
            today=today,
            breaches=sum(t.breached for t in triggers),
            scenarios=[ScenarioOut.of(s) for s in list_scenarios(session, site=site)],
            triggers=triggers,
            drills=[DrillOut.of(session, d, today=today) for d in list_drills(session, site=site)],
            actions=[DrillActionOut.of(a, today=today) for a in drill_actions(session, site=site)],
        )


class LevelIn(BaseModel):
    """A counted inventory level and the day it was counted (not after today)."""

    model_config = ConfigDict(extra="forbid")

    level: float
    recorded_on: date
