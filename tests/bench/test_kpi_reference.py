"""The benchmark's references (hand-written SQL and plain pandas) compute the contract's KPIs.

A benchmark ratio means nothing if the reference is wrong, so both references are checked here
against values worked out by hand from the contract on a small data set that walks every edge
case: boundaries of 0, 365 and 366 days, same-day repeats ordered by id, the as-of rule, tier
default targets, even-count medians, UTC periods of offset timestamps, zero denominators.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from qmm.events.record_types import RECORD_TYPES, ColumnType
from qmm.metrics.catalogue import KPI_IDS


def _load_reference() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "kpi_reference.py"
    spec = importlib.util.spec_from_file_location("kpi_reference", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kpi_reference"] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

AS_OF = date(2025, 6, 30)
A, B, C = "SITE-A", "SITE-B", "SITE-C"


def row(**cells: str) -> dict[str, str]:
    """One record as an extract gives it (text); a column left out is an empty cell."""
    return cells


# fmt: off
ROWS: dict[str, list[dict[str, Any]]] = {
    "capa": [
        # on time (Feb); VoE done on its due date; effective
        row(capa_id="C1", site=A, opened_on="2025-01-02", due_on="2025-02-15",
            root_cause_category="equipment", closed_on="2025-02-10",
            voe_due_on="2025-03-31", voe_done_on="2025-03-31", voe_result="effective"),
        # closed on its due date (on time); VoE late, done in April; not effective
        row(capa_id="C2", site=A, opened_on="2025-01-05", due_on="2025-02-20",
            root_cause_category="procedure", closed_on="2025-02-20",
            voe_due_on="2025-03-15", voe_done_on="2025-04-02", voe_result="not_effective"),
        # late; VoE due and never done
        row(capa_id="C3", site=A, opened_on="2025-01-10", due_on="2025-02-01",
            root_cause_category="equipment", closed_on="2025-02-28", voe_due_on="2025-03-20"),
        # open; VoE due after the as-of date (left out)
        row(capa_id="C4", site=A, opened_on="2025-02-01", due_on="2025-03-01",
            root_cause_category="training", voe_due_on="2025-07-15"),
        # VoE due on the as-of date (counted), done the day before
        row(capa_id="C5", site=A, opened_on="2025-02-03", due_on="2025-03-31",
            root_cause_category="materials", closed_on="2025-03-31",
            voe_due_on="2025-06-30", voe_done_on="2025-06-29", voe_result="effective"),
        # late; a VoE done without a result (not in effectiveness)
        row(capa_id="C6", site=B, opened_on="2024-11-01", due_on="2024-12-01",
            root_cause_category="equipment", closed_on="2024-12-31", voe_done_on="2025-04-10"),
        # closed 365 days before DEV-30 and 366 days before DEV-31
        row(capa_id="C7", site=B, opened_on="2024-01-01", due_on="2024-02-01",
            root_cause_category="procedure", closed_on="2024-03-01"),
        # a result without a VoE date (no period: left out)
        row(capa_id="C8", site=A, opened_on="2025-01-20", due_on="2025-05-01",
            root_cause_category="other", voe_result="effective"),
    ],
    "deviation": [
        row(deviation_id="DEV-1", site=A, opened_on="2024-03-01", root_cause_category="procedure"),
        row(deviation_id="DEV-2", site=A, opened_on="2024-03-01", root_cause_category="equipment"),
        # 365 days after DEV-2: a repeat; CAPA C3 closed the day before: a recurrence
        row(deviation_id="DEV-3", site=A, opened_on="2025-03-01", root_cause_category="equipment"),
        # 366 days after DEV-1: not a repeat
        row(deviation_id="DEV-4", site=A, opened_on="2025-03-02", root_cause_category="procedure"),
        row(deviation_id="DEV-5", site=A, opened_on="2025-03-10", root_cause_category="equipment"),
        # CAPA C5 closed the same day: a recurrence (0 days)
        row(deviation_id="DEV-40", site=A, opened_on="2025-03-31",
            root_cause_category="materials"),
        # CAPA C4 of this root cause is still open: no recurrence
        row(deviation_id="DEV-41", site=A, opened_on="2025-03-15",
            root_cause_category="training"),
        # the same day: DEV-21 repeats DEV-20 (smaller id), not the other way round
        row(deviation_id="DEV-20", site=A, opened_on="2025-04-05",
            root_cause_category="labelling"),
        row(deviation_id="DEV-21", site=A, opened_on="2025-04-05",
            root_cause_category="labelling"),
        # site A's equipment deviations do not make this a repeat
        row(deviation_id="DEV-6", site=B, opened_on="2025-03-05", root_cause_category="equipment"),
        row(deviation_id="DEV-30", site=B, opened_on="2025-03-01",
            root_cause_category="procedure"),
        row(deviation_id="DEV-31", site=B, opened_on="2025-03-02",
            root_cause_category="procedure"),
        # ids compare as text: "DEV-10" < "DEV-9", so DEV-9 is the repeat
        row(deviation_id="DEV-9", site=B, opened_on="2025-05-01", root_cause_category="training"),
        row(deviation_id="DEV-10", site=B, opened_on="2025-05-01",
            root_cause_category="training"),
    ],
    "change_control": [
        # high, default target 90: 68 within, 90 within, 134 not; 47 against target_days 30 not
        row(change_id="CH1", site=A, opened_on="2025-01-01", risk_tier="high",
            closed_on="2025-03-10"),
        row(change_id="CH2", site=A, opened_on="2024-12-01", risk_tier="high",
            closed_on="2025-03-01"),
        row(change_id="CH3", site=A, opened_on="2024-11-01", risk_tier="high",
            closed_on="2025-03-15"),
        row(change_id="CH4", site=A, opened_on="2025-02-01", risk_tier="high",
            closed_on="2025-03-20", target_days="30"),
        # medium, default 60: 60 within, 61 not
        row(change_id="CH5", site=A, opened_on="2025-01-15", risk_tier="medium",
            closed_on="2025-03-16"),
        row(change_id="CH6", site=A, opened_on="2025-01-14", risk_tier="medium",
            closed_on="2025-03-16"),
        # low, default 30: 30 within; 31 within its own target of 45
        row(change_id="CH7", site=A, opened_on="2025-02-28", risk_tier="low",
            closed_on="2025-03-30"),
        row(change_id="CH8", site=A, opened_on="2025-02-27", risk_tier="low",
            closed_on="2025-03-30", target_days="45"),
        row(change_id="CH9", site=A, opened_on="2025-03-01", risk_tier="low"),
        row(change_id="CH10", site=B, opened_on="2025-04-01", risk_tier="medium",
            closed_on="2025-04-11", risk_assessment_done="yes"),
    ],
    "training": [
        row(record_id="T1", site=A, employee_id="E1", course="GMP", completed_on="2025-02-01",
            effectiveness_checked_on="2025-03-05", effectiveness_passed="true"),
        row(record_id="T2", site=A, employee_id="E2", course="GMP", completed_on="2025-02-01",
            effectiveness_checked_on="2025-03-20", effectiveness_passed="false"),
        # checked, no outcome recorded: checked but not passed
        row(record_id="T3", site=A, employee_id="E3", course="GMP", completed_on="2025-02-01",
            effectiveness_checked_on="2025-03-25"),
        # an outcome without a check date: no period
        row(record_id="T4", site=A, employee_id="E4", course="GMP", completed_on="2025-02-01",
            effectiveness_passed="true"),
        row(record_id="T5", site=B, employee_id="E5", course="GMP", completed_on="2025-03-01",
            effectiveness_checked_on="2025-04-01", effectiveness_passed="1"),
    ],
    "em_sample": [
        # 2025-02-28 23:30 UTC: February
        row(sample_id="E1", site=A, room="R1", grade="A", method="active_air",
            sampled_at="2025-03-01T00:30:00+01:00", cfu="0", alert_limit="1",
            action_limit="1"),
        # excursion, 1.5 h to response
        row(sample_id="E2", site=A, room="R1", grade="A", method="active_air",
            sampled_at="2025-03-10T08:00:00Z", cfu="2", alert_limit="1", action_limit="1",
            result_at="2025-03-12T08:00:00Z", response_at="2025-03-12T09:30:00Z"),
        # at the alert limit: not an excursion, but a recovery
        row(sample_id="E3", site=A, room="R2", grade="B", method="settle_plate",
            sampled_at="2025-03-11T08:00:00Z", cfu="5", alert_limit="5", action_limit="10"),
        # no result_at: sampled_at stands in; 24 h
        row(sample_id="E4", site=A, room="R2", grade="B", method="settle_plate",
            sampled_at="2025-03-20T10:00:00Z", cfu="10", alert_limit="5", action_limit="10",
            response_at="2025-03-21T10:00:00Z"),
        # an excursion without a response
        row(sample_id="E5", site=A, room="R2", grade="B", method="contact_plate",
            sampled_at="2025-03-25T10:00:00Z", cfu="8", alert_limit="5", action_limit="10",
            result_at="2025-03-26T10:00:00Z"),
        # 2025-04-01 01:00 UTC: April; 3.25 h
        row(sample_id="E6", site=A, room="R3", grade="C", method="active_air",
            sampled_at="2025-03-31T20:00:00-05:00", cfu="30", alert_limit="25",
            action_limit="50", result_at="2025-04-02T01:00:00Z",
            response_at="2025-04-02T04:15:00Z"),
        row(sample_id="E7", site=A, room="R3", grade="C", method="active_air",
            sampled_at="2025-04-02T00:00:00Z", cfu="0", alert_limit="25", action_limit="50"),
        # sampled in March, result (and response period) in April; 10 h
        row(sample_id="E8", site=A, room="R2", grade="B", method="glove",
            sampled_at="2025-03-31T22:00:00Z", cfu="9", alert_limit="5", action_limit="10",
            result_at="2025-04-01T04:00:00+02:00", response_at="2025-04-01T12:00:00Z"),
        # 0.75 h and 2 h: four March values, so the median is the mean of 1.5 and 2
        row(sample_id="E9", site=A, room="R1", grade="A", method="active_air",
            sampled_at="2025-03-15T00:00:00Z", cfu="3", alert_limit="1", action_limit="1",
            result_at="2025-03-15T06:00:00Z", response_at="2025-03-15T06:45:00Z"),
        row(sample_id="E10", site=A, room="R1", grade="A", method="glove",
            sampled_at="2025-03-16T00:00:00Z", cfu="4", alert_limit="1", action_limit="1",
            result_at="2025-03-16T01:00:00Z", response_at="2025-03-16T03:00:00Z"),
        row(sample_id="E11", site=A, room="R2", grade="B", method="settle_plate",
            sampled_at="2025-03-05T00:00:00Z", cfu="0", alert_limit="5", action_limit="10"),
        # no offset: UTC
        row(sample_id="E12", site=B, room="R9", grade="D", method="settle_plate",
            sampled_at="2025-05-01T12:00:00", cfu="1", alert_limit="10", action_limit="20"),
    ],
    "supplier_car": [
        row(scar_id="S1", site=A, supplier="Acme", issued_on="2025-02-01", due_on="2025-03-10",
            closed_on="2025-03-10"),
        row(scar_id="S2", site=A, supplier="Acme", issued_on="2025-02-01", due_on="2025-03-01",
            closed_on="2025-03-05"),
        row(scar_id="S3", site=A, supplier="Acme", issued_on="2025-02-01", due_on="2025-03-01"),
        row(scar_id="S4", site=B, supplier="Bolt", issued_on="2025-05-01", due_on="2025-06-30",
            closed_on="2025-06-01", effective="true"),
    ],
    "lot": [
        row(lot_id="L1", site=A, product="P1", started_on="2025-02-01",
            dispositioned_on="2025-03-02", disposition="released"),
        row(lot_id="L2", site=A, product="P1", started_on="2025-02-01",
            dispositioned_on="2025-03-03", disposition="rejected"),
        row(lot_id="L3", site=A, product="P2", started_on="2025-02-01",
            dispositioned_on="2025-03-04", disposition="released"),
        row(lot_id="L4", site=A, product="P2", started_on="2025-02-01",
            dispositioned_on="2025-03-05", disposition="pending"),
        row(lot_id="L5", site=A, product="P2", started_on="2025-02-01"),
        row(lot_id="L6", site=B, product="P1", started_on="2025-03-01",
            dispositioned_on="2025-04-01", disposition="pending"),
    ],
    "complaint": [
        row(complaint_id="K1", site=A, product="P1", received_on="2025-03-03",
            quality_related="true"),
        row(complaint_id="K2", site=A, product="P2", received_on="2025-03-09",
            quality_related="yes"),
        row(complaint_id="K3", site=A, product="P1", received_on="2025-03-12",
            quality_related="false"),
        # no units distributed by site B in March: no rate
        row(complaint_id="K4", site=B, product="P1", received_on="2025-03-15",
            quality_related="true"),
    ],
    "distribution": [
        row(site=A, product="P1", month="2025-03", units="1500000"),
        row(site=A, product="P2", month="2025-03", units="500000"),
        row(site=A, product="P1", month="2025-04", units="250000"),
        row(site=B, product="P1", month="2025-02", units="0"),
    ],
    "oos": [
        row(oos_id="O1", site=A, test_type="release", reported_on="2025-03-01",
            invalidated="true"),
        row(oos_id="O2", site=A, test_type="release", reported_on="2025-03-02",
            invalidated="false"),
        row(oos_id="O3", site=A, test_type="stability", reported_on="2025-03-03",
            invalidated="no"),
        row(oos_id="O4", site=A, test_type="stability", reported_on="2025-03-04",
            invalidated="0"),
        row(oos_id="O5", site=B, test_type="release", reported_on="2025-04-01",
            invalidated="false"),
    ],
    "suggestion": [
        row(suggestion_id="G1", site=A, submitted_on="2025-03-01", decided_on="2025-03-11",
            decision="accepted"),
        row(suggestion_id="G2", site=A, submitted_on="2025-03-02", decided_on="2025-03-06",
            decision="rejected"),
        row(suggestion_id="G3", site=A, submitted_on="2025-03-03", decided_on="2025-03-10",
            decision="accepted"),
        row(suggestion_id="G4", site=A, submitted_on="2025-03-04", decided_on="2025-04-03",
            decision="accepted", implemented_on="2025-05-01"),
        row(suggestion_id="G5", site=A, submitted_on="2025-03-05"),
        row(suggestion_id="G6", site=A, submitted_on="2025-03-06", decided_on="2025-03-06",
            decision="accepted"),
        # site B has no headcount, site C a headcount of 0: no rate either way
        row(suggestion_id="G7", site=B, submitted_on="2025-04-10"),
        row(suggestion_id="G8", site=C, submitted_on="2025-04-11"),
    ],
}
# fmt: on
SITES = {"site": [A, B, C], "headcount": [200, None, 0]}

N = None
# Every month row the contract gives for ROWS: (kpi, site, period, group) -> (num, den, value).
EXPECTED_MONTH: dict[tuple[str, str, str, str], tuple[float | None, ...]] = {
    ("capa_on_time_closure", A, "2025-02", ""): (2, 3, 2 / 3),
    ("capa_on_time_closure", A, "2025-03", ""): (1, 1, 1.0),
    ("capa_on_time_closure", B, "2024-03", ""): (0, 1, 0.0),
    ("capa_on_time_closure", B, "2024-12", ""): (0, 1, 0.0),
    ("capa_voe_on_time", A, "2025-03", ""): (1, 3, 1 / 3),
    ("capa_voe_on_time", A, "2025-06", ""): (1, 1, 1.0),
    ("capa_effectiveness", A, "2025-03", ""): (1, 1, 1.0),
    ("capa_effectiveness", A, "2025-04", ""): (0, 1, 0.0),
    ("capa_effectiveness", A, "2025-06", ""): (1, 1, 1.0),
    ("deviation_repeat_rate", A, "2024-03", ""): (0, 2, 0.0),
    ("deviation_repeat_rate", A, "2025-03", ""): (2, 5, 0.4),
    ("deviation_repeat_rate", A, "2025-04", ""): (1, 2, 0.5),
    ("deviation_repeat_rate", B, "2025-03", ""): (1, 3, 1 / 3),
    ("deviation_repeat_rate", B, "2025-05", ""): (1, 2, 0.5),
    ("capa_recurrence_rate", A, "2024-03", ""): (0, 2, 0.0),
    ("capa_recurrence_rate", A, "2025-03", ""): (4, 5, 0.8),
    ("capa_recurrence_rate", A, "2025-04", ""): (0, 2, 0.0),
    ("capa_recurrence_rate", B, "2025-03", ""): (2, 3, 2 / 3),
    ("capa_recurrence_rate", B, "2025-05", ""): (0, 2, 0.0),
    ("change_cycle_time_days", A, "2025-03", "high"): (N, 4, 79.0),
    ("change_cycle_time_days", A, "2025-03", "medium"): (N, 2, 60.5),
    ("change_cycle_time_days", A, "2025-03", "low"): (N, 2, 30.5),
    ("change_cycle_time_days", B, "2025-04", "medium"): (N, 1, 10.0),
    ("change_within_target", A, "2025-03", ""): (5, 8, 0.625),
    ("change_within_target", B, "2025-04", ""): (1, 1, 1.0),
    ("training_effectiveness", A, "2025-03", ""): (1, 3, 1 / 3),
    ("training_effectiveness", B, "2025-04", ""): (1, 1, 1.0),
    ("em_excursion_rate", A, "2025-02", ""): (0, 1, 0.0),
    ("em_excursion_rate", A, "2025-03", ""): (6, 8, 0.75),
    ("em_excursion_rate", A, "2025-04", ""): (1, 2, 0.5),
    ("em_excursion_rate", B, "2025-05", ""): (0, 1, 0.0),
    ("em_response_hours", A, "2025-03", ""): (N, 4, 1.75),
    ("em_response_hours", A, "2025-04", ""): (N, 2, 6.625),
    ("em_open_excursions", A, "2025-02", ""): (0, 0, 0.0),
    ("em_open_excursions", A, "2025-03", ""): (1, 5, 1.0),
    ("em_open_excursions", A, "2025-04", ""): (0, 2, 0.0),
    ("em_open_excursions", B, "2025-05", ""): (0, 0, 0.0),
    ("em_recovery_rate", A, "2025-02", "A"): (0, 1, 0.0),
    ("em_recovery_rate", A, "2025-03", "A"): (3, 3, 1.0),
    ("em_recovery_rate", A, "2025-03", "B"): (4, 5, 0.8),
    ("em_recovery_rate", A, "2025-04", "C"): (1, 2, 0.5),
    ("em_recovery_rate", B, "2025-05", "D"): (1, 1, 1.0),
    ("scar_on_time_closure", A, "2025-03", ""): (1, 2, 0.5),
    ("scar_on_time_closure", B, "2025-06", ""): (1, 1, 1.0),
    ("lot_acceptance_rate", A, "2025-03", ""): (2, 3, 2 / 3),
    ("complaint_rate_per_million", A, "2025-03", ""): (2, 2_000_000, 1.0),
    ("complaint_rate_per_million", A, "2025-04", ""): (0, 250_000, 0.0),
    ("complaint_rate_per_million", B, "2025-02", ""): (0, 0, N),
    ("complaint_rate_per_million", B, "2025-03", ""): (1, 0, N),
    ("invalidated_oos_rate", A, "2025-03", ""): (1, 4, 0.25),
    ("invalidated_oos_rate", B, "2025-04", ""): (0, 1, 0.0),
    ("suggestion_acceptance_rate", A, "2025-03", ""): (3, 4, 0.75),
    ("suggestion_acceptance_rate", A, "2025-04", ""): (1, 1, 1.0),
    ("suggestion_decision_days", A, "2025-03", ""): (N, 4, 5.5),
    ("suggestion_decision_days", A, "2025-04", ""): (N, 1, 30.0),
    ("suggestions_per_100_staff", A, "2025-03", ""): (6, 200, 3.0),
    ("suggestions_per_100_staff", B, "2025-04", ""): (1, N, N),
    ("suggestions_per_100_staff", C, "2025-04", ""): (1, 0, N),
}

# A few quarter and year rows: labels, and periods that merge months.
EXPECTED_OTHER: dict[str, dict[tuple[str, str, str, str], tuple[float | None, ...]]] = {
    "quarter": {
        ("capa_on_time_closure", A, "2025-Q1", ""): (3, 4, 0.75),
        ("capa_on_time_closure", B, "2024-Q1", ""): (0, 1, 0.0),
        ("capa_on_time_closure", B, "2024-Q4", ""): (0, 1, 0.0),
        ("em_excursion_rate", A, "2025-Q1", ""): (6, 9, 6 / 9),
        ("em_response_hours", A, "2025-Q2", ""): (N, 2, 6.625),
        ("complaint_rate_per_million", B, "2025-Q1", ""): (1, 0, N),
        ("capa_voe_on_time", A, "2025-Q2", ""): (1, 1, 1.0),
    },
    "year": {
        ("capa_on_time_closure", A, "2025", ""): (3, 4, 0.75),
        ("capa_on_time_closure", B, "2024", ""): (0, 2, 0.0),
        ("deviation_repeat_rate", A, "2025", ""): (3, 7, 3 / 7),
        ("em_response_hours", A, "2025", ""): (N, 6, (2 + 3.25) / 2),
        ("change_cycle_time_days", A, "2025", "high"): (N, 4, 79.0),
        ("complaint_rate_per_million", A, "2025", ""): (2, 2_250_000, 2 / 2_250_000 * 1e6),
    },
}

_ARROW_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.month: pa.string(),
    ColumnType.date: pa.date32(),
    ColumnType.integer: pa.int64(),
    ColumnType.number: pa.float64(),
    ColumnType.boolean: pa.bool_(),
}


def _cell(text: str | None, kind: ColumnType, naive: bool) -> object:
    """A cell's text read the way the contract says."""
    if text is None or text == "":
        return None
    if kind is ColumnType.date:
        return date.fromisoformat(text)
    if kind is ColumnType.timestamp:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.replace(tzinfo=None) if naive else moment
    if kind is ColumnType.boolean:
        return text.lower() in {"true", "yes", "1"}
    if kind is ColumnType.integer:
        return int(text)
    if kind is ColumnType.number:
        return float(text)
    return text


def _arrow_tables(naive: bool) -> dict[str, pa.Table]:
    """The data set as Arrow tables typed like the event store's views."""
    tables = {}
    for name, rows in ROWS.items():
        columns = {}
        for column in RECORD_TYPES[name].columns:
            kind = column.type
            if kind is ColumnType.timestamp:
                arrow_type = pa.timestamp("us") if naive else pa.timestamp("us", tz="UTC")
            else:
                arrow_type = _ARROW_TYPES[kind]
            values = [_cell(row.get(column.name), kind, naive) for row in rows]
            columns[column.name] = pa.array(values, type=arrow_type)
        tables[name] = pa.table(columns)
    tables["sites"] = pa.table(
        {"site": pa.array(SITES["site"]), "headcount": pa.array(SITES["headcount"], pa.int64())}
    )
    return tables


def _pandas_frames(tables: dict[str, pa.Table], dates_as_objects: bool) -> dict[str, Any]:
    return {
        name: table.to_pandas(date_as_object=dates_as_objects) for name, table in tables.items()
    }


# Two layouts of the same data: (timestamps naive UTC?, pandas dates as Python objects?)
DATES_AS_OBJECTS = {False: True, True: False}
LAYOUTS = [
    pytest.param(False, True, id="tz-timestamps-object-dates"),
    pytest.param(True, False, id="naive-timestamps-datetime64-dates"),
]


@pytest.fixture(scope="module")
def results() -> dict[tuple[bool, bool, str], tuple[pd.DataFrame, pd.DataFrame]]:
    """Hand SQL and pandas results for each layout and period kind."""
    out = {}
    for naive, dates_as_objects in DATES_AS_OBJECTS.items():
        tables = _arrow_tables(naive)
        connection = ref.reference_connection(tables)
        frames = _pandas_frames(tables, dates_as_objects)
        for period in ref.PERIODS:
            out[naive, dates_as_objects, period] = (
                ref.run_hand_sql(connection, period=period, as_of=AS_OF),
                ref.pandas_kpis(frames, period=period, as_of=AS_OF),
            )
        connection.close()
    return out


def _rows(frame: pd.DataFrame) -> dict[tuple[str, str, str, str], tuple[float | None, ...]]:
    rows, duplicates = ref.result_rows(frame)
    assert not duplicates
    return rows


def _assert_rows_equal(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for key, values in expected.items():
        for name, a, b in zip(
            ("numerator", "denominator", "value"), actual[key], values, strict=True
        ):
            assert ref.close(a, None if b is None else float(b)), (key, name, a, b)


def test_there_is_one_hand_written_query_for_every_kpi_of_the_catalogue() -> None:
    assert set(ref.HAND_SQL) == set(KPI_IDS)
    assert set(ref.KPI_IDS) == set(KPI_IDS)


def test_the_data_set_gives_every_kpi_a_row() -> None:
    assert {key[0] for key in EXPECTED_MONTH} == set(KPI_IDS)


@pytest.mark.parametrize("naive", [False, True], ids=["tz-timestamps", "naive-timestamps"])
def test_hand_sql_gives_the_contracts_monthly_values(naive: bool, results: dict) -> None:
    hand, _ = results[naive, DATES_AS_OBJECTS[naive], "month"]
    assert list(hand.columns) == list(ref.RESULT_COLUMNS)
    _assert_rows_equal(_rows(hand), EXPECTED_MONTH)


@pytest.mark.parametrize("naive", [False, True], ids=["tz-timestamps", "naive-timestamps"])
def test_hand_sql_takes_periods_in_utc_whatever_the_sessions_time_zone(naive: bool) -> None:
    connection = ref.reference_connection(_arrow_tables(naive))
    connection.execute("SET TimeZone = 'America/New_York'")
    hand = ref.run_hand_sql(connection, period="month", as_of=AS_OF)
    connection.close()
    _assert_rows_equal(_rows(hand), EXPECTED_MONTH)


@pytest.mark.parametrize(("naive", "dates_as_objects"), LAYOUTS)
def test_pandas_gives_the_contracts_monthly_values(
    naive: bool, dates_as_objects: bool, results: dict
) -> None:
    _, pandas = results[naive, dates_as_objects, "month"]
    assert list(pandas.columns) == list(ref.RESULT_COLUMNS)
    _assert_rows_equal(_rows(pandas), EXPECTED_MONTH)


@pytest.mark.parametrize("period", ["quarter", "year"])
@pytest.mark.parametrize(("naive", "dates_as_objects"), LAYOUTS)
def test_both_references_label_and_merge_quarters_and_years(
    period: str, naive: bool, dates_as_objects: bool, results: dict
) -> None:
    hand, pandas = results[naive, dates_as_objects, period]
    for frame in (hand, pandas):
        rows = _rows(frame)
        for key, values in EXPECTED_OTHER[period].items():
            assert key in rows, key
            _assert_rows_equal({key: rows[key]}, {key: values})


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
@pytest.mark.parametrize(("naive", "dates_as_objects"), LAYOUTS)
def test_hand_sql_and_pandas_agree_row_for_row(
    period: str, naive: bool, dates_as_objects: bool, results: dict
) -> None:
    hand, pandas = results[naive, dates_as_objects, period]
    comparison = ref.compare_results(hand, pandas, names=("hand SQL", "pandas"))
    assert comparison.agrees(strict=True), "\n".join(comparison.report())
    assert set(hand["kpi"]) == set(KPI_IDS)


def test_the_as_of_date_bounds_the_verification_kpi() -> None:
    tables = _arrow_tables(naive=False)
    connection = ref.reference_connection(tables)
    later = date(2025, 7, 31)
    hand = ref.run_hand_sql(connection, period="month", as_of=later, kpis=["capa_voe_on_time"])
    pandas = ref.pandas_kpis(_pandas_frames(tables, True), period="month", as_of=later)
    pandas = pandas[pandas["kpi"] == "capa_voe_on_time"]
    for frame in (hand, pandas):
        # C4's verification, due 2025-07-15 and never done, now counts against July
        assert _rows(frame)["capa_voe_on_time", A, "2025-07", ""] == (0.0, 1.0, 0.0)
    connection.close()


def test_it_refuses_an_unknown_period_or_kpi() -> None:
    with pytest.raises(ValueError, match="week"):
        ref.hand_sql("capa_on_time_closure", "week", AS_OF)
    with pytest.raises(KeyError):
        ref.hand_sql("nope", "month", AS_OF)
    with pytest.raises(ValueError, match="week"):
        ref.pandas_kpis({}, period="week", as_of=AS_OF)


class TestCompareResults:
    def frame(self, *rows: tuple) -> pd.DataFrame:
        return pd.DataFrame(list(rows), columns=list(ref.RESULT_COLUMNS))

    def test_it_accepts_values_within_the_tolerance(self) -> None:
        left = self.frame(("k", A, "2025-03", None, 1, 3, 1 / 3))
        right = self.frame(("k", A, "2025-03", float("nan"), 1.0, 3.0, 1 / 3 + 1e-12))
        assert ref.compare_results(left, right).agrees()

    def test_it_reports_a_value_outside_the_tolerance(self) -> None:
        left = self.frame(("k", A, "2025-03", None, 1, 3, 0.333))
        right = self.frame(("k", A, "2025-03", None, 1, 3, 1 / 3))
        comparison = ref.compare_results(left, right)
        assert not comparison.agrees(strict=False)
        assert len(comparison.values) == 1

    def test_it_tells_a_missing_value_from_a_missing_row_that_carries_none(self) -> None:
        left = self.frame(("k", A, "2025-03", None, 0, 0, None), ("k", A, "2025-04", None, 1, 1, 1))
        right = self.frame(("k", A, "2025-04", None, 1, 1, 1.0))
        comparison = ref.compare_results(left, right)
        assert comparison.agrees(strict=False)
        assert not comparison.agrees(strict=True)
        assert comparison.null_only_left == [("k", A, "2025-03", "")]

    def test_it_reports_a_row_with_a_value_on_one_side_only(self) -> None:
        left = self.frame(("k", A, "2025-03", None, 0, 2, 0.0))
        comparison = ref.compare_results(left, self.frame())
        assert comparison.only_left == [("k", A, "2025-03", "")]
        assert not comparison.agrees(strict=False)

    def test_it_reports_a_differing_count_and_a_null_against_a_number(self) -> None:
        left = self.frame(("k", A, "2025-03", None, 1, 4, None))
        right = self.frame(("k", A, "2025-03", None, 1, 3, 0.0))
        comparison = ref.compare_results(left, right)
        assert [c[1] for c in comparison.counts] == ["denominator"]
        assert len(comparison.values) == 1
