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
