"""A quality head follows the EM tile to the rooms, finds the drifting room, and fixes a chart's
limits on a baseline: both pages screenshotted for review."""

from __future__ import annotations

from typing import Any

from e2e.conftest import screenshot, sign_in


def test_em_tile_to_the_drift_room_and_a_baseline_phase_chart(page: Any) -> None:
    page.set_default_timeout(120_000)  # the first pages compute the demo's KPIs
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.get_by_role("link", name="EM by room and grade").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/em")
    drift = page.locator("tr.row-signal", has_text="B-FILL-02")
    assert drift.count() == 1
    page.locator("h2", has_text="Room B-FILL-02").scroll_into_view_if_needed()
    screenshot(page, "em-page-site-a")

    page.goto("/sites/SITE-A/kpis/em_excursion_rate")
    page.get_by_label("Baseline from").select_option("2024-11")
    page.get_by_label("to", exact=True).select_option("2025-10")
    page.get_by_role("button", name="Compute limits from this baseline").click()
    page.wait_for_load_state("networkidle")
    assert "baseline_from=2024-11" in page.url
    assert page.get_by_text("the limits come from the baseline 2024-11 to 2025-10").count() == 1
    screenshot(page, "kpi-baseline-phase")
