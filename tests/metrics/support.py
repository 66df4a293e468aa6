"""Input tables for the KPI engine tests: hand-written and seeded random ones."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import ibis
import pyarrow as pa

from qmm.metrics.kpis import input_schemas

Rows = Sequence[Mapping[str, Any]]
MakeTables = Callable[..., dict[str, Any]]
Key = tuple[str, str, str | None]
ValuesOf = Callable[..., dict[Key, tuple[int | None, int | None, Any]]]

SCHEMAS = input_schemas()


def arrow_tables(rows: Mapping[str, Rows]) -> dict[str, pa.Table]:
    """One Arrow table per input table, the given rows padded with nulls, the rest empty."""
    unknown = set(rows) - set(SCHEMAS)
    assert not unknown, f"not an input table: {unknown}"
    out: dict[str, pa.Table] = {}
    for name, schema in SCHEMAS.items():
        given = rows.get(name, [])
        for row in given:
            extra = set(row) - set(schema.names)
            assert not extra, f"{name}: unknown columns {extra}"
        padded = [{c: row.get(c) for c in schema.names} for row in given]
        out[name] = pa.Table.from_pylist(padded, schema=schema.to_pyarrow())
    return out


def duckdb_tables(arrow: Mapping[str, pa.Table]) -> dict[str, Any]:
    con = ibis.duckdb.connect()
    return {name: con.create_table(name, table) for name, table in arrow.items()}


def utc(text: str) -> datetime:
    """An ISO 8601 timestamp with an offset (or Z), as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- seeded random data for the portability tests -------------------------------------------

SITES = ("SITE-A", "SITE-B", "SITE-C")
CAUSES = ("equipment", "procedure", "people", "material", "method")
AREAS = ("filling", "packaging", "warehouse")
MODES = ("leak", "jam", "drift")


def random_rows(seed: int = 20261122, n: int = 2000) -> dict[str, list[dict[str, Any]]]:
    """Reproducible random records of every type, with nulls, ties and month-end timestamps."""
    rnd = random.Random(seed)
    start = date(2024, 1, 1)

    def day(lo: int = 0, hi: int = 730) -> date:
        return start + timedelta(days=rnd.randint(lo, hi))

    def later(d: date, hi: int) -> date:
        return d + timedelta(days=rnd.randint(0, hi))

    def maybe(value: Any, p: float = 0.8) -> Any:
        return value if rnd.random() < p else None

    def stamp() -> datetime:
        if rnd.random() < 0.2:  # close to a month boundary, with an offset
            d = date(2024 + rnd.randint(0, 1), rnd.randint(1, 12), 1)
            base = datetime(d.year, d.month, d.day, tzinfo=UTC)
            offset = timezone(timedelta(hours=rnd.choice([-5, -2, 1, 2, 9])))
            return (base + timedelta(minutes=rnd.randint(-180, 180))).astimezone(offset)
        return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rnd.randint(0, 730 * 86400))

    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
    rows["sites"] = [
        {"site": "SITE-A", "headcount": 640},
        {"site": "SITE-B", "headcount": None},
        {"site": "SITE-C", "headcount": 85},
    ]
    for i in range(n):
        site = rnd.choice(SITES)
        opened = day()
        due = later(opened, 90)
        voe_due = maybe(later(due, 120), 0.7)
        rows["capa"].append(
            {
                "capa_id": f"CAPA-{i:05d}",
                "site": site,
                "opened_on": opened,
                "due_on": due,
                "root_cause_category": rnd.choice(CAUSES),
                "closed_on": maybe(later(opened, 150)),
                "voe_due_on": voe_due,
                "voe_done_on": None if voe_due is None else maybe(later(opened, 260), 0.7),
                "voe_result": maybe(rnd.choice(["effective", "not_effective"]), 0.6),
            }
        )
        opened = day()
        rows["deviation"].append(
            {
                "deviation_id": f"DEV-{i:05d}",
                "site": site,
                "opened_on": opened,
                "root_cause_category": rnd.choice(CAUSES),
                "closed_on": maybe(later(opened, 60)),
                "severity": maybe(rnd.choice(["critical", "major", "minor"]), 0.9),
                "process_area": maybe(rnd.choice(AREAS), 0.5),
                "recurrence_key": maybe(f"EQ-{rnd.randint(1, 40)}:{rnd.choice(MODES)}", 0.5),
                "capa_id": maybe(f"CAPA-{rnd.randint(0, n - 1):05d}", 0.5),
            }
        )
        opened = day()
        tier = rnd.choice(["high", "medium", "low"])
        rows["change_control"].append(
            {
                "change_id": f"CC-{i:05d}",
                "site": site,
                "opened_on": opened,
                "risk_tier": tier,
                "closed_on": maybe(later(opened, 140)),
                "target_days": maybe(rnd.choice([20, 45, 75, 120]), 0.3),
            }
        )
        sampled = stamp()
        result = maybe(sampled + timedelta(seconds=rnd.randint(0, 5 * 86400)), 0.7)
        cfu = float(rnd.choice([0, 0, 0, 1, 2, 3, 5, 8, 13]))
        rows["em_sample"].append(
            {
                "sample_id": f"EM-{i:05d}",
                "site": site,
                "room": f"R{rnd.randint(1, 5)}",
                "grade": rnd.choice(["A", "B", "C", "D"]),
                "method": rnd.choice(["active_air", "settle_plate", "contact_plate", "glove"]),
                "sampled_at": sampled,
                "cfu": cfu,
                "alert_limit": float(rnd.choice([1, 3, 5])),
                "action_limit": 10.0,
                "result_at": result,
                "deviation_id": maybe(f"DEV-{rnd.randint(0, n - 1):05d}", 0.5),
                "response_at": maybe(
                    (result or sampled) + timedelta(seconds=rnd.randint(0, 4 * 86400)), 0.6
                ),
            }
        )
        completed = day()
        rows["training"].append(
            {
                "record_id": f"TR-{i:05d}",
                "site": site,
                "employee_id": f"E{rnd.randint(1, 300)}",
                "course": rnd.choice(["GMP", "aseptic", "data integrity"]),
                "completed_on": completed,
                "effectiveness_checked_on": maybe(later(completed, 60), 0.6),
                "effectiveness_passed": maybe(rnd.random() < 0.8, 0.9),
            }
        )
        issued = day()
        rows["supplier_car"].append(
            {
                "scar_id": f"SCAR-{i:05d}",
                "site": site,
                "supplier": f"SUP-{rnd.randint(1, 20)}",
                "issued_on": issued,
                "due_on": later(issued, 60),
                "closed_on": maybe(later(issued, 90)),
            }
        )
        started = day()
        rows["lot"].append(
            {
                "lot_id": f"LOT-{i:05d}",
                "site": site,
                "product": rnd.choice(["P1", "P2", "P3"]),
                "started_on": started,
                "dispositioned_on": maybe(later(started, 40), 0.9),
                "disposition": rnd.choice(["released"] * 8 + ["rejected", "pending"]),
            }
        )
        rows["complaint"].append(
            {
                "complaint_id": f"CMP-{i:05d}",
                "site": site,
                "product": rnd.choice(["P1", "P2", "P3"]),
                "received_on": day(),
                "quality_related": rnd.random() < 0.7,
            }
        )
        rows["oos"].append(
            {
                "oos_id": f"OOS-{i:05d}",
                "site": site,
                "test_type": rnd.choice(["release", "stability"]),
                "reported_on": day(),
                "invalidated": rnd.random() < 0.3,
            }
        )
        submitted = day()
        decided = maybe(later(submitted, 45), 0.7)
        rows["suggestion"].append(
            {
                "suggestion_id": f"SUG-{i:05d}",
                "site": site,
                "submitted_on": submitted,
                "decided_on": decided,
                "decision": None
                if decided is None
                else maybe(rnd.choice(["accepted", "rejected"]), 0.9),
            }
        )
    for site in SITES:
        for year in (2024, 2025):
            for month in range(1, 13):
                for product in ("P1", "P2", "P3"):
                    if rnd.random() < 0.85:
                        rows["distribution"].append(
                            {
                                "site": site,
                                "product": product,
                                "month": f"{year}-{month:02d}",
                                "units": float(rnd.randint(0, 400_000)),
                            }
                        )
    return rows


def assert_same_values(expected: Sequence[Any], actual: Sequence[Any], label: str) -> None:
    """Two KPI result lists agree: same rows, exact counts, values within 1e-9 (relative)."""

    def key(v: Any) -> tuple[str, str, str, str]:
        return (v.kpi, v.site, v.period, v.group or "")

    exp = {key(v): v for v in expected}
    act = {key(v): v for v in actual}
    assert len(exp) == len(expected), f"{label}: duplicate rows expected"
    assert len(act) == len(actual), f"{label}: duplicate rows"
    missing, extra = sorted(exp.keys() - act.keys()), sorted(act.keys() - exp.keys())
    assert not missing, f"{label}: missing {missing[:5]}"
    assert not extra, f"{label}: extra {extra[:5]}"
    wrong = []
    for k, e in exp.items():
        a = act[k]
        same_counts = (e.numerator, e.denominator) == (a.numerator, a.denominator)
        if e.value is None or a.value is None:
            same_value = e.value is None and a.value is None
        else:
            same_value = math.isclose(e.value, a.value, rel_tol=1e-9, abs_tol=1e-12)
        if not (same_counts and same_value):
            wrong.append((e, a))
    assert not wrong, f"{label}: {len(wrong)} rows differ, e.g. {wrong[:3]}"
