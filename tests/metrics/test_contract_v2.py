"""The engine against an independent plain-Python reading of contract version 2, on generated
"hidden" data with the edge cases planted: same-day ids, keys that look like pairs, window
boundaries, an as-of date inside a month, timestamps around its midnight."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from metrics.contract_v2 import Expected, expected_values
from metrics.support import arrow_tables, duckdb_tables, random_rows
from qmm.metrics.engine import KPIValue, compute, period_of
from qmm.metrics.kpis import REGISTRY, Options

AS_OF = date(2025, 6, 17)  # inside a month, a quarter and a year
SEED = 15_2


def _deviation(did: str, site: str, opened: date, **kw: Any) -> dict[str, Any]:
    row = {
        "deviation_id": did,
        "site": site,
        "opened_on": opened,
        "root_cause_category": "equipment",
    }
    return row | kw


def hidden_rows(seed: int = SEED, n: int = 1500) -> dict[str, list[dict[str, Any]]]:
    """Random records of every type plus the planted edge cases."""
    rows = random_rows(seed=seed, n=n)
    rnd = random.Random(seed)
    dev, capa, em = rows["deviation"], rows["capa"], rows["em_sample"]
    site = "SITE-C"
    base = date(2024, 3, 4)
    # Same day, same key: only the larger id repeats (ids compare as text: "Z-10" < "Z-9").
    dev += [
        _deviation("Z-9", site, base, recurrence_key="SAME-DAY"),
        _deviation("Z-10", site, base, recurrence_key="SAME-DAY"),
        # 365 days after Z-9/Z-10: a repeat; 366 days after the next one: not a repeat.
        _deviation("Z-11", site, base + timedelta(days=365), recurrence_key="SAME-DAY"),
        _deviation("Z-20", site, base, recurrence_key="GAP"),
        _deviation("Z-21", site, base + timedelta(days=366), recurrence_key="GAP"),
    ]
    # Keys that read like pairs never match the pair (process_area "ab", cause "c").
    for i, text in enumerate(["abc", "ab|c", "ab:c", "p:2:abc", "k:abc", "ab\x1fc"]):
        dev.append(_deviation(f"Y-{i}", site, base + timedelta(days=i + 1), recurrence_key=text))
    dev.append(
        _deviation(
            "Y-pair",
            site,
            base + timedelta(days=9),
            process_area="ab",
            **{"root_cause_category": "c"},
        )
    )
    dev.append(
        _deviation(
            "Y-pair2",
            site,
            base + timedelta(days=10),
            process_area="a",
            **{"root_cause_category": "bc"},
        )
    )
    # CAPA windows: closed on day 0; deviations of its key on days 0, 180 and 181.
    for i, (days, key) in enumerate([(0, "W0"), (180, "W180"), (181, "W181"), (1, "W1")]):
        closed = date(2024, 9, 1) + timedelta(days=i)
        cid = f"CAPA-W{i}"
        capa.append(
            {
                "capa_id": cid,
                "site": site,
                "opened_on": closed - timedelta(days=30),
                "due_on": closed,
                "root_cause_category": "equipment",
                "closed_on": closed,
            }
        )
        dev.append(
            _deviation(
                f"W-{i}-a", site, closed - timedelta(days=20), recurrence_key=key, capa_id=cid
            )
        )
        dev.append(_deviation(f"W-{i}-b", site, closed + timedelta(days=days), recurrence_key=key))
    # A CAPA closed late enough that its window ends exactly on the as-of date, one a day later.
    for i, closed in enumerate([AS_OF - timedelta(days=180), AS_OF - timedelta(days=179)]):
        cid = f"CAPA-E{i}"
        capa.append(
            {
                "capa_id": cid,
                "site": site,
                "opened_on": closed - timedelta(days=10),
                "due_on": closed,
                "root_cause_category": "equipment",
                "closed_on": closed,
                "voe_due_on": AS_OF + timedelta(days=i),
            }
        )
        dev.append(
            _deviation(
                f"E-{i}",
                site,
                closed - timedelta(days=3),
                recurrence_key=f"E{i}",
                capa_id=cid,
                severity="major",
                closed_on=closed,
            )
        )
    # EM samples around the as-of date's midnight in UTC, with offsets, at the action level.
    midnight = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC) + timedelta(days=1)
    for i, minutes in enumerate([-61, -1, 0, 1, 59]):
        offset = timezone(timedelta(hours=rnd.choice([-5, 2, 9])))
        at = (midnight + timedelta(minutes=minutes)).astimezone(offset)
        em.append(
            {
                "sample_id": f"EM-EDGE-{i}",
                "site": site,
                "room": "R1",
                "grade": "A",
                "method": "settle_plate",
                "sampled_at": at - timedelta(hours=30),
                "result_at": at,
                "cfu": 12.0,
                "alert_limit": 1.0,
                "action_limit": 10.0 if i != 2 else 12.0,  # equal to the limit: not action level
                "deviation_id": None if i % 2 else f"DEV-EM-{i}",
                "response_at": at + timedelta(hours=2) if i < 3 else None,
            }
        )
    return rows


@pytest.fixture(scope="module")
def hidden() -> dict[str, list[dict[str, Any]]]:
    return hidden_rows()


@pytest.fixture(scope="module")
def hidden_tables(hidden: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return duckdb_tables(arrow_tables(hidden))


Keyed = dict[tuple[str, str, str, str | None], tuple[int | None, int | None, Any, bool]]


def _engine(values: list[KPIValue]) -> Keyed:
    out: Keyed = {}
    for v in values:
        key = (v.kpi, v.site, v.period, v.group)
        assert key not in out, f"duplicate row {key}"
        out[key] = (v.numerator, v.denominator, v.value, v.complete)
    return out


def _reference(values: list[Expected]) -> Keyed:
    out: Keyed = {}
    for v in values:
        key = (v.kpi, v.site, v.period, v.group)
        assert key not in out, f"duplicate reference row {key}"
        value = None if v.value is None else pytest.approx(v.value, rel=1e-9, abs=1e-9)
        out[key] = (v.numerator, v.denominator, value, v.complete)
    return out


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
def test_engine_matches_the_independent_reading(
    period: str, hidden: dict[str, Any], hidden_tables: dict[str, Any]
) -> None:
    expected = _reference(expected_values(hidden, period=period, as_of=AS_OF))
    actual = _engine(compute(hidden_tables, period=period, as_of=AS_OF))
    assert {k[0] for k in expected} == set(REGISTRY), "the data exercises every KPI"
    for kpi in REGISTRY:
        mine = {k: v for k, v in actual.items() if k[0] == kpi}
        theirs = {k: v for k, v in expected.items() if k[0] == kpi}
        assert mine == theirs, kpi


def test_a_configured_recurrence_window(
    hidden: dict[str, Any], hidden_tables: dict[str, Any]
) -> None:
    kpi = "capa_recurrence_rate"
    expected = _reference(
        [
            v
            for v in expected_values(hidden, period="month", as_of=AS_OF, recurrence_window_days=90)
            if v.kpi == kpi
        ]
    )
    options = Options(recurrence_window_days=90)
    actual = _engine(compute(hidden_tables, kpis=[kpi], as_of=AS_OF, options=options))
    assert actual == expected
    assert sum(n or 0 for n, *_ in actual.values()) > 5


def test_no_period_after_the_as_of_date_and_only_its_own_is_partial(
    hidden_tables: dict[str, Any],
) -> None:
    for period in ("month", "quarter", "year"):
        values = compute(hidden_tables, period=period, as_of=AS_OF)
        current = period_of(AS_OF, period)  # type: ignore[arg-type]
        assert max(v.period for v in values) == current
        assert {v.period for v in values if not v.complete} == {current}
        assert all(v.as_of == AS_OF for v in values)


def test_the_last_day_of_a_period_makes_it_complete(hidden_tables: dict[str, Any]) -> None:
    values = compute(hidden_tables, period="month", as_of=date(2025, 6, 30))
    assert max(v.period for v in values) == "2025-06"
    assert all(v.complete for v in values)


def test_recurrence_edge_cases_are_where_the_contract_puts_them(
    hidden_tables: dict[str, Any],
) -> None:
    from qmm.metrics.engine import records

    def roles(kpi: str, period_value: str) -> dict[str, str]:
        rows = records(
            hidden_tables, kpi=kpi, site="SITE-C", period_value=period_value, as_of=AS_OF
        )
        key = "deviation_id" if kpi == "deviation_repeat_rate" else "capa_id"
        return {str(r[key]): str(r["role"]) for r in rows}

    march = roles("deviation_repeat_rate", "2024-03")
    assert march["Z-9"] == "numerator"
    assert march["Z-10"] == "denominator"
    assert all(march[f"Y-{i}"] == "denominator" for i in range(6))
    assert march["Y-pair"] == "denominator"
    assert march["Y-pair2"] == "denominator"
    a_year_on = roles("deviation_repeat_rate", "2025-03")
    assert a_year_on["Z-11"] == "numerator"
    assert a_year_on["Z-21"] == "denominator"
    assert roles("deviation_repeat_rate", "2025-11") == {}  # after the as-of date: left out
    september = roles("capa_recurrence_rate", "2024-09")
    assert [september[f"CAPA-W{i}"] for i in range(4)] == [
        "denominator",
        "numerator",
        "denominator",
        "numerator",
    ]
    december = roles("capa_recurrence_rate", "2024-12")
    assert december.get("CAPA-E0") == "denominator"  # its window ends on the as-of date
    assert "CAPA-E1" not in december  # a day short: not judged yet
