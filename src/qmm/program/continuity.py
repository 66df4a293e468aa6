"""Business continuity: risk scenarios, minimum-inventory triggers, drills and their lessons.

Why here and not in the eQMS: assessors ask for "recovery steps that work"; the proof is a
scenario with a recovery-time target, a drill run against it, and the lessons turned into
actions, each drill report filed as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.service import add_evidence, known_sub_element_codes
from qmm.models import (
    ContinuityScenario,
    Drill,
    DrillAction,
    EvidenceItem,
    InventoryLevel,
    InventoryTrigger,
    Site,
)
from qmm.program.common import SHORT, Problems, actor_label, check_fields
from qmm.program.steering import ActionInput

#: A drill report is evidence of these sub-elements; a drill with a supplier of this one too.
DRILL_SUB_ELEMENTS: Final = ("drills_recovery", "continuity_planning")
SUPPLIER_DRILL_SUB_ELEMENT: Final = "supplier_oversight"
#: How a drill report filed by the program is titled (the scenario and the date follow).
DRILL_REPORT_TITLE: Final = "Continuity drill report:"
SCENARIO_EDITABLE: Final = frozenset(
    {
        "title",
        "what_fails",
        "likelihood",
        "impact",
        "products",
        "suppliers",
        "backup_strategy",
        "backup_suppliers",
        "recovery_steps",
        "recovery_target_hours",
        "owner",
        "reviewed_on",
    }
)
TRIGGER_EDITABLE: Final = frozenset({"unit", "minimum_level", "scenario"})
DRILL_STATES: Final = ("planned", "overdue", "met", "missed")
#: The longest unit of measure (kg, vials, rolls of 1,000 labels).
UNIT: Final = 40


# ---------------------------------------------------------------------------- scenarios


def _check_scenario(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a scenario checked at once; raises with all problems, stores nothing."""
    p = Problems()
    likelihood = p.number(
        "likelihood", fields.get("likelihood"), label="likelihood", minimum=1, maximum=5, whole=True
    )
    impact = p.number(
        "impact", fields.get("impact"), label="impact", minimum=1, maximum=5, whole=True
    )
    target = p.number(
        "recovery_target_hours",
        fields.get("recovery_target_hours"),
        label="recovery time target (hours)",
    )
    if target is not None and target <= 0:
        p["recovery_target_hours"] = "recovery time target (hours) must be more than 0"
    clean: dict[str, Any] = {
        "title": p.text("title", fields.get("title"), label="title", limit=SHORT),
        "what_fails": p.text("what_fails", fields.get("what_fails"), label="what fails"),
        "likelihood": int(likelihood) if likelihood is not None else None,
        "impact": int(impact) if impact is not None else None,
        "products": p.texts(
            "products", fields.get("products", ()), label="products affected", at_least=1
        ),
        "suppliers": p.texts("suppliers", fields.get("suppliers", ()), label="suppliers affected"),
        "backup_strategy": p.text(
            "backup_strategy", fields.get("backup_strategy"), label="backup strategy"
        ),
        "backup_suppliers": p.texts(
            "backup_suppliers", fields.get("backup_suppliers", ()), label="backup suppliers"
        ),
        "recovery_steps": p.texts(
            "recovery_steps",
            fields.get("recovery_steps", ()),
            label="recovery steps",
            limit=500,
            at_least=1,
        ),
        "recovery_target_hours": target,
        "owner": p.text("owner", fields.get("owner"), label="owner", limit=SHORT),
        "reviewed_on": p.day("reviewed_on", fields.get("reviewed_on"), label="date reviewed"),
    }
    both = {s.lower() for s in clean["suppliers"]} & {s.lower() for s in clean["backup_suppliers"]}
    if both and "backup_suppliers" not in p:
        names = [s for s in clean["backup_suppliers"] if s.lower() in both]
        p["backup_suppliers"] = (
            f"backup supplier {', '.join(names)} is also affected by the scenario; "
            "a backup must not fail with it"
        )
    p.raise_any()
    return clean


def add_scenario(
    session: Session,
    *,
    site: Site,
    title: str,
    what_fails: str,
    likelihood: int,
    impact: int,
    backup_strategy: str,
    recovery_steps: Sequence[str],
    recovery_target_hours: float,
    owner: str,
    reviewed_on: date,
    products: Sequence[str] = (),
    suppliers: Sequence[str] = (),
    backup_suppliers: Sequence[str] = (),
) -> ContinuityScenario:
    """Record a realistic risk to supply and how the site recovers from it."""
    clean = _check_scenario(
        {
            "title": title,
            "what_fails": what_fails,
            "likelihood": likelihood,
            "impact": impact,
            "products": products,
            "suppliers": suppliers,
            "backup_strategy": backup_strategy,
            "backup_suppliers": backup_suppliers,
            "recovery_steps": recovery_steps,
            "recovery_target_hours": recovery_target_hours,
            "owner": owner,
            "reviewed_on": reviewed_on,
        }
    )
    scenario = ContinuityScenario(site_id=site.id, **clean)
    session.add(scenario)
    session.flush()
    return scenario


def update_scenario(
    session: Session, *, scenario: ContinuityScenario, changes: Mapping[str, Any]
) -> ContinuityScenario:
    """Change a scenario (a review, a new backup); every field is checked again."""
    check_fields(changes, SCENARIO_EDITABLE)
    current = {name: getattr(scenario, name) for name in SCENARIO_EDITABLE}
    clean = _check_scenario({**current, **changes})
    for name in changes:
        setattr(scenario, name, clean[name])
    session.flush()
    return scenario


def get_scenario(session: Session, *, site: Site, scenario_id: int) -> ContinuityScenario:
    found = session.get(ContinuityScenario, scenario_id)
    if found is None or found.site_id != site.id:
        raise NotFound(
            f"no continuity scenario {scenario_id} at {site.code}; "
            f"`qmm continuity scenarios {site.code}` lists them"
        )
    return found


def list_scenarios(session: Session, *, site: Site) -> list[ContinuityScenario]:
    """The site's scenarios, highest risk (likelihood x impact) first."""
    found = session.scalars(
        select(ContinuityScenario)
        .where(ContinuityScenario.site_id == site.id)
        .order_by(ContinuityScenario.id)
    )
    return sorted(found, key=lambda s: (-s.risk, s.title.lower(), s.id))


# ---------------------------------------------------------------------------- inventory triggers


def _check_scenario_of(p: Problems, site: Site, scenario: ContinuityScenario | None) -> None:
    if scenario is not None and scenario.site_id != site.id:
        p["scenario"] = f"scenario {scenario.id} is of another site"


def add_trigger(
    session: Session,
    *,
    site: Site,
    material: str,
    unit: str,
    minimum_level: float,
    scenario: ContinuityScenario | None = None,
    current_level: float | None = None,
    recorded_on: date | None = None,
) -> InventoryTrigger:
    """Set a minimum inventory level for a material, optionally with its current level."""
    p = Problems()
    clean_material = p.text("material", material, label="material", limit=SHORT)
    clean_unit = p.text("unit", unit, label="unit", limit=UNIT)
    minimum = p.number("minimum_level", minimum_level, label="minimum level", minimum=0)
    _check_scenario_of(p, site, scenario)
    level = p.number(
        "current_level", current_level, label="current level", minimum=0, required=False
    )
    day = p.past_day(
        "recorded_on", recorded_on, label="date the level was recorded", required=False
    )
    if current_level is not None and recorded_on is None and "recorded_on" not in p:
        p["recorded_on"] = "a current level needs the date it was recorded"
    if recorded_on is not None and current_level is None and "current_level" not in p:
        p["current_level"] = "a recorded date needs the current level"
    if clean_material is not None and _trigger_named(session, site, clean_material) is not None:
        p["material"] = f"{site.code} already has a trigger for {clean_material}; change that one"
    p.raise_any()
    assert clean_material is not None
    assert clean_unit is not None
    assert minimum is not None
    trigger = InventoryTrigger(
        site_id=site.id,
        material=clean_material,
        unit=clean_unit,
        minimum_level=minimum,
        scenario_id=scenario.id if scenario is not None else None,
    )
    session.add(trigger)
    session.flush()
    if level is not None and day is not None:
        record_level(session, trigger=trigger, level=level, recorded_on=day)
    return trigger


def update_trigger(
    session: Session, *, trigger: InventoryTrigger, changes: Mapping[str, Any]
) -> InventoryTrigger:
    """Change a trigger's unit, minimum level or scenario (None unlinks it)."""
    check_fields(changes, TRIGGER_EDITABLE)
    p = Problems()
    unit = p.text("unit", changes.get("unit", trigger.unit), label="unit", limit=UNIT)
    minimum = p.number(
        "minimum_level",
        changes.get("minimum_level", trigger.minimum_level),
        label="minimum level",
        minimum=0,
    )
    scenario = changes.get("scenario", trigger.scenario)
    if scenario is not None and not isinstance(scenario, ContinuityScenario):
        p["scenario"] = "scenario must be a continuity scenario or None"
    else:
        _check_scenario_of(p, trigger.site, scenario)
    p.raise_any()
    assert unit is not None
    assert minimum is not None
    trigger.unit = unit
    trigger.minimum_level = minimum
    trigger.scenario_id = scenario.id if scenario is not None else None
    session.flush()
    session.refresh(trigger, ["scenario"])
    return trigger


def record_level(
    session: Session, *, trigger: InventoryTrigger, level: float, recorded_on: date
) -> InventoryLevel:
    """Record a counted inventory level; the newest by date becomes the trigger's current one.

    A level dated before the current one is kept in the history but changes nothing current;
    a second level on the same date replaces it as current (a recount).
    """
    p = Problems()
    clean = p.number("level", level, label="level", minimum=0)
    day = p.past_day("recorded_on", recorded_on, label="date recorded")
    p.raise_any()
    assert clean is not None
    assert day is not None
    row = InventoryLevel(
        trigger_id=trigger.id, level=clean, recorded_on=day, recorded_by=actor_label(session)
    )
    session.add(row)
    if trigger.level_recorded_on is None or day >= trigger.level_recorded_on:
        trigger.current_level = clean
        trigger.level_recorded_on = day
    session.flush()
    session.refresh(trigger, ["levels"])
    return row


def _trigger_named(session: Session, site: Site, material: str) -> InventoryTrigger | None:
    return session.scalar(
        select(InventoryTrigger).where(
            InventoryTrigger.site_id == site.id,
            func.lower(InventoryTrigger.material) == material.strip().lower(),
        )
    )


def get_trigger(session: Session, *, site: Site, trigger: int | str) -> InventoryTrigger:
    """A trigger of the site by its id or its material's name (case does not matter)."""
    found: InventoryTrigger | None
    if isinstance(trigger, int) or str(trigger).strip().isdigit():
        found = session.get(InventoryTrigger, int(trigger))
        if found is not None and found.site_id != site.id:
            found = None
    else:
        found = _trigger_named(session, site, str(trigger))
    if found is None:
        raise NotFound(
            f"no inventory trigger {trigger} at {site.code}; "
            f"`qmm continuity triggers {site.code}` lists them"
        )
    return found


def list_triggers(session: Session, *, site: Site) -> list[InventoryTrigger]:
    """The site's triggers by material."""
    return list(
        session.scalars(
            select(InventoryTrigger)
            .where(InventoryTrigger.site_id == site.id)
            .order_by(func.lower(InventoryTrigger.material), InventoryTrigger.id)
        )
    )


def breaches(session: Session, *, site: Site) -> list[InventoryTrigger]:
    """Triggers whose current level is below the minimum (equal is not a breach)."""
    return [t for t in list_triggers(session, site=site) if t.breached]


def trigger_state(trigger: InventoryTrigger) -> str:
    """breached, ok, or no_level (nothing recorded yet)."""
    if trigger.current_level is None:
        return "no_level"
    return "breached" if trigger.breached else "ok"


# ---------------------------------------------------------------------------- drills


def plan_drill(
    session: Session,
    *,
    site: Site,
    scenario: ContinuityScenario,
    planned_on: date,
    supplier: str | None = None,
) -> Drill:
    """Plan a drill of a scenario, with a supplier for a joint drill."""
    p = Problems()
    day = p.day("planned_on", planned_on, label="planned date")
    who = p.text("supplier", supplier, label="supplier", required=False, limit=SHORT)
    if scenario.site_id != site.id:
        p["scenario"] = f"scenario {scenario.id} is of another site"
    p.raise_any()
    assert day is not None
    already = session.scalar(
        select(Drill).where(
            Drill.scenario_id == scenario.id, Drill.planned_on == day, Drill.run_on.is_(None)
        )
    )
    if already is not None:
        raise Conflict(f"drill {already.id} of scenario {scenario.id} is already planned for {day}")
    drill = Drill(site_id=site.id, scenario_id=scenario.id, planned_on=day, supplier=who)
    session.add(drill)
    session.flush()
    return drill


def record_drill_run(
    session: Session,
    *,
    drill: Drill,
    run_on: date,
    achieved_hours: float,
    lessons: str,
    actions: Sequence[ActionInput] = (),
) -> Drill:
    """Record a drill run against its scenario's recovery-time target; the report is evidence.

    A drill that missed its target must turn its lessons into at least one action.
    """
    if drill.run_on is not None:
        raise Conflict(f"drill {drill.id} was run on {drill.run_on}")
    scenario = drill.scenario
    p = Problems()
    day = p.past_day("run_on", run_on, label="date run")
    hours = p.number("achieved_hours", achieved_hours, label="recovery time achieved (hours)")
    if hours is not None and hours < 0:
        p["achieved_hours"] = "recovery time achieved (hours) must not be negative"
    text = p.text("lessons", lessons, label="lessons learned")
    checked = _check_actions(p, actions, after=day)
    target = scenario.recovery_target_hours
    if hours is not None and hours > target and not actions and "actions" not in p:
        p["actions"] = (
            f"the drill missed its target ({hours:g} h against {target:g} h); "
            "turn the lessons into at least one action"
        )
    p.raise_any()
    assert day is not None
    assert hours is not None
    assert text is not None
    drill.run_on = day
    drill.achieved_hours = hours
    drill.target_hours = target
    drill.lessons = text
    for title, owner, due in checked:
        session.add(DrillAction(drill_id=drill.id, title=title, owner=owner, due_on=due))
    session.flush()
    session.refresh(drill, ["actions"])
    item = _file_report(session, drill)
    drill.evidence_item_id = item.id
    if drill.supplier is not None:
        from qmm.program.suppliers import note_joint_drill

        note_joint_drill(session, site=drill.site, supplier=drill.supplier, drilled_on=day)
    session.flush()
    return drill


def _check_actions(
    p: Problems, actions: Sequence[ActionInput], *, after: date | None
) -> list[tuple[str, str, date]]:
    checked = []
    for n, action in enumerate(actions, start=1):
        title = p.text(f"action{n}.title", action.title, label=f"action {n} title", limit=SHORT)
        owner = p.text(f"action{n}.owner", action.owner, label=f"action {n} owner", limit=SHORT)
        due = p.day(f"action{n}.due_on", action.due_on, label=f"action {n} due date")
        if due is not None and after is not None and due < after:
            p[f"action{n}.due_on"] = f"action {n} is due {due}, before the drill ({after})"
        if title is not None and owner is not None and due is not None:
            checked.append((title, owner, due))
    return checked


def drill_report(drill: Drill) -> str:
    """The drill as a plain-text report, filed with its evidence item."""
    scenario = drill.scenario
    assert drill.run_on is not None
    lines = [
        f"{drill.site.code} continuity drill {drill.id}: {scenario.title}",
        f"Planned {drill.planned_on.isoformat()}, run {drill.run_on.isoformat()}",
        f"Joint drill with supplier: {drill.supplier}" if drill.supplier else "Internal drill",
        "",
        f"What fails: {scenario.what_fails}",
        f"Risk: likelihood {scenario.likelihood} x impact {scenario.impact} = {scenario.risk}",
        f"Products affected: {', '.join(scenario.products)}",
        f"Backup strategy: {scenario.backup_strategy}",
        "Recovery steps:",
        *(f"  {n}. {s}" for n, s in enumerate(scenario.recovery_steps, start=1)),
        "",
        f"Recovery time: {drill.achieved_hours:g} h achieved against a target of "
        f"{drill.target_hours:g} h: {'met' if drill.met else 'MISSED'}",
        "",
        f"Lessons learned: {drill.lessons}",
        "Actions:",
        *(f"  - {a.title} ({a.owner}, due {a.due_on.isoformat()})" for a in drill.actions),
    ]
    if not drill.actions:
        lines.append("  none")
    return "\n".join(lines) + "\n"


def _file_report(session: Session, drill: Drill) -> EvidenceItem:
    site = drill.site
    assert drill.run_on is not None
    wanted = [*DRILL_SUB_ELEMENTS]
    if drill.supplier is not None:
        wanted.append(SUPPLIER_DRILL_SUB_ELEMENT)
    known = known_sub_element_codes(session, site=site)
    outcome = "met" if drill.met else "missed"
    return add_evidence(
        session,
        site=site,
        title=f"{DRILL_REPORT_TITLE} {drill.scenario.title}, {drill.run_on}"[:200],
        kind="drill_report",
        owner=drill.scenario.owner,
        effective_on=drill.run_on,
        description=(
            f"Drill {drill.id} run {drill.run_on.isoformat()}"
            + (f" with {drill.supplier}" if drill.supplier else "")
            + f": recovery {drill.achieved_hours:g} h against {drill.target_hours:g} h "
            f"({outcome}); {len(drill.actions)} action(s) from the lessons."
        ),
        sub_elements=[c for c in wanted if c in known],
        files=[(f"drill-{drill.id}-{drill.run_on.isoformat()}.txt", drill_report(drill).encode())],
    )


def drill_state(drill: Drill, *, today: date) -> str:
    """planned, overdue (planned date passed, not run), met or missed (against the target)."""
    if drill.run_on is None:
        return "overdue" if drill.planned_on < today else "planned"
    return "met" if drill.met else "missed"


def get_drill(session: Session, *, site: Site, drill_id: int) -> Drill:
    found = session.get(Drill, drill_id)
    if found is None or found.site_id != site.id:
        raise NotFound(f"no drill {drill_id} at {site.code}; `qmm continuity drills` lists them")
    return found


def list_drills(
    session: Session, *, site: Site, scenario: ContinuityScenario | None = None
) -> list[Drill]:
    """The site's drills, newest planned first."""
    query = select(Drill).where(Drill.site_id == site.id)
    if scenario is not None:
        query = query.where(Drill.scenario_id == scenario.id)
    return list(session.scalars(query.order_by(Drill.planned_on.desc(), Drill.id.desc())))


def add_drill_action(
    session: Session, *, drill: Drill, title: str, owner: str, due_on: date
) -> DrillAction:
    """Add an action from a run drill's lessons."""
    if drill.run_on is None:
        raise Conflict(f"drill {drill.id} has not been run; record the run with its lessons first")
    p = Problems()
    checked = _check_actions(p, [ActionInput(title, owner, due_on)], after=drill.run_on)
    p.raise_any()
    [(clean_title, clean_owner, due)] = checked
    action = DrillAction(drill_id=drill.id, title=clean_title, owner=clean_owner, due_on=due)
    session.add(action)
    session.flush()
    session.refresh(drill, ["actions"])
    return action


def complete_drill_action(session: Session, *, action: DrillAction, done_on: date) -> DrillAction:
    """Mark an action from a drill's lessons done."""
    if action.done_on is not None:
        raise Conflict(f"drill action {action.id} was done on {action.done_on}")
    p = Problems()
    day = p.past_day("done_on", done_on, label="date done")
    run_on = action.drill.run_on
    if day is not None and run_on is not None and day < run_on:
        p["done_on"] = f"done on {day} is before the drill that raised it ({run_on})"
    p.raise_any()
    action.done_on = day
    session.flush()
    return action


def get_drill_action(session: Session, *, site: Site, action_id: int) -> DrillAction:
    found = session.get(DrillAction, action_id)
    if found is None or found.drill.site_id != site.id:
        raise NotFound(f"no drill action {action_id} at {site.code}")
    return found


def drill_actions(session: Session, *, site: Site, open_only: bool = False) -> list[DrillAction]:
    """Actions from the site's drills, soonest due first."""
    query = select(DrillAction).join(Drill).where(Drill.site_id == site.id)
    if open_only:
        query = query.where(DrillAction.done_on.is_(None))
    return list(session.scalars(query.order_by(DrillAction.due_on, DrillAction.id)))


def action_overdue(action: DrillAction, *, today: date) -> bool:
    """Open past its due date (due today is not overdue)."""
    return action.done_on is None and action.due_on < today


def drill_evidence(session: Session, *, drill: Drill) -> EvidenceItem | None:
    """The evidence item the drill's report was filed as, once it was run."""
    if drill.evidence_item_id is None:
        return None
    return session.get(EvidenceItem, drill.evidence_item_id)


def check_drill_state(state: str | None) -> None:
    """Refuse a drill state filter that is not one of the states."""
    if state is not None and state not in DRILL_STATES:
        raise InvalidInput(f"drill state {state!r} is not one of {', '.join(DRILL_STATES)}")
