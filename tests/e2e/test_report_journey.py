"""The readiness report in a real browser: from the dashboard to the report, styled and with its
charts drawn under the report's own policy, and the PDF beside it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from e2e.conftest import screenshot, sign_in


def test_the_dashboard_opens_the_report_and_its_pdf(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    # The report builds in the background; the progress page refreshes itself into the report.
    page.locator("main").get_by_role("link", name="HTML").click()
    summary = page.get_by_role("heading", name="1. Executive summary")
    summary.wait_for(timeout=120_000)
    page.wait_for_load_state("networkidle", timeout=90_000)
    assert "/sites/SITE-A/report?assessment=" in page.url
    assert summary.is_visible()
    heading = page.get_by_role("heading", level=2).first
    assert heading.evaluate("h => getComputedStyle(h).color") == "rgb(11, 79, 156)", (
        "the report's inline styles were blocked"
    )
    charts = page.locator(".chart img")
    assert charts.count() > 5
    assert charts.first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert blocked == []
    screenshot(page, "12-readiness-report")

    pdf_link = page.url.replace("format=html", "format=pdf").replace("&progress=1", "")
    response = page.request.get(pdf_link)
    deadline = time.monotonic() + 120
    while response.status == 202 and time.monotonic() < deadline:
        time.sleep(1)
        response = page.request.get(pdf_link)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")


def test_a_report_builds_in_the_background_while_the_user_keeps_working(page: Any) -> None:
    sign_in(page, "alice")
    # A date no other test asks for: a build of its own, not one cached by another journey.
    day = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    url = f"/sites/SITE-A/report?format=pdf&as_of={day}"
    page.goto(url)
    progress = page.locator("#report-progress")
    assert "Building, started" in progress.inner_text()
    screenshot(page, "26-report-building")
    # The app stays usable while the report builds.
    other = page.context.new_page()
    other.goto("/sites/SITE-A")
    assert other.get_by_role("heading", level=1).first.is_visible()
    other.close()
    # The page refreshes itself until the report is ready, then offers the download.
    offer = page.get_by_role("link", name="Download the PDF")
    offer.wait_for(timeout=180_000)
    screenshot(page, "27-report-ready")
    with page.expect_download(timeout=30_000) as arrival:
        offer.click()
    download = arrival.value
    assert (
        download.suggested_filename
        == f"qmm-readiness-SITE-A-A{_assessment(download.url)}-{day}.pdf"
    )
    path = download.path()
    assert path is not None
    with open(path, "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


def _assessment(url: str) -> str:
    return url.split("assessment=")[1].split("&")[0]
