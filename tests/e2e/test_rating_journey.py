"""Issue 16 item 3 in a real browser: rating in place, the next unrated question, the filters,
and a session that ends while a rationale is being typed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, update

from e2e.conftest import LiveServer, screenshot, sign_in
from qmm.models import User, WebSession, utcnow
from qmm.presentation.labels import question_label

NOT_RELOADED = "() => window.__stillTheSamePage === true"


def _new_assessment(page: Any, title: str) -> str:
    """A site lead starts an assessment with bob on the team; its page's address."""
    page.goto("/sites/SITE-A/assessments/new")
    form = page.locator("form.form")
    form.get_by_label("Title").fill(title)
    form.locator("input[name=assessors][value=bob]").check()
    form.get_by_role("button", name="Create the assessment").click()
    page.wait_for_load_state("networkidle")
    found = re.search(r"(/assessments/\d+)\?done=created", page.url)
    assert found, page.url
    return found.group(1)


def _rate_in_place(page: Any, code: str, level: str, rationale: str) -> None:
    """Choose a level, write why and save; the page must not reload."""
    article = page.locator(f'[id="q-{code}"]')
    article.locator(f'label[for="q-{code}-{level}"]').click()
    article.get_by_label("Rationale").fill(rationale)
    article.get_by_role("button", name="Save rating").click()
    page.locator(f'[id="q-{code}"] [role=status]', has_text="was saved").wait_for()
    assert page.evaluate(NOT_RELOADED), "the page reloaded on save"


def _end_sessions(live_server: LiveServer, username: str) -> None:
    """Let the person's browser sessions run out, as after the idle timeout."""
    engine = create_engine(live_server.env["QMM_DATABASE_URL"])
    with engine.begin() as connection:
        user_id = connection.scalar(
            User.__table__.select().with_only_columns(User.id).where(User.username == username)
        )
        connection.execute(
            update(WebSession)
            .where(WebSession.user_id == user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    engine.dispose()


def test_rating_in_place_next_unrated_filters_and_a_session_that_ends(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    sign_in(page, "alice")
    address = _new_assessment(page, "FY27 rating at speed (browser)")
    page.goto(address)
    page.evaluate("() => { window.__stillTheSamePage = true; }")

    # The next unrated question, from the top: it opens in place and takes the focus.
    page.locator("#next-unrated a").click()
    first = page.locator("#next-unrated a").get_attribute("data-next-question")
    assert first is not None
    assert page.locator(f'[id="q-{first}"]').is_visible()
    page.keyboard.press("1")  # keys choose a level while the levels have the focus
    assert page.locator(f'[id="q-{first}-1"]').is_checked()
    _rate_in_place(page, first, "1", f"Nothing written down for {first}")

    # The saved notice offers the next one; the roll-up on the page already counts the rating.
    page.locator(f'[id="q-{first}"] a[data-next-question]').click()
    second = page.locator("#next-unrated a").get_attribute("data-next-question")
    assert second is not None
    assert second != first
    _rate_in_place(page, second, "3", f"Procedure and records seen for {second}")
    summary = page.locator("#summary").inner_text()
    assert "You have rated 2" in summary, summary
    assert re.search(r"Questions with a score\s+2 of \d+", summary), summary
    screenshot(page, "16-rated-in-place")

    # Bob rates the first question three levels higher: the assessors disagree.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    bob = context.new_page()
    sign_in(bob, "bob")
    bob.goto(f"{address}?question={first}")
    bob.evaluate("() => { window.__stillTheSamePage = true; }")
    _rate_in_place(bob, first, "4", f"Bob saw a working routine for {first}")
    context.close()

    # Alice filters by disagreement: only that question, and the filter is in the address.
    page.goto(address)
    page.get_by_label("Status", exact=True).select_option("disagreement")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state("networkidle")
    assert "status=disagreement" in page.url
    assert page.locator("article.question").count() == 1
    assert page.locator(f'[id="q-{first}"]').is_visible()
    assert "Calibrate" in page.locator(f'[id="q-{first}"]').inner_text()
    screenshot(page, "16-filtered-by-disagreement")

    # A rationale typed when the session has ended is kept and comes back after signing in.
    page.goto(address + "?status=unrated")
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    page.locator("#next-unrated a").click()
    third = page.locator("#next-unrated a").get_attribute("data-next-question")
    assert third is not None
    article = page.locator(f'[id="q-{third}"]')
    article.locator(f'label[for="q-{third}-2"]').click()
    typed = f"Typed before the session ran out, for {third}: two sites, one routine."
    article.get_by_label("Rationale").fill(typed)
    _end_sessions(live_server, "alice")
    article.get_by_role("button", name="Save rating").click()
    told = article.locator(".draft-note[role=alert]")
    told.wait_for()
    assert "Your session has ended" in told.inner_text()
    screenshot(page, "16-session-ended-while-rating")
    told.get_by_role("link", name="sign in again").click()
    page.wait_for_load_state("networkidle")
    assert "/login" in page.url
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("qmm-demo-2026!")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    assert f"question={third}" in page.url, page.url
    article = page.locator(f'[id="q-{third}"]')
    assert article.get_by_label("Rationale").input_value() == typed
    assert page.locator(f'[id="q-{third}-2"]').is_checked()
    assert "was not saved yet" in article.locator(".draft-note").inner_text()
    screenshot(page, "16-draft-restored-after-sign-in")
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    article.get_by_role("button", name="Save rating").click()
    page.locator(f'[id="q-{third}"] [role=status]', has_text="was saved").wait_for()
    assert "You have rated 3" in page.locator("#summary").inner_text()

    # Signed in again in another tab: this page's security token is out of date. Said so, kept.
    other_tab = page.context.new_page()
    sign_in(other_tab, "alice")
    other_tab.close()
    page.locator(f'[id="q-{third}"] a[data-next-question]').click()
    fourth = page.locator("#next-unrated a").get_attribute("data-next-question")
    assert fourth is not None
    article = page.locator(f'[id="q-{fourth}"]')
    article.locator(f'label[for="q-{fourth}-4"]').click()
    article.get_by_label("Rationale").fill("Typed in a tab that has gone stale")
    article.get_by_role("button", name="Save rating").click()
    stale = article.locator(".draft-note[role=alert]")
    stale.wait_for()
    assert "This page is out of date" in stale.inner_text()
    stale.get_by_role("link", name="open the question again").click()
    page.wait_for_load_state("networkidle")
    article = page.locator(f'[id="q-{fourth}"]')
    assert article.get_by_label("Rationale").input_value() == "Typed in a tab that has gone stale"


def test_without_javascript_a_rating_sent_after_the_session_ended_is_kept(
    browser: Any, live_server: LiveServer
) -> None:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1366, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    try:
        sign_in(page, "alice")
        address = _new_assessment(page, "FY27 rating without scripts (browser)")
        page.goto(address)
        code = page.locator("#next-unrated a").get_attribute("data-next-question")
        page.goto(f"{address}?question={code}")
        article = page.locator(f'[id="q-{code}"]')
        article.locator(f'label[for="q-{code}-3"]').click()
        typed = f"Sent with scripts off after the session ended, for {code}."
        article.get_by_label("Rationale").fill(typed)
        _end_sessions(live_server, "alice")
        article.get_by_role("button", name="Save rating").click()
        page.wait_for_load_state("networkidle")
        assert "Your session has ended" in page.locator("main").inner_text()
        assert "Bearer" not in page.content()
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("qmm-demo-2026!")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        assert typed in page.locator("main").inner_text()
        screenshot(page, "16-send-again-after-sign-in")
        page.get_by_role("button", name="Send it now").click()
        page.wait_for_load_state("networkidle")
        assert f"?rated={code}" in page.url
        article = page.locator(f'[id="q-{code}"]')
        assert f"Your rating of {question_label(code)} was saved" in article.inner_text()
        assert typed in article.inner_text()
    finally:
        context.close()
