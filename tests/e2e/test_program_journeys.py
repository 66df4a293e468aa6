"""The readiness program in a real browser: log and sign a decision, read the program overview."""

from __future__ import annotations

import re
from typing import Any

from e2e.conftest import DEMO_PASSWORD, screenshot, sign_in


def test_a_decision_is_logged_signed_frozen_and_filed_as_evidence(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/decisions")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Decision log")
    screenshot(page, "09-decision-log")
    page.get_by_role("link", name="Log a decision").first.click()
    form = page.locator("form.form")
    form.get_by_label("Title").fill("Hold lot 26-031 until the browser-test deviation is closed")
    form.get_by_label("Context", exact=True).fill(
        "Deviation DEV-E2E-1 on line 2; the lot ships Friday."
    )
    form.get_by_label("Options considered").fill("Ship with the investigation open\nHold the lot")
    form.get_by_label("The decision").fill("Hold lot 26-031 until DEV-E2E-1 is closed.")
    form.get_by_label("Yes: quality won the trade-off").check()
    form.get_by_label("Trade-off: against what").fill("Quality over the ship date: a week late.")
    form.get_by_label("Rationale").fill("The root cause could touch sterility assurance.")
    form.get_by_label("Owner").fill("Site Quality Head")
    form.get_by_label("Decided on").fill("2026-03-02")
    form.get_by_role("button", name="Log the decision as a draft").click()
    page.wait_for_load_state("networkidle")
    assert re.search(r"/sites/SITE-A/decisions/DEC-\d{4}\?done=added$", page.url)
    ref = re.search(r"DEC-\d{4}", page.url)
    assert ref is not None
    assert "Edit this draft" in page.locator("main").inner_text()

    # The two-person rule (on in the demo): the author is told a second person approves.
    assert "A second person approves." in page.locator("main").inner_text()
    draft_url = page.url.split("?")[0]
    page.context.clear_cookies()
    sign_in(page, "admin")
    page.goto(draft_url)
    sign_form = page.locator("form[action$='/sign']")
    sign_form.get_by_label("Approved").check()
    sign_form.get_by_label("Your password (asked again to sign)").fill(DEMO_PASSWORD)
    sign_form.get_by_role("button", name="Sign").click()
    page.wait_for_load_state("networkidle")
    body = page.locator("main").inner_text()
    assert "was signed" in body
    assert "Valid" in body
    assert "Edit this draft" not in body
    assert page.locator("form[action$='/edit']").count() == 0
    screenshot(page, "09-decision-signed")

    page.goto("/sites/SITE-A/evidence")
    assert f"Decision {ref.group(0)}" in page.locator("main").inner_text()


def test_the_program_overview(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.get_by_role("navigation", name="SITE-A").get_by_role("link", name="Program").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/program")
    body = page.locator("main").inner_text()
    for part in ("Quality objectives", "Steering cadence", "Stop-and-fix forum", "Engagement"):
        assert part in body
    screenshot(page, "09-program-overview")


def test_continuity_shows_the_breach_and_a_count_at_the_minimum_clears_it(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.get_by_role("navigation", name="SITE-A").get_by_role("link", name="Continuity").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/continuity")
    body = page.locator("main").inner_text()
    assert "in BREACH" in body
    assert "missed the recovery-time target" in body
    assert "overdue" in body
    screenshot(page, "11-continuity")

    breached = page.locator("tr[id^='trigger-']", has_text="BREACH").first
    row_id = breached.get_attribute("id")
    breached.locator("summary", has_text="Record a level").click()
    form = breached.locator("form")
    form.get_by_label("Level counted", exact=False).fill("10000000")
    form.get_by_role("button", name="Record the level").click()
    page.wait_for_load_state("networkidle")
    assert "done=level" in page.url
    assert "BREACH" not in page.locator(f"#{row_id}").inner_text()
