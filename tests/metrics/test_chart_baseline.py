"""Control charts with a baseline phase, count limits floored at zero, and every period shown."""

from __future__ import annotations

import pytest

from qmm.metrics.control_charts import BaselineError, baseline_indexes, p_chart, xmr_chart
from qmm.metrics.engine import KPIValue
from qmm.metrics.service import every_period, kpi_series

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 13)]
#: A stable first year, then a planted shift upward in the second.
STABLE = [5.0, 6.0, 4.0, 5.0, 6.0, 5.0, 4.0, 6.0, 5.0, 5.0, 6.0, 4.0]
SHIFTED = [9.0, 10.0, 9.0, 10.0, 10.0, 9.0, 10.0, 9.0, 10.0, 9.0, 10.0, 9.0]


def test_baseline_limits_differ_from_whole_history_and_find_the_planted_shift() -> None:
    whole = xmr_chart(STABLE + SHIFTED, MONTHS)
    based = xmr_chart(
        STABLE + SHIFTED, MONTHS, baseline=baseline_indexes(MONTHS, "2025-01:2025-12")
    )
    assert based.center[0] == pytest.approx(sum(STABLE) / 12)
    assert whole.center[0] == pytest.approx(sum(STABLE + SHIFTED) / 24)
    assert based.ucl[0] < whole.ucl[0]
    # Against the baseline's limits every shifted month is beyond 3 sigma (rule 1) ...
    beyond = {i for s in based.signals if s.rule == 1 for i in s.indexes}
    assert beyond == set(range(12, 24))
    # ... while the whole history centres between the two levels and blames the stable months.
    assert 5.5 < (whole.center[0] or 0) < 9
    assert {i for s in whole.signals if s.rule == 1 for i in s.indexes} & set(range(12))
    assert not beyond & set(range(12))
    assert [based.phase(i) for i in (0, 11, 12, 23)] == [
        "baseline",
        "baseline",
        "monitoring",
        "monitoring",
    ]
    assert based.to_json()["baseline"] == {"from": "2025-01", "to": "2025-12"}


def test_a_p_chart_baseline_takes_p_bar_from_its_periods_alone() -> None:
    numerators = [5] * 12 + [15] * 12
    denominators = [100] * 24
    based = p_chart(numerators, denominators, MONTHS, baseline=(0, 11))
    assert based.center[0] == pytest.approx(0.05)
    assert {i for s in based.signals if s.rule == 1 for i in s.indexes} == set(range(12, 24))
    whole = p_chart(numerators, denominators, MONTHS)
    assert whole.center[0] == pytest.approx(0.10)


def test_a_count_charts_lower_limit_is_never_below_zero() -> None:
    counts = [0.0, 4.0, 0.0, 1.0, 7.0, 0.0, 2.0, 0.0, 5.0, 0.0]
    labels = MONTHS[:10]
    unfloored = xmr_chart(counts, labels)
    assert unfloored.lcl[0] is not None
    assert unfloored.lcl[0] < 0  # what the issue saw
    floored = xmr_chart(counts, labels, floor=0.0)
    assert all(v is not None and v >= 0 for v in floored.lcl)
    assert floored.ucl == unfloored.ucl


def test_kpi_series_floors_counts_and_fills_every_month() -> None:
    def count(period: str, value: float) -> KPIValue:
        return KPIValue("em_open_excursions", "SITE-A", period, None, value, None, None)

    values = [count("2025-01", 0), count("2025-02", 6), count("2025-05", 0), count("2025-06", 5)]
    series = kpi_series(values, kpi="em_open_excursions", site="SITE-A")
    assert [v.period for v in series.values] == [
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-04",
        "2025-05",
        "2025-06",
    ]
    assert [v.value for v in series.values][2:4] == [None, None]
    assert all(v is not None and v >= 0 for v in series.chart.lcl)


def test_every_period_fills_quarters_and_years_across_a_year_end() -> None:
    def value(period: str) -> KPIValue:
        return KPIValue("capa_on_time_closure", "SITE-A", period, None, 0.5, 1, 2)

    quarters = every_period([value("2025-Q3"), value("2026-Q2")])
    assert [v.period for v in quarters] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
    assert [v.denominator for v in quarters] == [2, None, None, 2]
    assert [v.period for v in every_period([value("2024"), value("2026")])] == [
        "2024",
        "2025",
        "2026",
    ]
    months = every_period([value("2025-11"), value("2026-02")])
    assert [v.period for v in months] == ["2025-11", "2025-12", "2026-01", "2026-02"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-01", "must be FROM:TO"),
        ("2025-01:2025-02:2025-03", "must be FROM:TO"),
        (":2025-06", "needs both FROM and TO"),
        ("2025-01:", "needs both FROM and TO"),
        (
            "2019-01:2025-06",
            "'2019-01' is not a period of this chart (periods: 2025-01 to 2026-12)",
        ),
        ("2025-06:2025-01", "starts at 2025-06, after its end 2025-01"),
        ("january:2025-06", "'january' is not a period of this chart"),
    ],
)
def test_a_bad_baseline_is_refused_in_words(text: str, message: str) -> None:
    with pytest.raises(BaselineError) as caught:
        baseline_indexes(MONTHS, text)
    assert message in str(caught.value)


def test_a_baseline_with_too_few_values_is_refused() -> None:
    values: list[float | None] = [None, None, 3.0, *STABLE[3:], *SHIFTED]
    with pytest.raises(BaselineError) as caught:
        xmr_chart(values, MONTHS, baseline=(0, 2))
    assert "has 1 period(s) with a value; it needs at least 2" in str(caught.value)
    with pytest.raises(BaselineError) as p_caught:
        p_chart([0] * 24, [0, 0, *[10] * 22], MONTHS, baseline=(0, 1))
    assert "2025-01:2025-02 has 0 period(s) with records" in str(p_caught.value)
