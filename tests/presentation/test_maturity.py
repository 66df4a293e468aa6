"""Scores beside the FDA 2024 cohort: bands in words, the scale, the heat shades, the caveat."""

from __future__ import annotations

from qmm.presentation.maturity import Band, cohort_caveat, heat_class, scale_x, small_cohort_caveat


def test_a_band_places_a_score_in_words() -> None:
    band = Band(low=2.0, high=4.0, mean=3.0)
    assert band.position(None) == "not scored"
    assert band.position(1.5) == "below the cohort's range"
    assert band.position(4.5) == "above the cohort's range"
    assert band.position(3.0) == "above the cohort mean"
    assert band.position(2.5) == "below the cohort mean"


def test_the_scale_and_the_shades_clamp_to_one_to_five() -> None:
    assert scale_x(1.0) == 0.0
    assert scale_x(5.0) == 200.0
    assert scale_x(3.0) == 100.0
    assert scale_x(9.0) == 200.0
    assert heat_class(None) == "heat-none"
    assert heat_class(3.9) == "heat-3"
    assert heat_class(0.2) == "heat-1"
    assert heat_class(5.0) == "heat-5"


def test_with_no_site_placed_the_caveat_is_the_cohorts_own() -> None:
    assert cohort_caveat([]) == small_cohort_caveat()
    assert "only 9 sites" in small_cohort_caveat()
