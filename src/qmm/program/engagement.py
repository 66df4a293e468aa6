"""Engagement as the seeds measure it: suggestions submitted, accepted, and days to decision.

Why from the KPI engine: the suggestion KPIs are computed from the eQMS extract already, so the
summary reads their numerators and denominators instead of counting a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy.orm import Session

from qmm.errors import InvalidInput
from qmm.events.store import EventStore
from qmm.metrics.service import kpi_values
from qmm.models import Site

ENGAGEMENT_KPIS: Final = (
    "suggestions_per_100_staff",
    "suggestion_acceptance_rate",
    "suggestion_decision_days",
)
PERIODS: Final = ("month", "quarter", "year")


@dataclass(frozen=True)
class EngagementPeriod:
    """One period's suggestions: submitted, decided, accepted, and the median days to decide."""

    period: str
    submitted: int
    per_100_staff: float | None
    decided: int
    accepted: int
    acceptance_rate: float | None
    median_decision_days: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "submitted": self.submitted,
            "per_100_staff": self.per_100_staff,
            "decided": self.decided,
            "accepted": self.accepted,
            "acceptance_rate": self.acceptance_rate,
            "median_decision_days": self.median_decision_days,
        }


def engagement_summary(
    session: Session,
    *,
    site: Site,
    today: date,
    period: str = "quarter",
    store: EventStore | None = None,
) -> list[EngagementPeriod]:
    """Each period with a suggestion submitted or decided, oldest first, from the KPIs."""
    if period not in PERIODS:
        raise InvalidInput(f"period {period!r} is not one of {', '.join(PERIODS)}")
    rows: dict[str, dict[str, Any]] = {}
    for value in kpi_values(
        session,
        store=store,
        kpis=list(ENGAGEMENT_KPIS),
        sites=[site.code],
        period=period,
        as_of=today,
    ):
        rows.setdefault(value.period, {})[value.kpi] = value
    summary = []
    for name in sorted(rows):
        found = rows[name]
        submitted = found.get("suggestions_per_100_staff")
        accepted = found.get("suggestion_acceptance_rate")
        days = found.get("suggestion_decision_days")
        summary.append(
            EngagementPeriod(
                period=name,
                submitted=(submitted.numerator or 0) if submitted else 0,
                per_100_staff=submitted.value if submitted else None,
                decided=(accepted.denominator or 0) if accepted else 0,
                accepted=(accepted.numerator or 0) if accepted else 0,
                acceptance_rate=accepted.value if accepted else None,
                median_decision_days=days.value if days else None,
            )
        )
    return [p for p in summary if p.submitted or p.decided]
