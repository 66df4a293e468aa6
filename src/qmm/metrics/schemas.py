"""The KPIs' one JSON shape: a value as the data contract states it, the records behind it, and a
control chart, as the API returns them and `qmm metrics --format json` prints them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from qmm.metrics.control_charts import ControlChart, Signal
from qmm.metrics.engine import KPIValue


class KPIValueOut(BaseModel):
    """One KPI value, with the numerator and denominator behind it (the data contract's form)."""

    kpi: str
    site: str
    period: str
    group: str | None
    value: float | None
    numerator: int | None
    denominator: int | None
    #: False for the period that holds the as-of date (a partial period).
    complete: bool
    #: The date the value was computed as of: the data's extract date unless one was given.
    as_of: date | None

    @classmethod
    def of(cls, value: KPIValue) -> KPIValueOut:
        return cls(**value.to_dict())


class KPIRecordsOut(BaseModel):
    """The records behind one KPI value; each record's `role` says how it counts."""

    kpi: str
    site: str
    period: str
    group: str | None
    value: KPIValueOut | None
    records: list[dict[str, Any]]

    @classmethod
    def of(
        cls,
        rows: Sequence[Mapping[str, Any]],
        *,
        kpi: str,
        site: str,
        period: str,
        group: str | None,
        value: KPIValue | None,
    ) -> KPIRecordsOut:
        """The records as the engine returns them, dates written as ISO 8601."""
        return cls(
            kpi=kpi,
            site=site,
            period=period,
            group=group,
            value=KPIValueOut.of(value) if value is not None else None,
            records=[
                {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in r.items()}
                for r in rows
            ],
        )


class SignalOut(BaseModel):
    """A Nelson-rule signal and the points (indexes into the chart's labels) it covers."""

    rule: int
    description: str
    indexes: list[int]

    @classmethod
    def of(cls, signal: Signal) -> SignalOut:
        return cls(rule=signal.rule, description=signal.description, indexes=list(signal.indexes))


class ControlChartOut(BaseModel):
    """A KPI's control chart: per period the value, centre line, limits and sigma, and the
    signals; a p-chart also has each point's numerator and denominator, an individuals (XmR)
    chart its moving ranges with their centre and upper limit (null where they do not apply)."""

    kpi: str
    site: str
    group: str | None
    period: Literal["month", "quarter", "year"]
    kind: Literal["p", "xmr"]
    target: float | None
    labels: list[str]
    values: list[float | None]
    center: list[float | None]
    lcl: list[float | None]
    ucl: list[float | None]
    sigma: list[float | None]
    signals: list[SignalOut]
    numerators: list[float] | None
    denominators: list[float] | None
    moving_ranges: list[float | None] | None
    mr_center: float | None
    mr_ucl: float | None
    #: The periods the limits come from (FROM and TO labels); null: the whole history.
    baseline: dict[str, str] | None = None
    #: Each point's phase: "baseline", "monitoring" or "before baseline".
    phases: list[str] = []

    @classmethod
    def of(
        cls,
        chart: ControlChart,
        *,
        kpi: str,
        site: str,
        group: str | None,
        period: str,
        target: float | None,
    ) -> ControlChartOut:
        xmr = chart.kind == "xmr"
        return cls.model_validate(
            {
                "kpi": kpi,
                "site": site,
                "group": group,
                "period": period,
                "kind": chart.kind,
                "target": target,
                "labels": list(chart.labels),
                "values": list(chart.values),
                "center": list(chart.center),
                "lcl": list(chart.lcl),
                "ucl": list(chart.ucl),
                "sigma": list(chart.sigma),
                "signals": [SignalOut.of(s) for s in chart.signals],
                "numerators": None if chart.numerators is None else list(chart.numerators),
                "denominators": None if chart.denominators is None else list(chart.denominators),
                "moving_ranges": list(chart.moving_ranges or ()) if xmr else None,
                "mr_center": chart.mr_center if xmr else None,
                "mr_ucl": chart.mr_ucl if xmr else None,
                "baseline": chart.to_json()["baseline"],
                "phases": [chart.phase(i) for i in range(len(chart.labels))],
            }
        )


class KPIRefreshOut(BaseModel):
    """What `qmm metrics refresh` did: the stored values' state before, and what it wrote."""

    #: fresh, stale or missing: how the stored values stood against the store before.
    before: Literal["fresh", "stale", "missing"]
    #: False when --if-stale found the values current and left them alone.
    refreshed: bool
    #: Values stored by the refresh (every KPI, site, period kind, period and group).
    values: int
    #: The latest import batch the stored values now include (the store version).
    batch_id: int | None
