"""The questionnaire's DOCX and PDF: every practice area's answer in both, the same bytes for
the same inputs, and the PDF's text as pdftotext reads it."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy.orm import Session

from factories import create_assessment_of, create_fda_assessment, create_site_a, rate_sub_elements
from qmm.assessment_week.examples import add_example, choose_example
from qmm.assessment_week.questionnaire import edit_answer, start_questionnaire
from qmm.assessment_week.service import choose_self_assessment
from qmm.auth.service import create_user
from qmm.errors import InvalidInput
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.models import Questionnaire
from qmm.reports.questionnaire_docs import build_document, render_questionnaire

MOMENT = datetime(2027, 1, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def questionnaire(session: Session) -> Questionnaire:
    site = create_site_a(session)
    lead = create_user(session, username="alice", full_name="Alice Moreau")
    visit = create_fda_assessment(session, site)
    assessment = create_assessment_of(session, site, lead)
    rate_sub_elements(session, assessment, lead, {"capa_effectiveness": 4})
    choose_self_assessment(session, fda_assessment=visit, assessment=assessment)
    example = add_example(
        session,
        site=site,
        title="Air handler repeat deviations stopped",
        situation="Three deviations in a quarter from one air handler.",
        action_taken="Filters replaced and changed quarterly.",
        result="Repeat deviation rate from 40 % to 0 %.",
        owner="QA Engineer",
        sub_elements=["capa_effectiveness"],
    )
    choose_example(session, fda_assessment=visit, example=example)
    made = start_questionnaire(session, fda_assessment=visit)
    edit_answer(
        session,
        questionnaire=made,
        practice_area="business_continuity",
        answer="Our drills meet their recovery targets.\n\nSee the drill reports (Ünïcode ok).",
    )
    return made


def test_the_docx_holds_every_practice_areas_answer(
    session: Session, questionnaire: Questionnaire
) -> None:
    content = render_questionnaire(
        build_document(session, questionnaire=questionnaire, generated_at=MOMENT), "docx"
    )
    doc = Document(io.BytesIO(content))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings[:5] == list(PRACTICE_AREAS.values())
    text = "\n".join(p.text for p in doc.paragraphs)
    for answer in questionnaire.answers:
        for paragraph in answer.answer.split("\n\n"):
            assert paragraph.strip() in text
    assert "See the drill reports (Ünïcode ok)." in text
    assert "EX-001: Air handler repeat deviations stopped" in text
    created = doc.core_properties.created
    assert created is not None
    assert created.replace(tzinfo=UTC) == MOMENT


def test_the_same_inputs_give_the_same_bytes(
    session: Session, questionnaire: Questionnaire
) -> None:
    for fmt in ("docx", "pdf"):
        first = render_questionnaire(
            build_document(session, questionnaire=questionnaire, generated_at=MOMENT), fmt
        )
        again = render_questionnaire(
            build_document(session, questionnaire=questionnaire, generated_at=MOMENT), fmt
        )
        assert first == again, fmt
        later = render_questionnaire(
            build_document(
                session, questionnaire=questionnaire, generated_at=datetime(2027, 1, 21, tzinfo=UTC)
            ),
            fmt,
        )
        assert later != first, fmt  # only the generation time differs


def poppler(tool: str, *args: str) -> str:
    """Run one of Poppler's tools, or fail saying how to install them (never a silent skip)."""
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: install Debian's `poppler-utils`")
    return subprocess.run(
        [tool, *args], check=True, capture_output=True, text=True, timeout=120
    ).stdout


def test_the_pdf_passes_pdftotext_checks(
    session: Session, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    pdf = tmp_path / "q.pdf"
    pdf.write_bytes(
        render_questionnaire(
            build_document(session, questionnaire=questionnaire, generated_at=MOMENT), "pdf"
        )
    )
    text = " ".join(poppler("pdftotext", str(pdf), "-").split())
    assert "Pre-interview questionnaire: SITE-A Riverside Sterile" in text
    for name in PRACTICE_AREAS.values():
        assert name in text
    assert "Our drills meet their recovery targets." in text
    assert "capa_effectiveness at 4" in text
    assert "2027-01-20 09:30 UTC" in text
    info = poppler("pdfinfo", str(pdf))
    assert "Page size:" in info
    assert "A4" in info


def test_an_unknown_format_is_refused(session: Session, questionnaire: Questionnaire) -> None:
    with pytest.raises(InvalidInput, match="'odt' is not one of docx, pdf"):
        render_questionnaire(build_document(session, questionnaire=questionnaire), "odt")
