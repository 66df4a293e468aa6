"""The FDA assessment's one JSON shape, shared by the API and `--format json`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from qmm.assessment_week.service import MilestoneView, milestone_views
from qmm.models import FdaAssessment, SitePerson


class FdaMilestoneOut(BaseModel):
    """One step of the timeline."""

    kind: str
    label: str
    due_on: date
    owner: str
    done_on: date | None
    overdue: bool

    @classmethod
    def of(cls, view: MilestoneView) -> FdaMilestoneOut:
        return cls(
            kind=view.kind,
            label=view.label,
            due_on=view.due_on,
            owner=view.owner,
            done_on=view.done_on,
            overdue=view.overdue,
        )


class FdaAssessmentOut(BaseModel):
    """FDA's assessment of a site, with its timeline."""

    id: int
    site: str
    title: str
    starts_on: date
    ends_on: date
    time_zone: str
    status: str
    self_assessment_id: int | None
    notes: str | None
    created_at: datetime
    created_by: str
    milestones: list[FdaMilestoneOut]

    @classmethod
    def of(cls, visit: FdaAssessment, *, today: date | None = None) -> FdaAssessmentOut:
        return cls(
            id=visit.id,
            site=visit.site.code,
            title=visit.title,
            starts_on=visit.starts_on,
            ends_on=visit.ends_on,
            time_zone=visit.time_zone,
            status=visit.status,
            self_assessment_id=visit.self_assessment_id,
            notes=visit.notes,
            created_at=visit.created_at,
            created_by=visit.created_by,
            milestones=[FdaMilestoneOut.of(m) for m in milestone_views(visit, today=today)],
        )


class SitePersonOut(BaseModel):
    """Someone at the site who may attend a session."""

    id: int
    site: str
    name: str
    job_title: str
    department: str
    email: str | None
    username: str | None

    @classmethod
    def of(cls, person: SitePerson) -> SitePersonOut:
        return cls(
            id=person.id,
            site=person.site.code,
            name=person.name,
            job_title=person.job_title,
            department=person.department,
            email=person.email,
            username=person.user.username if person.user is not None else None,
        )
