"""The engine: selection and filters, JSON output, and the records behind a value."""

from __future__ import annotations

import json
import statistics
from datetime import date
from typing import Any

import pytest

from metrics.support import MakeTables, assert_same_values, utc
from qmm.metrics import engine
from qmm.metrics.engine import (
    KPIValue,
    compute,
    period_bound,
    period_of,
    records,
    values_to_json,
)
from qmm.metrics.kpis import REGISTRY, Kind, period_key_of

D = date
A, B = "SITE-A", "SITE-B"


DUE = D(2025, 3, 15)


def capa(cid: str, site: str, closed: date, due: date = DUE) -> dict[str, Any]:
    return {
        "capa_id": cid,
        "site": site,
        "opened_on": D(2024, 12, 1),
        "due_on": due,
        "root_cause_category": "x",
        "closed_on": closed,
    }


@pytest.fixture
def capas(make_tables: MakeTables) -> dict[str, Any]:
    return make_tables(
        capa=[
            capa("C1", A, D(2025, 1, 10)),
            capa("C2", A, D(2025, 2, 10)),
            capa("C3", A, D(2025, 3, 20)),  # late
            capa("C4", A, D(2025, 4, 10), due=D(2025, 4, 30)),
            capa("C5", B, D(2025, 3, 1)),
        ],
        lot=[
            {
                "lot_id": "L1",
                "site": A,
                "product": "P",
                "started_on": D(2025, 1, 1),
                "dispositioned_on": D(2025, 3, 3),
                "disposition": "released",
            }
        ],
    )


def keys(values: list[KPIValue]) -> list[tuple[str, str, str]]:
    return [(v.kpi, v.site, v.period) for v in values]


# --- output ---------------------------------------------------------------------------------


def test_kpi_value_json_is_the_contract_example_unrounded() -> None:
    value = KPIValue("capa_on_time_closure", "SITE-A", "2025-03", None, 5 / 6, 5, 6)
    assert value.to_json() == (
        '{"kpi": "capa_on_time_closure", "site": "SITE-A", "period": "2025-03", '
        '"group": null, "value": 0.8333333333333334, "numerator": 5, "denominator": 6, '
        '"complete": true, "as_of": null}'
    )
    assert list(value.to_dict()) == [
        "kpi",
        "site",
        "period",
        "group",
        "value",
        "numerator",
        "denominator",
        "complete",
        "as_of",
    ]


def test_values_to_json_is_an_array_with_nulls_for_medians_and_missing_values() -> None:
    values = [
        KPIValue("change_cycle_time_days", "SITE-A", "2025-Q1", "high", 44.5, None, 4),
        KPIValue(
            "lot_acceptance_rate", "SITE-A", "2025-Q1", None, None, 0, 0, False, D(2025, 2, 3)
        ),
    ]
    assert json.loads(values_to_json(values)) == [
        {
            "kpi": "change_cycle_time_days",
            "site": "SITE-A",
            "period": "2025-Q1",
            "group": "high",
            "value": 44.5,
            "numerator": None,
            "denominator": 4,
            "complete": True,
            "as_of": None,
        },
        {
            "kpi": "lot_acceptance_rate",
            "site": "SITE-A",
            "period": "2025-Q1",
            "group": None,
            "value": None,
            "numerator": 0,
            "denominator": 0,
            "complete": False,
            "as_of": "2025-02-03",
        },
    ]


def test_compute_returns_typed_values_in_catalogue_order(capas: dict[str, Any]) -> None:
    values = compute(
        capas, kpis=["lot_acceptance_rate", "capa_on_time_closure"], as_of=D(2025, 6, 1)
    )
    # catalogue order of the selection as given, then site, then period
    assert keys(values) == [
        ("lot_acceptance_rate", A, "2025-03"),
        ("capa_on_time_closure", A, "2025-01"),
        ("capa_on_time_closure", A, "2025-02"),
        ("capa_on_time_closure", A, "2025-03"),
        ("capa_on_time_closure", A, "2025-04"),
        ("capa_on_time_closure", B, "2025-03"),
    ]
    v = values[3]
    assert (v.value, v.numerator, v.denominator, v.group) == (0.0, 0, 1, None)
    assert isinstance(v.value, float)
    assert isinstance(v.numerator, int)


# --- selection and filters ------------------------------------------------------------------


def test_sites_start_and_end_filter_the_values(capas: dict[str, Any]) -> None:
    run = {"kpis": ["capa_on_time_closure"], "as_of": D(2025, 6, 1)}
    assert keys(compute(capas, sites=[B], **run)) == [("capa_on_time_closure", B, "2025-03")]
    assert [v.period for v in compute(capas, sites=[A], start="2025-02", end="2025-03", **run)] == [
        "2025-02",
        "2025-03",
    ]
    # bounds given as dates are the periods containing them
    assert [
        v.period for v in compute(capas, sites=[A], start="2025-02-28", end="2025-03-01", **run)
    ] == ["2025-02", "2025-03"]
    # a month given with quarters means its quarter
    assert [
        (v.period, v.numerator, v.denominator)
        for v in compute(capas, sites=[A], period="quarter", start="2025-02", **run)
    ] == [("2025-Q1", 2, 3), ("2025-Q2", 1, 1)]
    assert compute(capas, sites=["SITE-Z"], **run) == []
    assert compute(capas, sites=[], **run) == []


def test_all_kpis_by_default(capas: dict[str, Any]) -> None:
    assert {v.kpi for v in compute(capas, as_of=D(2025, 6, 1))} == {
        "capa_on_time_closure",
        "capa_voe_planned",
        "lot_acceptance_rate",
    }


def test_single_query_gives_the_same_values(capas: dict[str, Any]) -> None:
    one = compute(capas, as_of=D(2025, 6, 1), single_query=True)
    each = compute(capas, as_of=D(2025, 6, 1))
    assert one == each


def test_as_of_defaults_to_today_in_utc_only_without_extract_dates(
    make_tables: MakeTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = make_tables(
        capa=[
            capa("C1", A, D(2025, 1, 1)) | {"voe_due_on": D(2025, 3, 10)},
            capa("C2", A, D(2025, 1, 1)) | {"voe_due_on": D(2025, 3, 20)},
        ]
    )
    monkeypatch.setattr(engine, "today", lambda: D(2025, 3, 15))
    [value] = compute(tables, kpis=["capa_voe_on_time"])
    assert (value.numerator, value.denominator, value.value) == (0, 1, 0.0)
    assert (value.as_of, value.complete) == (D(2025, 3, 15), False)


def test_as_of_defaults_to_the_earliest_latest_extract_date_of_what_a_kpi_reads(
    make_tables: MakeTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today is never used when the data is older: each KPI is as of its own record types'
    extract dates (capa_recurrence_rate reads CAPAs and deviations)."""
    monkeypatch.setattr(engine, "today", lambda: D(2026, 1, 1))
    tables = make_tables(
        capa=[capa("C1", A, D(2025, 3, 31)), capa("C2", A, D(2025, 4, 20))],
        deviation=[
            {
                "deviation_id": "D1",
                "site": A,
                "opened_on": D(2025, 3, 1),
                "root_cause_category": "x",
                "recurrence_key": "k",
                "capa_id": "C1",
            }
        ],
    )
    dates = {"capa": D(2025, 4, 30), "deviation": D(2025, 4, 10), "lot": D(2024, 1, 1)}
    values = compute(
        tables, kpis=["capa_on_time_closure", "capa_recurrence_rate"], extract_dates=dates
    )
    by_kpi = {(v.kpi, v.period): (v.as_of, v.complete) for v in values}
    assert by_kpi == {
        ("capa_on_time_closure", "2025-03"): (D(2025, 4, 30), True),
        ("capa_on_time_closure", "2025-04"): (D(2025, 4, 30), True),
        ("capa_recurrence_rate", "2025-03"): (D(2025, 4, 10), True),
    }
    assert engine.default_as_of("lot_acceptance_rate", {}) == D(2026, 1, 1)


def test_bad_arguments_are_refused(capas: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown KPI ids"):
        compute(capas, kpis=["capa_on_time_closure", "nope"])
    with pytest.raises(TypeError, match="sequence of KPI ids"):
        compute(capas, kpis="capa_on_time_closure")
    with pytest.raises(ValueError, match="unknown period"):
        compute(capas, period="week")
    with pytest.raises(ValueError, match="not a period"):
        compute(capas, start="March")
    with pytest.raises(ValueError, match="not a period"):
        compute(capas, end="2025-13")


@pytest.mark.parametrize(
    ("text", "period", "label"),
    [
        ("2025-03-31", "month", "2025-03"),
        ("2025-03", "month", "2025-03"),
        ("2025-Q2", "month", "2025-04"),
        ("2025", "month", "2025-01"),
        ("2025-03-31", "quarter", "2025-Q1"),
        ("2025-12", "quarter", "2025-Q4"),
        ("2025-Q3", "quarter", "2025-Q3"),
        ("2025-11-30", "year", "2025"),
        ("2025-Q4", "year", "2025"),
    ],
)
def test_period_bound(text: str, period: Any, label: str) -> None:
    assert period_bound(text, period) == label


def test_period_of() -> None:
    assert period_of(D(2025, 10, 1), "month") == "2025-10"
    assert period_of(D(2025, 10, 1), "quarter") == "2025-Q4"
    assert period_of(D(2025, 10, 1), "year") == "2025"


# --- records behind a value -----------------------------------------------------------------


def test_records_of_a_ratio(capas: dict[str, Any]) -> None:
    rows = records(capas, kpi="capa_on_time_closure", site=A, period_value="2025-03")
    assert rows == [
        {
            "role": "denominator",
            "record_type": "capa",
            "capa_id": "C3",
            "due_on": D(2025, 3, 15),
            "closed_on": D(2025, 3, 20),
        }
    ]
    rows = records(capas, kpi="capa_on_time_closure", site=A, period_value="2025", period="year")
    assert [(r["role"], r["capa_id"]) for r in rows] == [
        ("numerator", "C1"),
        ("numerator", "C2"),
        ("numerator", "C4"),
        ("denominator", "C3"),
    ]


def test_records_leave_out_what_counts_nowhere(make_tables: MakeTables) -> None:
    tables = make_tables(
        capa=[
            capa("C1", A, D(2025, 1, 1)) | {"voe_due_on": D(2025, 3, 10)},
            capa("C2", A, D(2025, 1, 1)) | {"voe_due_on": D(2025, 3, 20)},  # not due yet
        ]
    )
    rows = records(
        tables, kpi="capa_voe_on_time", site=A, period_value="2025-03", as_of=D(2025, 3, 15)
    )
    assert [(r["role"], r["capa_id"], r["voe_done_on"]) for r in rows] == [
        ("denominator", "C1", None)
    ]


def test_records_of_a_median_carry_the_values(make_tables: MakeTables) -> None:
    def change(cid: str, tier: str, opened: date) -> dict[str, Any]:
        return {
            "change_id": cid,
            "site": A,
            "opened_on": opened,
            "risk_tier": tier,
            "closed_on": D(2025, 3, 31),
        }

    tables = make_tables(
        change_control=[
            change("H1", "high", D(2025, 3, 1)),
            change("H2", "high", D(2025, 3, 21)),
            change("L1", "low", D(2025, 3, 30)),
        ]
    )
    rows = records(tables, kpi="change_cycle_time_days", site=A, period_value="2025-03")
    assert [(r["role"], r["group"], r["change_id"], r["days"]) for r in rows] == [
        ("value", "high", "H1", 30.0),
        ("value", "high", "H2", 10.0),
        ("value", "low", "L1", 1.0),
    ]
    low = records(tables, kpi="change_cycle_time_days", site=A, period_value="2025-03", group="low")
    assert [r["change_id"] for r in low] == ["L1"]


def test_records_of_em_response_hours(make_tables: MakeTables) -> None:
    tables = make_tables(
        em_sample=[
            {
                "sample_id": "S1",
                "site": A,
                "room": "R1",
                "grade": "B",
                "method": "settle_plate",
                "sampled_at": utc("2025-03-31T20:00:00Z"),
                "result_at": utc("2025-04-01T00:30:00+01:00"),
                "response_at": utc("2025-04-01T02:00:00Z"),
                "cfu": 4.0,
                "alert_limit": 3.0,
                "action_limit": 5.0,
            }
        ]
    )
    [row] = records(tables, kpi="em_response_hours", site=A, period_value="2025-03")
    assert row["role"] == "value"
    assert row["sample_id"] == "S1"
    assert row["hours"] == 2.5
    assert row["result_at"].isoformat() == "2025-03-31T23:30:00+00:00"


def test_records_of_measured_denominators(make_tables: MakeTables) -> None:
    tables = make_tables(
        complaint=[
            {
                "complaint_id": "K1",
                "site": A,
                "product": "P1",
                "received_on": D(2025, 3, 3),
                "quality_related": True,
            },
            {
                "complaint_id": "K2",
                "site": A,
                "product": "P1",
                "received_on": D(2025, 3, 4),
                "quality_related": False,
            },
        ],
        distribution=[{"site": A, "product": "P1", "month": "2025-03", "units": 250_000.0}],
        suggestion=[{"suggestion_id": "G1", "site": A, "submitted_on": D(2025, 3, 2)}],
        sites=[{"site": A, "headcount": 40}],
    )
    rows = records(tables, kpi="complaint_rate_per_million", site=A, period_value="2025-03")
    assert [(r["role"], r["record_type"], r["complaint_id"], r["units"]) for r in rows] == [
        ("numerator", "complaint", "K1", None),
        ("denominator", "distribution", None, 250_000.0),
    ]
    rows = records(tables, kpi="suggestions_per_100_staff", site=A, period_value="2025-03")
    assert [(r["role"], r["record_type"], r["suggestion_id"], r["headcount"]) for r in rows] == [
        ("numerator", "suggestion", "G1", None),
        ("denominator", "site", None, 40),
    ]


def test_records_refuse_unknown_kpis(capas: dict[str, Any]) -> None:
    with pytest.raises(KeyError, match="unknown KPI"):
        records(capas, kpi="nope", site=A, period_value="2025-03")


@pytest.mark.parametrize("kpi", list(REGISTRY))
def test_records_reproduce_every_value(
    kpi: str, duckdb_random: dict[str, Any], reference_results: dict[str, list[KPIValue]]
) -> None:
    """On the random data set, the records behind a value recompute it."""
    values = [v for v in reference_results["quarter"] if v.kpi == kpi][:6]
    assert values
    spec = REGISTRY[kpi]
    for v in values:
        rows = records(
            duckdb_random,
            kpi=kpi,
            site=v.site,
            period_value=v.period,
            period="quarter",
            group=v.group,
            as_of=D(2025, 6, 30),
        )
        num = sum(r["role"] == "numerator" for r in rows)
        den = [r for r in rows if r["role"] == "denominator"]
        if spec.kind is Kind.median:
            xs = [r[spec.x_name] for r in rows if r["role"] == "value"]
            assert len(xs) == v.denominator
            assert v.value == (pytest.approx(statistics.median(xs)) if xs else None)
        elif spec.kind is Kind.measured:
            measure = [r["units"] if kpi.startswith("complaint") else r["headcount"] for r in den]
            assert num == v.numerator
            if v.denominator is not None:
                assert round(sum(m for m in measure if m is not None)) == v.denominator
        else:
            assert (num, num + len(den)) == (v.numerator, v.denominator)


def test_duckdb_random_single_query_matches_per_kpi(
    duckdb_random: dict[str, Any], reference_results: dict[str, list[KPIValue]]
) -> None:
    one = compute(duckdb_random, period="quarter", as_of=D(2025, 6, 30), single_query=True)
    assert_same_values(reference_results["quarter"], one, "DuckDB, one query")


# --- period keys, compiled-query reuse and time zones ----------------------------------------


@pytest.mark.parametrize(
    ("label", "period", "key"),
    [("2025-03", "month", 202503), ("2025-Q4", "quarter", 20254), ("2025", "year", 2025)],
)
def test_period_key_of_a_label(label: str, period: Any, key: int) -> None:
    assert period_key_of(label, period) == key


@pytest.mark.parametrize(
    ("label", "period"),
    [("2025-13", "month"), ("2025-Q3", "month"), ("2025-03", "quarter"), ("25", "year")],
)
def test_a_bad_period_label_is_refused_naming_the_form(label: str, period: Any) -> None:
    with pytest.raises(ValueError, match="expected the form"):
        period_key_of(label, period)


def test_records_refuse_a_label_of_another_period(capas: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"not a quarter label '2025-03'"):
        records(capas, kpi="capa_on_time_closure", site=A, period_value="2025-03", period="quarter")


def test_reused_queries_read_each_connection_s_own_rows(make_tables: MakeTables) -> None:
    """The compiled SQL is reused across connections; the values never are."""
    first = make_tables(capa=[capa("C1", A, D(2025, 3, 10))])
    second = make_tables(capa=[capa("C2", A, D(2025, 3, 10)), capa("C3", A, D(2025, 3, 20))])
    args: dict[str, Any] = {"kpis": ["capa_on_time_closure"], "as_of": D(2030, 1, 1)}
    assert [(v.numerator, v.denominator) for v in compute(first, **args)] == [(1, 1)]
    assert [(v.numerator, v.denominator) for v in compute(second, **args)] == [(1, 2)]
    assert [(v.numerator, v.denominator) for v in compute(first, **args)] == [(1, 1)]


def test_reused_queries_respect_the_as_of_date(make_tables: MakeTables) -> None:
    row = capa("C1", A, D(2025, 3, 10)) | {"voe_due_on": D(2025, 6, 1)}
    tables = make_tables(capa=[row])
    before = compute(tables, kpis=["capa_voe_on_time"], as_of=D(2025, 5, 31))
    after = compute(tables, kpis=["capa_voe_on_time"], as_of=D(2025, 6, 1))
    assert [(v.numerator, v.denominator) for v in before] == []  # due after it: left out
    assert [(v.numerator, v.denominator) for v in after] == [(0, 1)]


def test_periods_are_utc_whatever_the_session_time_zone(make_tables: MakeTables) -> None:
    sample = {
        "sample_id": "S1",
        "site": A,
        "room": "R1",
        "grade": "B",
        "method": "settle_plate",
        "sampled_at": utc("2025-03-31T23:30:00Z"),  # 19:30 on 31 March in New York
        "cfu": 4.0,
        "alert_limit": 3.0,
        "action_limit": 5.0,
    }
    late = sample | {"sample_id": "S2", "sampled_at": utc("2025-04-01T02:30:00Z")}
    tables = make_tables(em_sample=[sample, late])
    engine.backend_of(tables).raw_sql("SET TimeZone = 'Asia/Tokyo'")
    values = compute(tables, kpis=["em_excursion_rate"], as_of=D(2030, 1, 1))
    assert [(v.period, v.denominator) for v in values] == [("2025-03", 1), ("2025-04", 1)]
    [row] = records(tables, kpi="em_excursion_rate", site=A, period_value="2025-03")
    assert row["sampled_at"].isoformat() == "2025-03-31T23:30:00+00:00"
