"""Numbers and times read the same everywhere: units, n, scores, UTC stamps and table cells."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from qmm.metrics.catalogue import get_kpi
from qmm.metrics.engine import KPIValue
from qmm.presentation.formatting import (
    format_cell,
    format_kpi_value,
    format_n,
    format_score,
    format_utc,
    format_value,
    with_n,
)


def value(numerator: int | None, denominator: int | None, v: float | None) -> KPIValue:
    return KPIValue("capa_effectiveness", "SITE-A", "2025-03", None, v, numerator, denominator)


def test_a_ratio_is_a_percentage_and_never_without_its_counts() -> None:
    capa = get_kpi("capa_effectiveness")
    assert format_value(capa, 25 / 30) == "83.3%"
    assert format_kpi_value(None, capa) == "no value"
    assert format_n(value(25, 30, 25 / 30)) == "25/30"
    assert format_n(value(None, 7, 3.0)) == "n = 7"
    assert format_n(value(None, None, 3.0)) == ""
    assert with_n(capa, value(25, 30, 25 / 30)) == "83.3% (25/30)"


def test_days_and_hours_have_one_decimal() -> None:
    assert format_value(get_kpi("change_cycle_time_days"), 12.345) == "12.3 days"
    assert format_value(get_kpi("em_response_hours"), 4.0) == "4.0 hours"


def test_scores_and_times() -> None:
    assert format_score(3.456) == "3.46"
    assert format_score(None) == "not scored"
    moment = datetime(2025, 3, 1, 14, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(moment) == "2025-03-01 12:05:06 UTC"
    naive = datetime(2025, 3, 1, 12, 0)  # noqa: DTZ001 - a naive time is read as UTC
    assert format_utc(naive) == "2025-03-01 12:00:00 UTC"
    assert format_utc(None) == ""


def test_table_cells() -> None:
    assert format_cell(datetime(2025, 3, 1, tzinfo=UTC)) == "2025-03-01 00:00:00 UTC"
    assert format_cell(date(2025, 3, 1)) == "2025-03-01"
    assert format_cell(True) == "yes"
    assert format_cell(1234.5) == "1,234.5"
    assert format_cell(2.0) == "2"
    assert format_cell(float("nan")) == ""
    assert format_cell("CAPA-1") == "CAPA-1"
