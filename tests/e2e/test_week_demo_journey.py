"""The week `qmm demo` plants, as a person finds it: SITE-A's coming FDA assessment from the
site's page, its agenda with the one double booking and an attendee's card; SITE-B's calibration
view with Advanced PQS rated too high."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from e2e.conftest import screenshot, sign_in


def _shot(page: Any, name: str) -> Path:
    path = Path(f"/tmp/week-weekdemo-{name}.png")
    page.screenshot(path=str(path), full_page=True)
    screenshot(page, f"week-weekdemo-{name}")
    return path


def test_site_a_finds_its_coming_fda_week_with_the_double_booking(page: Any) -> None:
    page.set_default_timeout(90_000)  # signing in checks a password (argon2): slow when busy
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/fda-assessments")
    page.locator("main").get_by_role("link", name=re.compile("FDA QMM assessment")).first.click()
    page.wait_for_load_state("networkidle")
    assert re.search(r"/fda-assessments/\d+$", page.url)
    body = page.locator("main").inner_text()
    assert "Pre-interview questionnaire returned" in body
    _shot(page, "assessment")

    page.get_by_role("link", name="Agenda and attendees").click()
    page.wait_for_load_state("networkidle")
    assert "A person is in two sessions at once" in page.locator("#conflicts").inner_text()
    assert page.locator(".double-booked").count() == 2  # Priya Raman, in both sessions
    _shot(page, "agenda")

    page.get_by_role("link", name="preparation card").first.click()
    page.wait_for_load_state("networkidle")
    assert "Preparation card:" in page.locator("main").inner_text()


def test_site_b_sees_advanced_pqs_rated_too_high(page: Any) -> None:
    page.set_default_timeout(90_000)
    sign_in(page, "dmitri")
    page.goto("/sites/SITE-B/calibration")
    assert page.get_by_text("Rated too high:").is_visible()
    main = page.locator("main").inner_text()
    assert "Advanced Pharmaceutical Quality System by 1.25" in main
    _shot(page, "calibration")
