"""The readiness report's section on FDA's week: dates, timeline, mock interviews, FDA's
feedback and the calibration gap, as of the report's day, the same bytes for the same inputs."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_fda_assessment,
    create_site_b,
    create_tiny_framework,
    rate_sub_elements,
    tiny_pdf,
)
from qmm.assessment_week.feedback import FindingIn, record_feedback
from qmm.assessment_week.mock import record_mock_answer, start_mock_interview
from qmm.assessment_week.service import (
    choose_self_assessment,
    list_fda_assessments,
    set_status,
    update_milestone,
)
from qmm.events.store import EventStore
from qmm.models import Site
from qmm.reports.readiness import build_report
from qmm.reports.render import render_report, report_html

AS_OF = date(2026, 11, 15)
GENERATED = datetime.combine(AS_OF, time(12, 0), UTC)


@pytest.fixture
def site(session: Session) -> Site:
    site = create_site_b(session)
    alice = create_alice(session)
    own = create_assessment_of(session, site, alice, framework=create_tiny_framework(session))
    rate_sub_elements(session, own, alice, {"a1": 4, "a2": 4, "m1": 3, "m2": 3})
    past = create_fda_assessment(
        session, site, title="FDA 2026", starts_on=date(2026, 6, 8), ends_on=date(2026, 6, 11)
    )
    choose_self_assessment(session, fda_assessment=past, assessment=own)
    record_feedback(
        session,
        fda_assessment=past,
        received_on=date(2026, 8, 3),
        area_scores={"advanced_pqs": 2.5, "management_commitment": 3.0},
        findings=[FindingIn("opportunity", "advanced_pqs", "Trend deviations site-wide")],
        document=("fda-feedback.pdf", tiny_pdf("FDA feedback letter")),
        summary="Closing meeting held on the last day.",
    )
    coming = create_fda_assessment(
        session, site, title="FDA 2027", starts_on=date(2027, 1, 4), ends_on=date(2027, 1, 8)
    )
    choose_self_assessment(session, fda_assessment=coming, assessment=own)
    update_milestone(session, fda_assessment=coming, kind="orientation", owner="Ines Park")
    mock = start_mock_interview(
        session,
        fda_assessment=coming,
        practice_area="advanced_pqs",
        assessor="Sam Ode",
        held_on=date(2026, 11, 10),
    )
    record_mock_answer(session, interview=mock, question_code="a1.q1", score=2, follow_up="CAPA")
    record_mock_answer(session, interview=mock, question_code="a1.q2", score=3)
    return site


def test_the_report_tells_the_coming_week_and_the_last_feedback(
    session: Session, site: Site, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "events")
    report = build_report(session, site=site, store=store, as_of=AS_OF, generated_at=GENERATED)
    week = report.week
    assert week is not None
    assert week.fda_assessment.title == "FDA 2027"
    assert next(m.kind for m in week.milestones) == "orientation"
    assert week.late == ()  # orientation is due 2026-11-23, after the report's day
    (row,) = week.mocks
    assert (row.practice_area, row.questions_scored, row.mean_mock, row.self_score) == (
        "advanced_pqs",
        2,
        2.5,
        4.0,
    )
    assert row.below_self
    assert row.open_follow_ups == 1
    assert week.calibration is None  # the coming week has no feedback yet
    (last,) = week.history
    assert [(a.practice_area, a.gap) for a in last.rated_too_high] == [("advanced_pqs", 1.5)]
    html = report_html(report)
    assert "FDA&#39;s assessment week" in html or "FDA's assessment week" in html
    assert "Ines Park" in html
    assert "Advanced Pharmaceutical Quality System (+1.50)" in html
    again = build_report(session, site=site, store=store, as_of=AS_OF, generated_at=GENERATED)
    assert report_html(again).encode() == html.encode()


def test_after_the_feedback_the_report_shows_the_gap_table(
    session: Session, site: Site, tmp_path: Path
) -> None:
    coming = next(v for v in list_fda_assessments(session, site=site) if v.title == "FDA 2027")
    set_status(session, fda_assessment=coming, status="cancelled")
    store = EventStore(tmp_path / "events")
    report = build_report(session, site=site, store=store, as_of=AS_OF, generated_at=GENERATED)
    week = report.week
    assert week is not None
    assert week.fda_assessment.title == "FDA 2026"
    assert week.calibration is not None
    assert week.mocks == ()
    html = report_html(report)
    assert "Trend deviations site-wide" in html
    assert '<span class="flag">+1.50</span>' in html
    assert "Closing meeting held on the last day." in html
    before = build_report(
        session, site=site, store=store, as_of=date(2026, 7, 1), generated_at=GENERATED
    )
    assert before.week is not None
    assert before.week.calibration is None  # the feedback came on 2026-08-03
    assert "not recorded by 2026-07-01" in report_html(before)


def test_the_pdf_carries_the_week_section(session: Session, site: Site, tmp_path: Path) -> None:
    coming = next(v for v in list_fda_assessments(session, site=site) if v.title == "FDA 2027")
    set_status(session, fda_assessment=coming, status="cancelled")
    report = build_report(
        session,
        site=site,
        store=EventStore(tmp_path / "events"),
        as_of=AS_OF,
        generated_at=GENERATED,
    )
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_report(report, "pdf"))
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: install Debian's `poppler-utils`")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "FDA's assessment week" in text or "FDA’s assessment week" in text
    assert "Gap (self minus FDA)" in text
    assert "+1.50" in text
    assert "Trend deviations site-wide" in text
