"""Control charts drawn: the Vega-Lite spec, the target line, and the SVG drawn once per spec."""

from __future__ import annotations

import io
import json

from qmm.metrics.control_charts import ControlChart, p_chart, xmr_chart
from qmm.presentation.charts import (
    VEGA_LITE_SCHEMA,
    cache_info,
    chart_svg,
    control_chart_spec,
    vega_lite_spec,
)


def spiky_p_chart() -> ControlChart:
    return p_chart([85, 150, 0, 8, 57], [1000, 1000, 0, 50, 950], list("abcde"))


def test_vega_lite_spec_structure_for_a_p_chart() -> None:
    chart = spiky_p_chart()
    spec = vega_lite_spec(chart, "EM excursions, B-FILL-02", "excursion rate")
    json.dumps(spec, allow_nan=False)
    assert spec["$schema"] == VEGA_LITE_SCHEMA == "https://vega.github.io/schema/vega-lite/v6.json"
    assert spec["config"] == {"font": "DejaVu Sans"}
    assert spec["title"]["text"] == "EM excursions, B-FILL-02"
    rows = spec["data"]["values"]
    assert [r["label"] for r in rows] == list("abcde")
    assert rows[2]["value"] is None
    assert rows[2]["ucl"] is None
    assert [r["status"] for r in rows] == [
        "in control",
        "signal",
        "in control",
        "in control",
        "signal",
    ]
    assert rows[1]["rule_tag"] == "R1"
    layers = spec["layer"]
    fields = [(layer["mark"]["type"], layer["encoding"]["y"]["field"]) for layer in layers]
    assert ("line", "ucl") in fields
    assert ("line", "lcl") in fields
    assert ("line", "center") in fields
    assert ("line", "value") in fields
    assert ("point", "value") in fields
    assert ("text", "value") in fields
    # Varying limits step from point to point; gaps break the lines rather than bridge them.
    ucl = next(layer for layer in layers if layer["encoding"]["y"]["field"] == "ucl")
    assert ucl["mark"]["interpolate"] == "step"
    assert ucl["mark"]["invalid"] == "break-paths-show-domains"
    # Signals differ by shape as well as colour, so they survive greyscale printing.
    point = next(layer for layer in layers if layer["mark"]["type"] == "point")
    shape = point["encoding"]["shape"]
    assert shape["field"] == "status"
    assert shape["scale"]["range"] == ["circle", "diamond"]
    assert point["encoding"]["color"]["scale"]["domain"] == ["in control", "signal"]
    text = next(layer for layer in layers if layer["mark"]["type"] == "text")
    assert text["encoding"]["text"]["field"] == "rule_tag"
    assert spec["encoding"]["x"]["sort"] is None


def test_vega_lite_spec_for_xmr_stacks_the_moving_range_chart() -> None:
    chart = xmr_chart([5, 6, 5, 6, 5, 6, 5, 6, 30], list("abcdefghi"))
    spec = vega_lite_spec(chart, "Change cycle time", "days")
    assert spec["$schema"] == VEGA_LITE_SCHEMA
    assert spec["config"]["font"] == "DejaVu Sans"
    individuals, moving = spec["vconcat"]
    assert {layer["encoding"]["y"]["field"] for layer in individuals["layer"]} >= {"value", "ucl"}
    assert {layer["encoding"]["y"]["field"] for layer in moving["layer"]} == {
        "mr",
        "mr_center",
        "mr_ucl",
    }
    rows = spec["data"]["values"]
    assert rows[8]["status"] == "signal"
    assert rows[0]["mr"] is None
    assert rows[1]["mr"] == 1.0


class TestCharts:
    def test_one_spec_is_drawn_once_and_carries_target_limits_and_signal_shapes(self) -> None:
        chart = p_chart([24, 24, 3, 24, 24, 24], [30] * 6, [f"2025-0{m}" for m in range(1, 7)])
        spec = control_chart_spec(chart, title="t", unit="ratio", target=0.9, target_label="90%")
        layers = spec["layer"]
        assert layers[0]["mark"]["type"] == "rule"
        assert layers[0]["encoding"]["y"] == {"datum": 0.9, "type": "quantitative"}
        shapes = [lyr["encoding"]["shape"] for lyr in layers if "shape" in lyr.get("encoding", {})]
        assert shapes[0]["scale"]["range"] == ["circle", "diamond"]
        before = cache_info()[0]
        first = chart_svg(spec)
        assert first.startswith("<svg")
        assert "target 90%" in first
        assert chart_svg(spec) is first
        assert cache_info()[0] == before + 1

    def test_without_a_target_the_spec_is_the_metrics_one(self) -> None:
        chart = p_chart([1, 2], [3, 4], ["2025-01", "2025-02"])
        spec = control_chart_spec(chart, title="t", unit="ratio", target=None)
        assert spec == vega_lite_spec(chart, "t", "ratio")
        assert io.StringIO(chart_svg(spec)).read().startswith("<svg")
