"""Quality objectives measured by the KPI engine, cascaded by role to what good looks like."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.metrics.catalogue import Direction, get_kpi
from qmm.metrics.service import kpi_values
from qmm.models import QualityObjective, Site
from qmm.program.common import SHORT, Problems

PERIODS: Final = ("month", "quarter", "year")
STATES: Final = ("on_target", "off_target", "no_data", "not_measured")


@dataclass(frozen=True)
class ObjectiveStatus:
    """Where an objective stands: its KPI's latest value against the target."""

    objective_id: int
    state: str
    value: float | None
    period: str | None
    numerator: int | None
    denominator: int | None
    target: float | None
    direction: str | None


def add_objective(
    session: Session,
    *,
    site: Site,
    title: str,
    owner: str,
    published_on: date,
    kpi: str | None = None,
    target: float | None = None,
    kpi_group: str | None = None,
    period: str = "quarter",
    role: str | None = None,
    what_good_looks_like: str = "",
    parent: QualityObjective | None = None,
) -> QualityObjective:
    """Publish an objective; a role-level one cascades a site objective to what good looks like."""
    p = Problems()
    clean_title = p.text("title", title, label="title", limit=SHORT)
    clean_owner = p.text("owner", owner, label="owner", limit=SHORT)
    day = p.day("published_on", published_on, label="publication date")
    clean_role = p.text("role", role, label="role", required=False, limit=80)
    good = p.text(
        "what_good_looks_like",
        what_good_looks_like,
        label="what good looks like",
        required=clean_role is not None,
    )
    if period not in PERIODS:
        p["period"] = f"period {period!r} is not one of {', '.join(PERIODS)}"
    if parent is not None:
        if parent.site_id != site.id:
            p["parent"] = "the parent objective is of another site"
        elif parent.parent_id is not None:
            p["parent"] = "cascade one level: the parent must be a site-wide objective"
        if clean_role is None:
            p["role"] = "a cascaded objective names the role it is for (e.g. operator)"
    elif clean_role is not None:
        p["parent"] = "a role-level objective cascades a site-wide one; name the parent"
    direction = None
    clean_target = p.number("target", target, label="target", required=False)
    if kpi is None:
        if parent is None:
            p["kpi"] = "a site-wide objective is measured by a KPI; name one"
        if kpi_group is not None:
            p["kpi_group"] = "a KPI group needs a KPI"
    else:
        try:
            definition = get_kpi(kpi)
        except KeyError:
            p["kpi"] = f"KPI {kpi!r} is not in the KPI catalogue (docs/metrics.md lists the ids)"
        else:
            direction = definition.direction.value
            if definition.groups and kpi_group not in definition.groups:
                p["kpi_group"] = (
                    f"{kpi} is split by {definition.group}; name one of "
                    f"{', '.join(definition.groups)}"
                )
            elif not definition.groups and kpi_group is not None:
                p["kpi_group"] = f"{kpi} is not split into groups"
            elif clean_target is None and "target" not in p:
                clean_target = definition.target(kpi_group)
                if clean_target is None:
                    p["target"] = f"{kpi} has no default target; give one"
    p.raise_any()
    assert clean_title is not None
    assert clean_owner is not None
    assert day is not None
    objective = QualityObjective(
        site_id=site.id,
        parent_id=parent.id if parent is not None else None,
        title=clean_title,
        owner=clean_owner,
        role=clean_role.lower() if clean_role else None,
        what_good_looks_like=good or "",
        kpi=kpi,
        kpi_group=kpi_group,
        target=clean_target,
        direction=direction,
        period=period,
        published_on=day,
    )
    session.add(objective)
    session.flush()
    return objective


def retire_objective(session: Session, *, objective: QualityObjective, on: date) -> None:
    """Take an objective (and what cascades from it) out of the published set."""
    if objective.retired_on is not None:
        raise Conflict(f"objective {objective.id} was retired on {objective.retired_on}")
    if on < objective.published_on:
        raise InvalidInput(f"retirement {on} is before publication {objective.published_on}")
    for one in [objective, *children_of(session, objective=objective)]:
        if one.retired_on is None:
            one.retired_on = on
    session.flush()


def get_objective(session: Session, *, site: Site, objective_id: int) -> QualityObjective:
    found = session.get(QualityObjective, objective_id)
    if found is None or found.site_id != site.id:
        raise NotFound(f"no objective {objective_id} at {site.code}")
    return found


def children_of(session: Session, *, objective: QualityObjective) -> list[QualityObjective]:
    return list(
        session.scalars(
            select(QualityObjective)
            .where(QualityObjective.parent_id == objective.id)
            .order_by(QualityObjective.role, QualityObjective.id)
        )
    )


def list_objectives(
    session: Session, *, site: Site, role: str | None = None, include_retired: bool = False
) -> list[tuple[QualityObjective, list[QualityObjective]]]:
    """Site-wide objectives, each with its role-level children (only `role`'s when named)."""
    query = select(QualityObjective).where(
        QualityObjective.site_id == site.id, QualityObjective.parent_id.is_(None)
    )
    if not include_retired:
        query = query.where(QualityObjective.retired_on.is_(None))
    tree = []
    for parent in session.scalars(query.order_by(QualityObjective.id)):
        children = [
            c
            for c in children_of(session, objective=parent)
            if (include_retired or c.retired_on is None)
            and (role is None or c.role == role.strip().lower())
        ]
        tree.append((parent, children))
    return tree


def objective_status(
    session: Session,
    *,
    objective: QualityObjective,
    today: date,
    store: EventStore | None = None,
) -> ObjectiveStatus:
    """The KPI's latest value up to today against the target; no KPI: not measured."""
    if objective.kpi is None or objective.target is None:
        return ObjectiveStatus(
            objective.id, "not_measured", None, None, None, None, objective.target, None
        )
    values = [
        v
        for v in kpi_values(
            session,
            store=store,
            kpis=[objective.kpi],
            sites=[objective.site.code],
            period=objective.period,
            as_of=today,
        )
        if v.group == objective.kpi_group and v.value is not None
    ]
    if not values:
        return ObjectiveStatus(
            objective.id, "no_data", None, None, None, None, objective.target, objective.direction
        )
    latest = max(values, key=lambda v: v.period)
    assert latest.value is not None
    good = (
        latest.value >= objective.target
        if objective.direction == Direction.higher_is_better.value
        else latest.value <= objective.target
    )
    return ObjectiveStatus(
        objective.id,
        "on_target" if good else "off_target",
        latest.value,
        latest.period,
        latest.numerator,
        latest.denominator,
        objective.target,
        objective.direction,
    )
