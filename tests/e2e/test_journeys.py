"""What a quality head and an assessor do, in a real browser against the real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import LiveServer, screenshot, sign_in


@pytest.fixture(scope="module")
def open_assessment(live_server: LiveServer) -> int:
    """A new self-assessment of SITE-A led by alice, nothing rated yet."""
    made = live_server.qmm(
        "assess",
        "create",
        "--site",
        "SITE-A",
        "--title",
        "FY2027 browser-test self-assessment",
        "--lead",
        "alice",
        "--assessor",
        "bob",
    )
    assert made.returncode == 0, made.stdout + made.stderr
    listed = live_server.qmm("assess", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    ids = [int(a) for a in re.findall(r'"id":\s*(\d+)', listed.stdout)]
    return max(ids)


@pytest.fixture
def tablet(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 768, "height": 1024})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_sign_in_portfolio_and_site_dashboard(page: Any) -> None:
    sign_in(page, "admin")
    assert page.get_by_role("heading", level=1).count() == 1
    body = page.locator("main").inner_text()
    for site in ("SITE-A", "SITE-B", "SITE-C"):
        assert site in body
    screenshot(page, "01-portfolio")
    page.get_by_role("link", name=re.compile("SITE-A")).first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A")
    dashboard = page.locator("main").inner_text()
    for area in ("Management Commitment to Quality", "Business Continuity", "Technical Excellence"):
        assert area in dashboard
    assert page.locator(".tile").count() >= 5
    screenshot(page, "02-site-dashboard")


def test_rating_a_question_with_evidence_moves_the_scores(page: Any, open_assessment: int) -> None:
    sign_in(page, "alice")
    page.goto(f"/assessments/{open_assessment}")
    first = page.locator("details.sub-element").first
    summary = first.locator("summary")
    assert "not scored" in summary.inner_text()
    area_pill = page.locator("section.practice-area").first.locator(".pa-title .score-pill")
    assert area_pill.inner_text() == "not scored"
    if first.get_attribute("open") is None:
        summary.click()  # open the sub-element, as a person would
    form = first.locator("form.rating-form").first
    form.locator("input[type=radio][value='4'] + label").click()
    assert form.locator("input[type=radio][value='4']").is_checked()
    form.locator("textarea[name=rationale]").fill(
        "Quality objectives are published and reviewed monthly by the site leadership team."
    )
    form.locator("input[name=evidence]").fill("EV-0001")
    form.get_by_role("button", name="Save rating").click()
    page.get_by_role("status").filter(has_text="was saved").wait_for()  # saved in place
    assert page.get_by_role("status").filter(has_text="was saved").count() == 1
    first = page.locator("details.sub-element").first
    assert "4.00" in first.locator("summary .score-pill").inner_text()
    area_pill = page.locator("section.practice-area").first.locator(".pa-title .score-pill")
    assert area_pill.inner_text() == "4.00"
    assert "EV-0001" in first.inner_text()
    screenshot(page, "03-assessment-workspace")


def test_a_kpi_tile_opens_its_chart_and_a_point_its_records(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.locator(".tile-title a").first.click()
    page.wait_for_load_state("networkidle")
    assert "/kpis/" in page.url
    assert page.locator("svg").count() >= 1
    assert page.get_by_role("heading", name="Signals").count() == 1
    screenshot(page, "04-kpi-control-chart")
    values = page.locator("section").filter(has=page.get_by_role("heading", name="Values"))
    values.locator("tbody th a").last.click()
    page.wait_for_load_state("networkidle")
    assert "/records" in page.url
    text = page.locator("main").inner_text()
    assert re.search(r"\bnumerator\b|\bvalue\b", text)
    assert page.locator("table tbody tr").count() >= 1
    screenshot(page, "05-kpi-records")


def test_a_bad_extract_shows_every_error_and_stores_nothing(page: Any, tmp_path: Path) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A/imports")
    batches_before = page.locator("table.data tbody tr").count()
    bad = tmp_path / "capa.csv"
    bad.write_text(
        "capa_id,site,opened_on,due_on,root_cause_category,closed_on\n"
        "C-9001,SITE-A,2025-01-10,2025-02-10,equipment,2025-01-05\n"
        "C-9002,SITE-A,2025-13-01,2025-02-10,equipment,\n"
        "C-9003,SITE-A,2025-01-10,2025-02-10,,\n"
    )
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_label("Record type").select_option("capa")
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    problems = page.locator("table.problems tbody tr")
    assert problems.count() >= 3
    rows = {problems.nth(i).locator("td, th").first.inner_text() for i in range(problems.count())}
    assert {"2", "3", "4"} <= rows
    screenshot(page, "06-import-errors")
    page.goto("/sites/SITE-A/imports")
    assert page.locator("table.data tbody tr").count() == batches_before


def test_an_external_assessor_reads_but_cannot_edit(
    page: Any, open_assessment: int, live_server: LiveServer
) -> None:
    sign_in(page, "xavier")
    page.goto(f"/assessments/{open_assessment}")
    assert page.locator("form.rating-form").count() == 0
    assert page.locator("input[type=radio]").count() == 0
    assert "Read-only" in page.locator("main").inner_text()
    screenshot(page, "07-assessor-read-only")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = page.request.post(
        f"{live_server.url}/assessments/{open_assessment}/ratings",
        form={"csrf_token": token or "", "question": "x", "score": "5", "rationale": "x"},
    )
    assert forced.status == 403
    page.goto("/sites/SITE-A/imports")
    assert page.locator("input[type=file]").count() == 0


def test_the_dashboard_fits_a_tablet_and_is_keyboard_reachable(tablet: Any) -> None:
    sign_in(tablet, "alice")
    tablet.goto("/sites/SITE-A")
    overflow = tablet.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page is {overflow}px wider than a tablet"
    screenshot(tablet, "08-site-dashboard-tablet")
    reached = set()
    for _ in range(60):
        tablet.keyboard.press("Tab")
        reached.add(tablet.evaluate("document.activeElement.getAttribute('href') || ''"))
    assert any(href.startswith("/sites/SITE-A/kpis/") for href in reached)
    assert any(href.startswith("/sites/SITE-A/report?") for href in reached)
