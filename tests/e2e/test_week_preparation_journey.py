"""The examples library and the pre-interview questionnaire in a real browser: a candidate from
the records becomes an example, a second person reviews and approves it, it is chosen for FDA's
assessment, and the questionnaire is started, edited and shows the example.

The test plans its own FDA assessment of SITE-A in 2028, clear of any other test's dates.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from e2e.conftest import LiveServer, screenshot, sign_in

STARTS, ENDS = "2028-02-07", "2028-02-11"


def test_a_candidate_becomes_an_example_shared_in_the_questionnaire(
    page: Any, live_server: LiveServer
) -> None:
    planned = live_server.qmm(
        "week", "plan", "--site", "SITE-A", "--title", "FDA QMM assessment 2028",
        "--starts-on", STARTS, "--ends-on", ENDS, "--time-zone", "America/New_York",
        "--owner", "Alice Moreau", "--format", "json",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stdout + planned.stderr
    visit = json.loads(planned.stdout)["id"]

    page.set_default_timeout(60_000)  # drafting reads the scores and KPIs: slow on a busy box
    sign_in(page, "bob")
    page.goto("/sites/SITE-A/examples")
    body = page.locator("main").inner_text()
    assert "Suggested from the records" in body
    page.get_by_role("link", name="Write this example").first.click()
    page.wait_for_load_state("networkidle")
    assert "/sites/SITE-A/examples/new?candidate=" in page.url
    assert "the facts as recorded" in page.locator("main").inner_text()
    form = page.locator("form[action='/sites/SITE-A/examples']")
    form.get_by_label("Title").fill("A trade-off where quality won")
    form.get_by_label("The situation").fill("A lot was due to ship while a deviation was open.")
    form.get_by_label("What was done").fill("The site quality head held the lot until closure.")
    form.get_by_label("The measured result").fill("Shipped a week late; no complaint since.")
    form.get_by_label("Owner", exact=True).fill("Site Quality Head")
    form.locator("#kpi-capa_effectiveness").check()
    form.get_by_role("button", name="Save as a draft").click()
    page.wait_for_load_state("networkidle")
    found = re.search(r"/sites/SITE-A/examples/(EX-\d{3})\?done=added$", page.url)
    assert found is not None, page.url
    ref = found.group(1)
    assert "a second person reviews it" in page.locator("main").inner_text()

    page.context.clear_cookies()
    sign_in(page, "alice")
    page.goto(f"/sites/SITE-A/examples/{ref}")
    page.get_by_role("button", name=re.compile("Mark reviewed")).click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Approve for sharing with FDA").click()
    page.wait_for_load_state("networkidle")
    body = page.locator("main").inner_text()
    assert "Approved for sharing" in body
    assert page.locator("figure.chart svg").count() >= 1  # the KPI trend behind the story
    shutil.copy(screenshot(page, "week-example"), "/tmp/week-weeka-example.png")

    page.goto(f"/fda-assessments/{visit}/examples")
    page.locator("form", has=page.locator(f"input[value='{ref}']")).get_by_role(
        "button", name=re.compile("Choose")
    ).click()
    page.wait_for_load_state("networkidle")
    assert f"{ref}: A trade-off" in page.locator("main").inner_text().split("Not chosen")[0]

    page.goto(f"/fda-assessments/{visit}/questionnaire")
    page.get_by_role("button", name="Draft from it").click()  # the site's latest assessment
    page.wait_for_load_state("networkidle")
    assert "The self-assessment is chosen" in page.locator("main").inner_text()
    page.get_by_role("button", name=re.compile("Start: draft every practice area")).click()
    page.wait_for_load_state("networkidle")
    body = page.locator("main").inner_text()
    assert "every practice area's answer is drafted" in body
    assert "practice area score" in page.locator("#answer-advanced_pqs").input_value()
    assert (
        f"- {ref} A trade-off where quality won"
        in page.locator("#answer-advanced_pqs").input_value()
    )
    answer = page.locator("#area-business_continuity form")
    answer.get_by_label("Answer for Business Continuity").fill(
        "Each supply risk scenario has a recovery target and is drilled with the supplier."
    )
    answer.get_by_role("button", name="Save the answer").click()
    page.wait_for_load_state("networkidle")
    assert "The answer is saved" in page.locator("main").inner_text()
    shutil.copy(screenshot(page, "week-questionnaire"), "/tmp/week-weeka-questionnaire.png")
