"""Following the thread in a browser: from the EM records behind a KPI to a sample, its thread
and the decision at its end."""

from __future__ import annotations

import re
from typing import Any

from e2e.conftest import screenshot, sign_in


def test_from_em_records_to_the_sample_its_thread_and_the_decision(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.get_by_role("link", name=re.compile("EM excursion to documented response")).first.click()
    page.wait_for_load_state("networkidle")
    assert "/kpis/em_response_hours" in page.url
    page.goto("/sites/SITE-A/kpis/em_response_hours/records?period_value=2026-06")
    page.get_by_role("link", name="thread of EM-2026-0611").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/threads/em_sample/EM-2026-0611")
    main = page.locator("main").inner_text()
    assert "Whole thread" in main
    for record in ("DEV-2026-117", "CAPA-2026-045", "CC-2026-088", "DEC-0001"):
        assert record in main
    screenshot(page, "thread-em-to-decision")
    page.get_by_role("link", name="DEC-0001").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/decisions/DEC-0001")
    assert "Hold filling line 2 lots" in page.locator("h1").inner_text()


def test_a_broken_thread_is_named_on_the_sites_thread_page(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/threads")
    rows = page.locator("table.data tbody tr")
    assert rows.count() >= 2
    main = page.locator("main").inner_text()
    assert "EM-2026-0702" in main
    assert "CAPA-2026-051" in main
    page.get_by_role("link", name="EM-2026-0702").click()
    page.wait_for_load_state("networkidle")
    assert "action-level excursion with no deviation" in page.locator("main").inner_text()


def test_the_worklist_names_the_sites_broken_threads(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    worklist = page.locator("#worklist")
    assert "broken thread" in worklist.inner_text()
    worklist.locator("summary", has_text=re.compile(r"\d+ more")).click()
    more = worklist.get_by_role("link", name=re.compile(r"and \d+ more broken threads"))
    assert more.count() == 1
    more.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/threads")
    assert "EM-2026-0702" in page.locator("main").inner_text()


def test_a_missing_clause_in_the_coverage_view_becomes_a_plan_action(page: Any) -> None:
    """A draft plan (to supersede the running one) takes the action, then is discarded: the
    running plan runs on untouched, as the other browser tests expect it."""
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/plans")
    form = page.locator("form[action='/sites/SITE-A/plans']")
    form.get_by_label("Owner").fill("Alice Moreau, Site Quality Head")
    form.get_by_label(re.compile("Supersede the running plan")).check()
    form.get_by_role("button", name="Generate a draft plan").click()
    page.wait_for_load_state("networkidle")
    found = re.search(r"/sites/SITE-A/plans/(PLAN-\d{4})\?done=generated$", page.url)
    assert found is not None, page.url
    draft_url = page.url.split("?")[0]

    page.goto("/sites/SITE-A/clauses")
    main = page.locator("main").inner_text()
    assert "Brightseal Elastomers Inc." in main
    assert "Missing: Joint drills" in main
    page.get_by_role(
        "button", name=re.compile(r"plan action\s*:\s*Joint drills for Brightseal")
    ).click()
    page.wait_for_load_state("networkidle")
    assert page.url.split("?")[0].split("#")[0] == draft_url, page.url
    assert "Add the 'Joint drills' clause" in page.locator("main").inner_text()
    screenshot(page, "clause-gap-planned")

    page.get_by_text("Discard this draft").click()
    discard = page.locator("form[action$='/discard']")
    discard.get_by_label("Why").fill("Browser test: the clause action was seen on the draft.")
    discard.get_by_role("button", name=re.compile("Discard")).click()
    page.wait_for_load_state("networkidle")
    assert "discarded" in page.locator("main").inner_text().lower()
