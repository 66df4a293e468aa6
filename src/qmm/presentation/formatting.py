"""Numbers and times as people read them, the same on every page, in the API and in reports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from qmm.metrics.catalogue import KPIDefinition
from qmm.metrics.engine import KPIValue


def format_value(definition: KPIDefinition, value: float | None) -> str:
    """A value in its unit: a ratio as a percentage, days and hours to one decimal."""
    if value is None:
        return "no value"
    if definition.unit == "ratio":
        return f"{value:.1%}"
    if definition.unit in {"days", "hours"}:
        return f"{value:.1f} {definition.unit}"
    return f"{value:,.4g} {definition.unit}"


def format_kpi_value(value: float | None, definition: KPIDefinition) -> str:
    """A KPI value in its unit (a ratio as a percentage), value first as a template filter."""
    return format_value(definition, value)


def format_n(value: KPIValue) -> str:
    """The n behind a value: 25/30 for a rate, n = 7 for a median, nothing for a count."""
    if value.numerator is not None and value.denominator is not None:
        return f"{value.numerator}/{value.denominator}"
    if value.denominator is not None:
        return f"n = {value.denominator}"
    return ""


def with_n(definition: KPIDefinition, value: KPIValue) -> str:
    """'83.3% (25/30)': never a rate without the counts behind it."""
    n = format_n(value)
    text = format_value(definition, value.value)
    return f"{text} ({n})" if n else text


def format_score(value: float | None, digits: int = 2) -> str:
    """A score to two decimals; a missing one says so in words rather than showing 0."""
    return "not scored" if value is None else f"{value:.{digits}f}"


def format_utc(value: datetime | None) -> str:
    """A timestamp in UTC, labelled, so nobody has to guess the time zone."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_cell(value: Any) -> str:
    """A record's field for a table: times in UTC, dates as ISO, numbers without noise."""
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value == value else ""
    return str(value)
