"""The assessment week in a real browser: plan FDA's assessment from the site, build an agenda,
see a double booking flagged, fix it, download an attendee's .ics and preparation card.

The assessment is planned in 2031 so it never overlaps one the demo may hold for SITE-A.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from e2e.conftest import LiveServer, screenshot, sign_in

SHOTS = Path("/tmp")


def _add_session(page: Any, day: str, start: str, end: str, area: str, room: str) -> None:
    form = page.locator("form[action$='/agenda/sessions']")
    form.get_by_label("Day").select_option(day)
    form.get_by_label("Starts at (local time)").fill(start)
    form.get_by_label("Ends at (local time)").fill(end)
    form.get_by_label("Practice area").select_option(area)
    form.get_by_label("Room").fill(room)
    form.get_by_role("button", name="Plan the session").click()
    page.wait_for_load_state("networkidle")


def _attend(page: Any, session_id: str, person_id: int) -> None:
    row = page.locator(f"#session-{session_id}")
    row.get_by_label(f"Person to add to session {session_id}").select_option(str(person_id))
    row.get_by_role("button", name=f"Add to session {session_id}").click()
    page.wait_for_load_state("networkidle")


def test_build_an_agenda_fix_a_double_booking_and_download_an_invitation_and_card(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    person = json.loads(
        live_server.qmm(
            "week",
            "person-add",
            "--site",
            "SITE-A",
            "--name",
            "Priya Raman (e2e)",
            "--job-title",
            "QC microbiology lead",
            "--department",
            "Quality Control",
            "--email",
            "priya.e2e@example.com",
            "--format",
            "json",
        ).stdout
    )
    live_server.qmm(
        "week",
        "agenda",
        "speaks-for",
        "--site",
        "SITE-A",
        "--person",
        str(person["id"]),
        "--area",
        "technical_excellence",
    )
    name = "Priya Raman (e2e)"

    sign_in(page, "alice")
    page.goto("/sites/SITE-A")
    page.get_by_role("link", name="FDA assessments").click()
    page.wait_for_load_state("networkidle")
    form = page.locator("form[action='/sites/SITE-A/fda-assessments']")
    form.get_by_label("Title").fill("FDA QMM assessment 2031 (e2e)")
    form.get_by_label("First day on site").fill("2031-06-02")
    form.get_by_label("Last day on site").fill("2031-06-06")
    form.get_by_label("Time zone of the site").fill("America/New_York")
    form.get_by_label("Owner of the milestones").fill("Alice Moreau")
    form.get_by_role("button", name="Plan the assessment").click()
    page.wait_for_load_state("networkidle")
    assert "/fda-assessments/" in page.url
    number = page.url.rstrip("/").rsplit("/", 1)[1]
    assert "FDA's virtual orientation" in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "week-weekb-assessment.png"), full_page=True)
    page.get_by_role("link", name="Agenda and attendees").click()
    page.wait_for_load_state("networkidle")

    _add_session(page, "2031-06-02", "09:00", "10:30", "technical_excellence", "Board room")
    _add_session(page, "2031-06-02", "10:00", "11:00", "advanced_pqs", "QC lab")
    ids = page.locator("tr[id^='session-']").evaluate_all("rows => rows.map(r => r.id.slice(8))")
    assert len(ids) == 2
    first, second = ids
    _attend(page, first, person["id"])
    _attend(page, second, person["id"])
    conflicts = page.locator("#conflicts")
    assert "A person is in two sessions at once" in conflicts.inner_text()
    assert page.locator(f"#session-{second} .double-booked").count() == 1
    page.screenshot(path=str(SHOTS / "week-weekb-planner-double-booked.png"), full_page=True)
    screenshot(page, "week-planner-double-booked")

    page.locator(f"#session-{second}").get_by_role(
        "button", name=f"Remove {name} from session {second}"
    ).click()
    page.wait_for_load_state("networkidle")
    assert "A person is in two sessions at once" not in page.locator("#conflicts").inner_text()
    assert page.locator(".double-booked").count() == 0
    page.screenshot(path=str(SHOTS / "week-weekb-planner-fixed.png"), full_page=True)

    with page.expect_download() as ics_download:
        page.get_by_role("link", name="calendar invitation (.ics)").click()
    ics_path = tmp_path / "invitation.ics"
    ics_download.value.save_as(ics_path)
    events = list(icalendar.Calendar.from_ical(ics_path.read_bytes()).walk("VEVENT"))
    assert len(events) == 1
    assert events[0].decoded("DTSTART") == datetime(
        2031, 6, 2, 9, 0, tzinfo=ZoneInfo("America/New_York")
    )
    assert events[0].decoded("DTSTART").utcoffset().total_seconds() == -4 * 3600  # EDT in June
    assert events[0]["SEQUENCE"] == 5

    with page.expect_download() as pdf_download:
        page.locator(f"#attendee-{person['id']}").get_by_role("link", name="PDF").click()
    card_pdf = tmp_path / "card.pdf"
    pdf_download.value.save_as(card_pdf)
    assert card_pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(card_pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert f"Preparation card: {name}" in text
        assert "Technical Excellence" in text

    page.get_by_role("link", name="preparation card").click()
    page.wait_for_load_state("networkidle")
    body = page.locator("main").inner_text()
    assert f"Preparation card: {name}" in body
    assert "Questions likely asked" in body
    assert "KPIs (monthly)" in body
    page.screenshot(path=str(SHOTS / "week-weekb-card.png"), full_page=True)
    screenshot(page, "week-card")
    assert number.isdigit()
