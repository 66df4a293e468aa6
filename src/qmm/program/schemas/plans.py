"""A readiness plan's one JSON shape: what the API returns and `qmm plan --format json` prints
for a plan, its actions and its progress on a day."""

from __future__ import annotations

from datetime import date
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from qmm.audit.schemas import SignatureOut
from qmm.audit.signatures import signatures_for
from qmm.models import PlanAction, ReadinessPlan
from qmm.program.plan import (
    DAYS,
    RECORD_TYPE,
    PlanProgress,
    end_on,
    is_overdue,
    plan_day,
    plan_progress,
)
from qmm.text_rules import has_nul

PlanStatus = Literal["draft", "approved", "superseded", "discarded"]


#: `of` names the plan's length in JSON ("day 11 of 90"); in Python it is `days`, since `of`
#: builds each read model from its record.
DAYS_OF: Final = ConfigDict(serialize_by_alias=True, validate_by_name=True)


class PlanSummaryOut(BaseModel):
    """A plan as a site's list shows it: where it stands today."""

    model_config = DAYS_OF

    ref: str
    status: PlanStatus
    owner: str
    assessment: int
    generated_on: date
    start_on: date
    end_on: date
    day: int
    days: int = Field(alias="of")
    done: int
    total: int
    path: str

    @classmethod
    def of(cls, plan: ReadinessPlan, *, today: date) -> PlanSummaryOut:
        return cls.model_validate(
            {
                "ref": plan.ref,
                "status": plan.status,
                "owner": plan.owner,
                "assessment": plan.assessment_id,
                "generated_on": plan.generated_on,
                "start_on": plan.start_on,
                "end_on": end_on(plan),
                "day": plan_day(plan, today),
                "of": DAYS,
                "done": sum(1 for a in plan.actions if a.status == "done"),
                "total": len(plan.actions),
                "path": f"/sites/{plan.site.code}/plans/{plan.ref}",
            }
        )


class PlanActionOut(BaseModel):
    """One action: what, which workstream, who, by which day, why, and whether it is done."""

    number: int
    title: str
    workstream: str
    owner: str
    due_day: int
    due_on: date
    sub_element: str | None
    evidence: str
    evidence_kind: str
    source: str
    source_detail: str
    status: Literal["open", "done"]
    done_on: date | None
    note: str | None
    overdue: bool

    @classmethod
    def of(cls, action: PlanAction, *, today: date) -> PlanActionOut:
        return cls(
            number=action.number,
            title=action.title,
            workstream=action.workstream,
            owner=action.owner,
            due_day=action.due_day,
            due_on=action.due_on,
            sub_element=action.sub_element,
            evidence=action.evidence,
            evidence_kind=action.evidence_kind,
            source=action.source,
            source_detail=action.source_detail,
            status=action.status,
            done_on=action.done_on,
            note=action.note,
            overdue=is_overdue(action, today),
        )


class WorkstreamProgressOut(BaseModel):
    workstream: str
    name: str
    done: int
    open: int
    overdue: int


class PlanProgressOut(BaseModel):
    """Day N of 90 and, per workstream, the actions done, open and overdue (by number)."""

    model_config = DAYS_OF

    ref: str
    status: PlanStatus
    today: date
    day: int
    days: int = Field(alias="of")
    start_on: date
    end_on: date
    done: int
    total: int
    workstreams: list[WorkstreamProgressOut]
    overdue_actions: list[int]

    @classmethod
    def of(cls, progress: PlanProgress) -> PlanProgressOut:
        return cls(
            ref=progress.plan_ref,
            status=progress.status,
            today=progress.today,
            day=progress.day,
            of=DAYS,
            start_on=progress.start_on,
            end_on=progress.end_on,
            done=progress.done,
            total=progress.total,
            workstreams=[
                WorkstreamProgressOut(
                    workstream=w.workstream,
                    name=w.name,
                    done=w.done,
                    open=w.open,
                    overdue=w.overdue,
                )
                for w in progress.workstreams
            ],
            overdue_actions=[a.number for a in progress.overdue_actions],
        )


class PlanOut(BaseModel):
    """A plan with its actions, baseline, signatures and progress today."""

    site: str
    ref: str
    status: PlanStatus
    assessment: int
    generated_on: date
    start_on: date
    end_on: date
    owner: str
    approved_at: str | None
    supersedes: str | None
    created_by: str
    baseline: dict[str, float]
    actions: list[PlanActionOut]
    signatures: list[SignatureOut]
    progress: PlanProgressOut

    @classmethod
    def of(cls, session: Session, plan: ReadinessPlan, *, today: date) -> PlanOut:
        """The plan as planned now, its signatures checked, and where it stands on a day."""
        progress = plan_progress(session, plan=plan, today=today)
        return cls(
            site=plan.site.code,
            ref=plan.ref,
            status=plan.status,
            assessment=plan.assessment_id,
            generated_on=plan.generated_on,
            start_on=plan.start_on,
            end_on=end_on(plan),
            owner=plan.owner,
            approved_at=plan.approved_at.isoformat() if plan.approved_at else None,
            supersedes=plan.supersedes.ref if plan.supersedes else None,
            created_by=plan.created_by,
            baseline=dict(sorted(plan.baseline.items())),
            actions=[PlanActionOut.of(a, today=today) for a in plan.actions],
            signatures=[
                SignatureOut.of(s)
                for s in signatures_for(session, record_type=RECORD_TYPE, record_id=str(plan.id))
            ],
            progress=PlanProgressOut.of(progress),
        )


class ActionDoneIn(BaseModel):
    """When the action was done (not in the future) and, optionally, what was done."""

    model_config = ConfigDict(extra="forbid")

    done_on: date
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def no_nul(cls, value: str | None) -> str | None:
        """NUL characters fit in no database column; refuse them by field."""
        if value is not None and has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


class ActionReopenIn(BaseModel):
    """Why a done action is open again (optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def no_nul(cls, value: str | None) -> str | None:
        """NUL characters fit in no database column; refuse them by field."""
        if value is not None and has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value
