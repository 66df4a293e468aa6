"""Search and long lists in a browser: the header's search box finds an evidence item by a word
of its description and opens it; the EM records behind a KPI come a page at a time."""

from __future__ import annotations

import re
from typing import Any

from e2e.conftest import screenshot, sign_in


def test_search_from_the_header_and_open_an_evidence_item(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    box = page.get_by_role("search").first.get_by_role("searchbox")
    box.fill("excipient")
    box.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "/search?q=excipient" in page.url
    main = page.locator("main")
    assert main.get_by_role("heading", name=re.compile("^Evidence")).is_visible()
    screenshot(page, "search-results")
    first = main.locator("#kind-evidence ~ ul a").first
    ref = first.inner_text().split(":", 1)[0].strip()
    first.click()
    page.wait_for_load_state("networkidle")
    assert re.search(rf"/sites/SITE-[AB]/evidence/{ref}$", page.url)
    assert "excipient" in page.locator("main").inner_text().lower()  # in its description


def test_a_search_that_cannot_run_is_said_beside_the_box(page: Any) -> None:
    sign_in(page, "alice")
    page.goto('/search?q="***"')
    alert = page.get_by_role("alert")
    assert "no letter or digit" in alert.inner_text()


def test_the_em_records_come_a_page_at_a_time(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/kpis/em_excursion_rate/records?period_value=2026-10")
    pager = page.get_by_role("navigation", name="Pages of records").first
    assert re.search(r"Showing records 1–100 of [\d,]+", pager.inner_text())
    assert page.locator("table.records tbody tr").count() == 100
    assert page.locator("table.records .role-numerator").count() > 0
    page.get_by_role("link", name=re.compile("^Numerator only")).click()
    page.wait_for_load_state("networkidle")
    assert "role=numerator" in page.url
    rows = page.locator("table.records tbody tr").count()
    assert rows == page.locator("table.records .role-numerator").count()
    screenshot(page, "em-records-numerator")
    page.goto("/sites/SITE-A/kpis/em_excursion_rate/records?period_value=2026-10")
    page.get_by_role("navigation", name="Pages of records").first.get_by_role(
        "link", name="Next"
    ).click()
    page.wait_for_load_state("networkidle")
    assert "page=2" in page.url
    assert "Showing records 101–200" in page.locator("main").inner_text()
    screenshot(page, "em-records-page-2")
