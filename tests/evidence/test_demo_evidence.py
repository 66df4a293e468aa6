"""The demo workspace has a realistic evidence index that its ratings cite."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.demo.workspace import DEMO_SITES, load_demo, minimal_pdf
from qmm.evidence.files import check_file
from qmm.evidence.service import coverage, file_path, list_evidence
from qmm.models import EvidenceFile, EvidenceItem, Rating
from qmm.program.continuity import DRILL_REPORT_TITLE


def test_every_demo_site_has_15_to_30_items_across_kinds(demo_session: Session) -> None:
    session = demo_session
    assessments = load_demo(session)
    for assessment in assessments:
        site = assessment.site
        everything = list_evidence(session, site=site, include_retired=True)
        # Items the program files itself (signed decisions, steering minutes, drill reports,
        # FDA's feedback letter) come on top.
        found = [
            i
            for i in everything
            if i.kind not in {"decision_record", "steering_minutes"}
            and not i.title.startswith((DRILL_REPORT_TITLE, "FDA's feedback: "))
        ]
        assert 15 <= len(found) <= 30, site.code
        assert len(Counter(i.kind for i in found)) >= 6
        assert all(i.link and i.link.startswith("https://eqms.example.invalid/") for i in found)
        assert any(i.review_by and i.review_by < date(2026, 9, 1) for i in found)


def test_the_demo_shows_gaps_and_cites_the_index(session: Session, evidence_dir: Path) -> None:
    current = [a for a in load_demo(session) if a.kind == "self"]
    weak = next(a for a in current if a.site.code == "SITE-C")
    result = coverage(session, assessment=weak, today=date(2026, 10, 1))
    without = dict(result.sub_elements_without_evidence)
    assert {"quality_risk_management", "data_excellence"} <= set(without)
    assert result.overdue_reviews
    refs = [r for rating in session.scalars(select(Rating)) for r in rating.evidence_refs]
    assert any(r.startswith("EV-") for r in refs)
    strong = next(a for a in current if a.site.code == "SITE-A")
    assert len(coverage(session, assessment=strong).sub_elements_without_evidence) <= 2
    files = session.scalars(select(EvidenceFile)).all()
    assert {f.filename for f in files} >= {"quality-policy-rev7.pdf", "em-trend-2026q2.csv"}
    assert all(file_path(f).is_file() for f in files)
    assert all(file_path(f).parent.parent == evidence_dir for f in files)


def test_loading_the_demo_twice_adds_no_evidence(session: Session) -> None:
    load_demo(session)
    before = session.scalar(select(func.count()).select_from(EvidenceItem))
    load_demo(session)
    assert session.scalar(select(func.count()).select_from(EvidenceItem)) == before
    assert before is not None
    assert before >= 15 * len(DEMO_SITES)


def test_the_generated_pdf_passes_the_file_check() -> None:
    pdf = minimal_pdf(["A (demo) line", "back\\slash"])
    assert check_file("demo.pdf", pdf).content_type == "application/pdf"
    assert pdf.rstrip().endswith(b"%%EOF")
    assert b"A \\(demo\\) line" in pdf
