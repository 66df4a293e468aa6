"""The data contract's KPIs (version 2) computed in plain Python, record by record.

An independent reading of /work/shared/data-contract.md that shares no code with the engine:
no Ibis, no SQL, no window tricks; every window is a scan over every other record. The engine
must give exactly these values on any data set.

Rows exist, as the engine documents, for every (site, period[, group]) in which the KPI's base
population has a record dated on or before the as-of date; the base population of each KPI is
written out below next to its numerator and denominator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

Row = Mapping[str, Any]
Rows = Mapping[str, Sequence[Row]]

CHANGE_TARGET_DAYS = {"high": 90, "medium": 60, "low": 30}


@dataclass(frozen=True)
class Expected:
    """One KPI value as the contract defines it."""

    kpi: str
    site: str
    period: str
    group: str | None
    value: float | None
    numerator: int | None
    denominator: int | None
    complete: bool


def day_of(value: date | datetime | None) -> date | None:
    """The UTC calendar day of a date or timestamp (a timestamp without offset is UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        zoned = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return zoned.astimezone(UTC).date()
    return value


def label(day: date, period: str) -> str:
    if period == "year":
        return f"{day.year:04d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}-{day.month:02d}"


def last_day(day: date, period: str) -> date:
    """The last day of the period holding ``day``."""
    if period == "year":
        return date(day.year, 12, 31)
    last_month = 3 * ((day.month - 1) // 3 + 1) if period == "quarter" else day.month
    if last_month == 12:
        return date(day.year, 12, 31)
    return date(day.year, last_month + 1, 1) - timedelta(days=1)


def median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    if n % 2:
        return float(ordered[n // 2])
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def recurrence_key(d: Row) -> tuple[str, ...] | None:
    """The contract's key: ('key', recurrence_key), else ('pair', area, cause), else none.

    A tuple tagged by its kind, so a recurrence_key can never equal a pair.
    """
    if d.get("recurrence_key") is not None:
        return ("key", d["recurrence_key"])
    if d.get("process_area") is not None and d.get("root_cause_category") is not None:
        return ("pair", d["process_area"], d["root_cause_category"])
    return None


class _Cells:
    """Counts per (site, period, group): numerator, denominator, values of a median."""

    def __init__(self) -> None:
        self.num: dict[tuple[str, date, str | None], int] = defaultdict(int)
        self.den: dict[tuple[str, date, str | None], int] = defaultdict(int)
        self.values: dict[tuple[str, date, str | None], list[float]] = defaultdict(list)
        self.units: dict[tuple[str, date, str | None], float] = defaultdict(float)
        self.staff: dict[tuple[str, date, str | None], int | None] = {}

    def touch(self, site: str, day: date, group: str | None = None) -> tuple[str, date, str | None]:
        key = (site, day, group)
        self.den[key] += 0
        self.num[key] += 0
        return key


def _first_days(cells: _Cells, period: str) -> dict[tuple[str, str, str | None], date]:
    """Each row's period label, keyed by any day in it (the cells hold days, not labels)."""
    out: dict[tuple[str, str, str | None], date] = {}
    for site, day, group in cells.den:
        out.setdefault((site, label(day, period), group), day)
    return out


def _rows(
    kpi: str, cells: _Cells, period: str, as_of: date, value: Callable[[Any], Any]
) -> list[Expected]:
    merged: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for (site, day, group), den in cells.den.items():
        key = (site, label(day, period), group)
        m = merged.setdefault(
            key,
            {"num": 0, "den": 0, "values": [], "units": 0.0, "staff": None, "day": day},
        )
        m["num"] += cells.num[(site, day, group)]
        m["den"] += den
        m["values"].extend(cells.values.get((site, day, group), []))
        m["units"] += cells.units.get((site, day, group), 0.0)
        if (site, day, group) in cells.staff:
            m["staff"] = cells.staff[(site, day, group)]
    return [
        Expected(kpi, site, p, group, *value(m), complete=last_day(m["day"], period) <= as_of)
        for (site, p, group), m in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]


def _ratio(m: Mapping[str, Any]) -> tuple[float | None, int, int]:
    return (m["num"] / m["den"] if m["den"] else None, m["num"], m["den"])


def _median_value(m: Mapping[str, Any]) -> tuple[float | None, None, int]:
    return (median(m["values"]), None, len(m["values"]))


def _count_value(m: Mapping[str, Any]) -> tuple[float, int, int]:
    return (float(m["num"]), m["num"], m["den"])


def _ratio_kpi(
    kpi: str,
    records: Iterable[Row],
    *,
    when: Callable[[Row], Any],
    counted: Callable[[Row], bool],
    success: Callable[[Row], bool],
    period: str,
    as_of: date,
    group: Callable[[Row], str | None] = lambda r: None,
    base: Callable[[Row], bool] = lambda r: True,
) -> list[Expected]:
    """A rate: records of the base population dated up to as_of make the rows; ``counted``
    ones are the denominator, those also ``success`` the numerator."""
    cells = _Cells()
    for r in records:
        day = day_of(when(r))
        if day is None or day > as_of or not base(r):
            continue
        key = cells.touch(r["site"], day, group(r))
        if counted(r):
            cells.den[key] += 1
            if success(r):
                cells.num[key] += 1
    return _rows(kpi, cells, period, as_of, _ratio)


def _median_kpi(
    kpi: str,
    records: Iterable[Row],
    *,
    when: Callable[[Row], Any],
    x: Callable[[Row], float | None],
    period: str,
    as_of: date,
    group: Callable[[Row], str | None] = lambda r: None,
    base: Callable[[Row], bool] = lambda r: True,
) -> list[Expected]:
    cells = _Cells()
    for r in records:
        day = day_of(when(r))
        if day is None or day > as_of or not base(r):
            continue
        key = cells.touch(r["site"], day, group(r))
        value = x(r)
        if value is not None:
            cells.values[key].append(value)
    return _rows(kpi, cells, period, as_of, _median_value)


def _days(later: date | None, earlier: date | None) -> int | None:
    return None if later is None or earlier is None else (later - earlier).days


def _excursion(s: Row, limit: str) -> bool:
    return s["cfu"] is not None and s[limit] is not None and s["cfu"] > s[limit]


def _result_at(s: Row) -> Any:
    return s["result_at"] if s.get("result_at") is not None else s["sampled_at"]


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600.0


def deviation_repeats(deviations: Sequence[Row]) -> dict[tuple[str, str], bool]:
    """Whether each keyed deviation is a repeat, by (site, deviation_id)."""
    out: dict[tuple[str, str], bool] = {}
    for d in deviations:
        key = recurrence_key(d)
        if key is None:
            continue
        out[(d["site"], d["deviation_id"])] = any(
            e is not d
            and e["site"] == d["site"]
            and recurrence_key(e) == key
            and (
                1 <= (d["opened_on"] - e["opened_on"]).days <= 365
                or (e["opened_on"] == d["opened_on"] and e["deviation_id"] < d["deviation_id"])
            )
            for e in deviations
        )
    return out


def capa_recurrences(
    capas: Sequence[Row], deviations: Sequence[Row], window: int
) -> dict[tuple[str, str], bool]:
    """Whether each closed CAPA with an addressed key saw one of its keys again 1 to ``window``
    days after it closed, by (site, capa_id)."""
    out: dict[tuple[str, str], bool] = {}
    for c in capas:
        if c["closed_on"] is None:
            continue
        addressed = {
            recurrence_key(d)
            for d in deviations
            if d["site"] == c["site"] and d.get("capa_id") == c["capa_id"]
        } - {None}
        if not addressed:
            continue
        out[(c["site"], c["capa_id"])] = any(
            d["site"] == c["site"]
            and recurrence_key(d) in addressed
            and 1 <= (d["opened_on"] - c["closed_on"]).days <= window
            for d in deviations
        )
    return out


class _Padded(dict[str, Any]):
    """A record whose columns left out of the extract read as missing (None)."""

    def __missing__(self, key: str) -> None:
        return None


def expected_values(
    given: Rows,
    *,
    period: str,
    as_of: date,
    recurrence_window_days: int = 180,
    change_target_days: Mapping[str, int] = CHANGE_TARGET_DAYS,
) -> list[Expected]:
    """Every KPI of contract version 2, for every site and period, as of a date."""
    rows = {name: [_Padded(r) for r in records] for name, records in given.items()}
    capa, dev = rows.get("capa", []), rows.get("deviation", [])
    em, sug = rows.get("em_sample", []), rows.get("suggestion", [])
    changes = rows.get("change_control", [])
    out: list[Expected] = []
    r = {"period": period, "as_of": as_of}

    out += _ratio_kpi(
        "capa_on_time_closure",
        capa,
        when=lambda c: c["closed_on"],
        counted=lambda c: True,
        success=lambda c: c["closed_on"] <= c["due_on"],
        **r,
    )
    out += _ratio_kpi(
        "capa_voe_on_time",
        capa,
        when=lambda c: c["voe_due_on"],
        counted=lambda c: c["voe_due_on"] <= as_of,
        success=lambda c: c["voe_done_on"] is not None and c["voe_done_on"] <= c["voe_due_on"],
        **r,
    )
    out += _ratio_kpi(
        "capa_effectiveness",
        capa,
        when=lambda c: c["voe_done_on"],
        counted=lambda c: c["voe_result"] is not None,
        success=lambda c: c["voe_result"] == "effective",
        **r,
    )
    repeats = deviation_repeats(dev)
    out += _ratio_kpi(
        "deviation_repeat_rate",
        dev,
        when=lambda d: d["opened_on"],
        base=lambda d: recurrence_key(d) is not None,
        counted=lambda d: True,
        success=lambda d: repeats[(d["site"], d["deviation_id"])],
        **r,
    )
    window = recurrence_window_days
    recurred = capa_recurrences(capa, dev, window)
    out += _ratio_kpi(
        "capa_recurrence_rate",
        capa,
        when=lambda c: c["closed_on"],
        base=lambda c: (c["site"], c["capa_id"]) in recurred,
        counted=lambda c: c["closed_on"] + timedelta(days=window) <= as_of,
        success=lambda c: recurred[(c["site"], c["capa_id"])],
        **r,
    )
    out += _median_kpi(
        "change_cycle_time_days",
        changes,
        when=lambda c: c["closed_on"],
        x=lambda c: _days(c["closed_on"], c["opened_on"]),
        group=lambda c: c["risk_tier"],
        **r,
    )

    def within(c: Row) -> bool:
        target = c.get("target_days")
        if target is None:
            target = change_target_days.get(c["risk_tier"])
        return target is not None and (c["closed_on"] - c["opened_on"]).days <= target

    out += _ratio_kpi(
        "change_within_target",
        changes,
        when=lambda c: c["closed_on"],
        counted=lambda c: True,
        success=within,
        **r,
    )
    out += _ratio_kpi(
        "training_effectiveness",
        rows.get("training", []),
        when=lambda t: t["effectiveness_checked_on"],
        counted=lambda t: True,
        success=lambda t: t["effectiveness_passed"] is True,
        **r,
    )
    out += _ratio_kpi(
        "em_excursion_rate",
        em,
        when=lambda s: s["sampled_at"],
        counted=lambda s: True,
        success=lambda s: _excursion(s, "alert_limit"),
        **r,
    )
    out += _median_kpi(
        "em_response_hours",
        em,
        when=_result_at,
        base=lambda s: _excursion(s, "alert_limit"),
        x=lambda s: None if s["response_at"] is None else _hours(s["response_at"], _result_at(s)),
        **r,
    )
    out += _count_kpi(em, **r)
    out += _ratio_kpi(
        "em_recovery_rate",
        em,
        when=lambda s: s["sampled_at"],
        counted=lambda s: True,
        success=lambda s: s["cfu"] is not None and s["cfu"] > 0,
        group=lambda s: s["grade"],
        **r,
    )
    out += _ratio_kpi(
        "scar_on_time_closure",
        rows.get("supplier_car", []),
        when=lambda s: s["closed_on"],
        counted=lambda s: True,
        success=lambda s: s["closed_on"] <= s["due_on"],
        **r,
    )
    out += _ratio_kpi(
        "lot_acceptance_rate",
        rows.get("lot", []),
        when=lambda lot: lot["dispositioned_on"],
        counted=lambda lot: lot["disposition"] in ("released", "rejected"),
        success=lambda lot: lot["disposition"] == "released",
        **r,
    )
    out += _complaint_rate(rows, **r)
    out += _ratio_kpi(
        "invalidated_oos_rate",
        rows.get("oos", []),
        when=lambda o: o["reported_on"],
        counted=lambda o: True,
        success=lambda o: o["invalidated"] is True,
        **r,
    )
    out += _ratio_kpi(
        "suggestion_acceptance_rate",
        sug,
        when=lambda s: s["decided_on"],
        counted=lambda s: s["decision"] is not None,
        success=lambda s: s["decision"] == "accepted",
        **r,
    )
    out += _median_kpi(
        "suggestion_decision_days",
        sug,
        when=lambda s: s["decided_on"],
        x=lambda s: _days(s["decided_on"], s["submitted_on"]),
        **r,
    )
    out += _per_staff(rows, **r)
    out += _ratio_kpi(
        "em_action_excursion_investigated",
        em,
        when=_result_at,
        base=lambda s: _excursion(s, "action_limit"),
        counted=lambda s: True,
        success=lambda s: s.get("deviation_id") is not None,
        **r,
    )
    out += _ratio_kpi(
        "deviation_capa_linked",
        dev,
        when=lambda d: d["closed_on"],
        base=lambda d: d.get("severity") in ("major", "critical"),
        counted=lambda d: True,
        success=lambda d: d.get("capa_id") is not None,
        **r,
    )
    out += _ratio_kpi(
        "capa_voe_planned",
        capa,
        when=lambda c: c["closed_on"],
        counted=lambda c: True,
        success=lambda c: c["voe_due_on"] is not None,
        **r,
    )
    return out


def _count_kpi(em: Sequence[Row], *, period: str, as_of: date) -> list[Expected]:
    """em_open_excursions: every sample makes its row; excursions without response count."""
    cells = _Cells()
    for s in em:
        day = day_of(_result_at(s))
        if day is None or day > as_of:
            continue
        key = cells.touch(s["site"], day)
        if _excursion(s, "alert_limit"):
            cells.den[key] += 1
            if s["response_at"] is None:
                cells.num[key] += 1
    return _rows("em_open_excursions", cells, period, as_of, _count_value)


def _complaint_rate(rows: Rows, *, period: str, as_of: date) -> list[Expected]:
    """Quality complaints per million units distributed in the period's months."""
    cells = _Cells()
    for c in rows.get("complaint", []):
        if c["received_on"] is None or c["received_on"] > as_of:
            continue
        key = cells.touch(c["site"], c["received_on"])
        if c["quality_related"] is True:
            cells.num[key] += 1
    for d in rows.get("distribution", []):
        first = date.fromisoformat(d["month"] + "-01")
        if first > as_of:
            continue
        key = cells.touch(d["site"], first)
        cells.units[key] += d["units"] or 0

    def value(m: Mapping[str, Any]) -> tuple[float | None, int, int]:
        units = m["units"]
        return (m["num"] / units * 1_000_000 if units else None, m["num"], round(units))

    return _rows("complaint_rate_per_million", cells, period, as_of, value)


def _per_staff(rows: Rows, *, period: str, as_of: date) -> list[Expected]:
    """Suggestions submitted per 100 staff of the site's headcount."""
    headcount = {s["site"]: s["headcount"] for s in rows.get("sites", [])}
    cells = _Cells()
    for s in rows.get("suggestion", []):
        if s["submitted_on"] is None or s["submitted_on"] > as_of:
            continue
        key = cells.touch(s["site"], s["submitted_on"])
        cells.num[key] += 1
        cells.staff[key] = headcount.get(s["site"])

    def value(m: Mapping[str, Any]) -> tuple[float | None, int, int | None]:
        staff = m["staff"]
        return (m["num"] / staff * 100 if staff else None, m["num"], staff)

    return _rows("suggestions_per_100_staff", cells, period, as_of, value)
