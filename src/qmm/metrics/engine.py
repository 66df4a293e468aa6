"""The KPI engine: compute KPI values on the backend that holds the tables, compile them to SQL,
and list the records behind one value.

The tables are Ibis tables on one backend (DuckDB by default; PostgreSQL and Spark work the
same way): one current-view table per record type of the data contract, plus ``sites``
(site, headcount). Every KPI runs as one query on that backend; nothing is pulled into Python
except the result rows.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, cast, get_args

import ibis  # type: ignore[import-untyped, unused-ignore]
import ibis.expr.datatypes as dt  # type: ignore[import-untyped, unused-ignore]

from qmm.metrics import kpis as _kpis
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.kpis import PERIODS, REGISTRY, Options, Period, Table, Tables, period_key_of

DIALECTS: Final[dict[str, str]] = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "postgresql": "postgres",
    "trino": "trino",
    "pyspark": "pyspark",
    "spark": "pyspark",
}


@dataclass(frozen=True)
class KPIValue:
    """One KPI value for a site, a period and (for grouped KPIs) a group."""

    kpi: str
    site: str
    period: str
    group: str | None
    value: float | None
    numerator: int | None
    denominator: int | None
    #: False for the period that contains the as-of date, unless the as-of date is its last day.
    complete: bool = True
    #: The date the value was computed as of (records dated after it are left out).
    as_of: date | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object, keys in the contract's order, then ``as_of``."""
        return {
            "kpi": self.kpi,
            "site": self.site,
            "period": self.period,
            "group": self.group,
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "complete": self.complete,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
        }

    def to_json(self) -> str:
        """The contract's JSON object as text; the value is not rounded."""
        return json.dumps(self.to_dict(), allow_nan=False)


def values_to_json(values: Sequence[KPIValue], *, indent: int | None = None) -> str:
    """A JSON array of KPI values, as ``qmm metrics --format json`` prints it."""
    return json.dumps([v.to_dict() for v in values], indent=indent, allow_nan=False)


def today() -> date:
    """Today's date in UTC: the as-of date only when the data has no extract date at all."""
    return datetime.now(UTC).date()


#: The latest extract date of each record type (``ImportBatch.extracted_on``), by type name.
ExtractDates = Mapping[str, date]


def default_as_of(kpi_id: str, extract_dates: ExtractDates | None) -> date:
    """A KPI's as-of date when the caller gives none: the earliest of the latest extract dates
    of the record types it reads; today only when none of them has an extract date."""
    dates = extract_dates or {}
    known = [dates[r] for r in get_kpi(kpi_id).reads if r in dates]
    return min(known) if known else today()


def as_of_dates(
    kpi_ids: Sequence[str], as_of: date | None, extract_dates: ExtractDates | None
) -> dict[str, date]:
    """The as-of date of each KPI: the one given, else its default (see :func:`default_as_of`)."""
    return {k: as_of if as_of is not None else default_as_of(k, extract_dates) for k in kpi_ids}


def _check_period(period: str) -> Period:
    if period not in get_args(Period):
        raise ValueError(f"unknown period {period!r}; known: {', '.join(PERIODS)}")
    return cast(Period, period)


def _check_kpis(kpis: Sequence[str] | None) -> list[str]:
    if kpis is None:
        return list(REGISTRY)
    if isinstance(kpis, str):
        raise TypeError("kpis must be a sequence of KPI ids, not a string")
    unknown = [k for k in kpis if k not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown KPI ids {unknown}; known: {', '.join(REGISTRY)}")
    return list(dict.fromkeys(kpis))


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def period_of(day: date, period: Period) -> str:
    """The label of the period a date falls in: 'YYYY-MM', 'YYYY-Qn' or 'YYYY'."""
    if period == "year":
        return f"{day.year:04d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}-{day.month:02d}"


def period_last_day(label: str, period: Period) -> date:
    """The last day of a period given by its label."""
    key = period_key_of(label, period)
    if period == "year":
        return date(key, 12, 31)
    if period == "quarter":
        year, last_month = key // 10, 3 * (key % 10)
    else:
        year, last_month = key // 100, key % 100
    following = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
    return following - timedelta(days=1)


def is_complete(label: str, period: Period, as_of: date) -> bool:
    """Whether a period is over by the as-of date (the period holding it is partial unless the
    as-of date is its last day; no period after it is produced)."""
    return period_last_day(label, period) <= as_of


def period_bound(text: str, period: Period) -> str:
    """A start or end given as a date, a month, a quarter or a year, as a label of ``period``.

    The bound is the period containing the first day of what was given: with quarters,
    '2025-05' and '2025-05-31' both mean 2025-Q2.
    """
    text = text.strip()
    try:
        if m := _DATE.match(text):
            first = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _MONTH.match(text):
            first = date(int(m[1]), int(m[2]), 1)
        elif m := _QUARTER.match(text):
            first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        elif m := _YEAR.match(text):
            first = date(int(m[1]), 1, 1)
        else:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"not a period {text!r}: use YYYY-MM-DD, YYYY-MM, YYYY-Qn or YYYY"
        ) from None
    return period_of(first, period)


#: Backends whose own ``median`` is exact (the KPIs then use it rather than the window form).
_EXACT_MEDIAN: Final[frozenset[str]] = frozenset({"duckdb", "postgres"})


@ibis.udf.scalar.builtin(name="epoch_us")  # type: ignore[untyped-decorator, unused-ignore]
def _epoch_us(moment: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
    """DuckDB's microseconds since the epoch of a timestamp."""


@ibis.udf.scalar.builtin(name="make_timestamp")  # type: ignore[untyped-decorator, unused-ignore]
def _make_timestamp(micros: dt.int64) -> dt.Timestamp():  # type: ignore[valid-type]
    """DuckDB's timestamp without time zone from microseconds since the epoch."""


def backend_of(tables: Tables) -> Any:
    """The Ibis backend the tables are bound to."""
    if not tables:
        raise ValueError("no tables given")
    return ibis.get_backend(next(iter(tables.values())))


def _utc_wall_clock(tables: Tables) -> dict[str, Table]:
    """DuckDB tables whose zoned timestamps are given as UTC wall-clock times.

    The same instants and the same UTC periods and differences, but extracting a field from a
    plain timestamp needs no time-zone arithmetic, which on DuckDB costs more per row than the
    rest of a KPI; ``make_timestamp(epoch_us(t))`` is exact and nearly free.
    """
    out: dict[str, Table] = {}
    for name, table in tables.items():
        zoned = {
            column: _make_timestamp(_epoch_us(table[column]))
            for column, dtype in table.schema().items()
            if dtype.is_timestamp() and dtype.timezone is not None
        }
        out[name] = table.mutate(**zoned) if zoned else table
    return out


def _prepare(tables: Tables) -> tuple[Any, Tables, bool]:
    """The backend, the tables as the KPIs should read them there, and its median choice."""
    backend = backend_of(tables)
    name = getattr(backend, "name", "")
    ready = _utc_wall_clock(tables) if name == "duckdb" else tables
    return backend, ready, name in _EXACT_MEDIAN


def value_expressions(
    tables: Tables,
    *,
    kpis: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    period: str = "month",
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    options: Options | None = None,
    extract_dates: ExtractDates | None = None,
) -> list[tuple[str, Table]]:
    """The filtered value expression of each selected KPI, in catalogue order of selection."""
    _, ready, native_median = _prepare(tables)
    p = _check_period(period)
    ids = _check_kpis(kpis)
    days = as_of_dates(ids, as_of, extract_dates)
    filters = (sites, start, end, native_median)
    return [
        (kpi_id, _value_expression(ready, kpi_id, p, days[kpi_id], options, *filters))
        for kpi_id in ids
    ]


def _value_expression(
    tables: Tables,
    kpi_id: str,
    period: Period,
    as_of: date,
    options: Options | None,
    sites: Sequence[str] | None,
    start: str | None,
    end: str | None,
    native_median: bool,
) -> Table:
    expr = REGISTRY[kpi_id].build(
        tables, period=period, as_of=as_of, options=options, native_median=native_median
    )
    if sites is not None:
        expr = expr.filter(expr.site.isin(list(sites)))
    if start is not None:
        expr = expr.filter(expr.period >= period_bound(start, period))
    if end is not None:
        expr = expr.filter(expr.period <= period_bound(end, period))
    return expr


def _rows(expr: Table) -> list[dict[str, Any]]:
    backend = ibis.get_backend(expr)
    if getattr(backend, "name", "") == "duckdb":
        return _duckdb_fetch(backend, str(backend.compile(expr)))
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return rows


def _duckdb_fetch(
    backend: Any, sql: str, parameters: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Run SQL on a cursor of its own: the tables may be shared by requests in several threads,
    and a DuckDB connection must not run two queries at once."""
    cursor = backend.con.cursor()
    try:
        executed = cursor.execute(sql, list(parameters)) if parameters else cursor.execute(sql)
        rows: list[dict[str, Any]] = executed.to_arrow_table().to_pylist()
    finally:
        cursor.close()
    return rows


@dataclass(frozen=True)
class _QueryKey:
    """Everything a KPI's DuckDB SQL depends on: the same key always compiles the same SQL."""

    kpi: str
    period: Period
    as_of: date
    change_target_days: tuple[tuple[str, int], ...]
    recurrence_window_days: int
    sites: tuple[str, ...] | None
    start: str | None
    end: str | None
    schemas: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


#: Compiled SQL by query key. Building and compiling a KPI's expression takes longer than
#: running it on a small store; a dashboard asks the same questions again and again.
_SQL_CACHE: Final[dict[_QueryKey, str]] = {}
_SQL_CACHE_SIZE: Final = 512
_SQL_CACHE_LOCK: Final = threading.Lock()


def _schemas(tables: Tables) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    return tuple(
        (name, tuple((column, str(dtype)) for column, dtype in table.schema().items()))
        for name, table in sorted(tables.items())
    )


def _duckdb_rows(
    backend: Any,
    tables: Tables,
    ids: Sequence[str],
    *,
    period: Period,
    as_of: Mapping[str, date],
    options: Options | None,
    sites: Sequence[str] | None,
    start: str | None,
    end: str | None,
) -> list[dict[str, Any]]:
    """Every selected KPI's rows on DuckDB, each query compiled once per process and key.

    The sites and periods asked for are bound as parameters of a filter around the compiled
    query (the same filter :func:`_value_expression` applies), so refreshing many slices of a
    KPI after an import compiles it once.
    """
    schemas = _schemas(tables)
    chosen = options or Options()
    targets = chosen.change_target_days
    ready: Tables | None = None
    rows: list[dict[str, Any]] = []
    conditions: list[str] = []
    parameters: list[Any] = []
    if sites is not None:
        conditions.append(f"site IN ({', '.join('?' for _ in sites)})" if sites else "false")
        parameters.extend(str(site) for site in sites)
    if start is not None:
        conditions.append("period >= ?")
        parameters.append(period_bound(start, period))
    if end is not None:
        conditions.append("period <= ?")
        parameters.append(period_bound(end, period))
    for kpi_id in ids:
        key = _QueryKey(
            kpi=kpi_id,
            period=period,
            as_of=as_of[kpi_id],
            change_target_days=tuple(sorted(targets.items())),
            recurrence_window_days=chosen.recurrence_window_days,
            sites=None,
            start=None,
            end=None,
            schemas=schemas,
        )
        sql = _SQL_CACHE.get(key)
        if sql is None:
            if ready is None:
                ready = _utc_wall_clock(tables)
            expr = _value_expression(
                ready, kpi_id, period, as_of[kpi_id], options, None, None, None, True
            )
            sql = str(backend.compile(expr))
            with _SQL_CACHE_LOCK:  # web requests compute in several threads
                if len(_SQL_CACHE) >= _SQL_CACHE_SIZE:
                    _SQL_CACHE.pop(next(iter(_SQL_CACHE)))
                _SQL_CACHE[key] = sql
        if conditions:
            filtered = f"SELECT * FROM ({sql}) AS kpi_rows WHERE {' AND '.join(conditions)}"
            rows.extend(_duckdb_fetch(backend, filtered, parameters))
        else:
            rows.extend(_duckdb_fetch(backend, sql))
    return rows


def _as_value(row: Mapping[str, Any], period: Period, as_of: Mapping[str, date]) -> KPIValue:
    value = row["value"]
    day = as_of[str(row["kpi"])]
    numerator = row["numerator"]
    denominator = row["denominator"]
    return KPIValue(
        kpi=str(row["kpi"]),
        site=str(row["site"]),
        period=str(row["period"]),
        group=None if row["group"] is None else str(row["group"]),
        value=None if value is None else float(value),
        numerator=None if numerator is None else int(numerator),
        denominator=None if denominator is None else int(denominator),
        complete=is_complete(str(row["period"]), period, day),
        as_of=day,
    )


def compute(
    tables: Tables,
    *,
    kpis: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    period: str = "month",
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    options: Options | None = None,
    single_query: bool = False,
    extract_dates: ExtractDates | None = None,
) -> list[KPIValue]:
    """Compute the selected KPIs (all by default) for the selected sites and periods.

    ``period`` is 'month', 'quarter' or 'year'; ``start`` and ``end`` (inclusive) are dates
    or period labels (see :func:`period_bound`). Records dated after the as-of date are left
    out and the period holding it is marked incomplete; ``as_of`` defaults per KPI to the
    earliest of the latest ``extract_dates`` of the record types it reads (see
    :func:`default_as_of`). Each KPI runs as one query on the tables' backend, or all of them
    as one ``UNION ALL`` query with ``single_query``. The result is sorted by KPI (catalogue
    order), site, period and group.
    """
    ids = _check_kpis(kpis)
    p = _check_period(period)
    day = as_of_dates(ids, as_of, extract_dates)
    for bound in (start, end):
        if bound is not None:
            period_bound(bound, p)  # refuse a bad bound before any work
    backend = backend_of(tables)
    if getattr(backend, "name", "") == "duckdb" and not single_query:
        rows = _duckdb_rows(
            backend,
            tables,
            ids,
            period=p,
            as_of=day,
            options=options,
            sites=sites,
            start=start,
            end=end,
        )
    else:
        _, ready, native_median = _prepare(tables)
        filters = (sites, start, end, native_median)
        exprs = [
            (kpi_id, _value_expression(ready, kpi_id, p, day[kpi_id], options, *filters))
            for kpi_id in ids
        ]
        if single_query and len(exprs) > 1:
            first, *rest = (e for _, e in exprs)
            rows = _rows(first.union(*rest))
        else:
            rows = [row for _, expr in exprs for row in _rows(expr)]
    order = {kpi_id: i for i, kpi_id in enumerate(ids)}
    values = [_as_value(r, p, day) for r in rows]
    values.sort(key=lambda v: (order[v.kpi], v.site, v.period, v.group or ""))
    return values


def compile_sql(
    kpi_id: str,
    dialect: str,
    *,
    period: str = "month",
    as_of: date | None = None,
    options: Options | None = None,
) -> str:
    """The SQL of one KPI's value query for a dialect: duckdb, postgres, trino, pyspark/spark.

    The SQL reads tables named after the record types (capa, deviation, ...) and ``sites``.
    """
    try:
        target = DIALECTS[dialect.lower()]
    except KeyError:
        raise ValueError(
            f"unknown dialect {dialect!r}; known: {', '.join(sorted(DIALECTS))}"
        ) from None
    if target == "pyspark":
        _load_pyspark_options()
    expr = _kpis.build(
        kpi_id,
        _kpis.unbound_tables(),
        period=_check_period(period),
        as_of=today() if as_of is None else as_of,
        options=options,
    )
    return str(ibis.to_sql(expr, dialect=target))


def _load_pyspark_options() -> None:
    """Ibis's Spark compiler reads options that exist only once its backend is loaded."""
    if getattr(ibis.options, "pyspark", None) is None:
        try:
            ibis.pyspark  # noqa: B018 - the attribute access loads the backend
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "compiling for Spark needs PySpark installed (pip install 'ibis-framework"
                "[pyspark]')"
            ) from error


def _utc(value: Any) -> Any:
    """A timestamp read as UTC wall-clock time (see :func:`_utc_wall_clock`) made zoned again."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


_ROLE_ORDER: Final[dict[str, int]] = {r: i for i, r in enumerate(_kpis.ROLES)}
_INTERNAL: Final[frozenset[str]] = frozenset({"site", "period", "group", "role", "x"})


def records(
    tables: Tables,
    *,
    kpi: str,
    site: str,
    period_value: str,
    period: str = "month",
    group: str | None = None,
    as_of: date | None = None,
    options: Options | None = None,
    extract_dates: ExtractDates | None = None,
) -> list[dict[str, Any]]:
    """The records behind one KPI value, each with its ``role`` in it (``as_of`` defaults as
    in :func:`compute`).

    ``role`` is 'numerator' (counted above and below the line), 'denominator' (counted only
    below it) or 'value' (an input of a median, reported under its unit, e.g. ``days``).
    Each record carries its record type, its key and the dates and fields that decide its
    role (for ``complaint_rate_per_million`` the distribution rows behind the units, for
    ``suggestions_per_100_staff`` the site row with the headcount). Records of the base
    population that count nowhere (an open CAPA, a pending lot) are left out.
    """
    definition = _kpis.get(kpi)
    p = _check_period(period)
    key = period_key_of(period_value, p)
    _, ready, _ = _prepare(tables)
    day = as_of if as_of is not None else default_as_of(kpi, extract_dates)
    detail = definition.detail(ready, period=p, as_of=day, options=options)
    cond = (detail.site == site) & (detail.period == key) & detail.role.notnull()
    if group is not None:
        cond &= detail.group == group
    rows = _rows(detail.filter(cond))
    out: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {"role": _kpis.ROLES[int(row["role"]) - 1]}
        if definition.grouped:
            item["group"] = row["group"]
        item.update({k: _utc(v) for k, v in row.items() if k not in _INTERNAL})
        if definition.x_name is not None:
            item[definition.x_name] = row["x"]
        out.append(item)
    out.sort(
        key=lambda r: (
            _ROLE_ORDER.get(str(r["role"]), 9),
            str(r.get("group") or ""),
            str(r["record_type"]),
            tuple(str(v) for k, v in r.items() if k not in {"role", "group", "record_type"}),
        )
    )
    return out
