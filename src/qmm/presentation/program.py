"""The program overview as people read it: objectives against their KPIs with a status in words
and a symbol, the steering cadence, the stop-and-fix forum, engagement and the readiness plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy.orm import Session

from qmm.auth.scope import Reader
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.models import QualityObjective, ReadinessPlan, Site, SteeringCadence
from qmm.presentation.formatting import format_value
from qmm.program.engagement import EngagementPeriod, engagement_summary
from qmm.program.forum import ForumSummary, forum_summary
from qmm.program.objectives import ObjectiveStatus, list_objectives, objective_status
from qmm.program.plan import PlanProgress, current_readable_plan, plan_progress
from qmm.program.steering import CadenceStatus, cadence_status, list_cadences

#: Each objective state's label, symbol and tone: the state is never told by colour alone.
STATE_LABELS: Final = {
    "on_target": ("On target", "✔", "ok"),
    "off_target": ("Off target", "✖", "bad"),
    "no_data": ("No data", "○", "muted"),
    "not_measured": ("Not measured", "○", "muted"),
}


def shown_number(kpi: str | None, value: float | None) -> str:
    """A KPI value or target in the KPI's unit; without a KPI, the bare number."""
    if value is None:
        return "none"
    if kpi is None:
        return f"{value:g}"
    try:
        return format_value(get_kpi(kpi), value)
    except KeyError:
        return f"{value:g}"


@dataclass(frozen=True)
class ObjectiveRow:
    """A site-wide objective as the page shows it: its status and its role-level children."""

    objective: QualityObjective
    status: ObjectiveStatus
    label: str
    icon: str
    tone: str
    value: str
    target: str
    children: tuple[QualityObjective, ...]


@dataclass(frozen=True)
class CadenceRow:
    """A steering cadence with whether it is kept and the next meeting to record."""

    id: int
    name: str
    chair: str
    cadence_days: int
    status: CadenceStatus
    next_meeting_id: int | None
    cadence: SteeringCadence


@dataclass(frozen=True)
class Overview:
    """Everything the program page and the program API show, gathered once per request."""

    objectives: list[ObjectiveRow]
    cadences: list[CadenceRow]
    forum: ForumSummary
    engagement: list[EngagementPeriod]
    plan: ReadinessPlan | None
    progress: PlanProgress | None


def overview(
    db: Session, site: Site, today: date, store: EventStore, *, reader: Reader
) -> Overview:
    """Everything the overview shows, computed once; the plan only if the reader may read it."""
    rows = []
    for parent, children in list_objectives(db, site=site):
        status = objective_status(db, objective=parent, today=today, store=store)
        label, icon, tone = STATE_LABELS[status.state]
        rows.append(
            ObjectiveRow(
                parent,
                status,
                label,
                icon,
                tone,
                shown_number(parent.kpi, status.value),
                shown_number(parent.kpi, parent.target),
                tuple(children),
            )
        )
    cadences = []
    for cadence in list_cadences(db, site=site):
        kept = cadence_status(db, cadence=cadence, today=today)
        planned = sorted(
            (m for m in cadence.meetings if m.held_on is None), key=lambda m: m.planned_on
        )
        cadences.append(
            CadenceRow(
                cadence.id,
                cadence.name,
                cadence.chair,
                cadence.cadence_days,
                kept,
                planned[0].id if planned else None,
                cadence,
            )
        )
    plan = current_readable_plan(db, reader=reader, site=site, today=today)
    return Overview(
        objectives=rows,
        cadences=cadences,
        forum=forum_summary(db, site=site, today=today),
        engagement=engagement_summary(db, site=site, today=today, store=store)[-4:],
        plan=plan,
        progress=plan_progress(db, plan=plan, today=today) if plan is not None else None,
    )
