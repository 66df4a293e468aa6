"""Charts drawn once, from one Vega-Lite specification, as SVG for the web pages and the PDF.

The metrics area builds each control chart as a Vega-Lite spec (`ControlChart.to_vega_lite`);
this module adds the KPI's target to it and renders it on the server with vl-convert, so no
charting script is sent to a browser (closed networks) and the report embeds the same SVG.
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

TARGET_COLOUR: Final = "#1b7a3a"
CACHE_SIZE: Final = 256
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
) -> dict[str, Any]:
    """The control chart's spec with the target drawn as a labelled line, and a legend in words."""
    spec = copy.deepcopy(chart.to_vega_lite(title, unit))
    subtitle = spec["title"]["subtitle"]
    if target is not None:
        panel = spec["vconcat"][0] if "vconcat" in spec else spec
        shared = panel.pop("encoding", {})
        for layer in panel["layer"]:
            layer["encoding"] = {**shared, **layer.get("encoding", {})}
        panel["layer"][:0] = _target_layers(target, f"target {target_label}".strip())
        subtitle = subtitle.replace(
            "Dashed red: control limits.", "Dashed red: control limits. Dotted green: target."
        )
    spec["title"]["subtitle"] = subtitle
    return spec
