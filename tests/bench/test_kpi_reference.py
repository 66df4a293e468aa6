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

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from qmm.events.record_types import RECORD_TYPES, ColumnType
from qmm.metrics.catalogue import KPI_IDS
from qmm.metrics.engine import compute
from qmm.metrics.kpis import Options


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
        # closed after the as-of date: left out until it passes
        row(capa_id="C9", site=A, opened_on="2025-05-01", due_on="2025-07-01",
            root_cause_category="equipment", closed_on="2025-07-03", voe_due_on="2025-09-01"),
        # Site C: recurrence after CAPA (window 180 days; as of 2025-06-30 a CAPA closed on or
        # before 2025-01-01 is judged). R1: its key comes back on its closing day (0 days) and
        # 181 days later: no recurrence.
        row(capa_id="R1", site=C, opened_on="2024-04-01", due_on="2024-06-02",
            root_cause_category="procedure", closed_on="2024-06-02"),
        # R2 addresses two keys; the second comes back 1 day after: a recurrence
        row(capa_id="R2", site=C, opened_on="2024-04-01", due_on="2024-06-03",
            root_cause_category="equipment", closed_on="2024-06-03"),
        # R3: window ends on the as-of date (judged), no recurrence
        row(capa_id="R3", site=C, opened_on="2024-11-01", due_on="2025-01-01",
            root_cause_category="equipment", closed_on="2025-01-01"),
        # R4: window ends a day after the as-of date: recurs, but not judged yet
        row(capa_id="R4", site=C, opened_on="2024-11-01", due_on="2025-01-02",
            root_cause_category="equipment", closed_on="2025-01-02"),
        # R5: named only by a deviation without a key: addresses no key
        row(capa_id="R5", site=C, opened_on="2024-05-01", due_on="2024-06-15",
            root_cause_category="people", closed_on="2024-06-15"),
    ],
    "deviation": [
        # Keys: a recurrence_key, else the pair (process_area, root_cause_category), else none.
        row(deviation_id="DEV-1", site=A, opened_on="2024-03-01", process_area="filling",
            root_cause_category="procedure"),
        # addressed by C1
        row(deviation_id="DEV-2", site=A, opened_on="2024-03-01", recurrence_key="FIL-1:leak",
            root_cause_category="equipment", capa_id="C1"),
        # 365 days after DEV-2: a repeat
        row(deviation_id="DEV-3", site=A, opened_on="2025-03-01", recurrence_key="FIL-1:leak",
            root_cause_category="equipment"),
        # 366 days after DEV-1: not a repeat; major, closed without a CAPA
        row(deviation_id="DEV-4", site=A, opened_on="2025-03-02", process_area="filling",
            root_cause_category="procedure", severity="major", closed_on="2025-03-25"),
        # a repeat of DEV-3; critical, closed with CAPA C3 (which it addresses)
        row(deviation_id="DEV-5", site=A, opened_on="2025-03-10", recurrence_key="FIL-1:leak",
            root_cause_category="equipment", severity="critical", closed_on="2025-04-10",
            capa_id="C3"),
        # no key (a root cause alone): in neither recurrence KPI; minor
        row(deviation_id="DEV-7", site=A, opened_on="2025-03-12",
            root_cause_category="equipment", severity="minor", closed_on="2025-03-25"),
        # a pair whose area reads like DEV-2's key, with DEV-2's cause: still not that key
        row(deviation_id="DEV-8", site=A, opened_on="2025-03-20", process_area="FIL-1:leak",
            root_cause_category="equipment", severity="critical"),
        row(deviation_id="DEV-40", site=A, opened_on="2025-03-31", recurrence_key="MAT-1:mixup",
            root_cause_category="materials", capa_id="C5"),
        row(deviation_id="DEV-41", site=A, opened_on="2025-03-15", process_area="packaging",
            root_cause_category="training"),
        # the same day: DEV-21 repeats DEV-20 (smaller id), not the other way round; DEV-20
        # closes after the as-of date
        row(deviation_id="DEV-20", site=A, opened_on="2025-04-05",
            recurrence_key="LBL-2:misprint", root_cause_category="labelling", severity="major",
            closed_on="2025-07-05"),
        row(deviation_id="DEV-21", site=A, opened_on="2025-04-05",
            recurrence_key="LBL-2:misprint", root_cause_category="labelling"),
        # opened after the as-of date: left out until it passes
        row(deviation_id="DEV-50", site=A, opened_on="2025-07-02", recurrence_key="FIL-1:leak",
            root_cause_category="equipment"),
        # site A's FIL-1:leak deviations do not make this a repeat
        row(deviation_id="DEV-6", site=B, opened_on="2025-03-05", recurrence_key="FIL-1:leak",
            root_cause_category="equipment"),
        # addressed by C7 (closed 2024-03-01); DEV-32 comes back exactly 180 days later
        row(deviation_id="DEV-29", site=B, opened_on="2024-02-01", process_area="packing",
            root_cause_category="procedure", capa_id="C7"),
        row(deviation_id="DEV-32", site=B, opened_on="2024-08-28", process_area="packing",
            root_cause_category="procedure"),
        row(deviation_id="DEV-30", site=B, opened_on="2025-03-01", process_area="packing",
            root_cause_category="procedure", severity="critical", closed_on="2025-03-20"),
        row(deviation_id="DEV-31", site=B, opened_on="2025-03-02", process_area="packing",
            root_cause_category="procedure"),
        # ids compare as text: "DEV-10" < "DEV-9", so DEV-9 is the repeat
        row(deviation_id="DEV-9", site=B, opened_on="2025-05-01", recurrence_key="TRN-1:late",
            root_cause_category="training"),
        row(deviation_id="DEV-10", site=B, opened_on="2025-05-01", recurrence_key="TRN-1:late",
            root_cause_category="training"),
        # Site C, for the CAPAs R1-R5
        row(deviation_id="DEV-C1", site=C, opened_on="2024-05-01", process_area="mixing",
            root_cause_category="procedure", capa_id="R1", severity="major",
            closed_on="2024-05-20"),
        row(deviation_id="DEV-C2", site=C, opened_on="2024-06-02", process_area="mixing",
            root_cause_category="procedure"),
        row(deviation_id="DEV-C3", site=C, opened_on="2024-11-30", process_area="mixing",
            root_cause_category="procedure"),
        # a recurrence_key that reads like R1's pair, 8 days after R1: not R1's key
        row(deviation_id="DEV-C8", site=C, opened_on="2024-06-10", recurrence_key="mixing",
            root_cause_category="procedure"),
        row(deviation_id="DEV-C4", site=C, opened_on="2024-05-02", recurrence_key="MIX-2:drift",
            root_cause_category="equipment", capa_id="R2"),
        row(deviation_id="DEV-C5", site=C, opened_on="2024-05-03", process_area="mixing",
            root_cause_category="equipment", capa_id="R2"),
        row(deviation_id="DEV-C6", site=C, opened_on="2024-12-20", recurrence_key="MIX-2:drift",
            root_cause_category="equipment"),
        row(deviation_id="DEV-C7", site=C, opened_on="2024-06-04", process_area="mixing",
            root_cause_category="equipment"),
        row(deviation_id="DEV-C9", site=C, opened_on="2024-12-01", recurrence_key="MIX-3:leak",
            root_cause_category="equipment", capa_id="R3"),
        row(deviation_id="DEV-C10", site=C, opened_on="2024-12-02", recurrence_key="MIX-4:leak",
            root_cause_category="equipment", capa_id="R4"),
        row(deviation_id="DEV-C11", site=C, opened_on="2025-01-12", recurrence_key="MIX-4:leak",
            root_cause_category="equipment"),
        row(deviation_id="DEV-C12", site=C, opened_on="2024-06-01", root_cause_category="people",
            capa_id="R5"),
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
        # excursion, 1.5 h to response; above the action limit and investigated
        row(sample_id="E2", site=A, room="R1", grade="A", method="active_air",
            sampled_at="2025-03-10T08:00:00Z", cfu="2", alert_limit="1", action_limit="1",
            result_at="2025-03-12T08:00:00Z", response_at="2025-03-12T09:30:00Z",
            deviation_id="DEV-EM-1"),
        # at the alert limit: not an excursion, but a recovery
        row(sample_id="E3", site=A, room="R2", grade="B", method="settle_plate",
            sampled_at="2025-03-11T08:00:00Z", cfu="5", alert_limit="5", action_limit="10"),
        # no result_at: sampled_at stands in; 24 h; at the action limit: not above it
        row(sample_id="E4", site=A, room="R2", grade="B", method="settle_plate",
            sampled_at="2025-03-20T10:00:00Z", cfu="10", alert_limit="5", action_limit="10",
            response_at="2025-03-21T10:00:00Z"),
        # an excursion without a response
        row(sample_id="E5", site=A, room="R2", grade="B", method="contact_plate",
            sampled_at="2025-03-25T10:00:00Z", cfu="8", alert_limit="5", action_limit="10",
            result_at="2025-03-26T10:00:00Z"),
        # 2025-04-01 01:00 UTC: April; 3.25 h; above the action limit and investigated
        row(sample_id="E6", site=A, room="R3", grade="C", method="active_air",
            sampled_at="2025-03-31T20:00:00-05:00", cfu="60", alert_limit="25",
            action_limit="50", result_at="2025-04-02T01:00:00Z",
            response_at="2025-04-02T04:15:00Z", deviation_id="DEV-EM-2"),
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
        # 2025-04-30 23:00 UTC, no result_at: April by sampled_at; above the action limit,
        # not investigated, no response
        row(sample_id="E13", site=A, room="R3", grade="C", method="active_air",
            sampled_at="2025-05-01T01:00:00+02:00", cfu="100", alert_limit="25",
            action_limit="50"),
        # 2025-07-01 01:30 UTC: after the as-of date; 2025-06-30 23:00 UTC: June
        row(sample_id="E14", site=B, room="R9", grade="D", method="settle_plate",
            sampled_at="2025-06-30T23:30:00-02:00", cfu="0", alert_limit="10", action_limit="20"),
        row(sample_id="E15", site=B, room="R9", grade="D", method="settle_plate",
            sampled_at="2025-07-01T01:00:00+02:00", cfu="0", alert_limit="10", action_limit="20"),
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
        # after the as-of date
        row(site=A, product="P1", month="2025-07", units="100"),
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
        row(oos_id="O6", site=A, test_type="release", reported_on="2025-07-01",
            invalidated="true"),
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
        row(suggestion_id="G9", site=A, submitted_on="2025-07-01"),
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
    ("capa_on_time_closure", C, "2024-06", ""): (3, 3, 1.0),
    ("capa_on_time_closure", C, "2025-01", ""): (2, 2, 1.0),
    ("capa_voe_on_time", A, "2025-03", ""): (1, 3, 1 / 3),
    ("capa_voe_on_time", A, "2025-06", ""): (1, 1, 1.0),
    ("capa_effectiveness", A, "2025-03", ""): (1, 1, 1.0),
    ("capa_effectiveness", A, "2025-04", ""): (0, 1, 0.0),
    ("capa_effectiveness", A, "2025-06", ""): (1, 1, 1.0),
    # C6's verification has no result: a row without a value
    ("capa_effectiveness", B, "2025-04", ""): (0, 0, N),
    ("deviation_repeat_rate", A, "2024-03", ""): (0, 2, 0.0),
    ("deviation_repeat_rate", A, "2025-03", ""): (2, 6, 1 / 3),
    ("deviation_repeat_rate", A, "2025-04", ""): (1, 2, 0.5),
    ("deviation_repeat_rate", B, "2024-02", ""): (0, 1, 0.0),
    ("deviation_repeat_rate", B, "2024-08", ""): (1, 1, 1.0),
    ("deviation_repeat_rate", B, "2025-03", ""): (2, 3, 2 / 3),
    ("deviation_repeat_rate", B, "2025-05", ""): (1, 2, 0.5),
    ("deviation_repeat_rate", C, "2024-05", ""): (0, 3, 0.0),
    ("deviation_repeat_rate", C, "2024-06", ""): (2, 3, 2 / 3),
    ("deviation_repeat_rate", C, "2024-11", ""): (1, 1, 1.0),
    ("deviation_repeat_rate", C, "2024-12", ""): (1, 3, 1 / 3),
    ("deviation_repeat_rate", C, "2025-01", ""): (1, 1, 1.0),
    # C1, C3 and C5 address keys but their windows have not ended: rows without a value
    ("capa_recurrence_rate", A, "2025-02", ""): (0, 0, N),
    ("capa_recurrence_rate", A, "2025-03", ""): (0, 0, N),
    ("capa_recurrence_rate", B, "2024-03", ""): (1, 1, 1.0),
    ("capa_recurrence_rate", C, "2024-06", ""): (1, 2, 0.5),
    ("capa_recurrence_rate", C, "2025-01", ""): (0, 1, 0.0),
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
    ("em_excursion_rate", A, "2025-04", ""): (2, 3, 2 / 3),
    ("em_excursion_rate", B, "2025-05", ""): (0, 1, 0.0),
    ("em_excursion_rate", B, "2025-06", ""): (0, 1, 0.0),
    ("em_response_hours", A, "2025-03", ""): (N, 4, 1.75),
    ("em_response_hours", A, "2025-04", ""): (N, 2, 6.625),
    ("em_open_excursions", A, "2025-02", ""): (0, 0, 0.0),
    ("em_open_excursions", A, "2025-03", ""): (1, 5, 1.0),
    ("em_open_excursions", A, "2025-04", ""): (1, 3, 1.0),
    ("em_open_excursions", B, "2025-05", ""): (0, 0, 0.0),
    ("em_open_excursions", B, "2025-06", ""): (0, 0, 0.0),
    ("em_recovery_rate", A, "2025-02", "A"): (0, 1, 0.0),
    ("em_recovery_rate", A, "2025-03", "A"): (3, 3, 1.0),
    ("em_recovery_rate", A, "2025-03", "B"): (4, 5, 0.8),
    ("em_recovery_rate", A, "2025-04", "C"): (2, 3, 2 / 3),
    ("em_recovery_rate", B, "2025-05", "D"): (1, 1, 1.0),
    ("em_recovery_rate", B, "2025-06", "D"): (0, 1, 0.0),
    ("scar_on_time_closure", A, "2025-03", ""): (1, 2, 0.5),
    ("scar_on_time_closure", B, "2025-06", ""): (1, 1, 1.0),
    ("lot_acceptance_rate", A, "2025-03", ""): (2, 3, 2 / 3),
    # L6 is dispositioned as pending: a row without a value
    ("lot_acceptance_rate", B, "2025-04", ""): (0, 0, N),
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
    ("em_action_excursion_investigated", A, "2025-03", ""): (1, 3, 1 / 3),
    ("em_action_excursion_investigated", A, "2025-04", ""): (1, 2, 0.5),
    ("deviation_capa_linked", A, "2025-03", ""): (0, 1, 0.0),
    ("deviation_capa_linked", A, "2025-04", ""): (1, 1, 1.0),
    ("deviation_capa_linked", B, "2025-03", ""): (0, 1, 0.0),
    ("deviation_capa_linked", C, "2024-05", ""): (1, 1, 1.0),
    ("capa_voe_planned", A, "2025-02", ""): (3, 3, 1.0),
    ("capa_voe_planned", A, "2025-03", ""): (1, 1, 1.0),
    ("capa_voe_planned", B, "2024-03", ""): (0, 1, 0.0),
    ("capa_voe_planned", B, "2024-12", ""): (0, 1, 0.0),
    ("capa_voe_planned", C, "2024-06", ""): (0, 3, 0.0),
    ("capa_voe_planned", C, "2025-01", ""): (0, 2, 0.0),
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
        ("deviation_repeat_rate", C, "2024-Q4", ""): (2, 4, 0.5),
        ("capa_recurrence_rate", C, "2024-Q2", ""): (1, 2, 0.5),
        ("em_action_excursion_investigated", A, "2025-Q2", ""): (1, 2, 0.5),
    },
    "year": {
        ("capa_on_time_closure", A, "2025", ""): (3, 4, 0.75),
        ("capa_on_time_closure", B, "2024", ""): (0, 2, 0.0),
        ("deviation_repeat_rate", A, "2025", ""): (3, 8, 3 / 8),
        ("capa_recurrence_rate", C, "2024", ""): (1, 2, 0.5),
        ("capa_recurrence_rate", C, "2025", ""): (0, 1, 0.0),
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


def _rows(frame: pd.DataFrame) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    rows, duplicates = ref.result_rows(frame)
    assert not duplicates
    return rows


def _assert_rows_equal(actual: dict, expected: dict, partial: frozenset[str] = frozenset()) -> None:
    """The same rows and counts; every period complete but those named ``partial``."""
    assert sorted(actual) == sorted(expected)
    for key, values in expected.items():
        *counts, complete = actual[key]
        for name, a, b in zip(("numerator", "denominator", "value"), counts, values, strict=True):
            assert ref.close(a, None if b is None else float(b)), (key, name, a, b)
        assert complete is (key[2] not in partial), (key, "complete", complete)


def _engine_tables(tables: dict[str, pa.Table]) -> dict[str, Any]:
    """The data set as the engine's input: Ibis tables on a fresh DuckDB connection."""
    connection = ibis.duckdb.connect()
    return {name: connection.create_table(name, table) for name, table in tables.items()}


def _engine(tables: dict[str, Any], *, period: str, as_of: date, window: int = 180) -> pd.DataFrame:
    values = compute(
        tables, period=period, as_of=as_of, options=Options(recurrence_window_days=window)
    )
    return pd.DataFrame([{c: getattr(v, c) for c in ref.RESULT_COLUMNS} for v in values])


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
    # 2025-06-30 ends its month and its quarter, not its year
    partial = frozenset({"2025"} if period == "year" else ())
    for frame in (hand, pandas):
        rows = _rows(frame)
        for key, values in EXPECTED_OTHER[period].items():
            assert key in rows, key
            _assert_rows_equal({key: rows[key]}, {key: values}, partial)
        assert {key[2] for key, row in rows.items() if not row[3]} == partial


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
@pytest.mark.parametrize(("naive", "dates_as_objects"), LAYOUTS)
def test_hand_sql_and_pandas_agree_row_for_row(
    period: str, naive: bool, dates_as_objects: bool, results: dict
) -> None:
    hand, pandas = results[naive, dates_as_objects, period]
    comparison = ref.compare_results(hand, pandas, names=("hand SQL", "pandas"))
    assert comparison.agrees(strict=True), "\n".join(comparison.report())
    assert set(hand["kpi"]) == set(KPI_IDS)


@pytest.mark.parametrize(
    ("period", "as_of", "window"),
    [
        ("month", AS_OF, 180),
        ("quarter", AS_OF, 180),
        ("year", AS_OF, 180),
        ("month", date(2025, 6, 17), 180),
        ("quarter", date(2025, 7, 31), 180),
        ("month", AS_OF, 90),
    ],
)
def test_the_engine_gives_exactly_the_references_rows(
    period: str, as_of: date, window: int
) -> None:
    """The benchmark compares the engine with these references: on this data set they must
    agree row for row, null-valued rows and the complete flag included."""
    tables = _arrow_tables(naive=False)
    connection = ref.reference_connection(tables)
    hand = ref.run_hand_sql(connection, period=period, as_of=as_of, recurrence_window_days=window)
    connection.close()
    pandas = ref.pandas_kpis(
        _pandas_frames(tables, True), period=period, as_of=as_of, recurrence_window_days=window
    )
    engine = _engine(_engine_tables(tables), period=period, as_of=as_of, window=window)
    for other, name in ((hand, "hand SQL"), (pandas, "pandas")):
        comparison = ref.compare_results(engine, other, tol=1e-12, names=("engine", name))
        assert comparison.agrees(strict=True), "\n".join(comparison.report())


@pytest.mark.parametrize("reference", ["hand SQL", "pandas"])
def test_a_shorter_recurrence_window_judges_more_capas(reference: str) -> None:
    tables = _arrow_tables(naive=False)
    kpi = "capa_recurrence_rate"
    if reference == "hand SQL":
        connection = ref.reference_connection(tables)
        frame = ref.run_hand_sql(
            connection, period="month", as_of=AS_OF, kpis=[kpi], recurrence_window_days=90
        )
        connection.close()
    else:
        frame = ref.pandas_kpis(
            _pandas_frames(tables, True), period="month", as_of=AS_OF, recurrence_window_days=90
        )
        frame = frame[frame["kpi"] == kpi]
    # 90 days: C1 and C3 are judged and recur (19 and 1 days), C5 is judged and does not;
    # C7's recurrence at 180 days no longer counts; R4 is judged and recurs (10 days).
    _assert_rows_equal(
        _rows(frame),
        {
            (kpi, A, "2025-02", ""): (2, 2, 1.0),
            (kpi, A, "2025-03", ""): (0, 1, 0.0),
            (kpi, B, "2024-03", ""): (0, 1, 0.0),
            (kpi, C, "2024-06", ""): (1, 2, 0.5),
            (kpi, C, "2025-01", ""): (1, 2, 0.5),
        },
    )


@pytest.mark.parametrize("reference", ["hand SQL", "pandas"])
def test_records_after_the_as_of_date_count_once_it_has_passed(reference: str) -> None:
    tables = _arrow_tables(naive=False)
    later = date(2025, 7, 31)
    if reference == "hand SQL":
        connection = ref.reference_connection(tables)
        frame = ref.run_hand_sql(connection, period="month", as_of=later)
        connection.close()
    else:
        frame = ref.pandas_kpis(_pandas_frames(tables, True), period="month", as_of=later)
    july = {key: row[:3] for key, row in _rows(frame).items() if key[2] == "2025-07"}
    assert july == {
        # C4's verification, due 2025-07-15 and never done; C9 closed late without VoE due yet
        ("capa_voe_on_time", A, "2025-07", ""): (0.0, 1.0, 0.0),
        ("capa_on_time_closure", A, "2025-07", ""): (0.0, 1.0, 0.0),
        ("capa_voe_planned", A, "2025-07", ""): (1.0, 1.0, 1.0),
        ("deviation_repeat_rate", A, "2025-07", ""): (1.0, 1.0, 1.0),
        ("deviation_capa_linked", A, "2025-07", ""): (0.0, 1.0, 0.0),
        ("em_excursion_rate", B, "2025-07", ""): (0.0, 1.0, 0.0),
        ("em_open_excursions", B, "2025-07", ""): (0.0, 0.0, 0.0),
        ("em_recovery_rate", B, "2025-07", "D"): (0.0, 1.0, 0.0),
        ("complaint_rate_per_million", A, "2025-07", ""): (0.0, 100.0, 0.0),
        ("invalidated_oos_rate", A, "2025-07", ""): (1.0, 1.0, 1.0),
        ("suggestions_per_100_staff", A, "2025-07", ""): (1.0, 200.0, 0.5),
    }


@pytest.mark.parametrize("reference", ["hand SQL", "pandas"])
def test_the_as_of_dates_period_is_partial_and_none_follows_it(reference: str) -> None:
    tables = _arrow_tables(naive=False)
    mid_june = date(2025, 6, 17)
    if reference == "hand SQL":
        connection = ref.reference_connection(tables)
        frame = ref.run_hand_sql(connection, period="month", as_of=mid_june)
        connection.close()
    else:
        frame = ref.pandas_kpis(_pandas_frames(tables, True), period="month", as_of=mid_june)
    rows = _rows(frame)
    # C5's verification (due and done at the end of June) and E15 (30 June) are not yet in
    assert {key for key in rows if key[2] == "2025-06"} == {
        ("scar_on_time_closure", B, "2025-06", "")
    }
    assert {key[2] for key, row in rows.items() if not row[3]} == {"2025-06"}
    assert max(key[2] for key in rows) == "2025-06"


def test_it_refuses_an_unknown_period_or_kpi_or_an_empty_window() -> None:
    with pytest.raises(ValueError, match="week"):
        ref.hand_sql("capa_on_time_closure", "week", AS_OF)
    with pytest.raises(KeyError):
        ref.hand_sql("nope", "month", AS_OF)
    with pytest.raises(ValueError, match="week"):
        ref.pandas_kpis({}, period="week", as_of=AS_OF)
    with pytest.raises(ValueError, match="window"):
        ref.hand_sql("capa_recurrence_rate", "month", AS_OF, recurrence_window_days=0)


class TestCompareResults:
    def frame(self, *rows: tuple) -> pd.DataFrame:
        """Rows without a complete flag are complete."""
        full = [row if len(row) == len(ref.RESULT_COLUMNS) else (*row, True) for row in rows]
        return pd.DataFrame(full, columns=list(ref.RESULT_COLUMNS))

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

    def test_it_reports_a_period_complete_on_one_side_only(self) -> None:
        left = self.frame(("k", A, "2025-06", None, 1, 2, 0.5, False))
        right = self.frame(("k", A, "2025-06", None, 1, 2, 0.5, True))
        comparison = ref.compare_results(left, right)
        assert comparison.flags == [(("k", A, "2025-06", ""), False, True)]
        assert not comparison.agrees(strict=False)
