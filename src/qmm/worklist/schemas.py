"""The worklist's one JSON shape, for the API and `qmm worklist --format json`."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from qmm.worklist.service import WorkItem, Worklist


class WorkItemOut(BaseModel):
    """One thing that needs attention: kind, site, what, owner, due date, state, age, link."""

    kind: str
    kind_name: str
    site: str
    title: str
    owner: str
    due_on: date | None
    state: str
    age_days: int
    path: str

    @classmethod
    def of(cls, item: WorkItem) -> WorkItemOut:
        return cls(
            kind=item.kind,
            kind_name=item.kind_name,
            site=item.site,
            title=item.title,
            owner=item.owner,
            due_on=item.due_on,
            state=item.state,
            age_days=item.age_days,
            path=item.path,
        )


class WorklistOut(BaseModel):
    """A worklist on a day: counts by state, the sites it covers, and its items."""

    as_of: date
    sites: list[str]
    overdue: int
    due: int
    waiting: int
    attention: int
    items: list[WorkItemOut]

    @classmethod
    def of(cls, worklist: Worklist) -> WorklistOut:
        return cls(
            as_of=worklist.today,
            sites=list(worklist.sites),
            overdue=worklist.overdue,
            due=worklist.due,
            waiting=worklist.waiting,
            attention=worklist.attention,
            items=[WorkItemOut.of(i) for i in worklist.items],
        )
