"""The readiness report in a real browser: from the dashboard to the report, styled and with its
charts drawn under the report's own policy, and the PDF beside it."""

from __future__ import annotations

from typing import Any

from e2e.conftest import screenshot, sign_in


def test_the_dashboard_opens_the_report_and_its_pdf(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    # The report (HTML and PDF) is built on request: on a busy machine, longer than a page's 15 s.
    page.locator("main").get_by_role("link", name="HTML").click(timeout=90_000)
    page.wait_for_load_state("networkidle")
    assert "/sites/SITE-A/report?assessment=" in page.url
    assert page.get_by_role("heading", name="1. Executive summary").is_visible()
    heading = page.get_by_role("heading", level=2).first
    assert heading.evaluate("h => getComputedStyle(h).color") == "rgb(11, 79, 156)", (
        "the report's inline styles were blocked"
    )
    charts = page.locator(".chart img")
    assert charts.count() > 5
    assert charts.first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert blocked == []
    screenshot(page, "12-readiness-report")

    pdf_link = page.url.replace("/report?", "/report?format=pdf&")
    response = page.request.get(pdf_link, timeout=90_000)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
