"""The KPI engine over the event store: tables, values, their records and their control charts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from qmm.errors import NotFound
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.control_charts import ControlChart, p_chart, xmr_chart
from qmm.metrics.engine import KPIValue
from qmm.metrics.kpis import Tables


def event_store() -> EventStore:
    """The configured event store."""
    return EventStore.from_settings()


def open_tables(session: Session, store: EventStore | None = None) -> Tables:
    """The current view of every record type, plus sites, ready for the KPI engine."""
    backend = (store or event_store()).connect(session)
    return {name: backend.table(name) for name in backend.list_tables()}


@dataclass(frozen=True)
class KPISeries:
    """One KPI for one site (and group) over consecutive periods, with its control chart."""

    kpi: str
    site: str
    group: str | None
    values: tuple[KPIValue, ...]
    chart: ControlChart


def kpi_series(
    values: Sequence[KPIValue], *, kpi: str, site: str, group: str | None = None
) -> KPISeries:
    """A p-chart for rates (each point's n known), an XmR chart for medians, times and counts."""
    points = sorted(
        (v for v in values if v.kpi == kpi and v.site == site and v.group == group),
        key=lambda v: v.period,
    )
    if not points:
        raise NotFound(f"no values of {kpi} for {site}" + (f" ({group})" if group else ""))
    labels = [v.period for v in points]
    if get_kpi(kpi).unit == "ratio":
        chart = p_chart(
            [float(v.numerator or 0) for v in points],
            [float(v.denominator or 0) for v in points],
            labels,
        )
    else:
        chart = xmr_chart([v.value for v in points], labels)
    return KPISeries(kpi=kpi, site=site, group=group, values=tuple(points), chart=chart)
