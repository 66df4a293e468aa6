"""KPI values kept in the app database: computed once per import, read by every page.

Each value is stored per (KPI, site, period, group, options) with the import batch the store
had reached (``kpi_values``); ``kpi_value_sets`` says which store state the stored values are
current for. After an import only the slices the batches can change are computed again: the
sites they hold, the periods their records' dates fall in, widened by the windows that reach
across periods (the recurrence window after a CAPA's closure, the 365-day look-back of repeat
deviations). A KPI whose default as-of date moved (a later extract date) is computed whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from qmm.events.store import BatchFootprint
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.engine import (
    ExtractDates,
    KPIValue,
    compute,
    default_as_of,
    period_of,
)
from qmm.metrics.kpis import REGISTRY, Options, Period, Tables
from qmm.models import KPIValueSet, StoredKPIValue, utcnow

#: The options the stored values are computed with: the catalogue's own.
DEFAULT_OPTIONS_KEY: Final = "default"
#: Every period kind is stored, so any page's choice of month, quarter or year is read back.
STORED_PERIODS: Final[tuple[Period, ...]] = ("month", "quarter", "year")
#: Days a KPI value of one period can reach back to / forward from the records dated in it.
#: Recurrence after CAPA counts a CAPA in its closure period when a deviation follows within
#: the window; a deviation is a repeat when the one before it is at most 365 days earlier.
REPEAT_LOOK_BACK_DAYS: Final = 365
#: Ids a record names whose own period a KPI counts it in: a deviation's CAPA is counted in
#: the CAPA's closure period by recurrence after CAPA.
REFERENCED_PERIOD_DATES: Final[dict[str, tuple[str, str]]] = {"capa_id": ("capa", "closed_on")}

Freshness = Literal["fresh", "stale", "missing"]
#: Told (done, total, what) as a refresh goes.
ProgressCallback = Callable[[int, int, str], None]


def state_digest(state: Sequence[Any]) -> str:
    """A short fingerprint of the store's state (its batches and the app's sites)."""
    return hashlib.sha256(repr(tuple(state)).encode("utf-8")).hexdigest()


def latest_batch(state: Sequence[Any]) -> int | None:
    """The latest import batch id in a store state (``EventStore.state``), None when empty."""
    ids = [int(row[0]) for row in state[1]]
    return max(ids) if ids else None


def state_without(state: Sequence[Any], batch_ids: Iterable[int]) -> tuple[Any, ...]:
    """The store state as it was before the given batches (same sites)."""
    skip = set(batch_ids)
    return (state[0], tuple(row for row in state[1] if int(row[0]) not in skip), *state[2:])


def window_reach(kpi_id: str, options: Options | None = None) -> tuple[int, int]:
    """Days before and after a record's dates whose periods a KPI may count it in."""
    chosen = options or Options()
    if kpi_id == "capa_recurrence_rate":
        return chosen.recurrence_window_days, 0
    if kpi_id == "deviation_repeat_rate":
        return 0, REPEAT_LOOK_BACK_DAYS
    return 0, 0


@dataclass(frozen=True)
class Slice:
    """KPIs to compute again at one site (every site when None) for one period kind, from
    START to END (labels, inclusive; None for no bound)."""

    kpis: tuple[str, ...]
    site: str | None
    period: Period
    start: str | None = None
    end: str | None = None


@dataclass
class RefreshResult:
    """What a refresh computed: whole (every KPI, site and period) or only some slices."""

    whole: bool
    slices: list[Slice] = field(default_factory=list)
    #: (kpi, site, period kind, period, group) of every value written.
    written: set[tuple[str, str, str, str, str | None]] = field(default_factory=set)

    #: The latest import batch the values include (the store version they came from).
    batch_id: int | None = None

    @property
    def rows(self) -> int:
        return len(self.written)


# --- reading ----------------------------------------------------------------------------------


def value_set(session: Session, options_key: str = DEFAULT_OPTIONS_KEY) -> KPIValueSet | None:
    """The header of the stored values: which store state they are current for."""
    return session.get(KPIValueSet, options_key)


def freshness(session: Session, state: Sequence[Any]) -> Freshness:
    """Whether the stored values are current for a store state, older, or were never stored."""
    header = value_set(session)
    if header is None or not header.store_state:
        return "missing"
    return "fresh" if header.store_state == state_digest(state) else "stale"


def read_values(
    session: Session,
    *,
    kpis: Sequence[str] | None,
    sites: Sequence[str] | None,
    period: Period,
    start: str | None = None,
    end: str | None = None,
) -> list[KPIValue]:
    """Stored values, ordered as :func:`compute` orders them (catalogue, site, period, group)."""
    ids = list(REGISTRY) if kpis is None else list(dict.fromkeys(kpis))
    query = select(StoredKPIValue).where(
        StoredKPIValue.options_key == DEFAULT_OPTIONS_KEY,
        StoredKPIValue.period_kind == period,
        StoredKPIValue.kpi.in_(ids),
    )
    if sites is not None:
        query = query.where(StoredKPIValue.site.in_(list(sites)))
    if start is not None:
        query = query.where(StoredKPIValue.period >= start)
    if end is not None:
        query = query.where(StoredKPIValue.period <= end)
    order = {k: i for i, k in enumerate(ids)}
    values = [_as_value(row) for row in session.scalars(query)]
    values.sort(key=lambda v: (order[v.kpi], v.site, v.period, v.group or ""))
    return values


def _as_value(row: StoredKPIValue) -> KPIValue:
    return KPIValue(
        kpi=row.kpi,
        site=row.site,
        period=row.period,
        group=row.group_key or None,
        value=row.value,
        numerator=row.numerator,
        denominator=row.denominator,
        complete=row.complete,
        as_of=row.as_of,
    )


# --- writing ----------------------------------------------------------------------------------


def _rows(
    values: Sequence[KPIValue], period: Period, batch_id: int | None, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "options_key": DEFAULT_OPTIONS_KEY,
            "period_kind": period,
            "kpi": v.kpi,
            "site": v.site,
            "period": v.period,
            "group_key": v.group or "",
            "value": v.value,
            "numerator": v.numerator,
            "denominator": v.denominator,
            "complete": v.complete,
            "as_of": v.as_of,
            "batch_id": batch_id,
            "computed_at": now,
        }
        for v in values
    ]


def _lock_header(session: Session) -> KPIValueSet | None:
    """The header row, locked until commit (PostgreSQL) so two refreshes take turns."""
    return session.get(KPIValueSet, DEFAULT_OPTIONS_KEY, with_for_update=True)


def _mark_current(session: Session, state: Sequence[Any], now: datetime) -> None:
    header = _lock_header(session)
    if header is None:
        header = KPIValueSet(options_key=DEFAULT_OPTIONS_KEY, store_state="")
        session.add(header)
    header.store_state = state_digest(state)
    header.batch_id = latest_batch(state)
    header.refreshed_at = now
    header.refreshing_since = None
    session.flush()


def write_slices(
    session: Session,
    *,
    tables: Tables,
    extract_dates: ExtractDates,
    state: Sequence[Any],
    slices: Sequence[Slice],
    progress: ProgressCallback | None = None,
) -> RefreshResult:
    """Compute each slice and put its values in place of the stored ones (flushed)."""
    _lock_header(session)
    now = utcnow()
    batch_id = latest_batch(state)
    result = RefreshResult(whole=False, slices=list(slices), batch_id=batch_id)
    for done, piece in enumerate(slices):
        if progress is not None:
            where = piece.site or "every site"
            progress(done, len(slices), f"{', '.join(piece.kpis)} per {piece.period} at {where}")
        values = compute(
            tables,
            kpis=list(piece.kpis),
            sites=None if piece.site is None else [piece.site],
            period=piece.period,
            start=piece.start,
            end=piece.end,
            extract_dates=extract_dates,
        )
        gone = delete(StoredKPIValue).where(
            StoredKPIValue.options_key == DEFAULT_OPTIONS_KEY,
            StoredKPIValue.period_kind == piece.period,
            StoredKPIValue.kpi.in_(list(piece.kpis)),
        )
        if piece.site is not None:
            gone = gone.where(StoredKPIValue.site == piece.site)
        if piece.start is not None:
            gone = gone.where(StoredKPIValue.period >= piece.start)
        if piece.end is not None:
            gone = gone.where(StoredKPIValue.period <= piece.end)
        session.execute(gone)
        rows = _rows(values, piece.period, batch_id, now)
        if rows:
            session.execute(insert(StoredKPIValue), rows)
        result.written.update((v.kpi, v.site, piece.period, v.period, v.group) for v in values)
    if progress is not None:
        progress(len(slices), len(slices), "done")
    _mark_current(session, state, now)
    return result


def whole_slices(kpis: Sequence[str] | None = None) -> list[Slice]:
    """Every KPI (or the ones named), every site and period, one slice per KPI and kind."""
    ids = list(REGISTRY) if kpis is None else list(kpis)
    return [Slice((k,), None, p) for p in STORED_PERIODS for k in ids]


def refresh_whole(
    session: Session,
    *,
    tables: Tables,
    extract_dates: ExtractDates,
    state: Sequence[Any],
    progress: ProgressCallback | None = None,
) -> RefreshResult:
    """Compute every stored value again, replacing all of them (flushed)."""
    result = write_slices(
        session,
        tables=tables,
        extract_dates=extract_dates,
        state=state,
        slices=whole_slices(),
        progress=progress,
    )
    result.whole = True
    return result


# --- what an import can change ----------------------------------------------------------------


def _shift(day: date, days: int) -> date | None:
    """DAY moved by DAYS, None when that leaves the calendar (no bound on that side)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def _referenced_days(
    tables: Tables, footprints: Sequence[BatchFootprint]
) -> dict[str, tuple[date, date]]:
    """Per site the first and last period date of the records the batches' records name."""
    spans: dict[str, tuple[date, date]] = {}
    for column, (record_type, day_column) in REFERENCED_PERIOD_DATES.items():
        ids = sorted({i for f in footprints for i in f.references.get(column, frozenset())})
        table = tables.get(record_type)
        if not ids or table is None:
            continue
        named = table.filter(table[column].isin(ids) & table[day_column].notnull())
        summary = named.group_by("site").aggregate(
            first=named[day_column].min(), last=named[day_column].max()
        )
        for row in summary.to_pyarrow().to_pylist():
            _widen(spans, str(row["site"]), row["first"], row["last"])
    return spans


def _widen(spans: dict[Any, tuple[date, date]], site: Any, first: date, last: date) -> None:
    known = spans.get(site)
    spans[site] = (first, last) if known is None else (min(known[0], first), max(known[1], last))


def slices_after_import(
    *,
    tables: Tables,
    footprints: Sequence[BatchFootprint],
    dates_before: ExtractDates,
    dates_after: ExtractDates,
    options: Options | None = None,
) -> list[Slice]:
    """The slices an import can change: each KPI reading a batch's record type, at the sites
    the batch's records (and their earlier versions) hold, over the periods their dates fall
    in widened by the KPI's windows; a KPI whose default as-of date moved, whole."""
    moved = [
        k
        for k in REGISTRY
        if default_as_of(k, dates_before) != default_as_of(k, dates_after)
        and any(t in dates_after for t in get_kpi(k).reads)
    ]
    slices = whole_slices(moved)
    referenced = _referenced_days(tables, footprints)
    spans: dict[tuple[str, str], tuple[date, date]] = {}
    for footprint in footprints:
        for kpi_id in REGISTRY:
            if kpi_id in moved or footprint.record_type not in get_kpi(kpi_id).reads:
                continue
            days = dict(footprint.days)
            if kpi_id == "capa_recurrence_rate":
                for site, (first, last) in referenced.items():
                    _widen(days, site, first, last)
            for site, (first, last) in days.items():
                _widen(spans, (kpi_id, site), first, last)
    grouped: dict[tuple[str, Period, str | None, str | None], list[str]] = {}
    for (kpi_id, site), (first, last) in sorted(spans.items()):
        before, after = window_reach(kpi_id, options)
        low = None if first == date.min else _shift(first, -before)
        high = None if last == date.max else _shift(last, after)
        for period in STORED_PERIODS:
            start = None if low is None else period_of(low, period)
            end = None if high is None else period_of(high, period)
            grouped.setdefault((site, period, start, end), []).append(kpi_id)
    order = {k: i for i, k in enumerate(REGISTRY)}
    for (site, period, start, end), ids in grouped.items():
        slices.append(Slice(tuple(sorted(ids, key=order.__getitem__)), site, period, start, end))
    return slices


def dates_without(
    batches: Iterable[tuple[int, str, date | None]], skip: Iterable[int]
) -> dict[str, date]:
    """The latest extract date of each record type over (id, type, extracted_on) rows, leaving
    out some batches: the as-of dates as they were before an import."""
    left_out = set(skip)
    latest: dict[str, date] = {}
    for batch_id, record_type, day in batches:
        if batch_id in left_out or day is None:
            continue
        if record_type not in latest or day > latest[record_type]:
            latest[record_type] = day
    return latest
