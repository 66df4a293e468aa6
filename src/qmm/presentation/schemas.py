"""Read models of views rather than records, in the JSON shape the API returns: the program
overview. Each record inside them has its area's one shape."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy.orm import Session

from qmm.events.store import EventStore
from qmm.models import Site
from qmm.presentation.program import overview
from qmm.program.objectives import objective_status
from qmm.program.schemas.plans import PlanProgressOut
from qmm.program.schemas.steering import CadenceOut, ForumOut, ObjectiveOut


class ProgramOut(BaseModel):
    """Where a site's program stands on a day."""

    site: str
    today: date
    objectives: list[ObjectiveOut]
    cadences: list[CadenceOut]
    forum: ForumOut
    plan: PlanProgressOut | None

    @classmethod
    def of(cls, session: Session, site: Site, *, today: date, store: EventStore) -> ProgramOut:
        """Objectives with their KPI status, steering cadences, the forum and the running plan."""
        view = overview(session, site, today, store)
        objectives = [
            ObjectiveOut.of(
                row.objective,
                row.status,
                [
                    ObjectiveOut.of(
                        child,
                        objective_status(session, objective=child, today=today, store=store),
                    )
                    for child in row.children
                ],
            )
            for row in view.objectives
        ]
        return cls(
            site=site.code,
            today=today,
            objectives=objectives,
            cadences=[CadenceOut.of(c.cadence, c.status, today=today) for c in view.cadences],
            forum=ForumOut.of(view.forum, today=today),
            plan=PlanProgressOut.of(view.progress) if view.progress is not None else None,
        )
