"""Reference implementations of the contract's KPIs, for the KPI engine's benchmark.

Two references, written independently of the engine (``qmm.metrics.engine``):

- ``HAND_SQL``: one hand-written DuckDB query per KPI, the query a skilled analyst would write
  (``FILTER`` aggregates, a ``lag`` window for repeats, an ``ASOF`` join for recurrence). It runs
  over views named like the record types (``capa``, ``deviation``, ..., ``em_sample``) with the
  contract's columns and types (dates DATE, timestamps TIMESTAMPTZ or TIMESTAMP holding UTC,
  booleans BOOLEAN, numbers DOUBLE or integers), plus ``sites(site, headcount)``. A timestamp's
  period is taken in UTC whatever the session's time zone: ``make_timestamp(epoch_us(ts))`` is
  the UTC wall-clock time of a TIMESTAMPTZ (and a TIMESTAMP unchanged), exact and several times
  faster than ``date_trunc`` on a TIMESTAMPTZ, which does per-row time-zone arithmetic.
- ``pandas_kpis``: the same KPIs written the straightforward pandas way (filter, groupby, merge).

Both return one row per KPI, site, period and group with the columns ``RESULT_COLUMNS``:
``period`` is ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``; ``group`` is the risk tier for
``change_cycle_time_days``, the grade for ``em_recovery_rate`` and null otherwise; ``numerator``
is null for a median and ``denominator`` is then the number of values behind it; a rate whose
denominator is zero has a null ``value``. ``em_open_excursions`` is a count: ``numerator`` and
``value`` are the open excursions, ``denominator`` the excursions.

Which rows exist (the contract does not say; the engine may also return rows whose value is
null, which ``compare_results(..., strict=False)`` tolerates): a row exists for a site and period
when at least one record of the KPI's population has its period date in that period. The
population is the denominator's records: closed CAPAs, CAPAs with ``voe_due_on <= as_of``,
CAPAs with a ``voe_done_on`` and a ``voe_result``, deviations opened, closed change controls
(per tier), training records with an effectiveness check, EM samples (per grade for recovery),
EM excursions with a response (by ``result_at``, which defaults to ``sampled_at``), closed SCARs,
lots dispositioned as released or rejected, OOS results, suggestions decided, suggestions
submitted. Two exceptions: ``em_open_excursions`` has a row (possibly 0) wherever EM samples
have their ``result_at`` in the period, and ``complaint_rate_per_million`` wherever there are
complaints or distributed units (units and no complaint: 0; complaints and no units: null).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
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
)
# change_within_target's default target per risk tier, in days, when target_days is empty.
TIER_TARGET_DAYS: Final[dict[str, int]] = {"high": 90, "medium": 60, "low": 30}

# The columns each reference reads, per view: enough to load only what the KPIs need.
NEEDED_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "capa": (
        "capa_id",
        "site",
        "due_on",
        "closed_on",
        "root_cause_category",
        "voe_due_on",
        "voe_done_on",
        "voe_result",
    ),
    "deviation": ("deviation_id", "site", "opened_on", "root_cause_category"),
    "change_control": ("site", "opened_on", "closed_on", "risk_tier", "target_days"),
    "em_sample": (
        "site",
        "grade",
        "sampled_at",
        "cfu",
        "alert_limit",
        "result_at",
        "response_at",
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

# ---------------------------------------------------------------------------------------------
# Hand-written SQL
# ---------------------------------------------------------------------------------------------

# How a period start ``p`` (from date_trunc) is labelled, per period kind.
_PERIOD_LABEL: Final[dict[str, str]] = {
    "month": "strftime(p, '%Y-%m')",
    "quarter": "CAST(year(p) AS VARCHAR) || '-Q' || CAST(quarter(p) AS VARCHAR)",
    "year": "CAST(year(p) AS VARCHAR)",
}

# Each inner query returns site, p (the period start), [grp,] numerator, denominator, value.
# Placeholders filled by hand_sql: {unit} (month, quarter, year) and {as_of} (YYYY-MM-DD).
_INNER: Final[dict[str, str]] = {
    "capa_on_time_closure": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(*) FILTER (WHERE closed_on <= due_on) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE closed_on <= due_on) / count(*) AS value
        FROM capa
        WHERE closed_on IS NOT NULL
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
               count(*) AS denominator,
               count(*) FILTER (WHERE voe_result = 'effective') / count(*) AS value
        FROM capa
        WHERE voe_done_on IS NOT NULL AND voe_result IS NOT NULL
        GROUP BY site, p""",
    # The deviation just before in (opened_on, deviation_id) order at the same site and root
    # cause is the latest earlier one: a repeat when it is 0 to 365 days before (0 means the
    # same day with a smaller deviation_id).
    "deviation_repeat_rate": """
        SELECT site, date_trunc('{unit}', opened_on) AS p,
               count(*) FILTER (WHERE opened_on - previous_on <= 365) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE opened_on - previous_on <= 365) / count(*) AS value
        FROM (
            SELECT site, opened_on,
                   lag(opened_on) OVER (
                       PARTITION BY site, root_cause_category
                       ORDER BY opened_on, deviation_id
                   ) AS previous_on
            FROM deviation
        ) AS d
        GROUP BY site, p""",
    # The latest CAPA closed on or before the deviation's opened_on, same site and root cause.
    "capa_recurrence_rate": """
        SELECT d.site, date_trunc('{unit}', d.opened_on) AS p,
               count(*) FILTER (WHERE d.opened_on - c.closed_on <= 365) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE d.opened_on - c.closed_on <= 365) / count(*) AS value
        FROM deviation AS d
        ASOF LEFT JOIN (
            SELECT site, root_cause_category, closed_on FROM capa WHERE closed_on IS NOT NULL
        ) AS c
          ON d.site = c.site
         AND d.root_cause_category = c.root_cause_category
         AND d.opened_on >= c.closed_on
        GROUP BY d.site, p""",
    "change_cycle_time_days": """
        SELECT site, date_trunc('{unit}', closed_on) AS p, risk_tier AS grp,
               NULL AS numerator,
               count(*) AS denominator,
               median(closed_on - opened_on) AS value
        FROM change_control
        WHERE closed_on IS NOT NULL
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
            WHERE closed_on IS NOT NULL
        ) AS c
        GROUP BY site, p""",
    "training_effectiveness": """
        SELECT site, date_trunc('{unit}', effectiveness_checked_on) AS p,
               count(*) FILTER (WHERE effectiveness_passed) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE effectiveness_passed) / count(*) AS value
        FROM training
        WHERE effectiveness_checked_on IS NOT NULL
        GROUP BY site, p""",
    "em_excursion_rate": """
        SELECT site, date_trunc('{unit}', make_timestamp(epoch_us(sampled_at))) AS p,
               count(*) FILTER (WHERE cfu > alert_limit) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE cfu > alert_limit) / count(*) AS value
        FROM em_sample
        GROUP BY site, p""",
    "em_response_hours": """
        SELECT site,
               date_trunc('{unit}', make_timestamp(epoch_us(coalesce(result_at, sampled_at))))
                   AS p,
               NULL AS numerator,
               count(*) AS denominator,
               median(
                   (epoch_us(response_at) - epoch_us(coalesce(result_at, sampled_at))) / 3600e6
               ) AS value
        FROM em_sample
        WHERE cfu > alert_limit AND response_at IS NOT NULL
        GROUP BY site, p""",
    "em_open_excursions": """
        SELECT site,
               date_trunc('{unit}', make_timestamp(epoch_us(coalesce(result_at, sampled_at))))
                   AS p,
               count(*) FILTER (WHERE cfu > alert_limit AND response_at IS NULL) AS numerator,
               count(*) FILTER (WHERE cfu > alert_limit) AS denominator,
               count(*) FILTER (WHERE cfu > alert_limit AND response_at IS NULL) AS value
        FROM em_sample
        GROUP BY site, p""",
    "em_recovery_rate": """
        SELECT site, date_trunc('{unit}', make_timestamp(epoch_us(sampled_at))) AS p, grade AS grp,
               count(*) FILTER (WHERE cfu > 0) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE cfu > 0) / count(*) AS value
        FROM em_sample
        GROUP BY site, p, grp""",
    "scar_on_time_closure": """
        SELECT site, date_trunc('{unit}', closed_on) AS p,
               count(*) FILTER (WHERE closed_on <= due_on) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE closed_on <= due_on) / count(*) AS value
        FROM supplier_car
        WHERE closed_on IS NOT NULL
        GROUP BY site, p""",
    "lot_acceptance_rate": """
        SELECT site, date_trunc('{unit}', dispositioned_on) AS p,
               count(*) FILTER (WHERE disposition = 'released') AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE disposition = 'released') / count(*) AS value
        FROM lot
        WHERE dispositioned_on IS NOT NULL AND disposition IN ('released', 'rejected')
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
            GROUP BY site, p
        ) AS c
        FULL OUTER JOIN (
            SELECT site,
                   date_trunc('{unit}',
                       CAST(left(CAST(month AS VARCHAR), 7) || '-01' AS DATE)) AS p,
                   sum(units) AS units
            FROM distribution
            GROUP BY site, p
        ) AS u USING (site, p)""",
    "invalidated_oos_rate": """
        SELECT site, date_trunc('{unit}', reported_on) AS p,
               count(*) FILTER (WHERE invalidated) AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE invalidated) / count(*) AS value
        FROM oos
        GROUP BY site, p""",
    "suggestion_acceptance_rate": """
        SELECT site, date_trunc('{unit}', decided_on) AS p,
               count(*) FILTER (WHERE decision = 'accepted') AS numerator,
               count(*) AS denominator,
               count(*) FILTER (WHERE decision = 'accepted') / count(*) AS value
        FROM suggestion
        WHERE decided_on IS NOT NULL
        GROUP BY site, p""",
    "suggestion_decision_days": """
        SELECT site, date_trunc('{unit}', decided_on) AS p,
               NULL AS numerator,
               count(*) AS denominator,
               median(decided_on - submitted_on) AS value
        FROM suggestion
        WHERE decided_on IS NOT NULL
        GROUP BY site, p""",
    "suggestions_per_100_staff": """
        SELECT s.site, s.p,
               s.submitted AS numerator,
               h.headcount AS denominator,
               s.submitted / nullif(h.headcount, 0) * 100 AS value
        FROM (
            SELECT site, date_trunc('{unit}', submitted_on) AS p, count(*) AS submitted
            FROM suggestion
            GROUP BY site, p
        ) AS s
        LEFT JOIN sites AS h ON h.site = s.site""",
}

_GROUPED: Final[frozenset[str]] = frozenset({"change_cycle_time_days", "em_recovery_rate"})


def _wrap(kpi_id: str, inner: str) -> str:
    group = "CAST(grp AS VARCHAR)" if kpi_id in _GROUPED else "CAST(NULL AS VARCHAR)"
    return (
        f"SELECT '{kpi_id}' AS kpi, CAST(site AS VARCHAR) AS site, {{period}} AS period,\n"
        f'       {group} AS "group",\n'
        "       CAST(numerator AS DOUBLE) AS numerator,\n"
        "       CAST(denominator AS DOUBLE) AS denominator,\n"
        "       CAST(value AS DOUBLE) AS value\n"
        f"FROM ({inner.strip()}\n) AS k"
    )


# One hand-written query per KPI, as a template; hand_sql fills in the period kind and as-of.
HAND_SQL: Final[dict[str, str]] = {kpi_id: _wrap(kpi_id, _INNER[kpi_id]) for kpi_id in KPI_IDS}


def hand_sql(kpi_id: str, period: str, as_of: date) -> str:
    """The hand-written DuckDB query for one KPI, for a period kind and an as-of date."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    if kpi_id not in HAND_SQL:
        raise KeyError(f"unknown KPI {kpi_id!r}")
    return HAND_SQL[kpi_id].format(
        period=_PERIOD_LABEL[period],
        unit=period,
        as_of=as_of.isoformat(),
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
    connection: Any, *, period: str, as_of: date, kpis: Iterable[str] = KPI_IDS
) -> pd.DataFrame:
    """Every hand-written query on a DuckDB connection, as one frame sorted like pandas_kpis."""
    frames = [fetch_frame(connection, hand_sql(kpi_id, period, as_of)) for kpi_id in kpis]
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


def _finish(kpi_id: str, agg: pd.DataFrame, period: str, group: str | None) -> pd.DataFrame:
    """An aggregate indexed by site, p [, group] as rows of RESULT_COLUMNS."""
    agg = agg.reset_index()
    return pd.DataFrame(
        {
            "kpi": kpi_id,
            "site": agg["site"].astype(str),
            "period": _label(agg["p"], period),
            "group": agg[group].astype(str) if group else None,
            "numerator": agg["numerator"].astype(float),
            "denominator": agg["denominator"].astype(float),
            "value": agg["value"].astype(float),
        }
    )


def _rate(
    kpi_id: str,
    rows: pd.DataFrame,
    when: str,
    hit: pd.Series,
    period: str,
    group: str | None = None,
) -> pd.DataFrame:
    """numerator = rows where hit, denominator = rows, per site and period (and group)."""
    rows = rows.assign(p=_dt(rows[when]).dt.to_period(_FREQ[period]), hit=hit.to_numpy())
    keys = ["site", "p"] + ([group] if group else [])
    agg = rows.groupby(keys, observed=True).agg(
        numerator=("hit", "sum"), denominator=("hit", "size")
    )
    agg["value"] = agg["numerator"] / agg["denominator"]
    return _finish(kpi_id, agg, period, group)


def _median(
    kpi_id: str,
    rows: pd.DataFrame,
    when: pd.Series,
    values: pd.Series,
    period: str,
    group: str | None = None,
) -> pd.DataFrame:
    """The median of values per site and period (and group); denominator = how many."""
    rows = rows.assign(p=_dt(when).dt.to_period(_FREQ[period]).to_numpy(), x=values.to_numpy())
    keys = ["site", "p"] + ([group] if group else [])
    agg = rows.groupby(keys, observed=True).agg(value=("x", "median"), denominator=("x", "size"))
    agg["numerator"] = np.nan
    return _finish(kpi_id, agg, period, group)


def pandas_kpis(frames: Mapping[str, pd.DataFrame], *, period: str, as_of: date) -> pd.DataFrame:
    """All the contract's KPIs computed with plain pandas, one row per KPI, site, period, group.

    ``frames`` holds one frame per record type (named as in the contract) and ``sites`` (site,
    headcount). Dates and timestamps may be datetime64 (timestamps naive UTC or tz-aware) or
    Python dates; booleans may have missing values.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    freq = _FREQ[period]
    out: list[pd.DataFrame] = []

    capa = frames["capa"]
    closed = capa[capa["closed_on"].notna()]
    out.append(
        _rate(
            "capa_on_time_closure",
            closed,
            "closed_on",
            _dt(closed["closed_on"]) <= _dt(closed["due_on"]),
            period,
        )
    )
    voe_due = capa[_dt(capa["voe_due_on"]) <= pd.Timestamp(as_of)]
    out.append(
        _rate(
            "capa_voe_on_time",
            voe_due,
            "voe_due_on",
            _dt(voe_due["voe_done_on"]) <= _dt(voe_due["voe_due_on"]),
            period,
        )
    )
    verified = capa[capa["voe_done_on"].notna() & capa["voe_result"].notna()]
    out.append(
        _rate(
            "capa_effectiveness",
            verified,
            "voe_done_on",
            verified["voe_result"] == "effective",
            period,
        )
    )

    deviation = frames["deviation"]
    ordered = deviation.assign(opened_on=_dt(deviation["opened_on"])).sort_values(
        ["site", "root_cause_category", "opened_on", "deviation_id"]
    )
    previous = ordered.groupby(["site", "root_cause_category"])["opened_on"].shift()
    out.append(
        _rate(
            "deviation_repeat_rate",
            ordered,
            "opened_on",
            (ordered["opened_on"] - previous).dt.days <= 365,
            period,
        )
    )
    capas_closed = (
        capa.loc[capa["closed_on"].notna(), ["site", "root_cause_category", "closed_on"]]
        .assign(closed_on=lambda f: _dt(f["closed_on"]).astype(ordered["opened_on"].dtype))
        .sort_values("closed_on")
    )
    matched = pd.merge_asof(
        ordered[["site", "root_cause_category", "opened_on"]].sort_values("opened_on"),
        capas_closed,
        left_on="opened_on",
        right_on="closed_on",
        by=["site", "root_cause_category"],
        direction="backward",
    )
    out.append(
        _rate(
            "capa_recurrence_rate",
            matched,
            "opened_on",
            (matched["opened_on"] - matched["closed_on"]).dt.days <= 365,
            period,
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
            period,
            group="risk_tier",
        )
    )
    target = (
        changes_closed["target_days"]
        .astype(float)
        .fillna(changes_closed["risk_tier"].map(TIER_TARGET_DAYS).astype(float))
    )
    out.append(_rate("change_within_target", changes_closed, "closed_on", cycle <= target, period))

    training = frames["training"]
    checked = training[training["effectiveness_checked_on"].notna()]
    out.append(
        _rate(
            "training_effectiveness",
            checked,
            "effectiveness_checked_on",
            _flag(checked["effectiveness_passed"]),
            period,
        )
    )

    em = frames["em_sample"]
    excursion = em["cfu"] > em["alert_limit"]
    out.append(_rate("em_excursion_rate", em, "sampled_at", excursion, period))
    excursions = em[excursion]
    result_at = _dt(excursions["result_at"]).fillna(_dt(excursions["sampled_at"]))
    responded = excursions["response_at"].notna()
    hours = (_dt(excursions["response_at"]) - result_at).dt.total_seconds() / 3600
    out.append(
        _median(
            "em_response_hours",
            excursions[responded],
            result_at[responded],
            hours[responded],
            period,
        )
    )
    open_rows = em.assign(
        p=_dt(em["result_at"]).fillna(_dt(em["sampled_at"])).dt.to_period(freq),
        excursion=excursion,
        open=excursion & em["response_at"].isna(),
    )
    open_agg = open_rows.groupby(["site", "p"]).agg(
        numerator=("open", "sum"), denominator=("excursion", "sum")
    )
    open_agg["value"] = open_agg["numerator"]
    out.append(_finish("em_open_excursions", open_agg, period, None))
    out.append(_rate("em_recovery_rate", em, "sampled_at", em["cfu"] > 0, period, group="grade"))

    scar = frames["supplier_car"]
    scars_closed = scar[scar["closed_on"].notna()]
    out.append(
        _rate(
            "scar_on_time_closure",
            scars_closed,
            "closed_on",
            _dt(scars_closed["closed_on"]) <= _dt(scars_closed["due_on"]),
            period,
        )
    )

    lot = frames["lot"]
    decided_lots = lot[
        lot["dispositioned_on"].notna() & lot["disposition"].isin(["released", "rejected"])
    ]
    out.append(
        _rate(
            "lot_acceptance_rate",
            decided_lots,
            "dispositioned_on",
            decided_lots["disposition"] == "released",
            period,
        )
    )

    complaint = frames["complaint"]
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
    units = (
        distribution.assign(p=_dt(month).dt.to_period(freq), units=distribution["units"])
        .groupby(["site", "p"])["units"]
        .sum()
        .rename("denominator")
    )
    rate = pd.concat([complaints, units], axis=1).fillna(0)
    rate.index.names = ["site", "p"]
    rate["value"] = (
        rate["numerator"] / rate["denominator"].where(rate["denominator"] != 0) * 1000000
    )
    out.append(_finish("complaint_rate_per_million", rate, period, None))

    oos = frames["oos"]
    out.append(_rate("invalidated_oos_rate", oos, "reported_on", _flag(oos["invalidated"]), period))

    suggestion = frames["suggestion"]
    decided = suggestion[suggestion["decided_on"].notna()]
    out.append(
        _rate(
            "suggestion_acceptance_rate",
            decided,
            "decided_on",
            decided["decision"] == "accepted",
            period,
        )
    )
    out.append(
        _median(
            "suggestion_decision_days",
            decided,
            decided["decided_on"],
            _days(decided["decided_on"], decided["submitted_on"]),
            period,
        )
    )
    submitted = (
        suggestion.assign(p=_dt(suggestion["submitted_on"]).dt.to_period(freq))
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
        _finish("suggestions_per_100_staff", submitted.set_index(["site", "p"]), period, None)
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
Values = tuple[float | None, float | None, float | None]


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def result_rows(frame: Any) -> tuple[dict[Key, Values], list[Key]]:
    """Rows keyed by (kpi, site, period, group or ''), with the keys seen more than once."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"result lacks the columns {', '.join(missing)}")
    rows: dict[Key, Values] = {}
    duplicates: list[Key] = []
    for kpi, site, period, group, numerator, denominator, value in zip(
        *(frame[c].tolist() for c in RESULT_COLUMNS), strict=True
    ):
        key = (str(kpi), str(site), _text(period), _text(group))
        if key in rows:
            duplicates.append(key)
        rows[key] = (_number(numerator), _number(denominator), _number(value))
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
    duplicates: list[Key] = field(default_factory=list)

    def agrees(self, *, strict: bool = True) -> bool:
        """No differing value, count or row; strict also refuses rows that carry no value."""
        differences: Sequence[object] = (
            *self.only_left,
            *self.only_right,
            *self.values,
            *self.counts,
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
        section("duplicate rows", self.duplicates)
        section(f"null-valued rows only in {self.left}", self.null_only_left)
        section(f"null-valued rows only in {self.right}", self.null_only_right)
        return lines


def compare_results(
    left: Any, right: Any, *, tol: float = 1e-9, names: tuple[str, str] = ("left", "right")
) -> Comparison:
    """Compare two results row by row (keys, then numerator, denominator and value)."""
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
        (num_l, den_l, val_l), (num_r, den_r, val_r) = rows_left[key], rows_right[key]
        if not close(val_l, val_r, tol):
            comparison.values.append((key, val_l, val_r))
        for column, a, b in (("numerator", num_l, num_r), ("denominator", den_l, den_r)):
            if not close(a, b, tol):
                comparison.counts.append((key, column, a, b))
    return comparison
