"""FDA's week in a real browser: a mock interview scored at SITE-A, FDA's feedback at SITE-B with
Advanced PQS rated too high (both planted by `qmm demo`), and the calibration view per site and
across sites."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import LiveServer, screenshot, sign_in

#: Finds the week `qmm demo` planted in the server's workspace (SITE-A's coming assessment with
#: one mock interview, SITE-B's past assessment with FDA's feedback) and adds a past assessment
#: with feedback at SITE-C, so the view across sites has two columns.
SET_UP = """
import json
from qmm.assessment.service import latest_assessment
from qmm.assessment_week.feedback_demo import demo_past_feedback
from qmm.assessment_week.mock import list_mock_interviews
from qmm.assessment_week.service import list_fda_assessments, next_fda_assessment
from qmm.db import unit_of_work
from qmm.sites.service import get_site

with unit_of_work() as s:
    a, b, c = (get_site(s, code=code) for code in ("SITE-A", "SITE-B", "SITE-C"))
    coming = next_fda_assessment(s, site=a)
    [mock] = list_mock_interviews(s, fda_assessment=coming)
    [past_b] = list_fda_assessments(s, site=b)
    past_c = demo_past_feedback(
        s, site=c, self_assessment=latest_assessment(s, site=c), owner="Farah",
        gaps={"management_commitment": 0.75, "advanced_pqs": 0.5, "technical_excellence": -0.5},
    )
    ids = {"coming": coming.id, "mock": mock.id, "past_b": past_b.id, "past_c": past_c.id}
print(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def week(live_server: LiveServer) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", SET_UP],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ids: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return ids


def _shot(page: Any, name: str) -> Path:
    path = Path(f"/tmp/week-weekc-{name}.png")
    page.screenshot(path=str(path), full_page=True)
    screenshot(page, f"week-weekc-{name}")
    return path


def test_a_mock_interview_scored_shows_where_it_falls_below(
    page: Any, week: dict[str, int]
) -> None:
    page.set_default_timeout(90_000)  # signing in checks a password (argon2): slow when busy
    sign_in(page, "alice")
    page.goto(f"/fda-assessments/{week['coming']}/mock-interviews/{week['mock']}")
    first = page.locator("section.question").first
    first.get_by_label("Mock score (1 to 5)").fill("9")
    first.get_by_role("button", name="Record the mock score").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("must be a whole number from 1 to 5").first.is_visible()
    page.goto(f"/fda-assessments/{week['coming']}/mock-interviews")
    assert page.get_by_role(
        "heading", name="Where the mock scores fall below the self-assessment"
    ).is_visible()
    _shot(page, "mock-interviews")


def test_feedback_and_the_calibration_views(page: Any, week: dict[str, int]) -> None:
    page.set_default_timeout(90_000)
    sign_in(page, "dmitri")
    page.goto(f"/fda-assessments/{week['past_b']}/feedback")
    assert page.get_by_text("rated too high").first.is_visible()
    _shot(page, "feedback")
    page.goto("/sites/SITE-B/calibration")
    assert page.get_by_text("Rated too high:").is_visible()
    assert "Advanced Pharmaceutical Quality System by 1.25" in page.locator("main").inner_text()
    _shot(page, "calibration-site")
    sign_in(page, "erin")  # a contributor at SITE-B and SITE-C
    page.goto("/calibration")
    header = page.locator("main table thead").inner_text()
    assert "SITE-B" in header
    assert "SITE-C" in header
    _shot(page, "calibration")
