"""Control charts drawn: the Vega-Lite spec, the target line, and the SVG drawn once per spec."""

from __future__ import annotations

import io
import json
from typing import ClassVar

from qmm.metrics.control_charts import ControlChart, p_chart, xmr_chart
from qmm.presentation.charts import (
    PDF_CHART_WIDTH,
    VEGA_LITE_SCHEMA,
    WEB_CHART_WIDTH,
    axis_labels,
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
    assert spec["config"]["font"] == "DejaVu Sans"
    assert spec["title"]["text"] == "EM excursions, B-FILL-02"
    rows = spec["data"]["values"]
    assert [r["label"] for r in rows] == list("abcde")
    assert rows[2]["value"] is None
    assert rows[2]["ucl"] is None
    assert [r["status"] for r in rows] == [
        "in control",
        "signal",
        "no data",
        "in control",
        "signal",
    ]
    assert rows[1]["rule_tag"] == "R1"
    layers = [layer for layer in spec["layer"] if "field" in layer.get("encoding", {}).get("y", {})]
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


def _y_field(layer: dict[str, object]) -> object:
    encoding = layer.get("encoding", {})
    assert isinstance(encoding, dict)
    return encoding.get("y", {}).get("field")


def test_vega_lite_spec_for_xmr_stacks_the_moving_range_chart() -> None:
    chart = xmr_chart([5, 6, 5, 6, 5, 6, 5, 6, 30], list("abcdefghi"))
    spec = vega_lite_spec(chart, "Change cycle time", "days")
    assert spec["$schema"] == VEGA_LITE_SCHEMA
    assert spec["config"]["font"] == "DejaVu Sans"
    individuals, moving = spec["vconcat"]
    assert {_y_field(layer) for layer in individuals["layer"]} >= {"value", "ucl"}
    assert {_y_field(layer) for layer in moving["layer"]} - {None} == {
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


class TestBaselinePhasesEmptyPeriodsAndLabels:
    MONTHS: ClassVar[list[str]] = [f"{y}-{m:02d}" for y in (2024, 2025, 2026) for m in range(1, 13)]

    def test_every_month_is_in_the_data_and_the_empty_ones_are_marked(self) -> None:
        values: list[float | None] = [float(i % 5) for i in range(36)]
        values[7] = values[20] = None
        spec = vega_lite_spec(xmr_chart(values, self.MONTHS, floor=0.0), "t", "count")
        rows = spec["data"]["values"]
        assert [r["label"] for r in rows] == self.MONTHS
        assert [r["label"] for r in rows if r["empty"]] == ["2024-08", "2025-09"]
        assert {r["status"] for r in rows if r["empty"]} == {"no data"}
        main = spec["vconcat"][0]
        assert main["encoding"]["x"]["scale"]["domain"] == self.MONTHS
        marked = [layer for layer in main["layer"] if layer.get("transform")]
        assert {"filter": "datum.empty"} in marked[0]["transform"]
        assert "periods with no data" in " ".join(spec["title"]["subtitle"])
        assert "no data" in chart_svg(spec)

    def test_labels_are_thinned_so_none_overlap_and_the_width_is_chosen(self) -> None:
        chart = xmr_chart([float(i % 7) for i in range(36)], self.MONTHS)
        narrow = vega_lite_spec(chart, "t", "days", width=PDF_CHART_WIDTH)
        wide = vega_lite_spec(chart, "t", "days", width=WEB_CHART_WIDTH)
        assert narrow["vconcat"][0]["width"] == PDF_CHART_WIDTH
        assert wide["vconcat"][0]["width"] == WEB_CHART_WIDTH
        shown = narrow["vconcat"][0]["encoding"]["x"]["axis"]["values"]
        assert len(shown) <= PDF_CHART_WIDTH // 34
        assert shown[-1] == "2026-12"  # the latest period is always labelled
        assert axis_labels(self.MONTHS[:12], WEB_CHART_WIDTH) == self.MONTHS[:12]

    def test_a_baseline_is_shaded_and_both_phases_named(self) -> None:
        values = [5.0, 6.0, 4.0, 5.0, 6.0, 5.0, 4.0, 6.0, 5.0, 5.0, 6.0, 4.0] + [9.0] * 24
        chart = xmr_chart(values, self.MONTHS, baseline=(0, 11), floor=0.0)
        spec = control_chart_spec(chart, title="t", unit="count", target=None)
        rows = spec["data"]["values"]
        assert rows[11]["phase"] == "baseline"
        assert rows[12]["phase"] == "monitoring"
        layers = spec["vconcat"][0]["layer"]
        shade = next(layer for layer in layers if layer.get("mark", {}).get("type") == "rect")
        assert shade["data"]["values"] == [{"first": "2024-01", "last": "2024-12"}]
        names = next(
            layer
            for layer in layers
            if layer.get("encoding", {}).get("text", {}).get("field") == "phase"
        )
        assert [n["phase"] for n in names["data"]["values"]] == ["baseline", "monitoring"]
        svg = chart_svg(spec)
        assert "monitoring" in svg
        assert "baseline 2024-01 to 2024-12" in svg
