"""Read models of views rather than records, in the JSON shape the API returns: the program
overview and the benchmark. Each record inside them has its area's one shape."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from qmm.auth.scope import Reader
from qmm.benchmark.statistics import AreaPlacement
from qmm.events.store import EventStore
from qmm.models import Site
from qmm.presentation.maturity import PlacedSite
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
    def of(
        cls, session: Session, site: Site, *, today: date, store: EventStore, reader: Reader
    ) -> ProgramOut:
        """Objectives with their KPI status, steering cadences, the forum and the running plan."""
        view = overview(session, site, today, store, reader=reader)
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


class AreaPlacementOut(BaseModel):
    """A score's place in the cohort, with the uncertainty of the cohort mean (`of`: the
    cohort's size)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    score: float
    rank: int
    cohort_size: int = Field(alias="of")
    percentile: float
    cohort_mean: float
    cohort_mean_interval: tuple[float, float]

    @classmethod
    def of(cls, placement: AreaPlacement) -> AreaPlacementOut:
        return cls.model_validate(placement.to_json())


class SitePlacementOut(BaseModel):
    """A site's latest assessment placed in the FDA 2024 cohort (null when it cannot be)."""

    site: str
    assessment: int | None
    practice_areas: dict[str, AreaPlacementOut] | None
    overall: AreaPlacementOut | None
    overall_label: str
    reason: str | None

    @classmethod
    def of(cls, row: PlacedSite) -> SitePlacementOut:
        placement = row.placement
        reason = None
        if placement is None:
            reason = (
                "no assessment yet"
                if row.assessment is None
                else "not every practice area has a score yet"
            )
        return cls(
            site=row.site.code,
            assessment=row.assessment.id if row.assessment is not None else None,
            practice_areas={c: AreaPlacementOut.of(p) for c, p in placement.practice_areas.items()}
            if placement
            else None,
            overall=AreaPlacementOut.of(placement.overall) if placement else None,
            overall_label="computed by QMM Workbench, not by FDA",
            reason=reason,
        )


class BenchmarkOut(BaseModel):
    """The FDA 2024 cohort's statistics and the caller's sites placed in it."""

    cohort_source: str
    cohort: dict[str, Any]
    sites: list[SitePlacementOut]
    caveat: str
