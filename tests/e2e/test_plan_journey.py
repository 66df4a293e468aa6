"""The 90-day readiness plan in a real browser: from the program overview to a new plan that
supersedes the running one, approved by signature, then tracked.

The demo's SITE-A runs an approved PLAN-0001; this test leaves a newer approved plan running in
the session's shared workspace. The other browser tests read no plan detail, so they pass in
any order.
"""

from __future__ import annotations

import re
from typing import Any

from e2e.conftest import DEMO_PASSWORD, screenshot, sign_in


def test_a_new_plan_supersedes_the_running_one_is_approved_and_tracked(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/program")
    plan_section = page.locator(
        "section", has=page.get_by_role("heading", name="90-day readiness plan")
    )
    running = plan_section.get_by_role("link", name=re.compile(r"^PLAN-\d{4}$")).first
    running_ref = running.inner_text()
    running.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/sites/SITE-A/plans/{running_ref}")
    body = page.locator("main").inner_text()
    for part in ("Governance and evidence", "Systems and process maturity", "Progress on"):
        assert part in body
    assert "Approved" in body
    screenshot(page, "10-plan")

    page.get_by_role("navigation", name="SITE-A").get_by_role("link", name="Plans").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/plans")
    form = page.locator("form[action='/sites/SITE-A/plans']")
    form.get_by_label("Owner").fill("Alice Moreau, Site Quality Head")
    chosen = form.get_by_label("Assessment it answers").locator("option:checked").inner_text()
    assert "closed" in chosen
    form.get_by_label(re.compile(f"Supersede the running plan {running_ref}")).check()
    form.get_by_role("button", name="Generate a draft plan").click()
    page.wait_for_load_state("networkidle")
    found = re.search(r"/sites/SITE-A/plans/(PLAN-\d{4})\?done=generated$", page.url)
    assert found is not None, page.url
    ref = found.group(1)
    body = page.locator("main").inner_text()
    assert "Draft." in body
    assert page.locator("form[action$='/edit']").count() > 0

    # The two-person rule (on in the demo): the author may not approve; a second person signs.
    assert "A second person approves." in page.locator("main").inner_text()
    draft_url = page.url.split("?")[0]
    page.context.clear_cookies()
    sign_in(page, "admin")
    page.goto(draft_url)
    sign_form = page.locator("form[action$='/approve']")
    sign_form.get_by_label("Approved").check()
    sign_form.get_by_label("Your password (asked again to sign)").fill(DEMO_PASSWORD)
    sign_form.get_by_role("button", name="Sign").click()
    page.wait_for_load_state("networkidle")
    body = page.locator("main").inner_text()
    assert "was signed: it is approved" in body
    assert "Valid" in body
    assert "Approved by Quality Systems Administrator (admin)" in body
    assert page.locator("form[action$='/edit']").count() == 0
    assert page.locator("form[action$='/approve']").count() == 0
    done_before = _done(body)
    screenshot(page, "10-plan-approved")

    page.get_by_text("Mark action 1 done", exact=True).first.click()
    done_form = page.locator("form[action$='/actions/1/done']")
    done_form.get_by_label("Note").fill("Charter naming the executive owner filed as EV evidence.")
    done_form.get_by_role("button", name="Mark action 1 done").click()
    page.wait_for_load_state("networkidle")
    body = page.locator("main").inner_text()
    assert "had an action marked done" in body
    assert _done(body) == done_before + 1
    assert "Reopen action 1" in body
    screenshot(page, "10-plan-progress")

    page.goto(f"/sites/SITE-A/plans/{running_ref}")
    old = page.locator("main").inner_text()
    assert "Superseded by" in old
    assert ref in old


def _done(body: str) -> int:
    """The number of actions done, from the page's opening line."""
    found = re.search(r"(\d+) of (\d+) actions done", body)
    assert found is not None, body[:500]
    return int(found.group(1))
