"""Charts drawn once, from one Vega-Lite specification, as SVG for the web pages and the PDF.

The metrics area computes each control chart (values, centre, limits, Nelson signals); this
module draws it as a Vega-Lite spec, adds the KPI's target and renders it on the server with
vl-convert, so no charting script is sent to a browser (closed networks) and the report embeds
the same SVG.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any, Final

import vl_convert

from qmm.metrics.control_charts import ControlChart

VEGA_LITE_SCHEMA: Final = "https://vega.github.io/schema/vega-lite/v6.json"
CHART_FONT: Final = "DejaVu Sans"
TARGET_COLOUR: Final = "#1b7a3a"
CACHE_SIZE: Final = 256
#: The drawing width for the web pages; the page scales the SVG to the full column width.
WEB_CHART_WIDTH: Final = 1000
#: The drawing width for the PDF: fixed, to fit the printed page's text column.
PDF_CHART_WIDTH: Final = 640
#: Horizontal room one slanted period label needs, so labels never overlap.
LABEL_ROOM: Final = 34
EMPTY_COLOUR: Final = "#9e9e9e"
BASELINE_FILL: Final = "#dbe8f5"
_cache: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()


def spec_key(spec: dict[str, Any]) -> str:
    """A stable hash of a spec: the same chart is drawn once however often it is asked for."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def chart_svg(spec: dict[str, Any]) -> str:
    """The SVG of a Vega-Lite spec, cached by the spec's hash (least recently used goes first)."""
    key = spec_key(spec)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    svg = str(vl_convert.vegalite_to_svg(spec))
    with _lock:
        _cache[key] = svg
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return svg


def cache_info() -> tuple[int, int]:
    """How many charts are cached, and the most there may be (for tests and operators)."""
    with _lock:
        return len(_cache), CACHE_SIZE


def _target_layers(target: float, text: str) -> list[dict[str, Any]]:
    """A dotted line across the panel at the target, labelled, on the panel's own y scale."""
    y = {"datum": target, "type": "quantitative"}
    one: dict[str, Any] = {"values": [{}]}
    return [
        {
            "data": one,
            "mark": {
                "type": "rule",
                "color": TARGET_COLOUR,
                "strokeDash": [2, 3],
                "strokeWidth": 2,
            },
            "encoding": {"y": y},
        },
        {
            "data": one,
            "mark": {
                "type": "text",
                "align": "left",
                "baseline": "bottom",
                "dx": 4,
                "dy": -2,
                "fontSize": 10,
                "color": TARGET_COLOUR,
                "text": text,
            },
            "encoding": {"y": y, "x": {"value": 0}},
        },
    ]


def control_chart_spec(
    chart: ControlChart,
    *,
    title: str,
    unit: str,
    target: float | None,
    target_label: str = "",
    width: int = WEB_CHART_WIDTH,
) -> dict[str, Any]:
    """The control chart's spec with the target drawn as a labelled line, and a legend in words."""
    spec = copy.deepcopy(vega_lite_spec(chart, title, unit, width=width))
    subtitle = spec["title"]["subtitle"]
    if target is not None:
        panel = spec["vconcat"][0] if "vconcat" in spec else spec
        shared = panel.pop("encoding", {})
        for layer in panel["layer"]:
            layer["encoding"] = {**shared, **layer.get("encoding", {})}
        panel["layer"][:0] = _target_layers(target, f"target {target_label}".strip())
        subtitle = [
            line.replace(
                "Dashed red: control limits.", "Dashed red: control limits. Dotted green: target."
            )
            for line in subtitle
        ]
    spec["title"]["subtitle"] = subtitle
    return spec


def axis_labels(labels: list[str] | tuple[str, ...], width: int) -> list[str]:
    """The period labels the x axis prints: every k-th one counted back from the latest (always
    labelled), as many as the width has room for, so none overlap."""
    room = max(1, width // LABEL_ROOM)
    step = max(1, -(-len(labels) // room))
    return list(labels[(len(labels) - 1) % step :: step]) if labels else []


def vega_lite_spec(
    chart: ControlChart, title: str, unit: str, *, width: int = WEB_CHART_WIDTH
) -> dict[str, Any]:
    """One Vega-Lite v6 spec with inline data: the web app and the PDF draw the same chart.

    Every period is a point on the axis; a period without a value is marked "no data" rather
    than left out. With a baseline, its periods are shaded and the limits come from them alone.
    """
    marks = chart.signal_rules()
    rows: list[dict[str, Any]] = []
    for i, label in enumerate(chart.labels):
        rules = marks.get(i, ())
        empty = chart.values[i] is None
        row: dict[str, Any] = {
            "index": i,
            "label": label,
            "value": chart.values[i],
            "center": chart.center[i],
            "ucl": chart.ucl[i],
            "lcl": chart.lcl[i],
            "phase": chart.phase(i),
            "empty": empty,
            "status": "no data" if empty else "signal" if rules else "in control",
            "rules": ", ".join(str(r) for r in rules),
            "rule_tag": "R" + ",".join(str(r) for r in rules) if rules else "",
        }
        if chart.numerators is not None and chart.denominators is not None:
            row["numerator"] = chart.numerators[i]
            row["denominator"] = chart.denominators[i]
        if chart.moving_ranges is not None:
            row["mr"] = chart.moving_ranges[i]
            row["mr_center"] = chart.mr_center
            row["mr_ucl"] = chart.mr_ucl
        rows.append(row)
    fmt = ".1%" if chart.kind == "p" else ",.4~g"
    main = _layers(
        value="value",
        center="center",
        ucl="ucl",
        lcl="lcl",
        unit=unit,
        fmt=fmt,
        stepped=chart.kind == "p",
        height=240,
        width=width,
        labels=list(chart.labels),
        baseline=chart.baseline,
        extra_tooltip=(
            [
                {"field": "numerator", "type": "quantitative", "title": "numerator"},
                {"field": "denominator", "type": "quantitative", "title": "denominator"},
            ]
            if chart.kind == "p"
            else []
        ),
    )
    subtitle = (
        "Grey line: center. Dashed red: control limits. "
        "Red diamonds labelled R<n>: Nelson rule signals."
    )
    lines = [subtitle]
    if any(chart.values[i] is None for i in range(len(chart.labels))):
        lines.append("Grey dotted lines: periods with no data.")
    if chart.baseline is not None:
        first, last = chart.baseline
        lines.append(
            f"Shaded: baseline {chart.labels[first]} to {chart.labels[last]}, the limits come "
            "from it alone; the monitoring points after it are judged against them."
        )
    spec: dict[str, Any] = {
        "$schema": VEGA_LITE_SCHEMA,
        "title": {"text": title, "subtitle": lines, "anchor": "start"},
        "config": {"font": CHART_FONT, "legend": {"orient": "top"}},
        "data": {"values": rows},
    }
    if chart.kind == "xmr" and chart.mr_center is not None:
        mr = _layers(
            value="mr",
            center="mr_center",
            ucl="mr_ucl",
            lcl=None,
            unit=f"moving range ({unit})",
            fmt=fmt,
            stepped=False,
            height=120,
            width=width,
            labels=list(chart.labels),
            extra_tooltip=[],
            signals=False,
        )
        spec["vconcat"] = [main, mr]
    else:
        spec.update(main)
    return spec


def _layers(
    *,
    value: str,
    center: str,
    ucl: str,
    lcl: str | None,
    unit: str,
    fmt: str,
    stepped: bool,
    height: int,
    width: int,
    labels: list[str],
    extra_tooltip: list[dict[str, Any]],
    signals: bool = True,
    baseline: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The layers of one panel: limits, center, series, and signal points with a shape cue."""

    def y(field: str) -> dict[str, Any]:
        return {
            "field": field,
            "type": "quantitative",
            "title": unit,
            "axis": {"format": fmt},
            "scale": {"zero": False},
        }

    def line(field: str, **mark: Any) -> dict[str, Any]:
        return {
            "mark": {"type": "line", "invalid": "break-paths-show-domains", **mark},
            "encoding": {"y": y(field)},
        }

    limit_style: dict[str, Any] = {"color": "#b22222", "strokeDash": [6, 4], "strokeWidth": 1.2}
    if stepped:
        limit_style["interpolate"] = "step"
    layers: list[dict[str, Any]] = []
    if baseline is not None:
        layers.extend(_phase_layers(labels, baseline, height))
    layers.append(_empty_layer(height))
    layers.append(line(ucl, **limit_style))
    if lcl is not None:
        layers.append(line(lcl, **limit_style))
    layers.append(line(center, color="#6b6b6b", strokeWidth=1.2))
    layers.append(line(value, color="#1f4e79", strokeWidth=1.6))
    tooltip = [
        {"field": "label", "type": "ordinal", "title": "period"},
        {"field": value, "type": "quantitative", "title": unit, "format": fmt},
        {"field": center, "type": "quantitative", "title": "center", "format": fmt},
        {"field": ucl, "type": "quantitative", "title": "UCL", "format": fmt},
        *extra_tooltip,
    ]
    if lcl is not None:
        tooltip.insert(4, {"field": lcl, "type": "quantitative", "title": "LCL", "format": fmt})
    point: dict[str, Any] = {
        "mark": {"type": "point", "filled": True, "opacity": 1},
        "encoding": {"y": y(value), "tooltip": tooltip},
    }
    if signals:
        tooltip.append({"field": "rules", "type": "nominal", "title": "Nelson rules"})
        domain = ["in control", "signal"]
        point["encoding"].update(
            {
                "shape": {
                    "field": "status",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": domain, "range": ["circle", "diamond"]},
                },
                "color": {
                    "field": "status",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": domain, "range": ["#1f4e79", "#d62728"]},
                },
                "size": {
                    "field": "status",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": domain, "range": [30, 110]},
                },
            }
        )
    else:
        point["mark"]["color"] = "#1f4e79"
        point["mark"]["size"] = 30
    layers.append(point)
    if signals:
        layers.append(
            {
                "transform": [{"filter": "datum.status === 'signal'"}],
                "mark": {
                    "type": "text",
                    "dy": -12,
                    "fontSize": 10,
                    "fontWeight": "bold",
                    "color": "#d62728",
                },
                "encoding": {"y": y(value), "text": {"field": "rule_tag", "type": "nominal"}},
            }
        )
    return {
        "width": width,
        "height": height,
        "encoding": {
            "x": {
                "field": "label",
                "type": "ordinal",
                "sort": None,
                "title": None,
                "scale": {"domain": labels},
                "axis": {
                    "labelAngle": -45,
                    "values": axis_labels(labels, width),
                    "labelOverlap": "greedy",
                    "labelLimit": 90,
                },
            }
        },
        "layer": layers,
    }


def _empty_layer(height: int) -> dict[str, Any]:
    """A dotted grey line with "no data" at each period without a value: shown, not hidden."""
    return {
        "transform": [{"filter": "datum.empty"}],
        "layer": [
            {
                "mark": {"type": "rule", "color": EMPTY_COLOUR, "strokeDash": [2, 3]},
                "encoding": {
                    "tooltip": [
                        {"field": "label", "type": "ordinal", "title": "period"},
                        {"field": "status", "type": "nominal", "title": "value"},
                    ]
                },
            },
            {
                "mark": {
                    "type": "text",
                    "angle": 270,
                    "fontSize": 9,
                    "color": EMPTY_COLOUR,
                    "align": "center",
                    "dx": -4,
                    "text": "no data",
                },
                "encoding": {"y": {"value": height / 2}},
            },
        ],
    }


def _phase_layers(
    labels: list[str], baseline: tuple[int, int], height: int
) -> list[dict[str, Any]]:
    """The baseline shaded and both phases named: a reader sees where the limits came from."""
    first, last = labels[baseline[0]], labels[baseline[1]]
    named = [{"label": first, "phase": "baseline"}]
    if baseline[1] + 1 < len(labels):
        named.append({"label": labels[baseline[1] + 1], "phase": "monitoring"})
    return [
        {
            "data": {"values": [{"first": first, "last": last}]},
            "mark": {"type": "rect", "color": BASELINE_FILL, "opacity": 0.7},
            "encoding": {
                "x": {"field": "first", "type": "ordinal"},
                "x2": {"field": "last"},
                "y": {"value": 0},
                "y2": {"value": height},
            },
        },
        {
            "data": {"values": named},
            "mark": {
                "type": "text",
                "align": "left",
                "baseline": "top",
                "dy": 2,
                "fontSize": 10,
                "fontWeight": "bold",
                "color": "#35618f",
            },
            "encoding": {
                "x": {"field": "label", "type": "ordinal"},
                "y": {"value": 2},
                "text": {"field": "phase", "type": "nominal"},
            },
        },
    ]
