"""Reference implementations of the contract's KPIs (version 2), for the KPI engine's benchmark.

Two references, written from /work/shared/data-contract.md independently of the engine (they
import nothing from ``qmm``):

- ``HAND_SQL``: one hand-written DuckDB query per KPI, the query a skilled analyst would write
  (``FILTER`` aggregates, a ``lag`` window for repeats, an ``ASOF`` join for recurrence after a
  CAPA). It runs over views named like the record types (``capa``, ``deviation``, ...,
  ``em_sample``) with the contract's columns and types (dates DATE, timestamps TIMESTAMPTZ or
  TIMESTAMP holding UTC, booleans BOOLEAN, numbers DOUBLE or integers), plus
  ``sites(site, headcount)``. A timestamp's period is taken in UTC whatever the session's time
  zone: ``make_timestamp(epoch_us(ts))`` is the UTC wall-clock time of a TIMESTAMPTZ (and a
  TIMESTAMP unchanged), exact and several times faster than ``date_trunc`` on a TIMESTAMPTZ,
  which does per-row time-zone arithmetic.
- ``pandas_kpis``: the same KPIs written the straightforward pandas way (filter, groupby, merge).

Both return one row per KPI, site, period and group with the columns ``RESULT_COLUMNS``:
``period`` is ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``; ``group`` is the risk tier for
``change_cycle_time_days``, the grade for ``em_recovery_rate`` and null otherwise; ``numerator``
is null for a median and ``denominator`` is then the number of values behind it; a rate whose
denominator is zero has a null ``value``. ``em_open_excursions`` is a count: ``numerator`` and
``value`` are the open excursions, ``denominator`` the excursions. ``complete`` is false for the
period that holds the as-of date (unless the as-of date is its last day).

As of a date (contract version 2): a record whose period date is after the as-of date is left
out, so no period after it appears. ``capa_voe_on_time`` counts verifications due by then and
``capa_recurrence_rate`` counts a CAPA once its recurrence window (180 days unless
``recurrence_window_days`` says otherwise) has ended by then.

Recurrence keys (version 2): a deviation's key is its ``recurrence_key`` when given, else the
pair (``process_area``, ``root_cause_category``) when ``process_area`` is given, else it has
none. Both references carry the key as three columns: ``given`` (true for a recurrence_key),
``k1`` (the recurrence_key or the process area) and ``k2`` (the root cause, '' for a given key),
so a given key never equals a pair whatever characters it holds.

Which rows exist (the contract does not say): a row exists for a site and period when at least
one record of the KPI's base population has its period date in that period, on or before the
as-of date; the value is null when none of them is in the denominator. The base populations:
closed CAPAs (on-time closure, VoE planned), CAPAs with a ``voe_due_on`` (VoE on time), CAPAs
with a ``voe_done_on`` (effectiveness; the denominator those with a ``voe_result``), deviations
with a key (repeats), closed CAPAs with at least one addressed key (recurrence; the denominator
those whose window has ended), closed change controls (per tier for the cycle time), training
records with an effectiveness check, EM samples (per grade for recovery), EM excursions by
``result_at`` (which defaults to ``sampled_at``; the response median's count is those with a
response), EM samples by ``result_at`` (open excursions), EM samples above the action limit by
``result_at`` (investigated), closed SCARs, dispositioned lots (the denominator those released
or rejected), OOS results, suggestions decided (the acceptance denominator those with a
decision), suggestions submitted, closed major or critical deviations (CAPA linked).
``complaint_rate_per_million`` has a row wherever there are complaints or distributed units
(units and no complaint: 0; complaints and no units: null).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

KPI_IDS: Final[tuple[str, ...]] = (
    "capa_on_time_closure",
    "capa_voe_on_time",
    "capa_effectiveness",
    "deviation_repeat_rate",
    "capa_recurrence_rate",
    "change_cycle_time_days",
    "change_within_target",
    "training_effectiveness",
    "em_excursion_rate",
    "em_response_hours",
    "em_open_excursions",
    "em_recovery_rate",
    "scar_on_time_closure",
    "lot_acceptance_rate",
    "complaint_rate_per_million",
    "invalidated_oos_rate",
    "suggestion_acceptance_rate",
    "suggestion_decision_days",
    "suggestions_per_100_staff",
    "em_action_excursion_investigated",
    "deviation_capa_linked",
    "capa_voe_planned",
)
PERIODS: Final[tuple[str, ...]] = ("month", "quarter", "year")
RESULT_COLUMNS: Final[tuple[str, ...]] = (
    "kpi",
    "site",
    "period",
    "group",
    "numerator",
    "denominator",
    "value",
    "complete",
)
# change_within_target's default target per risk tier, in days, when target_days is empty.
TIER_TARGET_DAYS: Final[dict[str, int]] = {"high": 90, "medium": 60, "low": 30}
# capa_recurrence_rate's window after a CAPA's closure, in days (the contract's default).
RECURRENCE_WINDOW_DAYS: Final = 180

# The columns each reference reads, per view: enough to load only what the KPIs need.
NEEDED_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "capa": (
        "capa_id",
        "site",
        "due_on",
        "closed_on",
        "voe_due_on",
        "voe_done_on",
        "voe_result",
    ),
    "deviation": (
        "deviation_id",
        "site",
        "opened_on",
        "closed_on",
        "root_cause_category",
        "process_area",
        "recurrence_key",
        "severity",
        "capa_id",
    ),
    "change_control": ("site", "opened_on", "closed_on", "risk_tier", "target_days"),
    "em_sample": (
        "site",
        "grade",
        "sampled_at",
        "cfu",
        "alert_limit",
        "action_limit",
        "result_at",
        "response_at",
        "deviation_id",
    ),
    "training": ("site", "effectiveness_checked_on", "effectiveness_passed"),
    "supplier_car": ("site", "due_on", "closed_on"),
    "lot": ("site", "dispositioned_on", "disposition"),
    "complaint": ("site", "received_on", "quality_related"),
    "distribution": ("site", "month", "units"),
    "oos": ("site", "reported_on", "invalidated"),
    "suggestion": ("site", "submitted_on", "decided_on", "decision"),
    "sites": ("site", "headcount"),
}


def period_start(day: date, period: str) -> date:
    """The first day of the period (month, quarter, year) holding ``day``."""
    if period == "year":
        return date(day.year, 1, 1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, day.month, 1)


def first_partial_start(as_of: date, period: str) -> date:
    """The start of the first period not over by the as-of date: a period is complete when it
    starts before this day (the as-of date's own period, unless it is its last day)."""
    return period_start(as_of + timedelta(days=1), period)


def _check(period: str, recurrence_window_days: int) -> None:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    if recurrence_window_days < 1:
        raise ValueError(f"the recurrence window must be at least 1 day: {recurrence_window_days}")


# ---------------------------------------------------------------------------------------------
# Hand-written SQL
# ---------------------------------------------------------------------------------------------

# How a period start ``p`` (from date_trunc) is labelled, per period kind.
_PERIOD_LABEL: Final[dict[str, str]] = {
    "month": "strftime(p, '%Y-%m')",
    "quarter": "CAST(year(p) AS VARCHAR) || '-Q' || CAST(quarter(p) AS VARCHAR)",
    "year": "CAST(year(p) AS VARCHAR)",
}

# The deviations that have a recurrence key, with the key as (given, k1, k2).
_KEYED_DEVIATIONS: Final = """
            SELECT site, deviation_id, opened_on, capa_id,
                   recurrence_key IS NOT NULL AS given,
                   coalesce(recurrence_key, process_area) AS k1,
                   CASE WHEN recurrence_key IS NULL THEN root_cause_category ELSE '' END AS k2
            FROM deviation
            WHERE recurrence_key IS NOT NULL
               OR (process_area IS NOT NULL AND root_cause_category IS NOT NULL)"""

# A timestamp column's UTC wall-clock time.
_UTC_SAMPLED = "make_timestamp(epoch_us(sampled_at))"
_UTC_RESULT = "make_timestamp(epoch_us(coalesce(result_at, sampled_at)))"

# Each inner query returns site, p (the period start), [grp,] numerator, denominator, value.
# Placeholders filled by hand_sql: {unit} (month, quarter, year), {as_of} (YYYY-MM-DD), {next_day}
# (the day after it), {window} (the recurrence window in days) and the tier targets.
_INNER: Final[dict[str, str]] = {
    "capa_on_time_closure": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(*) FILTER (WHERE closed_on <= due_on) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE closed_on <= due_on) / count(*) AS value
        FROM capa
        WHERE closed_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "capa_voe_on_time": """
        SELECT site, date_trunc('{unit}', voe_due_on) AS p,
               count(*) FILTER (WHERE voe_done_on <= voe_due_on) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE voe_done_on <= voe_due_on) / count(*) AS value
        FROM capa
        WHERE voe_due_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "capa_effectiveness": """
        SELECT site, date_trunc('{unit}', voe_done_on) AS p,
               count(*) FILTER (WHERE voe_result = 'effective') AS numerator,
               count(voe_result) AS denominator,
               count(*) FILTER (WHERE voe_result = 'effective') / nullif(count(voe_result), 0)
                   AS value
        FROM capa
        WHERE voe_done_on <= DATE '{as_of}'
        GROUP BY site, p""",
    # The deviation just before in (opened_on, deviation_id) order with the same site and key
    # is the latest earlier one: a repeat when it is 0 to 365 days before (0 means the same
    # day with a smaller deviation_id).
    "deviation_repeat_rate": f"""
        SELECT site, date_trunc('{{unit}}', opened_on) AS p,
               count(*) FILTER (WHERE opened_on - previous_on <= 365) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE opened_on - previous_on <= 365) / count(*) AS value
        FROM (
            SELECT site, opened_on,
                   lag(opened_on) OVER (
                       PARTITION BY site, given, k1, k2 ORDER BY opened_on, deviation_id
                   ) AS previous_on
            FROM ({_KEYED_DEVIATIONS}
            ) AS keyed
        ) AS d
        WHERE opened_on <= DATE '{{as_of}}'
        GROUP BY site, p""",
    # Each (closed CAPA, addressed key) finds the first deviation of that site and key opened
    # after the closure day (ASOF); the CAPA recurs when one of them is within the window.
    "capa_recurrence_rate": f"""
        WITH keyed AS ({_KEYED_DEVIATIONS}
        ),
        addressed AS (
            SELECT DISTINCT site, capa_id, given, k1, k2 FROM keyed WHERE capa_id IS NOT NULL
        ),
        closures AS (
            SELECT c.site, c.capa_id, c.closed_on, a.given, a.k1, a.k2
            FROM capa AS c JOIN addressed AS a USING (site, capa_id)
            WHERE c.closed_on <= DATE '{{as_of}}'
        ),
        per_capa AS (
            SELECT cl.site, cl.closed_on,
                   bool_or(d.opened_on - cl.closed_on <= {{window}}) AS recurs
            FROM closures AS cl
            ASOF LEFT JOIN keyed AS d
              ON cl.site = d.site AND cl.given = d.given AND cl.k1 = d.k1 AND cl.k2 = d.k2
             AND cl.closed_on < d.opened_on
            GROUP BY cl.site, cl.capa_id, cl.closed_on
        )
        SELECT site, date_trunc('{{unit}}', closed_on) AS p,
               count(*) FILTER (WHERE judged AND recurs) AS numerator,
               count(*) FILTER (WHERE judged) AS denominator,
               count(*) FILTER (WHERE judged AND recurs) / nullif(count(*) FILTER (WHERE judged), 0)
                   AS value
        FROM (
            SELECT site, closed_on, recurs,
                   closed_on + {{window}} <= DATE '{{as_of}}' AS judged
            FROM per_capa
        ) AS c
        GROUP BY site, p""",
    "change_cycle_time_days": """
        SELECT site, date_trunc('{unit}', closed_on) AS p, risk_tier AS grp,
               NULL AS numerator,
               count(*) AS denominator,
               median(closed_on - opened_on) AS value
        FROM change_control
        WHERE closed_on <= DATE '{as_of}'
        GROUP BY site, p, grp""",
    "change_within_target": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(*) FILTER (WHERE closed_on - opened_on <= target) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE closed_on - opened_on <= target) / count(*) AS value
        FROM (
            SELECT site, opened_on, closed_on,
                   coalesce(target_days, CASE risk_tier
                       WHEN 'high' THEN {target_high}
                       WHEN 'medium' THEN {target_medium}
                       WHEN 'low' THEN {target_low} END) AS target
            FROM change_control
            WHERE closed_on <= DATE '{as_of}'
        ) AS c
        GROUP BY site, p""",
    "training_effectiveness": """
        SELECT site, date_trunc('{unit}', effectiveness_checked_on) AS p,
               count(*) FILTER (WHERE effectiveness_passed) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE effectiveness_passed) / count(*) AS value
        FROM training
        WHERE effectiveness_checked_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "em_excursion_rate": f"""
        SELECT site, date_trunc('{{unit}}', {_UTC_SAMPLED}) AS p,
               count(*) FILTER (WHERE cfu > alert_limit) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE cfu > alert_limit) / count(*) AS value
        FROM em_sample
        WHERE {_UTC_SAMPLED} < TIMESTAMP '{{next_day}}'
        GROUP BY site, p""",
    "em_response_hours": f"""
        SELECT site, date_trunc('{{unit}}', {_UTC_RESULT}) AS p,
               NULL AS numerator,
               count(response_at) AS denominator,
               median(
                   (epoch_us(response_at) - epoch_us(coalesce(result_at, sampled_at))) / 3600e6
               ) AS value
        FROM em_sample
        WHERE cfu > alert_limit AND {_UTC_RESULT} < TIMESTAMP '{{next_day}}'
        GROUP BY site, p""",
    "em_open_excursions": f"""
        SELECT site, date_trunc('{{unit}}', {_UTC_RESULT}) AS p,
               count(*) FILTER (WHERE cfu > alert_limit AND response_at IS NULL) AS numerator,
               count(*) FILTER (WHERE cfu > alert_limit) AS denominator,
               count(*) FILTER (WHERE cfu > alert_limit AND response_at IS NULL) AS value
        FROM em_sample
        WHERE {_UTC_RESULT} < TIMESTAMP '{{next_day}}'
        GROUP BY site, p""",
    "em_recovery_rate": f"""
        SELECT site, date_trunc('{{unit}}', {_UTC_SAMPLED}) AS p, grade AS grp,
               count(*) FILTER (WHERE cfu > 0) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE cfu > 0) / count(*) AS value
        FROM em_sample
        WHERE {_UTC_SAMPLED} < TIMESTAMP '{{next_day}}'
        GROUP BY site, p, grp""",
    "scar_on_time_closure": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(*) FILTER (WHERE closed_on <= due_on) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE closed_on <= due_on) / count(*) AS value
        FROM supplier_car
        WHERE closed_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "lot_acceptance_rate": """
        SELECT site, date_trunc('{unit}', dispositioned_on) AS p,
               count(*) FILTER (WHERE disposition = 'released') AS numerator,
               count(*) FILTER (WHERE disposition IN ('released', 'rejected')) AS denominator,
               count(*) FILTER (WHERE disposition = 'released')
                   / nullif(count(*) FILTER (WHERE disposition IN ('released', 'rejected')), 0)
                   AS value
        FROM lot
        WHERE dispositioned_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "complaint_rate_per_million": """
        SELECT site, p,
               coalesce(c.complaints, 0) AS numerator,
               coalesce(u.units, 0) AS denominator,
               coalesce(c.complaints, 0) / nullif(coalesce(u.units, 0), 0) * 1000000 AS value
        FROM (
            SELECT site, date_trunc('{unit}', received_on) AS p,
                   count(*) FILTER (WHERE quality_related) AS complaints
            FROM complaint
            WHERE received_on <= DATE '{as_of}'
            GROUP BY site, p
        ) AS c
        FULL OUTER JOIN (
            SELECT site, date_trunc('{unit}', first_day) AS p, sum(units) AS units
            FROM (
                SELECT site, units,
                       CAST(left(CAST(month AS VARCHAR), 7) || '-01' AS DATE) AS first_day
                FROM distribution
            ) AS d
            WHERE first_day <= DATE '{as_of}'
            GROUP BY site, p
        ) AS u USING (site, p)""",
    "invalidated_oos_rate": """
        SELECT site, date_trunc('{unit}', reported_on) AS p,
               count(*) FILTER (WHERE invalidated) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE invalidated) / count(*) AS value
        FROM oos
        WHERE reported_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "suggestion_acceptance_rate": """
        SELECT site, date_trunc('{unit}', decided_on) AS p,
               count(*) FILTER (WHERE decision = 'accepted') AS numerator,
               count(decision) AS denominator,
               count(*) FILTER (WHERE decision = 'accepted') / nullif(count(decision), 0)
                   AS value
        FROM suggestion
        WHERE decided_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "suggestion_decision_days": """
        SELECT site, date_trunc('{unit}', decided_on) AS p,
               NULL AS numerator,
               count(submitted_on) AS denominator,
               median(decided_on - submitted_on) AS value
        FROM suggestion
        WHERE decided_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "suggestions_per_100_staff": """
        SELECT s.site, s.p,
               s.submitted AS numerator,
               h.headcount AS denominator,
               s.submitted / nullif(h.headcount, 0) * 100 AS value
        FROM (
            SELECT site, date_trunc('{unit}', submitted_on) AS p, count(*) AS submitted
            FROM suggestion
            WHERE submitted_on <= DATE '{as_of}'
            GROUP BY site, p
        ) AS s
        LEFT JOIN sites AS h ON h.site = s.site""",
    "em_action_excursion_investigated": f"""
        SELECT site, date_trunc('{{unit}}', {_UTC_RESULT}) AS p,
               count(deviation_id) AS numerator,
               count(*) AS denominator,
               count(deviation_id) / count(*) AS value
        FROM em_sample
        WHERE cfu > action_limit AND {_UTC_RESULT} < TIMESTAMP '{{next_day}}'
        GROUP BY site, p""",
    "deviation_capa_linked": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(capa_id) AS numerator,
               count(*) AS denominator,
               count(capa_id) / count(*) AS value
        FROM deviation
        WHERE severity IN ('major', 'critical') AND closed_on <= DATE '{as_of}'
        GROUP BY site, p""",
    "capa_voe_planned": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(voe_due_on) AS numerator,
               count(*) AS denominator,
               count(voe_due_on) / count(*) AS value
        FROM capa
        WHERE closed_on <= DATE '{as_of}'
        GROUP BY site, p""",
}

_GROUPED: Final[frozenset[str]] = frozenset({"change_cycle_time_days", "em_recovery_rate"})


def _wrap(kpi_id: str, inner: str) -> str:
    group = "CAST(grp AS VARCHAR)" if kpi_id in _GROUPED else "CAST(NULL AS VARCHAR)"
    return (
        f"SELECT '{kpi_id}' AS kpi, CAST(site AS VARCHAR) AS site, {{period}} AS period,\n"
        f'       {group} AS "group",\n'
        "       CAST(numerator AS DOUBLE) AS numerator,\n"
        "       CAST(denominator AS DOUBLE) AS denominator,\n"
        "       CAST(value AS DOUBLE) AS value,\n"
        "       CAST(p AS DATE) < DATE '{partial_from}' AS complete\n"
        f"FROM ({inner.strip()}\n) AS k"
    )


# One hand-written query per KPI, as a template; hand_sql fills in the period kind and as-of.
HAND_SQL: Final[dict[str, str]] = {kpi_id: _wrap(kpi_id, _INNER[kpi_id]) for kpi_id in KPI_IDS}


def hand_sql(
    kpi_id: str,
    period: str,
    as_of: date,
    *,
    recurrence_window_days: int = RECURRENCE_WINDOW_DAYS,
) -> str:
    """The hand-written DuckDB query for one KPI, for a period kind and an as-of date."""
    _check(period, recurrence_window_days)
    if kpi_id not in HAND_SQL:
        raise KeyError(f"unknown KPI {kpi_id!r}")
    return HAND_SQL[kpi_id].format(
        period=_PERIOD_LABEL[period],
        unit=period,
        as_of=as_of.isoformat(),
        next_day=(as_of + timedelta(days=1)).isoformat(),
        partial_from=first_partial_start(as_of, period).isoformat(),
        window=int(recurrence_window_days),
        target_high=TIER_TARGET_DAYS["high"],
        target_medium=TIER_TARGET_DAYS["medium"],
        target_low=TIER_TARGET_DAYS["low"],
    )


def fetch_frame(connection: Any, sql: str) -> pd.DataFrame:
    """Run a query on a DuckDB connection and return its result as a pandas frame (via Arrow)."""
    result = connection.sql(sql).arrow()
    table = result.read_all() if hasattr(result, "read_all") else result
    return table.to_pandas()


def run_hand_sql(
    connection: Any,
    *,
    period: str,
    as_of: date,
    kpis: Iterable[str] = KPI_IDS,
    recurrence_window_days: int = RECURRENCE_WINDOW_DAYS,
) -> pd.DataFrame:
    """Every hand-written query on a DuckDB connection, as one frame sorted like pandas_kpis."""
    frames = [
        fetch_frame(
            connection,
            hand_sql(kpi_id, period, as_of, recurrence_window_days=recurrence_window_days),
        )
        for kpi_id in kpis
    ]
    return sort_results(pd.concat(frames, ignore_index=True))


def reference_connection(tables: Mapping[str, Any]) -> Any:
    """An in-memory DuckDB connection in UTC with each table (pandas or Arrow) as a view."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, table in tables.items():
        connection.register(name, table)
    return connection


# ---------------------------------------------------------------------------------------------
# Straightforward pandas
# ---------------------------------------------------------------------------------------------

_FREQ: Final[dict[str, str]] = {"month": "M", "quarter": "Q", "year": "Y"}


def _dt(values: pd.Series) -> pd.Series:
    """Dates or timestamps as naive datetime64 in UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values
    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


def _flag(values: pd.Series) -> pd.Series:
    """A boolean column with missing values as False."""
    return values.astype("boolean").fillna(False).astype(bool)


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (_dt(later) - _dt(earlier)).dt.days


def _label(periods: pd.Series, period: str) -> pd.Series:
    text = periods.astype(str)
    return text.str.replace("Q", "-Q", regex=False) if period == "quarter" else text


def _upto(rows: pd.DataFrame, when: pd.Series, as_of: date) -> pd.DataFrame:
    """The rows whose period date (its UTC day) is on or before the as-of date."""
    return rows[(_dt(when) < pd.Timestamp(as_of + timedelta(days=1))).to_numpy()]


def _finish(
    kpi_id: str, agg: pd.DataFrame, period: str, group: str | None, as_of: date
) -> pd.DataFrame:
    """An aggregate indexed by site, p [, group] as rows of RESULT_COLUMNS."""
    agg = agg.reset_index()
    starts = agg["p"].dt.start_time
    return pd.DataFrame(
        {
            "kpi": kpi_id,
            "site": agg["site"].astype(str),
            "period": _label(agg["p"], period),
            "group": agg[group].astype(str) if group else None,
            "numerator": agg["numerator"].astype(float),
            "denominator": agg["denominator"].astype(float),
            "value": agg["value"].astype(float),
            "complete": starts < pd.Timestamp(first_partial_start(as_of, period)),
        }
    )


def _rate(
    kpi_id: str,
    rows: pd.DataFrame,
    when: str,
    hit: pd.Series,
    period: str,
    as_of: date,
    group: str | None = None,
    counted: pd.Series | None = None,
) -> pd.DataFrame:
    """numerator = counted rows where hit, denominator = counted rows (all rows unless
    ``counted`` says), per site and period (and group) of the rows dated up to as_of."""
    counted_flags = np.ones(len(rows), bool) if counted is None else counted.to_numpy(bool)
    rows = rows.assign(
        hit=hit.to_numpy(bool) & counted_flags, counted=counted_flags, when=_dt(rows[when])
    )
    rows = _upto(rows, rows["when"], as_of)
    rows = rows.assign(p=rows["when"].dt.to_period(_FREQ[period]))
    keys = ["site", "p"] + ([group] if group else [])
    agg = rows.groupby(keys, observed=True).agg(
        numerator=("hit", "sum"), denominator=("counted", "sum")
    )
    agg["value"] = agg["numerator"] / agg["denominator"].where(agg["denominator"] != 0)
    return _finish(kpi_id, agg, period, group, as_of)


def _median(
    kpi_id: str,
    rows: pd.DataFrame,
    when: pd.Series,
    values: pd.Series,
    period: str,
    as_of: date,
    group: str | None = None,
) -> pd.DataFrame:
    """The median of the values present per site and period (and group); denominator = how
    many are present."""
    rows = rows.assign(when=_dt(when).to_numpy(), x=values.to_numpy(float))
    rows = _upto(rows, rows["when"], as_of)
    rows = rows.assign(p=rows["when"].dt.to_period(_FREQ[period]))
    keys = ["site", "p"] + ([group] if group else [])
    agg = rows.groupby(keys, observed=True).agg(value=("x", "median"), denominator=("x", "count"))
    agg["numerator"] = np.nan
    return _finish(kpi_id, agg, period, group, as_of)


def _keyed(deviation: pd.DataFrame) -> pd.DataFrame:
    """The deviations that have a recurrence key, with the key as given, k1, k2."""
    given = deviation["recurrence_key"].notna()
    paired = ~given & deviation["process_area"].notna() & deviation["root_cause_category"].notna()
    keyed = deviation[given | paired]
    given = given[given | paired]
    return keyed.assign(
        opened_on=_dt(keyed["opened_on"]),
        given=given,
        k1=keyed["recurrence_key"].where(given, keyed["process_area"]).astype(str),
        k2=keyed["root_cause_category"].where(~given, "").astype(str),
    )


def pandas_kpis(
    frames: Mapping[str, pd.DataFrame],
    *,
    period: str,
    as_of: date,
    recurrence_window_days: int = RECURRENCE_WINDOW_DAYS,
) -> pd.DataFrame:
    """All the contract's KPIs computed with plain pandas, one row per KPI, site, period, group.

    ``frames`` holds one frame per record type (named as in the contract) and ``sites`` (site,
    headcount). Dates and timestamps may be datetime64 (timestamps naive UTC or tz-aware) or
    Python dates; booleans may have missing values.
    """
    _check(period, recurrence_window_days)
    freq = _FREQ[period]
    out: list[pd.DataFrame] = []
    a = {"period": period, "as_of": as_of}

    capa = frames["capa"]
    closed = capa[capa["closed_on"].notna()]
    out.append(
        _rate(
            "capa_on_time_closure",
            closed,
            "closed_on",
            _dt(closed["closed_on"]) <= _dt(closed["due_on"]),
            **a,
        )
    )
    voe_due = capa[capa["voe_due_on"].notna()]
    out.append(
        _rate(
            "capa_voe_on_time",
            voe_due,
            "voe_due_on",
            _dt(voe_due["voe_done_on"]) <= _dt(voe_due["voe_due_on"]),
            **a,
        )
    )
    verified = capa[capa["voe_done_on"].notna()]
    out.append(
        _rate(
            "capa_effectiveness",
            verified,
            "voe_done_on",
            verified["voe_result"] == "effective",
            counted=verified["voe_result"].notna(),
            **a,
        )
    )

    keyed = _keyed(frames["deviation"])
    key = ["site", "given", "k1", "k2"]
    ordered = keyed.sort_values([*key, "opened_on", "deviation_id"])
    previous = ordered.groupby(key)["opened_on"].shift()
    out.append(
        _rate(
            "deviation_repeat_rate",
            ordered,
            "opened_on",
            (ordered["opened_on"] - previous).dt.days <= 365,
            **a,
        )
    )

    window = recurrence_window_days
    addressed = keyed.loc[keyed["capa_id"].notna(), ["capa_id", *key]].drop_duplicates()
    closures = (
        closed.loc[:, ["site", "capa_id", "closed_on"]]
        .assign(closed_on=lambda f: _dt(f["closed_on"]).astype(keyed["opened_on"].dtype))
        .merge(addressed, on=["site", "capa_id"])
    )
    closures = _upto(closures, closures["closed_on"], as_of).sort_values("closed_on")
    following = pd.merge_asof(
        closures,
        keyed[[*key, "opened_on"]].sort_values("opened_on"),
        left_on="closed_on",
        right_on="opened_on",
        by=key,
        direction="forward",
        allow_exact_matches=False,
    )
    following["recurs"] = (following["opened_on"] - following["closed_on"]).dt.days <= window
    per_capa = following.groupby(["site", "capa_id", "closed_on"], as_index=False)["recurs"].any()
    judged = per_capa["closed_on"] + pd.Timedelta(days=window) <= pd.Timestamp(as_of)
    out.append(
        _rate(
            "capa_recurrence_rate",
            per_capa,
            "closed_on",
            per_capa["recurs"],
            counted=judged,
            **a,
        )
    )

    change = frames["change_control"]
    changes_closed = change[change["closed_on"].notna()]
    cycle = _days(changes_closed["closed_on"], changes_closed["opened_on"])
    out.append(
        _median(
            "change_cycle_time_days",
            changes_closed,
            changes_closed["closed_on"],
            cycle,
            group="risk_tier",
            **a,
        )
    )
    target = (
        changes_closed["target_days"]
        .astype(float)
        .fillna(changes_closed["risk_tier"].map(TIER_TARGET_DAYS).astype(float))
    )
    out.append(_rate("change_within_target", changes_closed, "closed_on", cycle <= target, **a))

    training = frames["training"]
    checked = training[training["effectiveness_checked_on"].notna()]
    out.append(
        _rate(
            "training_effectiveness",
            checked,
            "effectiveness_checked_on",
            _flag(checked["effectiveness_passed"]),
            **a,
        )
    )

    em = frames["em_sample"]
    em = em.assign(result_at=_dt(em["result_at"]).fillna(_dt(em["sampled_at"])))
    excursion = em["cfu"] > em["alert_limit"]
    out.append(_rate("em_excursion_rate", em, "sampled_at", excursion, **a))
    excursions = em[excursion]
    hours = (_dt(excursions["response_at"]) - excursions["result_at"]).dt.total_seconds() / 3600
    out.append(_median("em_response_hours", excursions, excursions["result_at"], hours, **a))
    out.append(
        _rate(
            "em_open_excursions",
            em,
            "result_at",
            em["response_at"].isna(),
            counted=excursion,
            **a,
        ).assign(value=lambda f: f["numerator"])
    )
    out.append(_rate("em_recovery_rate", em, "sampled_at", em["cfu"] > 0, group="grade", **a))
    action = em[em["cfu"] > em["action_limit"]]
    out.append(
        _rate(
            "em_action_excursion_investigated",
            action,
            "result_at",
            action["deviation_id"].notna(),
            **a,
        )
    )

    deviation = frames["deviation"]
    serious = deviation[
        deviation["severity"].isin(["major", "critical"]) & deviation["closed_on"].notna()
    ]
    out.append(
        _rate("deviation_capa_linked", serious, "closed_on", serious["capa_id"].notna(), **a)
    )
    out.append(_rate("capa_voe_planned", closed, "closed_on", closed["voe_due_on"].notna(), **a))

    scar = frames["supplier_car"]
    scars_closed = scar[scar["closed_on"].notna()]
    out.append(
        _rate(
            "scar_on_time_closure",
            scars_closed,
            "closed_on",
            _dt(scars_closed["closed_on"]) <= _dt(scars_closed["due_on"]),
            **a,
        )
    )

    lot = frames["lot"]
    dispositioned = lot[lot["dispositioned_on"].notna()]
    out.append(
        _rate(
            "lot_acceptance_rate",
            dispositioned,
            "dispositioned_on",
            dispositioned["disposition"] == "released",
            counted=dispositioned["disposition"].isin(["released", "rejected"]),
            **a,
        )
    )

    complaint = frames["complaint"]
    complaint = _upto(complaint, complaint["received_on"], as_of)
    complaints = (
        complaint.assign(
            p=_dt(complaint["received_on"]).dt.to_period(freq),
            hit=_flag(complaint["quality_related"]),
        )
        .groupby(["site", "p"])["hit"]
        .sum()
        .rename("numerator")
    )
    distribution = frames["distribution"]
    month = distribution["month"]
    if not pd.api.types.is_datetime64_any_dtype(month.dtype):
        month = pd.to_datetime(month.astype(str).str[:7] + "-01")
    distribution = _upto(distribution.assign(first_day=_dt(month)), _dt(month), as_of)
    units = (
        distribution.assign(p=distribution["first_day"].dt.to_period(freq))
        .groupby(["site", "p"])["units"]
        .sum()
        .rename("denominator")
    )
    rate = pd.concat([complaints, units], axis=1).fillna(0)
    rate.index.names = ["site", "p"]
    rate["value"] = (
        rate["numerator"] / rate["denominator"].where(rate["denominator"] != 0) * 1000000
    )
    out.append(_finish("complaint_rate_per_million", rate, period, None, as_of))

    oos = frames["oos"]
    out.append(_rate("invalidated_oos_rate", oos, "reported_on", _flag(oos["invalidated"]), **a))

    suggestion = frames["suggestion"]
    decided = suggestion[suggestion["decided_on"].notna()]
    out.append(
        _rate(
            "suggestion_acceptance_rate",
            decided,
            "decided_on",
            decided["decision"] == "accepted",
            counted=decided["decision"].notna(),
            **a,
        )
    )
    out.append(
        _median(
            "suggestion_decision_days",
            decided,
            decided["decided_on"],
            _days(decided["decided_on"], decided["submitted_on"]),
            **a,
        )
    )
    submitted = _upto(suggestion, suggestion["submitted_on"], as_of)
    submitted = (
        submitted.assign(p=_dt(submitted["submitted_on"]).dt.to_period(freq))
        .groupby(["site", "p"])
        .size()
        .rename("numerator")
        .reset_index()
    )
    headcount = frames["sites"][["site", "headcount"]]
    submitted = submitted.merge(headcount, on="site", how="left")
    submitted["denominator"] = submitted["headcount"].astype(float)
    submitted["value"] = (
        submitted["numerator"] / submitted["denominator"].where(submitted["denominator"] != 0) * 100
    )
    out.append(
        _finish(
            "suggestions_per_100_staff", submitted.set_index(["site", "p"]), period, None, as_of
        )
    )

    return sort_results(pd.concat(out, ignore_index=True))


def sort_results(frame: pd.DataFrame) -> pd.DataFrame:
    """RESULT_COLUMNS only, sorted by kpi, site, period and group."""
    frame = frame.loc[:, list(RESULT_COLUMNS)]
    return frame.sort_values(
        ["kpi", "site", "period", "group"], na_position="first", kind="stable"
    ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Comparing results
# ---------------------------------------------------------------------------------------------

Key = tuple[str, str, str, str]
Values = tuple[float | None, float | None, float | None, bool | None]


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _flag_value(value: Any) -> bool | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def result_rows(frame: Any) -> tuple[dict[Key, Values], list[Key]]:
    """Rows keyed by (kpi, site, period, group or ''): numerator, denominator, value and
    complete, with the keys seen more than once."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"result lacks the columns {', '.join(missing)}")
    rows: dict[Key, Values] = {}
    duplicates: list[Key] = []
    for kpi, site, period, group, numerator, denominator, value, complete in zip(
        *(frame[c].tolist() for c in RESULT_COLUMNS), strict=True
    ):
        key = (str(kpi), str(site), _text(period), _text(group))
        if key in rows:
            duplicates.append(key)
        rows[key] = (
            _number(numerator),
            _number(denominator),
            _number(value),
            _flag_value(complete),
        )
    return rows, duplicates


def close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    """Both missing, or both present and within tol (relative above 1, absolute below)."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


@dataclass
class Comparison:
    """How a result differs from a reference result."""

    left: str
    right: str
    rows_left: int = 0
    rows_right: int = 0
    only_left: list[Key] = field(default_factory=list)  # with a value
    only_right: list[Key] = field(default_factory=list)  # with a value
    null_only_left: list[Key] = field(default_factory=list)  # rows with a null value
    null_only_right: list[Key] = field(default_factory=list)
    values: list[tuple[Key, float | None, float | None]] = field(default_factory=list)
    counts: list[tuple[Key, str, float | None, float | None]] = field(default_factory=list)
    flags: list[tuple[Key, bool | None, bool | None]] = field(default_factory=list)  # complete
    duplicates: list[Key] = field(default_factory=list)

    def agrees(self, *, strict: bool = True) -> bool:
        """No differing value, count or row; strict also refuses rows that carry no value."""
        differences: Sequence[object] = (
            *self.only_left,
            *self.only_right,
            *self.values,
            *self.counts,
            *self.flags,
            *self.duplicates,
        )
        if strict:
            differences = (*differences, *self.null_only_left, *self.null_only_right)
        return not differences

    def report(self, limit: int = 8) -> list[str]:
        """Lines describing the differences, at most ``limit`` examples of each kind."""
        lines: list[str] = []

        def section(title: str, items: Sequence[object]) -> None:
            if items:
                lines.append(f"{title}: {len(items)}")
                lines.extend(f"    {item}" for item in items[:limit])
                if len(items) > limit:
                    lines.append(f"    ... and {len(items) - limit} more")

        section(f"rows with a value only in {self.left}", self.only_left)
        section(f"rows with a value only in {self.right}", self.only_right)
        section(f"value differs ({self.left}, {self.right})", self.values)
        section(f"numerator/denominator differs ({self.left}, {self.right})", self.counts)
        section(f"complete differs ({self.left}, {self.right})", self.flags)
        section("duplicate rows", self.duplicates)
        section(f"null-valued rows only in {self.left}", self.null_only_left)
        section(f"null-valued rows only in {self.right}", self.null_only_right)
        return lines


def compare_results(
    left: Any, right: Any, *, tol: float = 1e-9, names: tuple[str, str] = ("left", "right")
) -> Comparison:
    """Compare two results row by row (keys, then numerator, denominator, value, complete)."""
    rows_left, dup_left = result_rows(left)
    rows_right, dup_right = result_rows(right)
    comparison = Comparison(
        names[0],
        names[1],
        rows_left=len(rows_left),
        rows_right=len(rows_right),
        duplicates=[*dup_left, *dup_right],
    )
    for key in sorted(rows_left.keys() - rows_right.keys()):
        if rows_left[key][2] is None:
            comparison.null_only_left.append(key)
        else:
            comparison.only_left.append(key)
    for key in sorted(rows_right.keys() - rows_left.keys()):
        if rows_right[key][2] is None:
            comparison.null_only_right.append(key)
        else:
            comparison.only_right.append(key)
    for key in sorted(rows_left.keys() & rows_right.keys()):
        (num_l, den_l, val_l, done_l), (num_r, den_r, val_r, done_r) = (
            rows_left[key],
            rows_right[key],
        )
        if not close(val_l, val_r, tol):
            comparison.values.append((key, val_l, val_r))
        for column, a, b in (("numerator", num_l, num_r), ("denominator", den_l, den_r)):
            if not close(a, b, tol):
                comparison.counts.append((key, column, a, b))
        if done_l != done_r:
            comparison.flags.append((key, done_l, done_r))
    return comparison
