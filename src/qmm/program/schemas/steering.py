"""The program's governance records in their one JSON shape: quality objectives with their KPI
status, steering cadences with meetings and actions, and the stop-and-fix forum, as the API
returns them and `qmm objective`, `qmm steering` and `qmm forum --format json` print them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from qmm.models import ForumItem, QualityObjective, SteeringAction, SteeringCadence, SteeringMeeting
from qmm.program.forum import ForumSummary, days_to_removal
from qmm.program.objectives import ObjectiveStatus
from qmm.program.steering import CadenceStatus


class ObjectiveStatusOut(BaseModel):
    """An objective's KPI: its latest value (with n) against the target, and the state."""

    state: Literal["on_target", "off_target", "no_data", "not_measured"]
    value: float | None
    period: str | None
    numerator: int | None
    denominator: int | None
    target: float | None
    direction: str | None

    @classmethod
    def of(cls, status: ObjectiveStatus) -> ObjectiveStatusOut:
        return cls(
            state=status.state,
            value=status.value,
            period=status.period,
            numerator=status.numerator,
            denominator=status.denominator,
            target=status.target,
            direction=status.direction,
        )


class ObjectiveOut(BaseModel):
    """A quality objective with its KPI status; role-level ones say what good looks like and
    site-wide ones list the role-level objectives cascaded from them."""

    id: int
    site: str
    parent: int | None
    title: str
    owner: str
    role: str | None
    what_good_looks_like: str
    kpi: str | None
    kpi_group: str | None
    target: float | None
    direction: str | None
    period: str
    published_on: date
    retired_on: date | None
    status: ObjectiveStatusOut
    children: list[ObjectiveOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        objective: QualityObjective,
        status: ObjectiveStatus,
        children: Sequence[ObjectiveOut] = (),
    ) -> ObjectiveOut:
        return cls(
            id=objective.id,
            site=objective.site.code,
            parent=objective.parent_id,
            title=objective.title,
            owner=objective.owner,
            role=objective.role,
            what_good_looks_like=objective.what_good_looks_like,
            kpi=objective.kpi,
            kpi_group=objective.kpi_group,
            target=objective.target,
            direction=objective.direction,
            period=objective.period,
            published_on=objective.published_on,
            retired_on=objective.retired_on,
            status=ObjectiveStatusOut.of(status),
            children=list(children),
        )


class SteeringActionOut(BaseModel):
    """An action from a steering meeting; overdue when open past its due date."""

    id: int
    meeting: int
    title: str
    owner: str
    due_on: date
    done_on: date | None
    overdue: bool

    @classmethod
    def of(cls, action: SteeringAction, *, today: date) -> SteeringActionOut:
        return cls(
            id=action.id,
            meeting=action.meeting_id,
            title=action.title,
            owner=action.owner,
            due_on=action.due_on,
            done_on=action.done_on,
            overdue=action.done_on is None and action.due_on < today,
        )


class MeetingOut(BaseModel):
    """A steering meeting, planned or held; held ones have minutes filed as an evidence item
    (`evidence_item` is its id)."""

    id: int
    planned_on: date
    held_on: date | None
    overdue: bool
    attendees: list[str]
    agenda: list[str]
    minutes: str | None
    decisions: list[str]
    evidence_item: int | None
    actions: list[SteeringActionOut]

    @classmethod
    def of(cls, meeting: SteeringMeeting, *, today: date) -> MeetingOut:
        return cls(
            id=meeting.id,
            planned_on=meeting.planned_on,
            held_on=meeting.held_on,
            overdue=meeting.held_on is None and meeting.planned_on < today,
            attendees=list(meeting.attendees),
            agenda=list(meeting.agenda),
            minutes=meeting.minutes,
            decisions=list(meeting.decision_refs),
            evidence_item=meeting.evidence_item_id,
            actions=[SteeringActionOut.of(a, today=today) for a in meeting.actions],
        )


class CadenceOut(BaseModel):
    """A steering cadence: when it meets next, what is overdue (meetings by planned date and
    id, actions counted and by id), and its meetings."""

    id: int
    name: str
    chair: str
    cadence_days: int
    next_planned_on: date | None
    last_held_on: date | None
    overdue: bool
    overdue_meetings: list[date]
    overdue_meeting_ids: list[int]
    open_actions: int
    overdue_actions: int
    overdue_action_ids: list[int]
    meetings: list[MeetingOut]

    @classmethod
    def of(cls, cadence: SteeringCadence, status: CadenceStatus, *, today: date) -> CadenceOut:
        return cls(
            id=cadence.id,
            name=cadence.name,
            chair=cadence.chair,
            cadence_days=cadence.cadence_days,
            next_planned_on=status.next_planned_on,
            last_held_on=status.last_held_on,
            overdue=status.overdue,
            overdue_meetings=[m.planned_on for m in status.overdue_meetings],
            overdue_meeting_ids=[m.id for m in status.overdue_meetings],
            open_actions=len(status.open_actions),
            overdue_actions=len(status.overdue_actions),
            overdue_action_ids=[a.id for a in status.overdue_actions],
            meetings=[MeetingOut.of(m, today=today) for m in cadence.meetings],
        )


class ForumItemOut(BaseModel):
    """A roadblock raised at the forum; `age_days` while it is open, `days_to_removal` once
    it is removed."""

    id: int
    roadblock: str
    raised_by: str
    raised_on: date
    owner: str
    removed_on: date | None
    resolution: str | None
    days_to_removal: int | None
    age_days: int | None

    @classmethod
    def of(cls, item: ForumItem, *, today: date) -> ForumItemOut:
        return cls(
            id=item.id,
            roadblock=item.roadblock,
            raised_by=item.raised_by,
            raised_on=item.raised_on,
            owner=item.owner,
            removed_on=item.removed_on,
            resolution=item.resolution,
            days_to_removal=days_to_removal(item),
            age_days=(today - item.raised_on).days if item.removed_on is None else None,
        )


class ForumOut(BaseModel):
    """Open roadblocks with their age on a day, and time to removal over the removed ones."""

    today: date
    open_items: list[ForumItemOut]
    removed: int
    median_days_to_removal: float | None
    mean_days_to_removal: float | None

    @classmethod
    def of(cls, summary: ForumSummary, *, today: date) -> ForumOut:
        return cls(
            today=today,
            open_items=[ForumItemOut.of(item, today=today) for item, _ in summary.open_items],
            removed=summary.removed,
            median_days_to_removal=summary.median_days_to_removal,
            mean_days_to_removal=summary.mean_days_to_removal,
        )
