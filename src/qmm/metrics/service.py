"""The KPI engine over the event store: tables, values, their records and their control charts."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qmm.errors import NotFound
from qmm.events.after_import import register_after_import
from qmm.events.extract_dates import latest_extract_dates
from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.control_charts import (
    ControlChart,
    baseline_indexes,
    em_trend,
    p_chart,
    xmr_chart,
)
from qmm.metrics.engine import KPIValue, compute, default_as_of, period_bound
from qmm.metrics.kpis import REGISTRY, SITES_TABLE, Tables, period_key_of
from qmm.metrics.materialize import (
    DEFAULT_OPTIONS_KEY,
    STORED_PERIODS,
    Freshness,
    ProgressCallback,
    RefreshResult,
    dates_without,
    freshness,
    read_values,
    refresh_whole,
    slices_after_import,
    state_digest,
    state_without,
    value_set,
    write_slices,
)
from qmm.models import ImportBatch, KPIValueSet, utcnow


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
    recomputing. When the stored values are current and the as-of dates are their defaults,
    they are read from the app database instead (see :func:`stored_kpi_values`).
    """
    stored = _stored_values(session, store or event_store(), kpis, sites, period, start, end, as_of)
    if stored is not None:
        return stored
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


def _stored_values(
    session: Session,
    store: EventStore,
    kpis: Sequence[str] | None,
    sites: Sequence[str] | None,
    period: str,
    start: str | None,
    end: str | None,
    as_of: date | None,
) -> list[KPIValue] | None:
    """The stored values answering a question, or None when they cannot: not current, another
    as-of date than each KPI's default, or a period kind that is not stored."""
    if period not in STORED_PERIODS or isinstance(kpis, str):
        return None
    ids = list(REGISTRY) if kpis is None else list(dict.fromkeys(kpis))
    if any(k not in REGISTRY for k in ids):
        return None  # compute() names the unknown ids
    if as_of is not None:
        dates = latest_extract_dates(session)
        if any(default_as_of(k, dates) != as_of for k in ids):
            return None
    if freshness(session, store.state(session)) != "fresh":
        return None
    return read_values(
        session,
        kpis=ids,
        sites=sites,
        period=period,
        start=None if start is None else period_bound(start, period),
        end=None if end is None else period_bound(end, period),
    )


def _period_labels(first: str, last: str) -> list[str]:
    """Every period label from ``first`` to ``last`` (months, quarters or years alike)."""
    if "-Q" in first:
        kind, per_year = "quarter", 4
    elif "-" in first:
        kind, per_year = "month", 12
    else:
        return [str(year) for year in range(int(first), int(last) + 1)]

    def ordinal(label: str) -> int:
        key = period_key_of(label, kind)  # type: ignore[arg-type]
        step = 100 if kind == "month" else 10
        return (key // step) * per_year + key % step - 1

    def label_of(n: int) -> str:
        year, index = divmod(n, per_year)
        return f"{year:04d}-{index + 1:02d}" if kind == "month" else f"{year:04d}-Q{index + 1}"

    return [label_of(n) for n in range(ordinal(first), ordinal(last) + 1)]


def every_period(points: Sequence[KPIValue]) -> list[KPIValue]:
    """The points with each missing period between the first and the last filled in as empty
    (no value, no records), so a chart's axis shows every period and marks the empty ones."""
    if not points:
        return []
    by_label = {v.period: v for v in points}
    sample = points[-1]
    return [
        by_label.get(label)
        or KPIValue(
            kpi=sample.kpi,
            site=sample.site,
            period=label,
            group=sample.group,
            value=None,
            numerator=None,
            denominator=None,
            complete=True,
            as_of=sample.as_of,
        )
        for label in _period_labels(points[0].period, points[-1].period)
    ]


@dataclass(frozen=True)
class KPISeries:
    """One KPI for one site (and group) over consecutive periods, with its control chart."""

    kpi: str
    site: str
    group: str | None
    values: tuple[KPIValue, ...]
    chart: ControlChart


def kpi_series(
    values: Sequence[KPIValue],
    *,
    kpi: str,
    site: str,
    group: str | None = None,
    baseline: str | None = None,
) -> KPISeries:
    """A p-chart for rates (each point's n known), an XmR chart for medians, times and counts.

    ``baseline`` (FROM:TO period labels) takes the limits from those periods alone; without it
    they come from the whole history. An XmR lower limit never goes below zero: no KPI that is
    not a rate (counts, days, hours, per million) can be negative.
    """
    points = sorted(
        (v for v in values if v.kpi == kpi and v.site == site and v.group == group),
        key=lambda v: v.period,
    )
    if not points:
        raise NotFound(f"no values of {kpi} for {site}" + (f" ({group})" if group else ""))
    points = every_period(points)
    labels = [v.period for v in points]
    chosen = None if baseline is None else baseline_indexes(labels, baseline)
    if get_kpi(kpi).unit == "ratio":
        chart = p_chart(
            [float(v.numerator or 0) for v in points],
            [float(v.denominator or 0) for v in points],
            labels,
            baseline=chosen,
        )
    else:
        chart = xmr_chart([v.value for v in points], labels, baseline=chosen, floor=0.0)
    return KPISeries(kpi=kpi, site=site, group=group, values=tuple(points), chart=chart)


# --- stored values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRead:
    """Stored KPI values and whether they are current for the store (else shown as refreshing)."""

    values: list[KPIValue]
    freshness: Freshness

    @property
    def refreshing(self) -> bool:
        return self.freshness != "fresh"


def stored_kpi_values(
    session: Session,
    *,
    store: EventStore | None = None,
    kpis: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    period: str = "month",
) -> StoredRead:
    """The stored values of some KPIs (default options and as-of dates), with their freshness:
    a page reads these instead of computing; nothing here runs the KPI engine."""
    store = store or event_store()
    if period not in STORED_PERIODS:
        raise ValueError(f"unknown period {period!r}; known: {', '.join(STORED_PERIODS)}")
    fresh = freshness(session, store.state(session))
    if fresh == "missing":
        return StoredRead([], fresh)
    return StoredRead(read_values(session, kpis=kpis, sites=sites, period=period), fresh)


def kpi_values_freshness(session: Session, *, store: EventStore | None = None) -> Freshness:
    """Whether the stored KPI values are current for the store, older, or were never stored."""
    return freshness(session, (store or event_store()).state(session))


def refresh_kpi_values(
    session: Session,
    *,
    store: EventStore | None = None,
    progress: ProgressCallback | None = None,
) -> RefreshResult:
    """Compute and store every KPI value again (flushed; the caller commits): after a
    migration, for a store that has no stored values, or when they are older than the store."""
    store = store or event_store()
    state = store.state(session)
    snapshot = _snapshot(session, store)
    return refresh_whole(
        session,
        tables=snapshot.tables,
        extract_dates=snapshot.extract_dates,
        state=state,
        progress=progress,
    )


def refresh_after_import(
    session: Session, store: EventStore, batches: Sequence[ImportBatch]
) -> RefreshResult:
    """Compute again only what the batches can change, in the import's own transaction, so
    the values and the batches are stored together or not at all.

    When the stored values were not current just before the import (never stored, or the
    sites changed), every value is computed instead.
    """
    ids = [b.id for b in batches]
    state = store.state(session)
    header = value_set(session)
    snapshot = _snapshot(session, store)
    if header is None or header.store_state != state_digest(state_without(state, ids)):
        return refresh_whole(
            session, tables=snapshot.tables, extract_dates=snapshot.extract_dates, state=state
        )
    every_batch = session.execute(
        select(ImportBatch.id, ImportBatch.record_type, ImportBatch.extracted_on)
    ).all()
    slices = slices_after_import(
        tables=snapshot.tables,
        footprints=[store.batch_footprint(session, b) for b in batches],
        dates_before=dates_without(((int(i), str(t), d) for i, t, d in every_batch), ids),
        dates_after=snapshot.extract_dates,
    )
    return write_slices(
        session,
        tables=snapshot.tables,
        extract_dates=snapshot.extract_dates,
        state=state,
        slices=slices,
    )


register_after_import("kpi_values", refresh_after_import)

#: Whether a page that finds stored values older than the store starts a refresh beside it.
BACKGROUND_REFRESH = True
#: A claim older than this is taken to be a refresh that died with its process.
CLAIM_TIMEOUT: Final = timedelta(minutes=30)
_log = logging.getLogger(__name__)


def _claim(engine: Engine) -> bool:
    """Mark a refresh as running, unless another worker's claim is still young: one refresh
    at a time across every worker and process."""
    now = utcnow()
    with engine.begin() as connection:
        taken = connection.execute(
            update(KPIValueSet)
            .where(
                KPIValueSet.options_key == DEFAULT_OPTIONS_KEY,
                or_(
                    KPIValueSet.refreshing_since.is_(None),
                    KPIValueSet.refreshing_since < now - CLAIM_TIMEOUT,
                ),
            )
            .values(refreshing_since=now)
        )
        if taken.rowcount == 1:
            return True
        exists = connection.execute(
            select(KPIValueSet.options_key).where(KPIValueSet.options_key == DEFAULT_OPTIONS_KEY)
        ).first()
    if exists is not None:
        return False
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(KPIValueSet).values(
                    options_key=DEFAULT_OPTIONS_KEY,
                    store_state="",
                    batch_id=None,
                    refreshed_at=now,
                    refreshing_since=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _release(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(KPIValueSet)
            .where(KPIValueSet.options_key == DEFAULT_OPTIONS_KEY)
            .values(refreshing_since=None)
        )


def _refresh_claimed(engine: Engine, store: EventStore) -> None:
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            if freshness(session, store.state(session)) != "fresh":
                refresh_kpi_values(session, store=store)
            session.commit()
    except Exception:  # a background thread has no one to tell but the log
        _log.exception("refreshing the stored KPI values failed")
    finally:
        _release(engine)


def refresh_in_background(session: Session, store: EventStore | None = None) -> bool:
    """Start refreshing stale stored values in a thread the request does not wait for; False
    when another worker already does, or when the session's data is not committed (a session
    bound to an open connection: another connection would not see what it sees)."""
    bind = session.get_bind()
    if not BACKGROUND_REFRESH or not isinstance(bind, Engine):
        return False
    if not _claim(bind):
        return False
    worker = threading.Thread(
        target=_refresh_claimed,
        args=(bind, store or event_store()),
        name="qmm-kpi-refresh",
        daemon=True,
    )
    worker.start()
    return True


# --- EM by room and grade -----------------------------------------------------------------------


def em_trend_for_site(
    session: Session, *, site: str, store: EventStore | None = None, period: str = "month"
) -> list[tuple[str, str, ControlChart]]:
    """Per room and grade at one site, the excursion-rate p-chart: where an EM drift shows."""
    table = open_tables(session, store).get("em_sample")
    if table is None:
        return []
    samples = table.filter(lambda t: t.site == site).to_pyarrow()
    return em_trend(samples, period, site=site)
