"""Issue 16 in a real browser: a site lead starts an assessment, builds its team and rates."""

from __future__ import annotations

import re
from typing import Any

from e2e.conftest import screenshot, sign_in
from qmm.presentation.labels import question_label


def test_a_new_assessment_is_created_its_team_added_and_questions_rated(page: Any) -> None:
    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.get_by_role("link", name="Start an assessment").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/sites/SITE-A/assessments/new")
    form = page.locator("form.form")
    form.get_by_label("Title").fill("FY27 self-assessment (browser)")
    form.locator("input[name=assessors][value=bob]").check()
    screenshot(page, "16-new-assessment-form")
    form.get_by_role("button", name="Create the assessment").click()
    page.wait_for_load_state("networkidle")
    assert re.search(r"/assessments/\d+\?done=created", page.url), page.url
    team = page.locator("section#team")
    assert "The assessment was created" in team.inner_text()
    assert "Alice Moreau" in team.inner_text()
    assert "Bob" in team.inner_text()
    screenshot(page, "16-assessment-created")

    team.locator("summary", has_text="Add someone to the team").click()
    team.get_by_label("Person").select_option("carol")
    team.get_by_role("button", name="Add to the team").click()
    page.wait_for_load_state("networkidle")
    team = page.locator("section#team")
    assert "The team member was added" in team.inner_text()
    assert team.locator("option[value=carol]").count() == 0  # on the team: no longer offered
    assert "carol" in team.locator("ul.team").inner_text()
    screenshot(page, "16-team-added")

    codes = [
        (element_id or "")[2:]
        for element_id in page.locator("article.question").evaluate_all(
            "nodes => nodes.map(n => n.id)"
        )
    ][:5]
    assert len(codes) == 5
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    for level, code in zip("34234", codes, strict=True):
        article = page.locator(f'[id="q-{code}"]')
        if not article.is_visible():
            page.locator(f'details.sub-element:has([id="q-{code}"]) > summary').click()
        article.locator(f'label[for="q-{code}-{level}"]').click()
        article.get_by_label("Rationale").fill(f"Seen in the browser journey for {code}")
        article.get_by_role("button", name="Save rating").click()
        article.get_by_role("status").filter(has_text="was saved").wait_for()  # in place
        assert (
            f"Your rating of {question_label(code)} was saved" in page.locator("main").inner_text()
        )
        assert page.evaluate("() => window.__stillTheSamePage === true"), "the page reloaded"
    summary = page.locator("section.summary").inner_text()
    assert re.search(r"Questions with a score\s+5 of \d+", summary), summary
    assert "You have rated 5" in summary
    screenshot(page, "16-five-questions-rated")


def test_an_administrator_grants_a_limited_role_and_hands_out_a_token(page: Any) -> None:
    sign_in(page, "admin")
    page.get_by_role("link", name="Users").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/admin/users")
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("Username").fill("olga")
    form.get_by_label("Full name").fill("Olga Lindqvist")
    form.get_by_role("button", name="Add the user").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/admin/users/olga?done=created")

    grant = page.locator("form[action='/admin/users/olga/grants']")
    grant.get_by_label("Role").select_option("assessor")
    grant.get_by_label("Site").select_option("SITE-A")
    grant.get_by_role("button", name="Grant the role").click()
    page.wait_for_load_state("networkidle")
    assert "must be time-limited" in page.locator("main").inner_text()
    screenshot(page, "16-admin-grant-refused")
    grant = page.locator("form[action='/admin/users/olga/grants']")
    grant.get_by_label("Last day").fill("2027-06-30")
    grant.get_by_role("button", name="Grant the role").click()
    page.wait_for_load_state("networkidle")
    assert "The role was granted" in page.locator("main").inner_text()

    page.locator("summary", has_text="Create a token").click()
    token = page.locator("form[action='/admin/users/olga/tokens']")
    token.get_by_label("What uses it").fill("nightly export")
    token.get_by_role("button", name="Create the token").click()
    page.wait_for_load_state("networkidle")
    shown = page.locator("#new-token-value").input_value()
    assert shown.startswith("qmm_")
    screenshot(page, "16-admin-token-shown-once")
    page.goto("/admin/tokens")
    assert "nightly export" in page.locator("main").inner_text()
    assert shown not in page.content()
