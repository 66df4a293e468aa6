"""Control charts: limits checked against hand arithmetic, and each Nelson rule in isolation."""

from __future__ import annotations

import json
import math

import pandas as pd
import pyarrow as pa
import pytest

from qmm.metrics.control_charts import (
    D4,
    E2,
    RULES,
    ControlChart,
    em_trend,
    nelson_signals,
    p_chart,
    xmr_chart,
)


def rules_of(values: list[float | None], center: float = 0.0, sigma: float = 1.0) -> set[int]:
    return {s.rule for s in nelson_signals(values, center, sigma)}


# --- p-chart --------------------------------------------------------------------------------


def test_p_chart_limits_by_hand() -> None:
    chart = p_chart([2, 5, 0, 3], [100, 200, 0, 100], ["m1", "m2", "m3", "m4"])
    # p-bar = (2 + 5 + 3) / (100 + 200 + 100) = 10 / 400 = 0.025 (the n=0 point is left out)
    assert chart.center == pytest.approx([0.025] * 4)
    # n = 100: sigma = sqrt(0.025 * 0.975 / 100) = sqrt(0.00024375) = 0.0156125
    #          UCL = 0.025 + 3 * 0.0156125 = 0.0718375; LCL = 0.025 - 0.0468 < 0 -> 0
    # n = 200: sigma = sqrt(0.024375 / 200) = sqrt(0.000121875) = 0.0110397
    #          UCL = 0.025 + 0.0331191 = 0.0581191; LCL -> 0
    assert chart.sigma[0] == pytest.approx(0.0156125, abs=1e-7)
    assert chart.ucl[0] == pytest.approx(0.0718375, abs=1e-7)
    assert chart.lcl[0] == 0.0
    assert chart.sigma[1] == pytest.approx(0.0110397, abs=1e-7)
    assert chart.ucl[1] == pytest.approx(0.0581191, abs=1e-7)
    # values: 2/100 = 0.02, 5/200 = 0.025, gap, 3/100 = 0.03
    assert chart.values == pytest.approx([0.02, 0.025, None, 0.03])
    assert chart.kind == "p"
    assert chart.signals == ()


def test_p_chart_lower_limit_above_zero_by_hand() -> None:
    chart = p_chart([30, 50, 20], [1000, 1000, 500], ["a", "b", "c"])
    # p-bar = 100 / 2500 = 0.04; p-bar (1 - p-bar) = 0.0384
    # n = 1000: sigma = sqrt(3.84e-5) = 0.00619677; limits 0.04 ± 0.0185903
    # n = 500:  sigma = sqrt(7.68e-5) = 0.00876356; limits 0.04 ± 0.0262907
    assert chart.ucl[0] == pytest.approx(0.0585903, abs=1e-7)
    assert chart.lcl[0] == pytest.approx(0.0214097, abs=1e-7)
    assert chart.ucl[2] == pytest.approx(0.0662907, abs=1e-7)
    assert chart.lcl[2] == pytest.approx(0.0137093, abs=1e-7)


def test_p_chart_zero_denominator_is_a_gap() -> None:
    chart = p_chart([1, 0, 1], [10, 0, 10], ["a", "b", "c"])
    # p-bar = 2 / 20 = 0.1: the empty middle month neither counts as 0 nor moves the center.
    assert chart.center[0] == pytest.approx(0.1)
    assert chart.values[1] is None
    assert chart.ucl[1] is None
    assert chart.lcl[1] is None
    assert chart.sigma[1] is None
    assert chart.denominators == (10.0, 0.0, 10.0)


def test_p_chart_with_no_samples_at_all_has_no_limits() -> None:
    chart = p_chart([0, 0], [0, 0], ["a", "b"])
    assert chart.values == (None, None)
    assert chart.center == (None, None)
    assert chart.signals == ()


def test_p_chart_varying_n_judges_each_point_by_its_own_limits() -> None:
    chart = p_chart([85, 150, 8, 57], [1000, 1000, 50, 950], ["a", "b", "c", "d"])
    # p-bar = 300 / 3000 = 0.1; p-bar (1 - p-bar) = 0.09
    # b: p = 0.15, n = 1000: sigma = sqrt(0.09/1000) = 0.0094868, z = 0.05/0.0094868 = 5.27 > 3
    # c: p = 0.16, n = 50:   sigma = sqrt(0.09/50) = 0.0424264,   z = 0.06/0.0424264 = 1.41
    # d: p = 0.06, n = 950:  sigma = sqrt(0.09/950) = 0.0097333, z = -0.04/0.0097333 = -4.11
    assert chart.sigma[2] == pytest.approx(0.0424264, abs=1e-7)
    rule1 = [s for s in chart.signals if s.rule == 1]
    assert [s.indexes for s in rule1] == [(1,), (3,)]
    assert "above" in rule1[0].description
    assert "below" in rule1[1].description
    assert {s.rule for s in chart.signals} == {1}


def test_p_chart_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="numerator <= denominator"):
        p_chart([5], [4], ["a"])
    with pytest.raises(ValueError, match="labels"):
        p_chart([1, 2], [5, 5], ["a"])


def test_p_chart_clips_the_upper_limit_at_one() -> None:
    chart = p_chart([1, 0], [1, 1], ["a", "b"])
    # p-bar = 0.5, n = 1: sigma = 0.5, UCL = 0.5 + 1.5 = 2 -> 1, LCL = -1 -> 0
    assert chart.ucl == (1.0, 1.0)
    assert chart.lcl == (0.0, 0.0)


# --- XmR chart ------------------------------------------------------------------------------


def test_xmr_limits_by_hand() -> None:
    chart = xmr_chart([10, 12, 11, 15, 13], list("abcde"))
    # X-bar = 61 / 5 = 12.2; moving ranges 2, 1, 4, 2 -> MR-bar = 9 / 4 = 2.25
    # UCL = 12.2 + 2.66 * 2.25 = 18.185; LCL = 12.2 - 5.985 = 6.215
    # sigma = 2.25 / 1.128 = 1.994681; MR UCL = 3.267 * 2.25 = 7.35075
    assert chart.center[0] == pytest.approx(12.2)
    assert chart.ucl[0] == pytest.approx(18.185)
    assert chart.lcl[0] == pytest.approx(6.215)
    assert chart.sigma[0] == pytest.approx(1.994681, abs=1e-6)
    assert chart.mr_center == pytest.approx(2.25)
    assert chart.mr_ucl == pytest.approx(7.35075)
    assert chart.moving_ranges == (None, 2.0, 1.0, 4.0, 2.0)
    assert E2 == 2.66
    assert D4 == 3.267
    assert chart.signals == ()


def test_xmr_skips_gaps() -> None:
    chart = xmr_chart([10, None, 12, 11], list("abcd"))
    # X-bar = 33 / 3 = 11; moving ranges join across the gap: |12 - 10| = 2, |11 - 12| = 1
    # MR-bar = 1.5; UCL = 11 + 2.66 * 1.5 = 14.99
    assert chart.values[1] is None
    assert chart.moving_ranges == (None, None, 2.0, 1.0)
    assert chart.mr_center == pytest.approx(1.5)
    assert chart.ucl[0] == pytest.approx(14.99)


def test_xmr_with_one_value_has_no_limits() -> None:
    chart = xmr_chart([None, 4.0], ["a", "b"])
    assert chart.center == (4.0, 4.0)
    assert chart.ucl == (None, None)
    assert chart.signals == ()


def test_xmr_flags_a_spike() -> None:
    chart = xmr_chart([5, 6, 5, 6, 5, 6, 5, 6, 30], list("abcdefghi"))
    # X-bar = 74 / 9 = 8.2222; MR: 1 x 7, 24 -> MR-bar = 31 / 8 = 3.875
    # UCL = 8.2222 + 2.66 * 3.875 = 18.5297 < 30
    assert chart.ucl[0] == pytest.approx(74 / 9 + 2.66 * 3.875)
    assert [s.indexes for s in chart.signals if s.rule == 1] == [(8,)]


# --- Nelson rules: one crafted series per rule, each triggering only that rule ---------------

QUIET = [0.5, -0.3, 1.2, 0.2, -0.8, -1.3, 0.4, 0.6, -0.2, 1.1]
QUIET += [-0.5, 0.3, 0.9, -1.2, -0.1, 0.7, 0.2, -0.6, 1.4, -0.4]


def test_a_quiet_series_triggers_no_rule() -> None:
    # Sides change within 3 points, no run of more than 3 steps one way, alternation breaks
    # within 4 steps, a point beyond 1 sigma at least every 5 points, nothing beyond 2 sigma.
    assert nelson_signals(QUIET, 0.0, 1.0) == []


def test_rule_1_one_point_beyond_three_sigma() -> None:
    series = QUIET.copy()
    series[10] = 3.5  # only point beyond 2 sigma; its 5-window has 2 points beyond 1 sigma
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(1, (10,))]


def test_rule_1_on_raw_values_is_standardized() -> None:
    series = [10 + 2 * z for z in QUIET]
    series[10] = 10 + 2 * 3.5  # 17 with center 10 and sigma 2 is z = 3.5
    assert [(s.rule, s.indexes) for s in nelson_signals(series, 10.0, 2.0)] == [(1, (10,))]
    series[10] = 10 + 2 * 2.9  # z = 2.9: inside
    assert nelson_signals(series, 10.0, 2.0) == []


def test_rule_2_nine_on_one_side() -> None:
    run = [0.5, 0.2, 0.7, 0.3, 0.6, 0.1, 0.4, 0.8, 0.2]  # all above, within 1 sigma, zigzag
    series = [-1.2, *run, -1.3, 0.4, -0.6, 1.1]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(2, tuple(range(1, 10)))]
    assert "above" in signals[0].description
    # Eight in a row is not enough.
    assert rules_of([-1.2, *run[:8], -1.3, 0.4, -0.6, 1.1]) == set()


def test_rule_3_six_steadily_increasing() -> None:
    series = [1.3, -0.9, -0.5, -0.1, 0.3, 0.6, 0.9, -1.2, 0.4]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(3, (1, 2, 3, 4, 5, 6))]
    assert "increasing" in signals[0].description
    down = [-z for z in series]
    assert [(s.rule, s.indexes) for s in nelson_signals(down, 0.0, 1.0)] == [
        (3, (1, 2, 3, 4, 5, 6))
    ]
    # Five in a row is not enough.
    assert rules_of([1.3, -0.9, -0.5, -0.1, 0.3, 0.6, -1.2, 0.4]) == set()


def test_rule_4_fourteen_alternating() -> None:
    zigzag = [0.5, -0.5, 0.6, -0.4, 0.5, -0.6, 0.4, -0.5, 0.6, -0.4, 0.5, -0.6, 0.4, -0.5]
    # 1.5 before and -1.5 after continue the direction of the first and last step, so the
    # alternation is exactly 14 points; they also keep the within-1-sigma run at 14 (< 15).
    series = [1.5, *zigzag, -1.5]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(4, tuple(range(1, 15)))]
    assert rules_of([1.5, *zigzag[:13], 1.5]) == set()  # 13 alternating points


def test_rule_5_two_of_three_beyond_two_sigma() -> None:
    series = [0.3, -0.4, 2.5, 0.2, 2.4, -0.3, 0.5, -0.6]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(5, (2, 4))]
    # On opposite sides it is not the rule.
    assert rules_of([0.3, -0.4, 2.5, 0.2, -2.4, -0.3, 0.5, -0.6]) == set()


def test_rule_6_four_of_five_beyond_one_sigma() -> None:
    series = [-0.5, 1.5, 1.3, 0.2, 1.6, 1.4, -0.4, 0.3, -0.2]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(6, (1, 2, 4, 5))]
    assert rules_of([-0.5, 1.5, 1.3, 0.2, 0.6, 1.4, -0.4, 0.3, -0.2]) == set()


def test_rule_7_fifteen_within_one_sigma() -> None:
    hugging = [0.3, 0.5, -0.2, -0.4, 0.1, 0.6, 0.2, -0.3, -0.5, 0.4, 0.7, -0.1, -0.6, 0.2, 0.5]
    series = [1.5, *hugging, -1.4]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(7, tuple(range(1, 16)))]
    assert rules_of([1.5, *hugging[:14], -1.4]) == set()


def test_rule_8_eight_beyond_one_sigma_either_side() -> None:
    series = [0.2, 1.2, -1.4, 1.6, -1.3, 1.5, -1.2, 1.4, -1.6, 0.3, -0.2]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(8, tuple(range(1, 9)))]
    assert rules_of([0.2, 1.2, -1.4, 1.6, -1.3, 1.5, -1.2, 0.4, -1.6, 0.3, -0.2]) == set()


def test_every_rule_has_a_plain_description() -> None:
    assert sorted(RULES) == list(range(1, 9))
    series = [0.3, -0.4, 2.5, 0.2, 2.4, -0.3, 0.5, -0.6]
    (signal,) = nelson_signals(series, 0.0, 1.0)
    assert "2 of 3" in signal.description
    assert signal.to_json() == {"rule": 5, "description": signal.description, "indexes": [2, 4]}


def test_a_longer_run_is_one_signal_naming_every_point() -> None:
    series = [-1.2, *([0.5, 0.2] * 6), -1.3]  # 12 above in a row
    signals = [s for s in nelson_signals(series, 0.0, 1.0) if s.rule == 2]
    assert len(signals) == 1
    assert signals[0].indexes == tuple(range(1, 13))
    assert signals[0].description.startswith("12 points")


# --- gaps -----------------------------------------------------------------------------------


def test_gaps_are_skipped_not_breaks() -> None:
    # The rule 2 run with a gap inside: the points either side count as consecutive.
    series: list[float | None] = [-1.2, 0.5, 0.2, 0.7, None, 0.3, 0.6, 0.1, 0.4, 0.8, 0.2, -1.3]
    signals = nelson_signals(series, 0.0, 1.0)
    assert [(s.rule, s.indexes) for s in signals] == [(2, (1, 2, 3, 5, 6, 7, 8, 9, 10))]


def test_missing_or_zero_sigma_is_a_gap() -> None:
    series: list[float | None] = [0.0, 5.0, 0.0]
    assert nelson_signals(series, 0.0, [1.0, None, 1.0]) == []
    assert nelson_signals(series, 0.0, [1.0, 0.0, 1.0]) == []
    assert nelson_signals(series, [0.0, None, 0.0], 1.0) == []
    assert nelson_signals([], 0.0, 1.0) == []


def test_a_p_chart_gap_does_not_break_a_trend() -> None:
    # Rates rising 1%, 2%, ..., 7% (n = 1000 each) with an empty month between 3% and 4%.
    nums = [10, 20, 30, 0, 40, 50, 60, 70, 5, 5, 5, 5]
    dens = [1000, 1000, 1000, 0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]
    chart = p_chart(nums, dens, [f"m{i}" for i in range(12)])
    trends = [s for s in chart.signals if s.rule == 3]
    assert trends
    assert trends[0].indexes == (0, 1, 2, 4, 5, 6, 7)


def test_signals_must_match_the_values_length() -> None:
    with pytest.raises(ValueError, match="sigma"):
        nelson_signals([1.0, 2.0], 0.0, [1.0])


# --- JSON ----------------------------------------------------------------------------------


def spiky_p_chart() -> ControlChart:
    return p_chart([85, 150, 0, 8, 57], [1000, 1000, 0, 50, 950], list("abcde"))


def test_to_json_has_no_nan_and_round_trips() -> None:
    chart = spiky_p_chart()
    data = json.loads(json.dumps(chart.to_json(), allow_nan=False))
    assert data["kind"] == "p"
    assert data["values"][2] is None
    assert data["signals"][0]["rule"] == 1
    assert data["denominators"] == [1000, 1000, 0, 50, 950]
    xmr = json.loads(
        json.dumps(xmr_chart([1, 2, None, 4], list("abcd")).to_json(), allow_nan=False)
    )
    assert xmr["moving_ranges"] == [None, 1.0, None, 2.0]
    assert xmr["mr_ucl"] == pytest.approx(3.267 * 1.5)


# --- EM trending ----------------------------------------------------------------------------


def em_rows() -> pd.DataFrame:
    rows = []
    # Room X, Grade B: January 1 of 4 samples above alert, February none, March 2 of 4.
    for month, cfus in (("01", [0, 6, 1, 2]), ("02", [0, 0, 1, 2]), ("03", [7, 9, 0, 1])):
        for i, cfu in enumerate(cfus):
            rows.append(("X", "B", f"2025-{month}-1{i}T10:00:00+01:00", cfu, 5, 10))
    # Room Y, Grade C: samples in January and March only; February is a gap.
    rows.append(("Y", "C", "2025-01-15T08:00:00Z", 60, 50, 100))
    rows.append(("Y", "C", "2025-03-15T08:00:00-05:00", 0, 50, 100))
    # 00:30 on 1 February at +01:00 is 23:30 on 31 January in UTC: it counts in January.
    rows.append(("Y", "C", "2025-02-01T00:30:00+01:00", 0, 50, 100))
    return pd.DataFrame(
        rows, columns=["room", "grade", "sampled_at", "cfu", "alert_limit", "action_limit"]
    ).assign(site="SITE-A")


def test_em_trend_charts_each_room_by_utc_month() -> None:
    charts = {(room, grade): chart for room, grade, chart in em_trend(em_rows())}
    assert set(charts) == {("X", "B"), ("Y", "C")}
    x = charts[("X", "B")]
    assert x.labels == ("2025-01", "2025-02", "2025-03")
    assert x.numerators == (1.0, 0.0, 2.0)
    assert x.denominators == (4.0, 4.0, 4.0)
    # p-bar = 3 / 12 = 0.25
    assert x.center[0] == pytest.approx(0.25)
    y = charts[("Y", "C")]
    assert y.denominators == (2.0, 0.0, 1.0)
    assert y.values[1] is None


def test_em_trend_accepts_arrow_and_typed_timestamps() -> None:
    frame = em_rows()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert [c.numerators for _, _, c in em_trend(table)] == [
        c.numerators for _, _, c in em_trend(frame)
    ]
    typed = frame.assign(sampled_at=pd.to_datetime(frame["sampled_at"], utc=True, format="ISO8601"))
    assert [c.numerators for _, _, c in em_trend(typed)] == [
        c.numerators for _, _, c in em_trend(frame)
    ]


def test_em_trend_by_quarter() -> None:
    ((room, _, chart), _) = em_trend(em_rows(), "quarter")
    assert room == "X"
    assert chart.labels == ("2025-Q1",)
    assert chart.numerators == (3.0,)


def test_em_trend_needs_one_site() -> None:
    frame = pd.concat([em_rows(), em_rows().assign(site="SITE-B")])
    with pytest.raises(ValueError, match="site="):
        em_trend(frame)
    assert len(em_trend(frame, site="SITE-B")) == 2
    with pytest.raises(ValueError, match="lacks columns"):
        em_trend(frame.drop(columns=["cfu"]))
    with pytest.raises(ValueError, match="period"):
        em_trend(em_rows(), "week")
    assert em_trend(em_rows().iloc[0:0]) == []


def test_limits_are_finite_where_present() -> None:
    chart = spiky_p_chart()
    for values in (chart.ucl, chart.lcl, chart.sigma, chart.center):
        assert all(v is None or math.isfinite(v) for v in values)
