"""The KPI catalogue of the data contract: one registry that every other area reads ids from.

Each entry says what a KPI is and how to read it: its unit, which direction is better, where
the definition comes from, the date that places a record in a period, the exact formula, the
groups it is split by, a default target, the edge-case rules, and the framework sub-elements
it is evidence for. The computation lives in :mod:`qmm.metrics.kpis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Direction(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"


class Provenance(StrEnum):
    fda = "fda"
    industry = "industry"
    ours = "ours"


#: Default target of a change control by risk tier, in days from opened_on to closed_on, used by
#: ``change_within_target`` when a record has no ``target_days`` (configurable per call).
DEFAULT_CHANGE_TARGET_DAYS: Final = MappingProxyType({"high": 90, "medium": 60, "low": 30})

#: Default window of ``capa_recurrence_rate``: a deviation with one of a closed CAPA's
#: addressed keys opened 1 to this many days after the CAPA closed is a recurrence
#: (configurable per call).
DEFAULT_RECURRENCE_WINDOW_DAYS: Final = 180

RISK_TIERS: Final[tuple[str, ...]] = ("high", "medium", "low")
EM_GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")


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
    #: The values ``group`` takes (risk tiers, EM grades); empty when the KPI is not grouped.
    groups: tuple[str, ...] = ()
    #: A default target in the KPI's unit (a ratio is a fraction, 0.9 = 90 %), None if no
    #: general default makes sense. Sites override it.
    default_target: float | None = None
    #: Per-group default targets, for grouped KPIs whose target depends on the group.
    group_targets: tuple[tuple[str, float], ...] = ()
    #: Why the default target is what it is.
    target_basis: str = ""
    #: The rules for missing data, zero denominators, ties and windows.
    edge_cases: str = ""
    #: (practice area code, sub-element code) pairs of the default framework the KPI evidences.
    evidences: tuple[tuple[str, str], ...] = ()
    #: The record types the KPI reads: its default as-of date is the earliest of their latest
    #: extract dates.
    reads: tuple[str, ...] = ()

    @property
    def practice_areas(self) -> tuple[str, ...]:
        """The practice areas the KPI evidences, in framework order, without repeats."""
        return tuple(dict.fromkeys(area for area, _ in self.evidences))

    @property
    def sub_elements(self) -> tuple[str, ...]:
        """The sub-element codes the KPI evidences."""
        return tuple(sub for _, sub in self.evidences)

    def target(self, group: str | None = None) -> float | None:
        """The default target for a group (or for the KPI when it is not grouped)."""
        if group is not None:
            for name, value in self.group_targets:
                if name == group:
                    return value
        return self.default_target


_H = Direction.higher_is_better
_L = Direction.lower_is_better

_MC, _BC, _PQS, _TE, _EE = (
    "management_commitment",
    "business_continuity",
    "advanced_pqs",
    "technical_excellence",
    "employee_engagement",
)

_RATIO_NULL = "A period whose denominator is 0 has a null value, never 0."
_OUR_TARGET = (
    "A starting point chosen by QMM Workbench, not a regulatory limit; sites set their own."
)

KPIS: Final[tuple[KPIDefinition, ...]] = (
    KPIDefinition(
        "capa_on_time_closure",
        "CAPA on-time closure",
        "ratio",
        _H,
        Provenance.industry,
        "closed_on",
        "CAPAs with closed_on <= due_on / CAPAs with closed_on in the period",
        default_target=0.9,
        target_basis=_OUR_TARGET,
        edge_cases="Open CAPAs (no closed_on) are not counted. Closing on the due date is on "
        "time. " + _RATIO_NULL,
        evidences=((_MC, "resourcing_for_quality"), (_PQS, "capa_effectiveness")),
        reads=("capa",),
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
        default_target=0.9,
        target_basis=_OUR_TARGET,
        edge_cases="The as-of date (default: the data's extract date) keeps verifications not "
        "yet due out "
        "of the denominator; a CAPA due on or before it with no voe_done_on counts as late. "
        "A period whose CAPAs are all due after the as-of date has denominator 0 and a null "
        "value.",
        evidences=((_PQS, "capa_effectiveness"),),
        reads=("capa",),
    ),
    KPIDefinition(
        "capa_effectiveness",
        "CAPA effectiveness",
        "ratio",
        _H,
        Provenance.industry,
        "voe_done_on",
        "CAPAs with voe_result = effective / CAPAs with voe_done_on in the period and "
        "voe_result set",
        default_target=0.9,
        target_basis=_OUR_TARGET,
        edge_cases="A CAPA with voe_done_on but no voe_result is in neither count. " + _RATIO_NULL,
        evidences=((_PQS, "capa_effectiveness"),),
        reads=("capa",),
    ),
    KPIDefinition(
        "deviation_repeat_rate",
        "Repeat deviation rate",
        "ratio",
        _L,
        Provenance.industry,
        "opened_on",
        "deviations with a recurrence key for which another deviation of the same site and key "
        "was opened 1 to 365 days earlier, or the same day with a smaller deviation_id / "
        "deviations with a recurrence key and opened_on in the period",
        default_target=0.1,
        target_basis=_OUR_TARGET,
        edge_cases="The recurrence key is recurrence_key when given, else the pair "
        "(process_area, root_cause_category) when process_area is given; a deviation with "
        "neither has no key and is in neither count. A recurrence_key never equals a pair. "
        "The 365-day look-back reaches before the period (and before any start filter). A "
        "deviation is counted once however many earlier matches it has. Of two deviations "
        "opened the same day with the same key, only the one with the larger deviation_id is a "
        "repeat (ids compare as text in the backend's collation). " + _RATIO_NULL,
        evidences=(
            (_PQS, "quality_risk_management"),
            (_PQS, "deviations_investigations"),
            (_PQS, "continual_improvement"),
            (_TE, "knowledge_management"),
        ),
        reads=("deviation",),
    ),
    KPIDefinition(
        "capa_recurrence_rate",
        "Recurrence after CAPA",
        "ratio",
        _L,
        Provenance.ours,
        "closed_on of the CAPA",
        "closed CAPAs for which a deviation of the same site with one of the CAPA's addressed "
        "keys was opened 1 to 180 days after the CAPA's closed_on / CAPAs with closed_on in the "
        "period, at least one addressed key, and closed_on + 180 days <= the as-of date",
        default_target=0.1,
        target_basis=_OUR_TARGET,
        edge_cases="A CAPA's addressed keys are the recurrence keys (see "
        "deviation_repeat_rate) of the deviations of its site whose capa_id names it; a CAPA "
        "with none is in neither count. A deviation opened the day the CAPA closed does not "
        "count (1 day is the first). A CAPA whose window has not passed by the as-of date "
        "is not yet counted, so a recent period has denominator 0 and a null value. The "
        "window is configurable (180 days by default). A CAPA is counted once however many "
        "deviations recur.",
        evidences=((_PQS, "capa_effectiveness"),),
        reads=("capa", "deviation"),
    ),
    KPIDefinition(
        "change_cycle_time_days",
        "Change-control cycle time, per risk tier",
        "days",
        _L,
        Provenance.industry,
        "closed_on",
        "median of closed_on - opened_on (whole days) over change controls with closed_on "
        "in the period, per risk_tier",
        group="risk_tier",
        groups=RISK_TIERS,
        group_targets=tuple(DEFAULT_CHANGE_TARGET_DAYS.items()),
        target_basis="The tier default targets of change_within_target (high 90, medium 60, "
        "low 30 days); ours.",
        edge_cases="One value per risk tier that has a change closed in the period; an even "
        "count takes the mean of the two middle values. numerator is null, denominator is "
        "the number of changes behind the median.",
        evidences=((_PQS, "change_management"),),
        reads=("change_control",),
    ),
    KPIDefinition(
        "change_within_target",
        "Change controls closed within target",
        "ratio",
        _H,
        Provenance.industry,
        "closed_on",
        "change controls with closed_on - opened_on <= target (target_days, else the tier "
        "default: high 90, medium 60, low 30) / change controls with closed_on in the period",
        default_target=0.9,
        target_basis=_OUR_TARGET,
        edge_cases="A record's own target_days overrides the tier default; the tier defaults "
        "are configurable per call. A change with neither (unknown tier) counts as not "
        "within target. Closing on the target day is within target. " + _RATIO_NULL,
        evidences=((_MC, "resourcing_for_quality"), (_PQS, "change_management")),
        reads=("change_control",),
    ),
    KPIDefinition(
        "training_effectiveness",
        "Training effectiveness",
        "ratio",
        _H,
        Provenance.industry,
        "effectiveness_checked_on",
        "records with effectiveness_passed = true / records with effectiveness_checked_on "
        "in the period",
        default_target=0.95,
        target_basis=_OUR_TARGET,
        edge_cases="A check with effectiveness_passed missing counts as not passed. "
        "Records without a check date are not counted.",
        evidences=((_EE, "training_competency"),),
        reads=("training",),
    ),
    KPIDefinition(
        "em_excursion_rate",
        "EM excursion rate",
        "ratio",
        _L,
        Provenance.industry,
        "sampled_at",
        "samples with cfu > alert_limit / samples with sampled_at in the period",
        default_target=0.02,
        target_basis=_OUR_TARGET,
        edge_cases="A count equal to the alert limit is not an excursion. The period of a "
        "timestamp is taken in UTC.",
        evidences=((_TE, "contamination_control"),),
        reads=("em_sample",),
    ),
    KPIDefinition(
        "em_response_hours",
        "EM excursion to documented response",
        "hours",
        _L,
        Provenance.ours,
        "result_at",
        "median of response_at - result_at (exact hours) over excursions (cfu > alert_limit) "
        "with result_at in the period that have a response_at",
        default_target=24.0,
        target_basis="A documented response within one day; ours.",
        edge_cases="result_at defaults to sampled_at. Hours come from UTC epoch seconds, so "
        "offsets and daylight-saving changes do not distort them. A period with excursions "
        "but none responded to has denominator 0 and a null value; a period without "
        "excursions has no row; an even count takes the mean of the two middle values.",
        evidences=((_TE, "contamination_control"),),
        reads=("em_sample",),
    ),
    KPIDefinition(
        "em_open_excursions",
        "EM excursions without response",
        "count",
        _L,
        Provenance.ours,
        "result_at",
        "count of excursions (cfu > alert_limit) with result_at in the period and no response_at",
        default_target=0.0,
        target_basis="Every excursion gets a documented response; ours.",
        edge_cases="result_at defaults to sampled_at. value = numerator; denominator is the "
        "number of excursions in the period. A period with samples but no excursion has "
        "value 0 (a count, not a rate).",
        evidences=((_TE, "contamination_control"),),
        reads=("em_sample",),
    ),
    KPIDefinition(
        "em_recovery_rate",
        "EM contamination recovery rate, per grade",
        "ratio",
        _L,
        Provenance.industry,
        "sampled_at",
        "samples with cfu > 0 / samples with sampled_at in the period, per grade",
        group="grade",
        groups=EM_GRADES,
        group_targets=(("A", 0.01), ("B", 0.05), ("C", 0.1), ("D", 0.1)),
        target_basis="USP <1116> suggested initial contamination recovery rates by the ISO "
        "class of each grade in operation (ISO 5: < 1 %, ISO 7: < 5 %, ISO 8: < 10 %); "
        "grade D, not classified in operation, takes the ISO 8 rate. Our mapping.",
        edge_cases="One value per grade that has samples in the period.",
        evidences=((_TE, "contamination_control"),),
        reads=("em_sample",),
    ),
    KPIDefinition(
        "scar_on_time_closure",
        "Supplier corrective actions closed on time",
        "ratio",
        _H,
        Provenance.industry,
        "closed_on",
        "SCARs with closed_on <= due_on / SCARs with closed_on in the period",
        default_target=0.9,
        target_basis=_OUR_TARGET,
        edge_cases="Open SCARs are not counted. " + _RATIO_NULL,
        evidences=((_BC, "supplier_oversight"),),
        reads=("supplier_car",),
    ),
    KPIDefinition(
        "lot_acceptance_rate",
        "Lot acceptance rate",
        "ratio",
        _H,
        Provenance.fda,
        "dispositioned_on",
        "lots with disposition = released / lots with dispositioned_on in the period and "
        "disposition released or rejected",
        default_target=0.98,
        target_basis=_OUR_TARGET,
        edge_cases="Pending lots are in neither count; a period with only pending lots has "
        "denominator 0 and a null value.",
        evidences=(
            (_MC, "management_review"),
            (_BC, "continuity_planning"),
            (_BC, "inventory_capacity"),
            (_PQS, "process_performance_monitoring"),
            (_PQS, "continual_improvement"),
            (_TE, "process_analytical_capability"),
        ),
        reads=("lot",),
    ),
    KPIDefinition(
        "complaint_rate_per_million",
        "Product quality complaint rate",
        "per million units",
        _L,
        Provenance.fda,
        "received_on / month",
        "complaints with quality_related = true and received_on in the period / units "
        "distributed in the months of the period x 1,000,000",
        target_basis="No general default: complaint rates depend on the dosage form and the "
        "market; set a target per site.",
        edge_cases="Units are summed over the site's distribution rows whose month falls in "
        "the period (all products). No distribution in the period gives denominator 0 and a "
        "null value; distribution without complaints gives 0. denominator is the units "
        "rounded to a whole number; the value uses the exact sum.",
        evidences=((_MC, "management_review"), (_PQS, "process_performance_monitoring")),
        reads=("complaint", "distribution"),
    ),
    KPIDefinition(
        "invalidated_oos_rate",
        "Invalidated OOS rate",
        "ratio",
        _L,
        Provenance.fda,
        "reported_on",
        "OOS results with invalidated = true / OOS results with reported_on in the period",
        default_target=0.1,
        target_basis=_OUR_TARGET,
        edge_cases="Release and stability results are counted together.",
        evidences=(
            (_MC, "management_review"),
            (_PQS, "process_performance_monitoring"),
            (_PQS, "deviations_investigations"),
            (_TE, "data_excellence"),
            (_TE, "process_analytical_capability"),
        ),
        reads=("oos",),
    ),
    KPIDefinition(
        "suggestion_acceptance_rate",
        "Suggestions accepted",
        "ratio",
        _H,
        Provenance.ours,
        "decided_on",
        "suggestions with decision = accepted / suggestions with decided_on in the period and "
        "a decision",
        default_target=0.5,
        target_basis=_OUR_TARGET,
        edge_cases="A suggestion with decided_on but no decision is in neither count. "
        + _RATIO_NULL,
        evidences=((_EE, "involvement_suggestions"),),
        reads=("suggestion",),
    ),
    KPIDefinition(
        "suggestion_decision_days",
        "Cycle time to decision on a suggestion",
        "days",
        _L,
        Provenance.ours,
        "decided_on",
        "median of decided_on - submitted_on (whole days) over suggestions with decided_on "
        "in the period",
        default_target=30.0,
        target_basis=_OUR_TARGET,
        edge_cases="An even count takes the mean of the two middle values. numerator is null, "
        "denominator is the number of suggestions behind the median.",
        evidences=((_EE, "involvement_suggestions"),),
        reads=("suggestion",),
    ),
    KPIDefinition(
        "suggestions_per_100_staff",
        "Suggestions submitted per 100 staff",
        "per 100 staff",
        _H,
        Provenance.ours,
        "submitted_on",
        "suggestions with submitted_on in the period / site headcount x 100",
        target_basis="No default: the rate grows with the length of the period (month, "
        "quarter, year); set a target per period length.",
        edge_cases="The site's current headcount from the site table. Without a headcount "
        "the value and denominator are null; a headcount of 0 gives a null value.",
        evidences=((_EE, "involvement_suggestions"),),
        reads=("suggestion",),
    ),
    KPIDefinition(
        "em_action_excursion_investigated",
        "EM action-level excursions investigated",
        "ratio",
        _H,
        Provenance.ours,
        "result_at (else sampled_at)",
        "samples with cfu > action_limit and a deviation_id / samples with cfu > action_limit "
        "and result_at (else sampled_at) in the period",
        default_target=1.0,
        target_basis="Every action-level excursion is investigated under a deviation (EU GMP "
        "Annex 1, 9.35; USP <1116>); the thread KPI checks that the link is in the records. "
        "Ours.",
        edge_cases="A count equal to the action limit is not an action-level excursion. A "
        "sample without an action limit is in neither count. The period of a timestamp is "
        "taken in UTC. " + _RATIO_NULL,
        evidences=((_PQS, "deviations_investigations"), (_TE, "contamination_control")),
        reads=("em_sample",),
    ),
    KPIDefinition(
        "deviation_capa_linked",
        "Major and critical deviations with a CAPA",
        "ratio",
        _H,
        Provenance.ours,
        "closed_on",
        "deviations of severity major or critical with closed_on in the period and a capa_id / "
        "deviations of severity major or critical with closed_on in the period",
        default_target=0.9,
        target_basis="Most serious deviations need a CAPA; some are closed with a justified "
        "'no CAPA'. " + _OUR_TARGET,
        edge_cases="Open deviations and deviations without a severity or of severity minor are "
        "not counted. The capa_id is taken as given; it need not match an imported CAPA. "
        + _RATIO_NULL,
        evidences=((_PQS, "capa_effectiveness"), (_PQS, "deviations_investigations")),
        reads=("deviation",),
    ),
    KPIDefinition(
        "capa_voe_planned",
        "CAPAs closed with an effectiveness check planned",
        "ratio",
        _H,
        Provenance.ours,
        "closed_on",
        "CAPAs with closed_on in the period and voe_due_on set / CAPAs with closed_on in the "
        "period",
        default_target=0.9,
        target_basis=_OUR_TARGET,
        edge_cases="Open CAPAs are not counted. A planned check counts whether or not it is "
        "done yet. " + _RATIO_NULL,
        evidences=((_PQS, "capa_effectiveness"),),
        reads=("capa",),
    ),
)

KPI_IDS: Final[frozenset[str]] = frozenset(k.id for k in KPIS)


def get_kpi(kpi_id: str) -> KPIDefinition:
    """Look a KPI up by id, naming the known ids when it is not one."""
    for kpi in KPIS:
        if kpi.id == kpi_id:
            return kpi
    raise KeyError(f"unknown KPI {kpi_id!r}; known: {', '.join(sorted(KPI_IDS))}")
