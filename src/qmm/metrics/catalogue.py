"""The KPI catalogue of the data contract: one registry that every other area reads ids from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Direction(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"


class Provenance(StrEnum):
    fda = "fda"
    industry = "industry"
    ours = "ours"


@dataclass(frozen=True)
class KPIDefinition:
    """What a KPI is and how to read it; the computation lives in the metrics engine."""

    id: str
    name: str
    unit: str
    direction: Direction
    provenance: Provenance
    period_date: str
    definition: str
    group: str | None = None


_H = Direction.higher_is_better
_L = Direction.lower_is_better

KPIS: Final[tuple[KPIDefinition, ...]] = (
    KPIDefinition(
        "capa_on_time_closure",
        "CAPA on-time closure",
        "ratio",
        _H,
        Provenance.industry,
        "closed_on",
        "CAPAs with closed_on <= due_on / CAPAs closed",
    ),
    KPIDefinition(
        "capa_voe_on_time",
        "CAPA effectiveness verification on time",
        "ratio",
        _H,
        Provenance.industry,
        "voe_due_on",
        "CAPAs with voe_done_on <= voe_due_on / CAPAs with voe_due_on in the period and "
        "voe_due_on <= the as-of date",
    ),
    KPIDefinition(
        "capa_effectiveness",
        "CAPA effectiveness",
        "ratio",
        _H,
        Provenance.industry,
        "voe_done_on",
        "CAPAs with voe_result = effective / CAPAs with voe_result set",
    ),
    KPIDefinition(
        "deviation_repeat_rate",
        "Repeat deviation rate",
        "ratio",
        _L,
        Provenance.industry,
        "opened_on",
        "deviations with another deviation at the same site and root_cause_category opened "
        "in the 365 days before / deviations opened",
    ),
    KPIDefinition(
        "capa_recurrence_rate",
        "Recurrence after CAPA",
        "ratio",
        _L,
        Provenance.ours,
        "opened_on of the deviation",
        "deviations whose site and root_cause_category match a CAPA closed 0 to 365 days "
        "before / deviations opened",
    ),
    KPIDefinition(
        "change_cycle_time_days",
        "Change-control cycle time, per risk tier",
        "days",
        _L,
        Provenance.industry,
        "closed_on",
        "median of closed_on - opened_on per risk_tier",
        group="risk_tier",
    ),
    KPIDefinition(
        "change_within_target",
        "Change controls closed within target",
        "ratio",
        _H,
        Provenance.industry,
        "closed_on",
        "change controls closed within their target days / change controls closed",
    ),
    KPIDefinition(
        "training_effectiveness",
        "Training effectiveness",
        "ratio",
        _H,
        Provenance.industry,
        "effectiveness_checked_on",
        "records with effectiveness_passed / records with an effectiveness check",
    ),
    KPIDefinition(
        "em_excursion_rate",
        "EM excursion rate",
        "ratio",
        _L,
        Provenance.industry,
        "sampled_at",
        "samples with cfu > alert_limit / samples",
    ),
    KPIDefinition(
        "em_response_hours",
        "EM excursion to documented response",
        "hours",
        _L,
        Provenance.ours,
        "result_at",
        "median of response_at - result_at over excursions that have a response",
    ),
    KPIDefinition(
        "em_open_excursions",
        "EM excursions without response",
        "count",
        _L,
        Provenance.ours,
        "result_at",
        "count of excursions with no response_at",
    ),
    KPIDefinition(
        "em_recovery_rate",
        "EM contamination recovery rate, per grade",
        "ratio",
        _L,
        Provenance.industry,
        "sampled_at",
        "samples with cfu > 0 / samples, per grade",
        group="grade",
    ),
    KPIDefinition(
        "scar_on_time_closure",
        "Supplier corrective actions closed on time",
        "ratio",
        _H,
        Provenance.industry,
        "closed_on",
        "SCARs with closed_on <= due_on / SCARs closed",
    ),
    KPIDefinition(
        "lot_acceptance_rate",
        "Lot acceptance rate",
        "ratio",
        _H,
        Provenance.fda,
        "dispositioned_on",
        "lots released / lots released or rejected",
    ),
    KPIDefinition(
        "complaint_rate_per_million",
        "Product quality complaint rate",
        "per million units",
        _L,
        Provenance.fda,
        "received_on",
        "quality-related complaints / units distributed x 1,000,000",
    ),
    KPIDefinition(
        "invalidated_oos_rate",
        "Invalidated OOS rate",
        "ratio",
        _L,
        Provenance.fda,
        "reported_on",
        "OOS results invalidated / OOS results",
    ),
    KPIDefinition(
        "suggestion_acceptance_rate",
        "Suggestions accepted",
        "ratio",
        _H,
        Provenance.ours,
        "decided_on",
        "suggestions accepted / suggestions decided",
    ),
    KPIDefinition(
        "suggestion_decision_days",
        "Cycle time to decision on a suggestion",
        "days",
        _L,
        Provenance.ours,
        "decided_on",
        "median of decided_on - submitted_on",
    ),
    KPIDefinition(
        "suggestions_per_100_staff",
        "Suggestions submitted per 100 staff",
        "per 100 staff",
        _H,
        Provenance.ours,
        "submitted_on",
        "suggestions submitted / headcount x 100",
    ),
)

KPI_IDS: Final[frozenset[str]] = frozenset(k.id for k in KPIS)


def get_kpi(kpi_id: str) -> KPIDefinition:
    """Look a KPI up by id, naming the known ids when it is not one."""
    for kpi in KPIS:
        if kpi.id == kpi_id:
            return kpi
    raise KeyError(f"unknown KPI {kpi_id!r}; known: {', '.join(sorted(KPI_IDS))}")
