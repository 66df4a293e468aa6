"""KPI tiles say no more than the values behind them support (issue 15, item 6)."""

from __future__ import annotations

from datetime import date

from qmm.metrics.engine import KPIValue
from qmm.presentation.kpis import tile

SITE = "SITE-A"


def _value(period: str, num: int, den: int, *, complete: bool = True) -> KPIValue:
    value = num / den if den else None
    return KPIValue(
        "capa_effectiveness", SITE, period, None, value, num, den, complete, date(2026, 3, 14)
    )


def test_too_few_records_is_never_combined_with_a_verdict() -> None:
    values = [_value("2026-01", 40, 50), _value("2026-02", 0, 1)]
    shown = tile(values, site=SITE, kpi="capa_effectiveness", group=None, period="month")
    assert shown.small_n
    assert shown.met is None
    assert shown.verdict == "too few to judge"


def test_a_value_on_enough_records_is_judged() -> None:
    values = [_value("2026-01", 20, 50), _value("2026-02", 45, 50)]
    shown = tile(values, site=SITE, kpi="capa_effectiveness", group=None, period="month")
    assert (shown.met, shown.verdict) == (True, "met")


def test_the_partial_period_is_marked_and_an_empty_one_is_skipped() -> None:
    values = [_value("2026-01", 20, 50), _value("2026-02", 45, 50), _value("2026-03", 0, 0)]
    values[-1] = KPIValue(
        "capa_effectiveness", SITE, "2026-03", None, None, 0, 0, False, date(2026, 3, 14)
    )
    shown = tile(values, site=SITE, kpi="capa_effectiveness", group=None, period="month")
    assert shown.latest is not None
    assert shown.latest.period == "2026-02"  # the latest period with a value
    assert not shown.partial
    partial = [_value("2026-01", 20, 50), _value("2026-02", 30, 40, complete=False)]
    shown = tile(partial, site=SITE, kpi="capa_effectiveness", group=None, period="month")
    assert shown.partial
    assert shown.period_text == "2026-02 (partial)"
