"""KPIs as people read them: latest value with its n, target, trend and signal; charts; records.

The pages and the API read the KPI values stored at import (see ``qmm.metrics.materialize``):
a `KPIRequest` reads only the site and KPIs it shows, once per request, and says when they are
older than the store (shown as refreshing while one worker brings them up to date). Only the
records behind a value are read from the event store, through the same expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final, Literal, cast

from sqlalchemy.orm import Session

from qmm.errors import InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.metrics.catalogue import Direction, KPIDefinition, get_kpi
from qmm.metrics.control_charts import BaselineError, ControlChart, Signal
from qmm.metrics.engine import KPIValue, records
from qmm.metrics.kpis import Tables
from qmm.metrics.service import (
    KPISeries,
    em_trend_for_site,
    extract_dates,
    kpi_series,
    kpi_values,
    open_tables,
    refresh_in_background,
    stored_kpi_values,
)
from qmm.presentation.charts import WEB_CHART_WIDTH, chart_svg, control_chart_spec
from qmm.presentation.formatting import format_n, format_value, with_n

PeriodName = Literal["month", "quarter", "year"]
PERIODS: Final[tuple[str, ...]] = ("month", "quarter", "year")
CHART_PERIODS: Final[tuple[str, ...]] = ("month", "quarter")
#: Fewer records than this behind a value and the tile is greyed with a note: too few to judge.
SMALL_N: Final = 10

#: The tiles of a site dashboard: the KPIs the product's seeds name as signals, per group.
DASHBOARD_TILES: Final[tuple[tuple[str, str | None], ...]] = (
    ("capa_effectiveness", None),
    ("capa_recurrence_rate", None),
    ("change_cycle_time_days", "high"),
    ("change_cycle_time_days", "medium"),
    ("change_cycle_time_days", "low"),
    ("training_effectiveness", None),
    ("em_response_hours", None),
    ("em_excursion_rate", None),
    ("scar_on_time_closure", None),
)
DASHBOARD_KPIS: Final[tuple[str, ...]] = tuple(dict.fromkeys(k for k, _ in DASHBOARD_TILES))


class KPIRequest:
    """One request's KPI work: stored values read once, the tables opened only for records."""

    def __init__(self, session: Session, store: EventStore) -> None:
        self.session = session
        self.store = store
        self._tables: Tables | None = None
        self._values: dict[tuple[str, tuple[str, ...], str], list[KPIValue]] = {}
        #: Whether any values read are older than the store (a refresh is under way).
        self.refreshing = False

    @property
    def tables(self) -> Tables:
        """The event store's current records, opened on first use."""
        if self._tables is None:
            self._tables = open_tables(self.session, self.store)
        return self._tables

    @property
    def extract_dates(self) -> Mapping[str, date]:
        """The latest extract date of each imported record type (the default as-of dates)."""
        return extract_dates(self.session, self.store)

    def values(self, *, site: str, kpis: Sequence[str], period: str) -> list[KPIValue]:
        """The stored values of some KPIs at one site, per period; read once per request.

        Values older than the store are shown (marked refreshing) while a refresh runs beside
        the request; only when none was ever stored are they computed, once per process.
        """
        key = (site, tuple(kpis), period)
        if key not in self._values:
            chosen = check_period(period)
            read = stored_kpi_values(
                self.session, store=self.store, kpis=list(kpis), sites=[site], period=chosen
            )
            if read.refreshing:
                self.refreshing = True
                refresh_in_background(self.session, self.store)
            if read.freshness == "missing":
                self._values[key] = kpi_values(
                    self.session, store=self.store, kpis=list(kpis), sites=[site], period=chosen
                )
            else:
                self._values[key] = read.values
        return self._values[key]

    def records(
        self, *, site: str, kpi: str, period_value: str, group: str | None
    ) -> list[dict[str, Any]]:
        """The records behind one value, each with its role."""
        return records(
            self.tables,
            kpi=kpi,
            site=site,
            period_value=period_value,
            period=period_of_label(period_value),
            group=group,
            extract_dates=self.extract_dates,
        )


def check_period(period: str, allowed: Sequence[str] = PERIODS) -> PeriodName:
    """A period name from a query string, or a clear refusal naming the choices."""
    if period not in allowed:
        raise InvalidInput(f"period {period!r} is not one of {', '.join(allowed)}")
    return cast(PeriodName, period)


def period_of_label(label: str) -> PeriodName:
    """Which kind of period a label is (2025-03, 2025-Q1, 2025), refusing anything else."""
    text = label.strip()
    if len(text) == 4 and text.isdigit():
        return "year"
    if len(text) == 7 and text[4:6] == "-Q" and text[:4].isdigit() and text[6] in "1234":
        return "quarter"
    month = text[5:]
    shaped = len(text) == 7 and text[4] == "-" and text[:4].isdigit() and month.isdigit()
    if shaped and 1 <= int(month) <= 12:
        return "month"
    raise InvalidInput(
        f"period_value {label!r} is not a period: use a month (2025-03), a quarter (2025-Q1) "
        "or a year (2025)"
    )


def kpi_definition(kpi_id: str) -> KPIDefinition:
    """A KPI of the catalogue, or a 404 naming the known ones."""
    try:
        return get_kpi(kpi_id)
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None


def check_group(definition: KPIDefinition, group: str | None) -> str | None:
    """A group the KPI is split by (risk tier, grade); refused for ungrouped KPIs."""
    if group in (None, ""):
        return None
    if not definition.groups:
        raise InvalidInput(f"{definition.id} is not split by group; leave group out")
    if group not in definition.groups:
        raise InvalidInput(
            f"group {group!r} is not a {definition.group} of {definition.id}; "
            f"choose one of {', '.join(definition.groups)}"
        )
    return group


# --- words ----------------------------------------------------------------------------------


def target_text(definition: KPIDefinition, target: float | None) -> str:
    """The target with its direction in words, or a plain statement that there is none."""
    if target is None:
        return "no default target"
    bound = "at least" if definition.direction is Direction.higher_is_better else "at most"
    return f"{bound} {format_value(definition, target)}"


def meets(definition: KPIDefinition, value: float | None, target: float | None) -> bool | None:
    """Whether a value meets its target (None when either is missing)."""
    if value is None or target is None:
        return None
    if definition.direction is Direction.higher_is_better:
        return value >= target
    return value <= target


def signal_words(chart: ControlChart, signal: Signal) -> str:
    """A signal in words, with the periods it covers."""
    periods = [chart.labels[i] for i in signal.indexes]
    shown = ", ".join(periods) if len(periods) <= 4 else f"{periods[0]} to {periods[-1]}"
    return f"Rule {signal.rule}: {signal.description} ({shown})"


# --- tiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """How the latest value moved from the period before, and whether that is for the better."""

    arrow: str
    words: str
    better: bool | None


@dataclass(frozen=True)
class Tile:
    """One dashboard tile: the answer first, with the honesty cues the value needs."""

    definition: KPIDefinition
    group: str | None
    latest: KPIValue | None
    target: float | None
    met: bool | None
    trend: Trend | None
    signal_at_latest: tuple[int, ...]
    earlier_signals: tuple[int, ...]
    small_n: bool
    href: str
    #: The value is older than the store: a refresh after an import is under way.
    refreshing: bool = False

    @property
    def title(self) -> str:
        return self.definition.name + (f" ({self.group})" if self.group else "")

    @property
    def value_text(self) -> str:
        return "no records yet" if self.latest is None else with_n(self.definition, self.latest)

    @property
    def partial(self) -> bool:
        """Whether the value shown is of the period that holds the as-of date (not over yet)."""
        return self.latest is not None and not self.latest.complete

    @property
    def period_text(self) -> str:
        """The period of the value shown, 'partial' when the data ends inside it."""
        if self.latest is None:
            return ""
        return self.latest.period + (" (partial)" if self.partial else "")

    @property
    def verdict(self) -> str:
        """Met, missed, or why there is no verdict: never a verdict on too few records."""
        if self.latest is None or self.latest.value is None:
            return "no value"
        if self.small_n:
            return "too few to judge"
        if self.met is None:
            return "no target"
        return "met" if self.met else "missed"

    @property
    def target_text(self) -> str:
        return target_text(self.definition, self.target)


def _trend(definition: KPIDefinition, values: Sequence[KPIValue]) -> Trend | None:
    present = [v for v in values if v.value is not None]
    if len(present) < 2 or present[-1] is not values[-1]:
        return None
    before, now = present[-2], present[-1]
    assert before.value is not None
    assert now.value is not None
    previous = f"{format_value(definition, before.value)} in {before.period}"
    if abs(now.value - before.value) <= 1e-9 * max(1.0, abs(before.value)):
        return Trend("→", f"unchanged from {previous}", None)
    up = now.value > before.value
    better = up == (definition.direction is Direction.higher_is_better)
    return Trend("▲" if up else "▼", f"{'up' if up else 'down'} from {previous}", better)


def series_for(
    values: Sequence[KPIValue],
    *,
    kpi: str,
    site: str,
    group: str | None,
    baseline: str | None = None,
) -> KPISeries | None:
    """The KPI's series and control chart, or None when the site has no value of it yet."""
    if not any(v.kpi == kpi and v.site == site and v.group == group for v in values):
        return None
    try:
        return kpi_series(values, kpi=kpi, site=site, group=group, baseline=baseline)
    except BaselineError as exc:
        raise InvalidInput(str(exc)) from exc


def tile(
    values: Sequence[KPIValue],
    *,
    site: str,
    kpi: str,
    group: str | None,
    period: str,
    refreshing: bool = False,
) -> Tile:
    """The tile of one KPI (and group) at a site from the request's values."""
    definition = get_kpi(kpi)
    target = definition.target(group)
    query = f"?period={period}" + (f"&group={group}" if group else "")
    href = f"/sites/{site}/kpis/{kpi}{query}"
    series = series_for(values, kpi=kpi, site=site, group=group)
    if series is None:
        return Tile(definition, group, None, target, None, None, (), (), False, href, refreshing)
    # The latest period with a value: a recent period can have none yet (recurrence after
    # CAPA waits for each CAPA's window to pass).
    last = max(
        (i for i, v in enumerate(series.values) if v.value is not None),
        default=len(series.values) - 1,
    )
    latest = series.values[last]
    at_latest = sorted({s.rule for s in series.chart.signals if last in s.indexes})
    earlier = sorted({s.rule for s in series.chart.signals if last not in s.indexes})
    n = latest.denominator
    small_n = n is not None and n < SMALL_N
    return Tile(
        definition=definition,
        group=group,
        latest=latest,
        target=target,
        met=None if small_n else meets(definition, latest.value, target),
        trend=_trend(definition, series.values[: last + 1]),
        signal_at_latest=tuple(at_latest),
        earlier_signals=tuple(earlier),
        small_n=small_n,
        href=href,
        refreshing=refreshing,
    )


def dashboard_tiles(kpi_request: KPIRequest, *, site: str, period: str) -> list[Tile]:
    """The dashboard's tiles for one site: only its KPIs, computed in one pass."""
    values = kpi_request.values(site=site, kpis=DASHBOARD_KPIS, period=period)
    return [
        tile(
            values,
            site=site,
            kpi=kpi,
            group=group,
            period=period,
            refreshing=kpi_request.refreshing,
        )
        for kpi, group in DASHBOARD_TILES
    ]


# --- the chart page --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartRow:
    """One point of a control chart as a table row, with its drill-down link."""

    value: KPIValue
    text: str
    n: str
    center: str
    lcl: str
    ucl: str
    rules: tuple[int, ...]
    href: str
    #: "baseline", "monitoring" or "before baseline" (always "baseline" without a chosen one).
    phase: str = "baseline"

    @property
    def empty(self) -> bool:
        """A period with no value: shown on the axis and in the table, marked as empty."""
        return self.value.value is None


@dataclass(frozen=True)
class ChartView:
    """Everything the KPI page shows: the SVG, the signals in words and the table."""

    definition: KPIDefinition
    series: KPISeries
    svg: str
    signals: list[str]
    rows: list[ChartRow]
    latest: Tile

    @property
    def as_of(self) -> date | None:
        """The date the values are as of (the data's extract date unless one was asked for)."""
        return self.series.values[-1].as_of if self.series.values else None


def chart_view(
    values: Sequence[KPIValue],
    *,
    site: str,
    kpi: str,
    group: str | None,
    period: str,
    refreshing: bool = False,
    baseline: str | None = None,
    width: int = WEB_CHART_WIDTH,
) -> ChartView | None:
    """The KPI page's content, or None when the site has no value of this KPI yet.

    ``baseline`` (FROM:TO) takes the limits from those periods; ``width`` is the drawing width
    (the web page scales it to its column, the PDF prints it as it is)."""
    definition = get_kpi(kpi)
    series = series_for(values, kpi=kpi, site=site, group=group, baseline=baseline)
    if series is None:
        return None
    chart = series.chart
    target = definition.target(group)
    as_of = series.values[-1].as_of
    title = f"{definition.name}{f' ({group})' if group else ''}, {site}, per {period}" + (
        f", data as of {as_of.isoformat()}" if as_of is not None else ""
    )
    shown = replace(
        chart,
        labels=tuple(v.period if v.complete else f"{v.period} (partial)" for v in series.values),
    )
    spec = control_chart_spec(
        shown,
        title=title,
        unit=definition.unit,
        target=target,
        target_label=format_value(definition, target) if target is not None else "",
        width=width,
    )
    marks = chart.signal_rules()
    group_query = f"&group={group}" if group else ""
    rows = [
        ChartRow(
            value=v,
            text=format_value(definition, v.value),
            n=format_n(v),
            center=format_value(definition, chart.center[i]),
            lcl=format_value(definition, chart.lcl[i]),
            ucl=format_value(definition, chart.ucl[i]),
            rules=marks.get(i, ()),
            href=f"/sites/{site}/kpis/{kpi}/records?period_value={v.period}{group_query}",
            phase=chart.phase(i),
        )
        for i, v in enumerate(series.values)
    ]
    return ChartView(
        definition=definition,
        series=series,
        svg=chart_svg(spec),
        signals=[signal_words(chart, s) for s in chart.signals],
        rows=rows,
        latest=tile(values, site=site, kpi=kpi, group=group, period=period, refreshing=refreshing),
    )


def record_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The columns of a records table: role first, then every field in first-seen order."""
    columns: dict[str, None] = {"role": None}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


#: The order roles are listed in: the numerator's records (the excursions, the late ones) first.
ROLE_ORDER: Final[tuple[str, ...]] = ("numerator", "denominator", "value")
#: Records a page of a KPI value's records shows.
RECORDS_PAGE_SIZE: Final = 100


def records_by_role(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A value's records by role, numerator first: what a reader filters the table by."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(str(row.get("role")), []).append(row)
    ranked: dict[str, list[dict[str, Any]]] = {n: found[n] for n in ROLE_ORDER if n in found}
    ranked.update({name: kept for name, kept in found.items() if name not in ranked})
    return ranked


def records_in_order(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record, the numerator's first, each role in its own order."""
    return [row for kept in records_by_role(rows).values() for row in kept]


def chosen_baseline(first: str, last: str) -> str | None:
    """The chart page's baseline fields as FROM:TO, None when both are empty; one alone is an
    error naming the other, so a half-chosen baseline is never silently ignored."""
    first, last = first.strip(), last.strip()
    if not first and not last:
        return None
    if not first or not last:
        missing = "baseline_from" if not first else "baseline_to"
        raise InvalidInput(f"a baseline needs both its first and last period: {missing} is empty")
    return f"{first}:{last}"


# --- EM by room and grade --------------------------------------------------------------------


@dataclass(frozen=True)
class EMRoom:
    """One room and grade on the EM page: its latest rate, its chart and its signals in words."""

    room: str
    grade: str
    chart: ControlChart
    svg: str
    signals: list[str]

    @property
    def latest(self) -> str:
        """The latest month with samples and its excursion rate, or a dash."""
        for label, value in zip(
            reversed(self.chart.labels), reversed(self.chart.values), strict=True
        ):
            if value is not None:
                return f"{value:.1%} ({label})"
        return "-"

    @property
    def anchor(self) -> str:
        """The id of the room's section, for the link from the table."""
        return "room-" + "".join(ch if ch.isalnum() else "-" for ch in f"{self.room}-{self.grade}")


def em_rooms(
    session: Session, *, site: str, store: EventStore | None = None, width: int = WEB_CHART_WIDTH
) -> list[EMRoom]:
    """Every room and grade at a site with its excursion-rate p-chart, signalling rooms first."""
    rooms = []
    for room, grade, chart in em_trend_for_site(session, site=site, store=store):
        spec = control_chart_spec(
            chart,
            title=f"EM excursion rate, room {room} (grade {grade}), {site}, per month",
            unit="excursion rate",
            target=None,
            width=width,
        )
        rooms.append(
            EMRoom(
                room=room,
                grade=grade,
                chart=chart,
                svg=chart_svg(spec),
                signals=[signal_words(chart, s) for s in chart.signals],
            )
        )
    rooms.sort(key=lambda r: (not r.chart.signals, r.grade, r.room))
    return rooms
