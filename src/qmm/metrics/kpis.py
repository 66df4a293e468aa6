"""Every KPI of the data contract, defined once as an Ibis expression.

A KPI is a *detail* expression (one row per record in the KPI's base population, saying the
site, the period, the group, the record's ``role`` in the value and, for medians and measured
denominators, the number ``x`` it contributes) plus an *aggregation* kind. The value table
(:meth:`KPI.build`) and the drill-down to the records behind a value (:meth:`KPI.detail`) are
both derived from the same detail expression, so they cannot disagree.

Only portable operations are used, so the same expressions run on DuckDB, PostgreSQL and Spark
and compile for Trino:

* periods: ``extract(year/month/quarter)`` combined into an integer key per record
  (``year * 100 + month``, ...), formatted as ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY`` once per
  value row; timestamps are placed in a period in the session time zone, which Ibis sets to UTC
  on DuckDB, PostgreSQL and Spark connections (on DuckDB the engine hands the KPIs timestamps
  as UTC wall-clock times, see ``qmm.metrics.engine``, because extracting a field from a
  zoned timestamp costs a time-zone conversion per row);
* whole-day differences: Ibis ``DateValue.delta(unit="day")`` (``date_diff`` / ``datediff`` /
  epoch arithmetic, depending on the backend);
* exact hours: difference of epoch seconds / 3600;
* medians: ``row_number()`` and ``count()`` over a window, averaging the middle one or two
  rows (Trino's ``median`` is approximate and SQLite has none); where the backend's own median
  is exact (DuckDB, PostgreSQL) the engine asks for it instead (``native_median``);
* look-back windows (repeat deviations, recurrence after CAPA): ``LAG`` and a running ``MAX``
  over windows partitioned by site and root cause, then a whole-day difference <= 365; this is
  linear where a self-join with a day-difference predicate is quadratic.

Rows exist for every (site, period[, group]) in which the KPI's base population has at least
one record whose period date falls in that period (for most KPIs every record of the type; for
``em_response_hours`` the excursions); a rate whose denominator is 0 is null.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, get_args

import ibis  # type: ignore[import-untyped, unused-ignore]

from qmm.events.record_types import RECORD_TYPES, ColumnType
from qmm.metrics.catalogue import (
    DEFAULT_CHANGE_TARGET_DAYS,
    DEFAULT_RECURRENCE_WINDOW_DAYS,
    KPIS,
    KPIDefinition,
)

Period: TypeAlias = Literal["month", "quarter", "year"]
PERIODS: Final[tuple[str, ...]] = get_args(Period)

#: An Ibis table expression (Ibis ships no type information, so this is Any to mypy).
Table: TypeAlias = Any
#: Any Ibis value expression (column or scalar).
Expr: TypeAlias = Any
Tables: TypeAlias = Mapping[str, Table]

#: The tables a KPI computation reads: one per record type, plus ``sites``.
SITES_TABLE: Final = "sites"

#: The columns and types of every KPI output table.
OUTPUT_COLUMNS: Final[dict[str, str]] = {
    "kpi": "string",
    "site": "string",
    "period": "string",
    "group": "string",
    "numerator": "int64",
    "denominator": "int64",
    "value": "float64",
}

ROLES: Final[tuple[str, ...]] = ("numerator", "denominator", "value")
#: A record's role in a detail table is a small integer (cheaper than text on millions of rows):
#: the 1-based position of its name in ROLES.
NUMERATOR: Final = 1
DENOMINATOR: Final = 2
VALUE: Final = 3
ROLE_TYPE: Final = "int8"

_IBIS_TYPES: Final[dict[ColumnType, str]] = {
    ColumnType.string: "string",
    ColumnType.date: "date",
    ColumnType.timestamp: "timestamp('UTC')",
    ColumnType.integer: "int64",
    ColumnType.number: "float64",
    ColumnType.boolean: "boolean",
    ColumnType.month: "string",
}


def input_schemas() -> dict[str, Any]:
    """The Ibis schema of every input table, keyed by table name (record types and ``sites``)."""
    schemas: dict[str, Any] = {
        name: ibis.schema({c.name: _IBIS_TYPES[c.type] for c in rt.columns})
        for name, rt in RECORD_TYPES.items()
        if name != "site"
    }
    schemas[SITES_TABLE] = ibis.schema({"site": "string", "headcount": "int64"})
    return schemas


def unbound_tables() -> dict[str, Table]:
    """Unbound Ibis tables with the input schemas, for compiling SQL without a connection."""
    return {name: ibis.table(schema, name=name) for name, schema in input_schemas().items()}


@dataclass(frozen=True)
class Options:
    """Settings of a KPI computation that are not data: configurable defaults."""

    #: Default target days of a change control by risk tier (change_within_target), used when
    #: a record has no target_days of its own.
    change_target_days: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_CHANGE_TARGET_DAYS))
    )
    #: Days after a CAPA's closure in which a deviation with one of its addressed keys is a
    #: recurrence (capa_recurrence_rate).
    recurrence_window_days: int = DEFAULT_RECURRENCE_WINDOW_DAYS

    def __post_init__(self) -> None:
        if self.recurrence_window_days < 1:
            raise ValueError(
                f"the recurrence window must be at least 1 day, not {self.recurrence_window_days}"
            )


@dataclass(frozen=True)
class Context:
    """What a detail builder is given besides the tables."""

    period: Period
    #: The as-of date: records whose period date is after it are left out; verifications due
    #: after it (capa_voe_on_time) and CAPAs whose recurrence window ends after it
    #: (capa_recurrence_rate) are not yet counted.
    as_of: date
    options: Options

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"unknown period {self.period!r}; known: {', '.join(PERIODS)}")


# --- portable building blocks -------------------------------------------------------------


def period_key(when: Expr, period: Period) -> Expr:
    """The period a date or timestamp falls in, as an integer that sorts like its label:
    ``year * 100 + month``, ``year * 10 + quarter`` or ``year``.

    Rows are grouped by this number and the label is made once per group (:func:`period_text`):
    building a string for every record costs more than the rest of a KPI on a large table.
    """
    year = when.year().cast("int64")
    if period == "year":
        return year
    if period == "quarter":
        return year * 10 + when.quarter().cast("int64")
    return year * 100 + when.month().cast("int64")


def period_text(key: Expr, period: Period) -> Expr:
    """The label of a period key: 'YYYY-MM', 'YYYY-Qn' or 'YYYY'."""
    if period == "year":
        return key.cast("string")
    if period == "quarter":
        return (key // 10).cast("string") + "-Q" + (key % 10).cast("string")
    return (key // 100).cast("string") + "-" + (key % 100).cast("string").lpad(2, "0")


def period_key_of(label: str, period: Period) -> int:
    """The key of a period label ('YYYY-MM', 'YYYY-Qn', 'YYYY'), naming the expected form when
    the label does not have it."""
    forms = {"month": r"(\d{4})-(\d{2})", "quarter": r"(\d{4})-Q([1-4])", "year": r"(\d{4})"}
    match = re.fullmatch(forms[period], label.strip())
    if match is None or (period == "month" and not 1 <= int(match[2]) <= 12):
        example = {"month": "2025-04", "quarter": "2025-Q2", "year": "2025"}[period]
        raise ValueError(f"not a {period} label {label!r}: expected the form {example}")
    if period == "year":
        return int(match[1])
    return int(match[1]) * (100 if period == "month" else 10) + int(match[2])


def days_between(later: Expr, earlier: Expr) -> Expr:
    """Whole calendar days from ``earlier`` to ``later`` (dates), as int64."""
    return later.delta(earlier, unit="day").cast("int64")


def hours_between(later: Expr, earlier: Expr) -> Expr:
    """Exact hours from ``earlier`` to ``later`` (timestamps), via epoch seconds."""
    seconds = later.epoch_seconds().cast("float64") - earlier.epoch_seconds().cast("float64")
    return seconds / 3600.0


def role(numerator: Expr, denominator: Expr | None = None) -> Expr:
    """NUMERATOR for a record counted above and below the line, DENOMINATOR for one counted
    only below it, null for a record of the base population in neither.

    ``denominator=None`` means every record of the base population is in the denominator.
    A null condition counts as false.
    """
    if denominator is None:
        return ibis.cases((numerator, NUMERATOR), else_=DENOMINATOR).cast(ROLE_TYPE)
    return ibis.cases(
        (denominator & numerator, NUMERATOR),
        (denominator, DENOMINATOR),
        else_=ibis.null(ROLE_TYPE),
    ).cast(ROLE_TYPE)


def value_role(has_value: Expr) -> Expr:
    """VALUE for a record whose ``x`` goes into a median, null otherwise."""
    return ibis.cases((has_value, VALUE), else_=ibis.null(ROLE_TYPE)).cast(ROLE_TYPE)


def role_literal(code: int) -> Expr:
    """A role for every row of a detail table (see ROLES)."""
    return ibis.literal(code, type=ROLE_TYPE)


_NULL_FLOAT = ibis.null("float64")
_NULL_STRING = ibis.null("string")


def on_or_before(when: Expr, day: date) -> Expr:
    """Whether a date or timestamp (its UTC day) is on or before a day."""
    if when.type().is_timestamp():
        when = when.date()
    return when <= ibis.literal(day, type="date")


def days_before(day: date, days: int) -> Expr:
    """The date ``days`` calendar days before ``day``, as a literal."""
    return ibis.literal(day - timedelta(days=days), type="date")


def _detail(
    table: Table,
    *,
    record_type: str,
    key: str,
    when: Expr,
    context: Context,
    role_expr: Expr,
    x: Expr | None = None,
    group: Expr | None = None,
    **extra: Expr,
) -> Table:
    """One row per record whose period date is on or before the as-of date: the standard
    detail columns, then the key and the extra columns."""
    table = table.filter(on_or_before(when, context.as_of))
    return table.select(
        site=table.site,
        period=period_key(when, context.period),
        group=_NULL_STRING if group is None else group.cast("string"),
        role=role_expr,
        x=_NULL_FLOAT if x is None else x.cast("float64"),
        record_type=ibis.literal(record_type, type="string"),
        **{key: table[key]},
        **extra,
    )


# --- the KPIs --------------------------------------------------------------------------------


class Kind(Enum):
    """How detail rows become a value."""

    ratio = "ratio"  # count(numerator) / count(numerator or denominator) x scale
    count = "count"  # value = count(numerator); denominator = count(numerator or denominator)
    median = "median"  # median of x over 'value' rows; denominator = their count
    measured = "measured"  # count(numerator) / sum(x of 'denominator' rows) x scale


DetailBuilder: TypeAlias = Callable[[Tables, Context], Table]


def _capa_on_time_closure(t: Tables, o: Context) -> Table:
    c = t["capa"]
    c = c.filter(c.closed_on.notnull())
    return _detail(
        c,
        record_type="capa",
        key="capa_id",
        when=c.closed_on,
        context=o,
        role_expr=role(c.closed_on <= c.due_on),
        due_on=c.due_on,
        closed_on=c.closed_on,
    )


def _capa_voe_on_time(t: Tables, o: Context) -> Table:
    c = t["capa"]
    c = c.filter(c.voe_due_on.notnull())
    due = c.voe_due_on <= ibis.literal(o.as_of, type="date")
    return _detail(
        c,
        record_type="capa",
        key="capa_id",
        when=c.voe_due_on,
        context=o,
        role_expr=role(c.voe_done_on.notnull() & (c.voe_done_on <= c.voe_due_on), due),
        voe_due_on=c.voe_due_on,
        voe_done_on=c.voe_done_on,
    )


def _capa_effectiveness(t: Tables, o: Context) -> Table:
    c = t["capa"]
    c = c.filter(c.voe_done_on.notnull())
    return _detail(
        c,
        record_type="capa",
        key="capa_id",
        when=c.voe_done_on,
        context=o,
        role_expr=role(c.voe_result == "effective", c.voe_result.notnull()),
        voe_done_on=c.voe_done_on,
        voe_result=c.voe_result,
    )


def recurrence_key(dev: Table) -> Expr:
    """A deviation's recurrence key: ``recurrence_key`` when given, else the pair
    (process_area, root_cause_category) when process_area is given, else null.

    A given key is prefixed ``k:`` and a pair ``p:<length of process_area>:`` so the two never
    compare equal, and a pair reads back unambiguously whatever characters its parts hold.
    """
    given = dev.recurrence_key
    area, cause = dev.process_area, dev.root_cause_category
    pair = "p:" + area.length().cast("string") + ":" + area + cause
    return ibis.cases(
        (given.notnull(), "k:" + given),
        (area.notnull() & cause.notnull(), pair),
        else_=_NULL_STRING,
    )


def _keyed_deviations(dev: Table) -> Table:
    """The deviations that have a recurrence key, with the key as column ``key``."""
    keyed = dev.mutate(key=recurrence_key(dev))
    return keyed.filter(keyed.key.notnull())


def _deviation_repeat_rate(t: Tables, o: Context) -> Table:
    """A deviation is a repeat when the deviation just before it (same site and recurrence
    key, ordered by opened_on then deviation_id) was opened at most 365 days earlier.

    That is the contract's rule (another such deviation 1 to 365 days earlier, or the same day
    with a smaller id) computed with one ``LAG`` window instead of a self-join: the latest
    earlier deviation matches whenever any earlier deviation does, and each deviation is
    looked at once. (A self-join is quadratic in the deviations per site and key.)
    """
    dev = _keyed_deviations(t["deviation"])
    order = ibis.window(group_by=[dev.site, dev.key], order_by=[dev.opened_on, dev.deviation_id])
    d = dev.mutate(
        previous_id=dev.deviation_id.lag().over(order),
        previous_opened_on=dev.opened_on.lag().over(order),
    )
    repeat = d.previous_opened_on.notnull() & (
        days_between(d.opened_on, d.previous_opened_on) <= 365
    )
    return _detail(
        d,
        record_type="deviation",
        key="deviation_id",
        when=d.opened_on,
        context=o,
        role_expr=role(repeat),
        opened_on=d.opened_on,
        recurrence_key=d.recurrence_key,
        process_area=d.process_area,
        root_cause_category=d.root_cause_category,
        previous_id=d.previous_id,
        previous_opened_on=d.previous_opened_on,
    )


def _capa_recurrence_rate(t: Tables, o: Context) -> Table:
    """A closed CAPA recurs when a deviation with one of its addressed keys (same site) was
    opened 1 to ``window`` days after the CAPA closed; it counts once its window has passed.

    Each (CAPA, addressed key) closure and the keyed deviations are put in one stream per site
    and key, read from the latest day back, closures before deviations on the same day; a
    running ``MIN`` of opened_on then gives each closure the first deviation opened after the
    closure day: linear, where a join of CAPAs to deviations by key and day range is quadratic
    in the records per key.
    """
    window = o.options.recurrence_window_days
    dev, capa = _keyed_deviations(t["deviation"]), t["capa"]
    linked = dev.filter(dev.capa_id.notnull())
    addressed = linked.select(a_site=linked.site, a_capa=linked.capa_id, key=linked.key).distinct()
    closed = capa.filter(capa.closed_on.notnull())
    pairs = closed.inner_join(
        addressed, [closed.site == addressed.a_site, closed.capa_id == addressed.a_capa]
    ).select(site=closed.site, key=addressed.key, capa_id=closed.capa_id, on=closed.closed_on)
    deviations = dev.select(
        site=dev.site,
        key=dev.key,
        capa_id=_NULL_STRING,
        on=dev.opened_on,
        sequence=ibis.literal(0, type="int64"),
        deviation_on=dev.opened_on,
    )
    closures = pairs.select(
        site=pairs.site,
        key=pairs.key,
        capa_id=pairs.capa_id,
        on=pairs.on,
        sequence=ibis.literal(1, type="int64"),
        deviation_on=ibis.null("date"),
    )
    stream = deviations.union(closures)
    later_first = ibis.cumulative_window(
        group_by=[stream.site, stream.key],
        order_by=[ibis.desc(stream.on), ibis.desc(stream.sequence)],
    )
    stream = stream.mutate(next_deviation_on=stream.deviation_on.min().over(later_first))
    after = stream.filter(stream.sequence == 1)
    recurs = after.next_deviation_on.notnull() & (
        days_between(after.next_deviation_on, after.on) <= window
    )
    after = after.mutate(
        recurs=ibis.ifelse(recurs, 1, 0),
        key_recurs_on=recurs.ifelse(after.next_deviation_on, ibis.null("date")),
    )
    per_capa = after.group_by(c_site=after.site, c_capa=after.capa_id).aggregate(
        addressed_keys=after.key.nunique(),
        recurs=after.recurs.max(),
        first_recurrence_on=after.key_recurs_on.min(),
    )
    c = closed.inner_join(
        per_capa, [closed.site == per_capa.c_site, closed.capa_id == per_capa.c_capa]
    )
    window_passed = c.closed_on <= days_before(o.as_of, window)
    return _detail(
        c,
        record_type="capa",
        key="capa_id",
        when=c.closed_on,
        context=o,
        role_expr=role(c.recurs == 1, window_passed),
        closed_on=c.closed_on,
        addressed_keys=c.addressed_keys.cast("int64"),
        first_recurrence_on=c.first_recurrence_on,
    )


def _change_cycle_time_days(t: Tables, o: Context) -> Table:
    c = t["change_control"]
    c = c.filter(c.closed_on.notnull())
    days = days_between(c.closed_on, c.opened_on)
    return _detail(
        c,
        record_type="change_control",
        key="change_id",
        when=c.closed_on,
        context=o,
        group=c.risk_tier,
        role_expr=value_role(days.notnull()),
        x=days,
        opened_on=c.opened_on,
        closed_on=c.closed_on,
    )


def _change_within_target(t: Tables, o: Context) -> Table:
    c = t["change_control"]
    c = c.filter(c.closed_on.notnull())
    if o.options.change_target_days:
        tier_default = ibis.cases(
            *((c.risk_tier == tier, days) for tier, days in o.options.change_target_days.items()),
            else_=ibis.null("int64"),
        )
    else:
        tier_default = ibis.null("int64")
    target = c.target_days.fill_null(tier_default).cast("int64")
    days = days_between(c.closed_on, c.opened_on)
    return _detail(
        c,
        record_type="change_control",
        key="change_id",
        when=c.closed_on,
        context=o,
        role_expr=role(days <= target),
        risk_tier=c.risk_tier,
        opened_on=c.opened_on,
        closed_on=c.closed_on,
        days=days,
        target_days=target,
    )


def _training_effectiveness(t: Tables, o: Context) -> Table:
    r = t["training"]
    r = r.filter(r.effectiveness_checked_on.notnull())
    return _detail(
        r,
        record_type="training",
        key="record_id",
        when=r.effectiveness_checked_on,
        context=o,
        role_expr=role(r.effectiveness_passed),
        employee_id=r.employee_id,
        course=r.course,
        effectiveness_checked_on=r.effectiveness_checked_on,
        effectiveness_passed=r.effectiveness_passed,
    )


def _em_excursion_rate(t: Tables, o: Context) -> Table:
    s = t["em_sample"]
    s = s.filter(s.sampled_at.notnull())
    return _detail(
        s,
        record_type="em_sample",
        key="sample_id",
        when=s.sampled_at,
        context=o,
        role_expr=role(s.cfu > s.alert_limit),
        sampled_at=s.sampled_at,
        cfu=s.cfu,
        alert_limit=s.alert_limit,
    )


def _em_by_result(s: Table) -> Table:
    """EM samples with ``result_at`` defaulted to ``sampled_at`` and the excursion flag."""
    s = s.mutate(result_at=s.result_at.fill_null(s.sampled_at))
    s = s.filter(s.result_at.notnull())
    return s.mutate(excursion=(s.cfu > s.alert_limit).fill_null(False))


def _em_response_hours(t: Tables, o: Context) -> Table:
    """The base population is the excursions: a period with excursions and no response has a
    null median (and a count of 0); samples within limits take no part."""
    s = _em_by_result(t["em_sample"])
    s = s.filter(s.excursion)
    hours = hours_between(s.response_at, s.result_at)
    return _detail(
        s,
        record_type="em_sample",
        key="sample_id",
        when=s.result_at,
        context=o,
        role_expr=value_role(s.excursion & s.response_at.notnull()),
        x=hours,
        result_at=s.result_at,
        response_at=s.response_at,
        cfu=s.cfu,
        alert_limit=s.alert_limit,
    )


def _em_open_excursions(t: Tables, o: Context) -> Table:
    s = _em_by_result(t["em_sample"])
    return _detail(
        s,
        record_type="em_sample",
        key="sample_id",
        when=s.result_at,
        context=o,
        role_expr=role(s.response_at.isnull(), s.excursion),
        result_at=s.result_at,
        response_at=s.response_at,
        cfu=s.cfu,
        alert_limit=s.alert_limit,
    )


def _em_recovery_rate(t: Tables, o: Context) -> Table:
    s = t["em_sample"]
    s = s.filter(s.sampled_at.notnull())
    return _detail(
        s,
        record_type="em_sample",
        key="sample_id",
        when=s.sampled_at,
        context=o,
        group=s.grade,
        role_expr=role(s.cfu > 0),
        sampled_at=s.sampled_at,
        cfu=s.cfu,
    )


def _scar_on_time_closure(t: Tables, o: Context) -> Table:
    s = t["supplier_car"]
    s = s.filter(s.closed_on.notnull())
    return _detail(
        s,
        record_type="supplier_car",
        key="scar_id",
        when=s.closed_on,
        context=o,
        role_expr=role(s.closed_on <= s.due_on),
        supplier=s.supplier,
        due_on=s.due_on,
        closed_on=s.closed_on,
    )


def _lot_acceptance_rate(t: Tables, o: Context) -> Table:
    lot = t["lot"]
    lot = lot.filter(lot.dispositioned_on.notnull())
    return _detail(
        lot,
        record_type="lot",
        key="lot_id",
        when=lot.dispositioned_on,
        context=o,
        role_expr=role(
            lot.disposition == "released", lot.disposition.isin(["released", "rejected"])
        ),
        product=lot.product,
        dispositioned_on=lot.dispositioned_on,
        disposition=lot.disposition,
    )


def _complaint_rate_per_million(t: Tables, o: Context) -> Table:
    c, dist = t["complaint"], t["distribution"]
    complaints = _detail(
        c,
        record_type="complaint",
        key="complaint_id",
        when=c.received_on,
        context=o,
        role_expr=role(c.quality_related, c.quality_related.fill_null(False)),
        product=c.product,
        received_on=c.received_on,
        month=_NULL_STRING,
        units=_NULL_FLOAT,
    )
    dist = dist.filter(dist.month.notnull())
    dist = dist.filter(on_or_before((dist.month + "-01").cast("date"), o.as_of))
    month_start = (dist.month + "-01").cast("date")
    shipped = dist.select(
        site=dist.site,
        period=period_key(month_start, o.period),
        group=_NULL_STRING,
        role=role_literal(DENOMINATOR),
        x=dist.units.cast("float64"),
        record_type=ibis.literal("distribution", type="string"),
        complaint_id=_NULL_STRING,
        product=dist.product,
        received_on=ibis.null("date"),
        month=dist.month,
        units=dist.units.cast("float64"),
    )
    return complaints.union(shipped)


def _invalidated_oos_rate(t: Tables, o: Context) -> Table:
    r = t["oos"]
    r = r.filter(r.reported_on.notnull())
    return _detail(
        r,
        record_type="oos",
        key="oos_id",
        when=r.reported_on,
        context=o,
        role_expr=role(r.invalidated),
        test_type=r.test_type,
        reported_on=r.reported_on,
        invalidated=r.invalidated,
    )


def _suggestion_acceptance_rate(t: Tables, o: Context) -> Table:
    s = t["suggestion"]
    s = s.filter(s.decided_on.notnull())
    return _detail(
        s,
        record_type="suggestion",
        key="suggestion_id",
        when=s.decided_on,
        context=o,
        role_expr=role(s.decision == "accepted", s.decision.notnull()),
        submitted_on=s.submitted_on,
        decided_on=s.decided_on,
        decision=s.decision,
    )


def _suggestion_decision_days(t: Tables, o: Context) -> Table:
    s = t["suggestion"]
    s = s.filter(s.decided_on.notnull())
    days = days_between(s.decided_on, s.submitted_on)
    return _detail(
        s,
        record_type="suggestion",
        key="suggestion_id",
        when=s.decided_on,
        context=o,
        role_expr=value_role(days.notnull()),
        x=days,
        submitted_on=s.submitted_on,
        decided_on=s.decided_on,
    )


def _suggestions_per_100_staff(t: Tables, o: Context) -> Table:
    s, sites = t["suggestion"], t[SITES_TABLE]
    s = s.filter(s.submitted_on.notnull())
    submitted = _detail(
        s,
        record_type="suggestion",
        key="suggestion_id",
        when=s.submitted_on,
        context=o,
        role_expr=role_literal(NUMERATOR),
        submitted_on=s.submitted_on,
        headcount=ibis.null("int64"),
    )
    site_periods = submitted.select("site", "period").distinct()
    staffed = site_periods.left_join(sites, site_periods.site == sites.site)
    staff = staffed.select(
        site=staffed.site,
        period=staffed.period,
        group=_NULL_STRING,
        role=role_literal(DENOMINATOR),
        x=staffed.headcount.cast("float64"),
        record_type=ibis.literal("site", type="string"),
        suggestion_id=_NULL_STRING,
        submitted_on=ibis.null("date"),
        headcount=staffed.headcount.cast("int64"),
    )
    return submitted.union(staff)


def _em_action_excursion_investigated(t: Tables, o: Context) -> Table:
    s = t["em_sample"]
    s = s.mutate(result_at=s.result_at.fill_null(s.sampled_at))
    s = s.filter(s.result_at.notnull() & (s.cfu > s.action_limit).fill_null(False))
    return _detail(
        s,
        record_type="em_sample",
        key="sample_id",
        when=s.result_at,
        context=o,
        role_expr=role(s.deviation_id.notnull()),
        result_at=s.result_at,
        room=s.room,
        cfu=s.cfu,
        action_limit=s.action_limit,
        deviation_id=s.deviation_id,
    )


def _deviation_capa_linked(t: Tables, o: Context) -> Table:
    d = t["deviation"]
    d = d.filter(d.closed_on.notnull() & d.severity.isin(["major", "critical"]))
    return _detail(
        d,
        record_type="deviation",
        key="deviation_id",
        when=d.closed_on,
        context=o,
        role_expr=role(d.capa_id.notnull()),
        severity=d.severity,
        closed_on=d.closed_on,
        capa_id=d.capa_id,
    )


def _capa_voe_planned(t: Tables, o: Context) -> Table:
    c = t["capa"]
    c = c.filter(c.closed_on.notnull())
    return _detail(
        c,
        record_type="capa",
        key="capa_id",
        when=c.closed_on,
        context=o,
        role_expr=role(c.voe_due_on.notnull()),
        closed_on=c.closed_on,
        voe_due_on=c.voe_due_on,
    )


# --- aggregation -------------------------------------------------------------------------------


def _aggregate(
    detail: Table,
    *,
    kind: Kind,
    grouped: bool,
    scale: float,
    zero_if_missing: bool,
    native_median: bool,
) -> Table:
    """The standard KPI columns (without ``kpi``) from a detail table."""
    keys = ["site", "period", "group"] if grouped else ["site", "period"]
    r = detail.role.fill_null(0)  # a null condition would make Spark's conditional SUM null
    is_num = r == NUMERATOR
    is_den = (r == NUMERATOR) | (r == DENOMINATOR)
    if kind is Kind.median and native_median:
        is_val = r == VALUE
        out = detail.group_by(keys).aggregate(
            denominator=detail.count(where=is_val), value=detail.x.median(where=is_val)
        )
        return out.mutate(numerator=ibis.null("int64"))
    if kind is Kind.median:
        is_val = r == VALUE
        one_if_val = ibis.ifelse(is_val, 1, 0)  # PostgreSQL cannot cast boolean to bigint
        ranked = detail.mutate(
            _n=one_if_val.sum().over(group_by=keys),
            _rn=ibis.row_number().over(group_by=keys, order_by=[ibis.desc(one_if_val), detail.x]),
            _is_val=is_val,
        )
        twice = ranked._rn * 2
        middle = ranked._is_val & (twice >= ranked._n - 2) & (twice <= ranked._n)
        out = ranked.group_by(keys).aggregate(
            denominator=ranked.count(where=ranked._is_val),
            value=ranked.x.mean(where=middle),
        )
        return out.mutate(numerator=ibis.null("int64"))
    if kind is Kind.measured:
        out = detail.group_by(keys).aggregate(
            numerator=detail.count(where=is_num),
            _units=detail.x.sum(where=r == DENOMINATOR),
        )
        units = out._units.fill_null(0.0) if zero_if_missing else out._units
        return out.mutate(
            denominator=units.round().cast("int64"),
            value=out.numerator.cast("float64") / units.nullif(0.0) * scale,
        ).drop("_units")
    out = detail.group_by(keys).aggregate(
        numerator=detail.count(where=is_num), denominator=detail.count(where=is_den)
    )
    if kind is Kind.count:
        return out.mutate(value=out.numerator.cast("float64"))
    return out.mutate(
        value=out.numerator.cast("float64") / out.denominator.nullif(0).cast("float64") * scale
    )


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KPI:
    """One KPI: its catalogue entry, its detail expression and how the detail aggregates."""

    definition: KPIDefinition
    detail_builder: DetailBuilder
    kind: Kind = Kind.ratio
    scale: float = 1.0
    #: For ``measured`` KPIs: a missing denominator measure counts as 0 (units distributed)
    #: rather than unknown (headcount).
    zero_if_missing: bool = False
    #: The name under which ``records`` reports ``x`` (median input or measured denominator).
    x_name: str | None = None

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def grouped(self) -> bool:
        return self.definition.group is not None

    def detail(
        self,
        tables: Tables,
        *,
        period: Period,
        as_of: date,
        options: Options | None = None,
    ) -> Table:
        """One row per record of the base population: site, period, group, role, x, the
        record type, its key and the dates and fields that decide its role."""
        context = Context(period=period, as_of=as_of, options=options or Options())
        return self.detail_builder(tables, context)

    def build(
        self,
        tables: Tables,
        *,
        period: Period,
        as_of: date,
        options: Options | None = None,
        native_median: bool = False,
    ) -> Table:
        """The KPI's values: kpi, site, period, group, numerator, denominator, value.

        ``native_median`` uses the backend's own exact median (DuckDB's and PostgreSQL's are
        exact; Trino's is approximate and SQLite has none), otherwise the portable window form.
        """
        detail = self.detail(tables, period=period, as_of=as_of, options=options)
        out = _aggregate(
            detail,
            kind=self.kind,
            grouped=self.grouped,
            scale=self.scale,
            zero_if_missing=self.zero_if_missing,
            native_median=native_median,
        )
        return out.select(
            kpi=ibis.literal(self.id, type="string"),
            site=out.site.cast("string"),
            period=period_text(out.period, period),
            group=out.group.cast("string") if self.grouped else _NULL_STRING,
            numerator=out.numerator.cast("int64"),
            denominator=out.denominator.cast("int64"),
            value=out.value.cast("float64"),
        )


_BUILDERS: Final[dict[str, tuple[DetailBuilder, dict[str, Any]]]] = {
    "capa_on_time_closure": (_capa_on_time_closure, {}),
    "capa_voe_on_time": (_capa_voe_on_time, {}),
    "capa_effectiveness": (_capa_effectiveness, {}),
    "deviation_repeat_rate": (_deviation_repeat_rate, {}),
    "capa_recurrence_rate": (_capa_recurrence_rate, {}),
    "change_cycle_time_days": (_change_cycle_time_days, {"kind": Kind.median, "x_name": "days"}),
    "change_within_target": (_change_within_target, {}),
    "training_effectiveness": (_training_effectiveness, {}),
    "em_excursion_rate": (_em_excursion_rate, {}),
    "em_response_hours": (_em_response_hours, {"kind": Kind.median, "x_name": "hours"}),
    "em_open_excursions": (_em_open_excursions, {"kind": Kind.count}),
    "em_recovery_rate": (_em_recovery_rate, {}),
    "scar_on_time_closure": (_scar_on_time_closure, {}),
    "lot_acceptance_rate": (_lot_acceptance_rate, {}),
    "complaint_rate_per_million": (
        _complaint_rate_per_million,
        {"kind": Kind.measured, "scale": 1_000_000.0, "zero_if_missing": True},
    ),
    "invalidated_oos_rate": (_invalidated_oos_rate, {}),
    "suggestion_acceptance_rate": (_suggestion_acceptance_rate, {}),
    "suggestion_decision_days": (
        _suggestion_decision_days,
        {"kind": Kind.median, "x_name": "days"},
    ),
    "suggestions_per_100_staff": (
        _suggestions_per_100_staff,
        {"kind": Kind.measured, "scale": 100.0},
    ),
    "em_action_excursion_investigated": (_em_action_excursion_investigated, {}),
    "deviation_capa_linked": (_deviation_capa_linked, {}),
    "capa_voe_planned": (_capa_voe_planned, {}),
}

#: Every KPI of the catalogue, in catalogue order.
REGISTRY: Final[Mapping[str, KPI]] = MappingProxyType(
    {d.id: KPI(d, _BUILDERS[d.id][0], **_BUILDERS[d.id][1]) for d in KPIS}
)


def get(kpi_id: str) -> KPI:
    """A KPI by id, naming the known ids when it is not one."""
    try:
        return REGISTRY[kpi_id]
    except KeyError:
        raise KeyError(f"unknown KPI {kpi_id!r}; known: {', '.join(REGISTRY)}") from None


def build(
    kpi_id: str,
    tables: Tables,
    *,
    period: Period,
    as_of: date,
    options: Options | None = None,
    native_median: bool = False,
) -> Table:
    """The value table of one KPI (see :meth:`KPI.build`)."""
    return get(kpi_id).build(
        tables, period=period, as_of=as_of, options=options, native_median=native_median
    )


def build_union(
    tables: Tables,
    kpi_ids: Sequence[str] | None = None,
    *,
    period: Period,
    as_of: date,
    options: Options | None = None,
) -> Table:
    """The value tables of several KPIs (all by default) as one ``UNION ALL`` expression."""
    ids = list(REGISTRY) if kpi_ids is None else list(kpi_ids)
    if not ids:
        raise ValueError("no KPI selected")
    exprs = [build(k, tables, period=period, as_of=as_of, options=options) for k in ids]
    return exprs[0].union(*exprs[1:]) if len(exprs) > 1 else exprs[0]
