"""Statistical process control for quality trends: p-charts, XmR charts and the Nelson rules.

A quality head asks "is this a signal or noise?" before acting on a monthly number; these charts
answer with limits computed from the data and the eight Nelson rules. The module is pure numpy
(plus pandas/pyarrow input for EM trending) and does no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

FloatArray = npt.NDArray[np.float64]
ChartKind = Literal["p", "xmr"]

# XmR constants for moving ranges of two points (Wheeler; ASTM E2587).
D2 = 1.128  # sigma = MR-bar / d2
E2 = 2.66  # individuals limits = X-bar ± E2 MR-bar (3 / d2, rounded as in the literature)
D4 = 3.267  # moving-range upper limit = D4 MR-bar

RULES: dict[int, str] = {
    1: "One point beyond 3 sigma",
    2: "Nine points in a row on the same side of the center line",
    3: "Six points in a row steadily increasing or decreasing",
    4: "Fourteen points in a row alternating up and down",
    5: "Two of three points in a row beyond 2 sigma on the same side",
    6: "Four of five points in a row beyond 1 sigma on the same side",
    7: "Fifteen points in a row within 1 sigma of the center line",
    8: "Eight points in a row beyond 1 sigma on either side",
}


@dataclass(frozen=True)
class Signal:
    """A Nelson-rule violation, naming the points so a reader can see what triggered it."""

    rule: int
    description: str
    indexes: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, so the web API and the report share one shape."""
        return {"rule": self.rule, "description": self.description, "indexes": list(self.indexes)}


@dataclass(frozen=True)
class ControlChart:
    """One control chart: per-point values, center, limits, sigma and the Nelson signals."""

    kind: ChartKind
    labels: tuple[str, ...]
    values: tuple[float | None, ...]
    center: tuple[float | None, ...]
    ucl: tuple[float | None, ...]
    lcl: tuple[float | None, ...]
    sigma: tuple[float | None, ...]
    signals: tuple[Signal, ...]
    numerators: tuple[float, ...] | None = None
    denominators: tuple[float, ...] | None = None
    moving_ranges: tuple[float | None, ...] | None = None
    mr_center: float | None = None
    mr_ucl: float | None = None
    #: First and last index (inclusive) of the baseline the limits come from; None: all points.
    baseline: tuple[int, int] | None = None

    def phase(self, index: int) -> str:
        """The phase of a point (baseline or monitoring), so charts and tables can show them."""
        if self.baseline is None:
            return "baseline"
        first, last = self.baseline
        if index < first:
            return "before baseline"
        return "baseline" if index <= last else "monitoring"

    def signal_rules(self) -> dict[int, tuple[int, ...]]:
        """Point index -> the rules it takes part in, so charts and tables can mark points."""
        found: dict[int, set[int]] = {}
        for signal in self.signals:
            for i in signal.indexes:
                found.setdefault(i, set()).add(signal.rule)
        return {i: tuple(sorted(rules)) for i, rules in sorted(found.items())}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no NaN: gaps are null), so numbers can be checked by hand."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "labels": list(self.labels),
            "values": list(self.values),
            "center": list(self.center),
            "ucl": list(self.ucl),
            "lcl": list(self.lcl),
            "sigma": list(self.sigma),
            "signals": [s.to_json() for s in self.signals],
            "baseline": None
            if self.baseline is None
            else {"from": self.labels[self.baseline[0]], "to": self.labels[self.baseline[1]]},
            "phases": [self.phase(i) for i in range(len(self.labels))],
        }
        if self.numerators is not None:
            out["numerators"] = list(self.numerators)
        if self.denominators is not None:
            out["denominators"] = list(self.denominators)
        if self.kind == "xmr":
            out["moving_ranges"] = list(self.moving_ranges or ())
            out["mr_center"] = self.mr_center
            out["mr_ucl"] = self.mr_ucl
        return out


def _as_floats(values: Sequence[float | None]) -> FloatArray:
    """None -> NaN, so gaps flow through numpy and come back out as None."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _as_tuple(values: FloatArray) -> tuple[float | None, ...]:
    """NaN -> None, so JSON output has nulls rather than NaN."""
    return tuple(None if math.isnan(v) else float(v) for v in values.tolist())


def _check_labels(labels: Sequence[str], n: int) -> tuple[str, ...]:
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} points")
    return tuple(str(label) for label in labels)


class BaselineError(ValueError):
    """A baseline period that cannot give limits: the message says what is wrong."""


#: The fewest periods with a value a baseline needs before its limits mean anything.
MIN_BASELINE_POINTS = 2


def baseline_indexes(labels: Sequence[str], text: str) -> tuple[int, int]:
    """FROM:TO (period labels, e.g. 2025-01:2025-12) as first and last index of the points.

    A chart's limits then come from those points alone, and later points are judged against
    them, so a shift after the baseline shows instead of widening the limits it is judged by.
    """
    raw = text.strip()
    if raw.count(":") != 1:
        raise BaselineError(f"baseline {text!r} must be FROM:TO, e.g. 2025-01:2025-12")
    first_label, last_label = (part.strip() for part in raw.split(":"))
    if not first_label or not last_label:
        raise BaselineError(f"baseline {text!r} needs both FROM and TO, e.g. 2025-01:2025-12")
    names = [str(label).split(" ")[0] for label in labels]
    for label in (first_label, last_label):
        if label not in names:
            span = f"{names[0]} to {names[-1]}" if names else "none"
            raise BaselineError(
                f"baseline period {label!r} is not a period of this chart (periods: {span})"
            )
    first, last = names.index(first_label), names.index(last_label)
    if first > last:
        raise BaselineError(f"baseline starts at {first_label}, after its end {last_label}")
    return first, last


def _check_baseline(baseline: tuple[int, int] | None, n: int) -> npt.NDArray[np.bool_]:
    """A mask of the points the limits come from (every point without a baseline)."""
    mask = np.ones(n, dtype=bool)
    if baseline is None:
        return mask
    first, last = baseline
    if not 0 <= first <= last < n:
        raise BaselineError(f"baseline {first}..{last} is outside the chart's {n} points")
    mask[:] = False
    mask[first : last + 1] = True
    return mask


def p_chart(
    numerators: Sequence[float],
    denominators: Sequence[float],
    labels: Sequence[str],
    *,
    baseline: tuple[int, int] | None = None,
) -> ControlChart:
    """A p-chart with per-point limits, so months with few samples get wider limits.

    With a baseline, p-bar comes from the baseline's points alone and every point (baseline and
    monitoring) is judged against it.
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError("numerators and denominators must be one-dimensional and equally long")
    names = _check_labels(labels, len(num))
    if np.any(num < 0) or np.any(den < 0) or np.any(num > den):
        raise ValueError("p-chart needs 0 <= numerator <= denominator for every point")
    present = den > 0
    in_base = _check_baseline(baseline, len(num)) & present
    if baseline is not None and int(in_base.sum()) < MIN_BASELINE_POINTS:
        raise BaselineError(
            f"the baseline {names[baseline[0]]}:{names[baseline[1]]} has "
            f"{int(in_base.sum())} period(s) with records; it needs at least {MIN_BASELINE_POINTS}"
        )
    total = float(den[in_base].sum())
    nan = np.full(len(num), math.nan)
    if total == 0:
        gaps = _as_tuple(nan)
        return ControlChart(
            "p", names, gaps, gaps, gaps, gaps, gaps, (), tuple(num.tolist()), tuple(den.tolist())
        )
    pbar = float(num[in_base].sum()) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(present, num / np.where(present, den, 1.0), math.nan)
        sigma = np.where(present, np.sqrt(pbar * (1 - pbar) / np.where(present, den, 1.0)), nan)
    ucl = np.where(present, np.minimum(1.0, pbar + 3 * sigma), math.nan)
    lcl = np.where(present, np.maximum(0.0, pbar - 3 * sigma), math.nan)
    center = np.full(len(num), pbar)
    signals = nelson_signals(_as_tuple(p), _as_tuple(center), _as_tuple(sigma))
    return ControlChart(
        kind="p",
        labels=names,
        values=_as_tuple(p),
        center=_as_tuple(center),
        ucl=_as_tuple(ucl),
        lcl=_as_tuple(lcl),
        sigma=_as_tuple(sigma),
        signals=tuple(signals),
        numerators=tuple(float(v) for v in num.tolist()),
        denominators=tuple(float(v) for v in den.tolist()),
        baseline=baseline,
    )


def xmr_chart(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    baseline: tuple[int, int] | None = None,
    floor: float | None = None,
) -> ControlChart:
    """An individuals/moving-range chart, for one value per period with no natural denominator.

    With a baseline, X-bar and MR-bar come from the baseline's points alone. ``floor`` is the
    lowest value the measure can take (0 for counts, days and hours): no lower limit goes below it.
    """
    x = _as_floats(values)
    names = _check_labels(labels, len(x))
    present = ~np.isnan(x)
    in_base = _check_baseline(baseline, len(x)) & present
    if baseline is not None and int(in_base.sum()) < MIN_BASELINE_POINTS:
        raise BaselineError(
            f"the baseline {names[baseline[0]]}:{names[baseline[1]]} has "
            f"{int(in_base.sum())} period(s) with a value; it needs at least {MIN_BASELINE_POINTS}"
        )
    xs = x[present]
    base = x[in_base]
    mr = np.full(len(x), math.nan)
    where = np.flatnonzero(present)
    # A moving range joins consecutive non-missing values: a gap is skipped, not a break.
    mr[where[1:]] = np.abs(np.diff(xs))
    nan = np.full(len(x), math.nan)
    if len(xs) < 2:
        center = np.full(len(x), float(xs[0])) if len(xs) else nan
        gaps = _as_tuple(nan)
        values_ = _as_tuple(x)
        return ControlChart(
            "xmr", names, values_, _as_tuple(center), gaps, gaps, gaps, (), moving_ranges=gaps
        )
    xbar = float(base.mean())
    mrbar = float(np.abs(np.diff(base)).mean())
    sigma_value = mrbar / D2
    center = np.full(len(x), xbar)
    sigma = np.full(len(x), sigma_value)
    ucl = np.full(len(x), xbar + E2 * mrbar)
    lower = xbar - E2 * mrbar
    lcl = np.full(len(x), lower if floor is None else max(floor, lower))
    signals = nelson_signals(_as_tuple(x), _as_tuple(center), _as_tuple(sigma))
    return ControlChart(
        kind="xmr",
        labels=names,
        values=_as_tuple(x),
        center=_as_tuple(center),
        ucl=_as_tuple(ucl),
        lcl=_as_tuple(lcl),
        sigma=_as_tuple(sigma),
        signals=tuple(signals),
        moving_ranges=_as_tuple(mr),
        mr_center=mrbar,
        mr_ucl=D4 * mrbar,
        baseline=baseline,
    )


def _broadcast(value: float | Sequence[float | None] | None, n: int, name: str) -> FloatArray:
    if value is None or isinstance(value, int | float):
        return np.full(n, math.nan if value is None else float(value))
    arr = _as_floats(value)
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries for {n} values")
    return arr


def _runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, stop) half-open pairs."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _side(z: float) -> str:
    return "above" if z > 0 else "below"


def nelson_signals(
    values: Sequence[float | None],
    center: float | Sequence[float | None] | None,
    sigma: float | Sequence[float | None] | None,
) -> list[Signal]:
    """The eight Nelson rules on standardized values, so varying-limit p-charts work too.

    A point whose value, center or sigma is missing (or whose sigma is 0) is a gap: it is skipped,
    so the points either side of it count as consecutive; it neither breaks nor extends a run.
    Index numbers in the signals are positions in ``values``.
    """
    x = _as_floats(values)
    n = len(x)
    c = _broadcast(center, n, "center")
    s = _broadcast(sigma, n, "sigma")
    usable = ~np.isnan(x) & ~np.isnan(c) & ~np.isnan(s) & (s > 0)
    where = np.flatnonzero(usable)
    z = (x[usable] - c[usable]) / s[usable]
    signals: list[Signal] = []

    def add(rule: int, text: str, positions: Sequence[int] | npt.NDArray[np.int64]) -> None:
        idx = tuple(int(where[p]) for p in positions)
        signals.append(Signal(rule, text, idx))

    # Rule 1: one point beyond 3 sigma.
    for p in np.flatnonzero(np.abs(z) > 3).tolist():
        add(1, f"1 point beyond 3 sigma ({_side(z[p])} the control limit): a special cause", [p])

    # Rule 2: nine or more in a row on the same side of the center line.
    for sign, side in ((1, "above"), (-1, "below")):
        for a, b in _runs(sign * z > 0):
            if b - a >= 9:
                add(2, f"{b - a} points in a row {side} the center line: a shift", range(a, b))

    diffs = np.diff(z) if len(z) > 1 else np.array([], dtype=np.float64)
    # Rule 3: six or more points in a row steadily increasing or decreasing (five steps).
    for sign, way in ((1, "increasing"), (-1, "decreasing")):
        for a, b in _runs(sign * diffs > 0):
            if b - a >= 5:
                add(3, f"{b - a + 1} points in a row steadily {way}: a trend", range(a, b + 1))

    # Rule 4: fourteen or more points in a row alternating up and down (thirteen steps).
    if len(diffs) >= 2:
        flips = (diffs[1:] * diffs[:-1]) < 0
        for a, b in _runs(flips):
            # flips[k] joins steps k and k+1, i.e. points k..k+2.
            points = b - a + 2
            if points >= 14:
                text = f"{points} points in a row alternating up and down: two alternating sources"
                add(4, text, range(a, b + 2))

    # Rules 5 and 6: m of w points in a row beyond k sigma on the same side.
    for rule, m, w, k, text in (
        (5, 2, 3, 2.0, "2 of 3 points beyond 2 sigma"),
        (6, 4, 5, 1.0, "4 of 5 points beyond 1 sigma"),
    ):
        for sign, side in ((1, "above"), (-1, "below")):
            beyond = sign * z > k
            if len(z) < w:
                continue
            counts = np.convolve(beyond.astype(np.int64), np.ones(w, dtype=np.int64), "valid")
            starts = np.flatnonzero(counts >= m)
            cluster: list[int] = []
            last_start = -w
            for start in [*starts.tolist(), None]:
                if start is None or start >= last_start + w:
                    if cluster:
                        hit = sorted(set(cluster))
                        add(rule, f"{text} on the same side ({side}): a shift is starting", hit)
                    cluster = []
                if start is not None:
                    cluster.extend(p for p in range(start, start + w) if beyond[p])
                    last_start = start

    # Rule 7: fifteen or more in a row within 1 sigma.
    for a, b in _runs(np.abs(z) < 1):
        if b - a >= 15:
            text = f"{b - a} points in a row within 1 sigma: less variation than the limits expect"
            add(7, text, range(a, b))

    # Rule 8: eight or more in a row beyond 1 sigma, on either side.
    for a, b in _runs(np.abs(z) > 1):
        if b - a >= 8:
            text = f"{b - a} points in a row beyond 1 sigma on either side: a mixture"
            add(8, text, range(a, b))

    signals.sort(key=lambda sig: (sig.rule, sig.indexes))
    return signals


def _period_keys(utc: pd.Series, period: str) -> npt.NDArray[np.int64]:
    """Periods as consecutive integers (months or quarters since year 0): fast to group and fill."""
    year: npt.NDArray[np.int64] = utc.dt.year.to_numpy(dtype=np.int64)
    month: npt.NDArray[np.int64] = utc.dt.month.to_numpy(dtype=np.int64)
    if period == "month":
        return year * 12 + month - 1
    if period == "quarter":
        return year * 4 + (month - 1) // 3
    raise ValueError(f"period must be 'month' or 'quarter', not {period!r}")


def _period_label(key: int, period: str) -> str:
    if period == "month":
        return f"{key // 12:04d}-{key % 12 + 1:02d}"
    return f"{key // 4:04d}-Q{key % 4 + 1}"


def em_trend(
    samples: pa.Table | pd.DataFrame, period: str = "month", *, site: str | None = None
) -> list[tuple[str, str, ControlChart]]:
    """Per room and grade, the excursion rate (cfu > alert_limit) per period as a p-chart.

    Periods are taken in UTC, as the data contract says. Every chart spans the same periods
    (first to last in the data), so a period without samples for a room is a gap. Samples from
    several sites need ``site`` to pick one, since room names are only unique within a site.
    """
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    frame = samples if isinstance(samples, pd.DataFrame) else samples.to_pandas()
    needed = {"room", "grade", "sampled_at", "cfu", "alert_limit"}
    missing = needed - set(frame.columns)
    if missing:
        raise ValueError(f"em_sample data lacks columns: {', '.join(sorted(missing))}")
    if "site" in frame.columns:
        if site is not None:
            frame = frame[frame["site"] == site]
        elif frame["site"].nunique() > 1:
            raise ValueError("samples from several sites: pass site= to chart one of them")
    if frame.empty:
        return []
    stamps = frame["sampled_at"]
    if pd.api.types.is_datetime64_any_dtype(stamps):
        utc = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    else:
        utc = pd.to_datetime(stamps, utc=True, format="ISO8601")
    keys = _period_keys(utc, period)
    excursion = pd.to_numeric(frame["cfu"]) > pd.to_numeric(frame["alert_limit"])
    grouped = (
        pd.DataFrame(
            {
                "room": frame["room"].astype(str).to_numpy(),
                "grade": frame["grade"].astype(str).to_numpy(),
                "period": keys,
                "excursion": excursion.to_numpy(),
            }
        )
        .groupby(["room", "grade", "period"], sort=True)["excursion"]
        .agg(["sum", "count"])
    )
    periods = list(range(int(keys.min()), int(keys.max()) + 1))
    labels = [_period_label(k, period) for k in periods]
    charts: list[tuple[str, str, ControlChart]] = []
    for (room, grade), part in grouped.groupby(level=["room", "grade"], sort=True):
        counts = part.droplevel(["room", "grade"]).reindex(periods, fill_value=0)
        chart = p_chart(
            counts["sum"].to_numpy(dtype=np.float64),
            counts["count"].to_numpy(dtype=np.float64),
            labels,
        )
        charts.append((str(room), str(grade), chart))
    return charts
