"""The QMM clause library, vendor documents, their clause coverage and missing clauses planned."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_site_a,
    create_tiny_framework,
    create_vendor_document,
    rate_sub_elements,
)
from qmm.errors import Conflict, NotFound
from qmm.events.store import EventStore
from qmm.models import EvidenceItem, Site
from qmm.program.clauses import (
    DEFAULT_CLAUSES,
    PLAN_SOURCE,
    clause_coverage,
    copy_clauses,
    edit_clause,
    get_clause,
    list_clauses,
    plan_missing_clause,
)
from qmm.program.common import InvalidProgramInput
from qmm.program.plan import generate_plan
from qmm.program.schemas.clauses import VendorDocumentOut


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


def test_the_default_library_follows_the_readiness_plans_list(session: Session, site: Site) -> None:
    library = list_clauses(session, site=site)
    assert [c.code for c in library] == [d.code for d in DEFAULT_CLAUSES]
    by_type = {t: {c.code for c in library if t in c.document_types} for t in ("urs", "rfp")}
    assert by_type["urs"] == {"qmm_outcome_data"}
    assert by_type["rfp"] == {
        "response_times",
        "data_formats",
        "risk_review_participation",
        "business_continuity",
    }
    drills = get_clause(session, site=site, code="joint_drills")
    assert drills.sub_elements == ("drills_recovery",)
    assert "readiness plan" in drills.source
    assert not drills.site_copy


def test_a_site_copies_and_edits_a_clause_keeping_the_earlier_wording(
    session: Session, site: Site
) -> None:
    edited = edit_clause(
        session, site=site, code="response_times", text="Acknowledge within 12 hours."
    )
    assert edited.site_copy
    assert edited.version == 2
    assert edited.text == "Acknowledge within 12 hours."
    assert [v.version for v in edited.history] == [1]
    assert edited.history[0].text.startswith("The vendor acknowledges")
    again = edit_clause(session, site=site, code="response_times", title="Response within 12 h")
    assert again.version == 3
    assert [v.version for v in again.history] == [1, 2]
    assert copy_clauses(session, site=site) == []


def test_bad_clause_edits_name_every_problem_and_change_nothing(
    session: Session, site: Site
) -> None:
    with pytest.raises(InvalidProgramInput) as raised:
        edit_clause(
            session,
            site=site,
            code="joint_drills",
            text="  ",
            document_types=["memo"],
            sub_elements=["no_such_thing"],
        )
    problems = raised.value.problems
    assert set(problems) == {"text", "document_types", "sub_elements"}
    assert "memo is not one of urs, rfp, contract, quality_agreement" in problems["document_types"]
    assert not get_clause(session, site=site, code="joint_drills").site_copy
    with pytest.raises(NotFound, match="no clause 'nope'"):
        get_clause(session, site=site, code="nope")


def test_coverage_names_the_missing_joint_drill_clause(session: Session, site: Site) -> None:
    create_vendor_document(session, site)
    (row,) = clause_coverage(session, site=site)
    assert (row.vendor, row.document_type) == ("Halden Closures AG", "quality_agreement")
    assert row.missing == ("joint_drills",)
    assert set(row.included) == {"maturity_reviews", "reciprocal_capa"}


def test_a_signed_quality_agreement_becomes_an_evidence_item(session: Session, site: Site) -> None:
    create_tiny_framework(session)
    document = create_vendor_document(session, site, expires_on=date(2029, 1, 4))
    rfp = create_vendor_document(session, site, document_type="rfp", clauses=["response_times"])
    item = session.get(EvidenceItem, document.evidence_item_id)
    assert item is not None
    assert rfp.evidence_item_id is None
    assert (item.kind, item.site_id, item.link) == ("quality_agreement", site.id, document.link)
    assert item.title == "Quality agreement with Halden Closures AG: " + document.title
    assert (item.effective_on, item.review_by) == (date(2026, 1, 5), date(2029, 1, 4))
    assert "maturity_reviews" in item.description
    assert VendorDocumentOut.of(document).evidence_ref == item.ref
    assert VendorDocumentOut.of(rfp).evidence_ref is None


def test_bad_vendor_documents_are_refused_with_every_problem(session: Session, site: Site) -> None:
    with pytest.raises(InvalidProgramInput) as raised:
        create_vendor_document(
            session,
            site,
            document_type="letter",
            link="eqms/QA-1",
            expires_on=date(2025, 1, 1),
            clauses=["made_up"],
        )
    assert set(raised.value.problems) == {"document_type", "link", "expires_on", "clauses"}
    assert clause_coverage(session, site=site) == []
    assert session.scalars(select(EvidenceItem)).all() == []


def test_a_missing_clause_becomes_a_draft_plan_action(
    session: Session, site: Site, tmp_path: Path
) -> None:
    create_vendor_document(session, site)
    with pytest.raises(Conflict, match="no draft 90-day plan"):
        plan_missing_clause(
            session,
            site=site,
            vendor="Halden Closures AG",
            document_type="quality_agreement",
            clause="joint_drills",
        )
    alice = create_alice(session)
    assessment = create_assessment_of(session, site, alice)
    rate_sub_elements(session, assessment, alice, {"drills_recovery": 2})
    plan = generate_plan(
        session,
        assessment=assessment,
        owner="Site Director",
        start_on=date(2026, 2, 2),
        today=date(2026, 2, 1),
        store=EventStore(tmp_path / "events"),
    )
    action = plan_missing_clause(
        session,
        site=site,
        vendor="Halden Closures AG",
        document_type="quality_agreement",
        clause="joint_drills",
    )
    assert action.plan_id == plan.id
    assert action.source == PLAN_SOURCE
    assert action.title == (
        "Add the 'Joint drills' clause to the Supplier quality agreement with Halden Closures AG"
    )
    assert action.owner == "Supplier Quality Manager"
    assert action.sub_element == "drills_recovery"
    assert action.due_on == date(2026, 4, 2)
    with pytest.raises(Conflict, match="already has an action"):
        plan_missing_clause(
            session,
            site=site,
            vendor="Halden Closures AG",
            document_type="quality_agreement",
            clause="joint_drills",
        )
    with pytest.raises(Conflict, match="already carries clause reciprocal_capa"):
        plan_missing_clause(
            session,
            site=site,
            vendor="Halden Closures AG",
            document_type="quality_agreement",
            clause="reciprocal_capa",
        )
