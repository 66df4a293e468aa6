"""The KPI engine over the event store: tables, values, their records and their control charts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy.orm import Session

from qmm.errors import NotFound
from qmm.events.extract_dates import latest_extract_dates
from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.control_charts import ControlChart, p_chart, xmr_chart
from qmm.metrics.engine import KPIValue, compute
from qmm.metrics.kpis import SITES_TABLE, Tables


def event_store() -> EventStore:
    """The configured event store."""
    return EventStore.from_settings()


#: The tables the KPI engine reads: the current view of every record type, and ``sites``.
KPI_TABLES: Final[tuple[str, ...]] = (*RECORD_TYPES, SITES_TABLE)
_SNAPSHOT_COUNT: Final = 4
_VALUES_PER_SNAPSHOT: Final = 256


@dataclass
class _Snapshot:
    """The store's tables in one state, and the KPI values already computed on them."""

    tables: Tables
    #: The latest extract date of each record type in this state: the default as-of dates.
    extract_dates: Mapping[str, date] = field(default_factory=dict)
    values: OrderedDict[tuple[Any, ...], tuple[KPIValue, ...]] = field(default_factory=OrderedDict)


_snapshots: OrderedDict[tuple[Any, ...], _Snapshot] = OrderedDict()
_snapshots_lock: Final = threading.Lock()


_building: dict[tuple[Any, ...], threading.Lock] = {}


@contextmanager
def _one_builder(key: tuple[Any, ...]) -> Iterator[None]:
    """Let one thread build what a key names while the others wait, then read what it built:
    after an import, every request would otherwise open the store at the same moment."""
    with _snapshots_lock:
        lock = _building.setdefault(key, threading.Lock())
    try:
        with lock:
            yield
    finally:
        with _snapshots_lock:
            if _building.get(key) is lock:
                del _building[key]


def _kept_snapshot(key: tuple[Any, ...]) -> _Snapshot | None:
    with _snapshots_lock:
        found = _snapshots.get(key)
        if found is not None:
            _snapshots.move_to_end(key)
        return found


def _snapshot(session: Session, store: EventStore | None) -> _Snapshot:
    store = store or event_store()
    key = store.state(session)
    found = _kept_snapshot(key)
    if found is not None:
        return found
    with _one_builder(("snapshot", key)):
        found = _kept_snapshot(key)
        if found is not None:
            return found
        backend = store.connect(session)
        present = set(backend.list_tables())
        made = _Snapshot(
            MappingProxyType({name: backend.table(name) for name in KPI_TABLES if name in present}),
            MappingProxyType(latest_extract_dates(session)),
        )
        with _snapshots_lock:
            _snapshots[key] = made
            while len(_snapshots) > _SNAPSHOT_COUNT:
                _snapshots.popitem(last=False)
        return made


def open_tables(session: Session, store: EventStore | None = None) -> Tables:
    """The current view of every record type, plus sites, ready for the KPI engine.

    Opening the store (a DuckDB connection, its views, each table's schema) takes longer than
    computing a dashboard's KPIs, so the tables are kept for as long as the store's state (its
    batches and the app's sites) stays the same: an import or a changed headcount opens anew.
    The engine runs each query on a cursor of its own, so requests can share the tables.
    """
    return _snapshot(session, store).tables


def extract_dates(session: Session, store: EventStore | None = None) -> Mapping[str, date]:
    """The latest extract date of each imported record type: what KPIs are as of by default."""
    return _snapshot(session, store).extract_dates


def kpi_values(
    session: Session,
    *,
    store: EventStore | None = None,
    kpis: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    period: str = "month",
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
) -> list[KPIValue]:
    """:func:`compute` on the store's current state, remembered until that state changes.

    Values depend only on the stored records, the sites and these arguments (``as_of``
    defaults, per KPI, to the data's extract date), so pages read them again without
    recomputing.
    """
    snapshot = _snapshot(session, store)
    day = as_of
    key = (
        None if kpis is None else tuple(kpis),
        None if sites is None else tuple(sites),
        period,
        start,
        end,
        day,
    )
    with _snapshots_lock:
        known = snapshot.values.get(key)
    if known is not None:
        return list(known)
    with _one_builder(("values", id(snapshot), *key)):
        with _snapshots_lock:
            known = snapshot.values.get(key)
        if known is not None:
            return list(known)
        known = tuple(
            compute(
                snapshot.tables,
                kpis=kpis,
                sites=sites,
                period=period,
                start=start,
                end=end,
                as_of=day,
                extract_dates=snapshot.extract_dates,
            )
        )
        with _snapshots_lock:
            snapshot.values[key] = known
            while len(snapshot.values) > _VALUES_PER_SNAPSHOT:
                snapshot.values.popitem(last=False)
    return list(known)


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
