"""Small named builders for test data: sites, people, frameworks, assessments and evidence."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from qmm.assessment.service import create_assessment
from qmm.assessment_week.service import add_person, plan_fda_assessment
from qmm.auth.service import create_user
from qmm.demo.workspace import minimal_pdf
from qmm.evidence.service import add_evidence
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.framework.schema import FrameworkDocument
from qmm.framework.service import create_draft, get_framework, publish
from qmm.models import (
    Assessment,
    ContinuityScenario,
    Decision,
    EvidenceItem,
    FdaAssessment,
    Framework,
    InventoryTrigger,
    Site,
    SitePerson,
    SupplierAgreement,
    User,
    VendorDocument,
)
from qmm.program.clauses import add_document
from qmm.program.continuity import add_scenario, add_trigger
from qmm.program.decisions import add_decision
from qmm.program.suppliers import add_agreement
from qmm.sites.service import create_site


def create_site_a(session: Session) -> Site:
    return create_site(
        session,
        code="SITE-A",
        name="Riverside Sterile",
        fei="3001234567",
        site_type="fdf",
        headcount=640,
    )


def create_site_b(session: Session) -> Site:
    return create_site(session, code="SITE-B", name="Northfield Solids", site_type="fdf")


def create_alice(session: Session) -> User:
    return create_user(session, username="alice", full_name="Alice Moreau")


def create_bob(session: Session) -> User:
    return create_user(session, username="bob", full_name="Bob Okafor")


def create_carol(session: Session) -> User:
    return create_user(session, username="carol", full_name="Carol Nguyen")


def tiny_framework_data(code: str = "tiny", **rollup: Any) -> dict[str, Any]:
    """Five practice areas, two sub-elements each, two questions each: 20 questions in all.

    Codes follow the pattern <area initial><sub-element number>.q<n>, e.g. m1.q1, b2.q2.
    """
    anchors = {level: f"level {level} behaviour" for level in range(1, 6)}
    return {
        "schema_version": 1,
        "code": code,
        "name": "Tiny test framework",
        "description": "A small framework for tests; not FDA's.",
        "provenance": "ours",
        "level_names": {1: "Initial", 2: "Developing", 3: "Defined", 4: "Managed", 5: "Optimising"},
        "rollup": {"version": 1, **rollup},
        "sources": [{"id": "ours", "citation": "QMM Workbench tests", "provenance": "ours"}],
        "practice_areas": [
            {
                "code": pa_code,
                "name": pa_name,
                "description": f"{pa_name} for tests.",
                "provenance": "fda",
                "sources": ["ours"],
                "sub_elements": [
                    {
                        "code": f"{pa_code[0]}{n}",
                        "name": f"{pa_name} sub-element {n}",
                        "description": "For tests.",
                        "provenance": "ours",
                        "sources": ["ours"],
                        "evidence_kinds": ["sop"],
                        "kpis": ["capa_effectiveness"] if n == 1 else [],
                        "questions": [
                            {
                                "code": f"{pa_code[0]}{n}.q{q}",
                                "text": f"Question {q} of {pa_code[0]}{n}?",
                                "provenance": "ours",
                                "anchors": dict(anchors),
                            }
                            for q in (1, 2)
                        ],
                    }
                    for n in (1, 2)
                ],
            }
            for pa_code, pa_name in PRACTICE_AREAS.items()
        ],
    }


def create_tiny_framework(session: Session, code: str = "tiny", **rollup: Any) -> Framework:
    document = FrameworkDocument.model_validate(tiny_framework_data(code, **rollup))
    return publish(session, framework=create_draft(session, document=document))


def create_assessment_of(
    session: Session,
    site: Site,
    lead: User,
    *assessors: User,
    framework: Framework | None = None,
    title: str = "FY26 self-assessment",
) -> Assessment:
    return create_assessment(
        session,
        site=site,
        framework=framework or get_framework(session, ref="qmm-default"),
        kind="self",
        title=title,
        lead=lead,
        assessors=list(assessors),
    )


def tiny_pdf(text: str = "Deviation management SOP, revision 4") -> bytes:
    return minimal_pdf([text])


def create_evidence(
    session: Session,
    site: Site,
    *,
    title: str = "Deviation management SOP",
    kind: str = "sop",
    sub_elements: tuple[str, ...] = ("deviations_investigations",),
    **overrides: Any,
) -> EvidenceItem:
    """An evidence item with a link to its eQMS record, effective 1 March 2026."""
    fields: dict[str, Any] = {
        "owner": "QA Operations Manager",
        "effective_on": date(2026, 3, 1),
        "link": "https://eqms.example.invalid/documents/SOP-QA-031",
        "eqms_id": "SOP-QA-031",
        **overrides,
    }
    return add_evidence(
        session, site=site, title=title, kind=kind, sub_elements=sub_elements, **fields
    )


def create_decision(session: Session, site: Site, **overrides: Any) -> Decision:
    """A draft decision of the log: release held for a deviation's investigation."""
    fields: dict[str, Any] = {
        "title": "Hold lot 24-118 until the filling deviation is closed",
        "context": "Deviation DEV-2026-041 on filling line 2; the lot is due to ship Friday.",
        "options": ["Ship on Friday with the investigation open", "Hold until closure"],
        "decision": "Hold lot 24-118 until DEV-2026-041 is closed.",
        "quality_won": True,
        "trade_off": "Quality over the shipment date: one week late to the customer.",
        "rationale": "The root cause could affect sterility assurance of the lot.",
        "owner": "Site Quality Head",
        "decided_on": date(2026, 10, 5),
        "sub_elements": ["deviations_investigations"],
        "kpis": ["capa_on_time_closure"],
        "record_links": ["DEV-2026-041"],
        **overrides,
    }
    return add_decision(session, site=site, **fields)


def create_scenario(session: Session, site: Site, **overrides: Any) -> ContinuityScenario:
    """A continuity scenario: the only stopper supplier stops shipping (risk 3 x 4 = 12)."""
    fields: dict[str, Any] = {
        "title": "Stopper supplier outage",
        "what_fails": "The only qualified stopper supplier cannot ship for six weeks.",
        "likelihood": 3,
        "impact": 4,
        "products": ["Ceftriaxone 1 g vials"],
        "suppliers": ["Brightseal Elastomers Inc."],
        "backup_strategy": "Qualified backup supplier plus four weeks of safety stock.",
        "backup_suppliers": ["Westcoast Closures"],
        "recovery_steps": ["Declare the outage", "Release safety stock", "Call off the backup"],
        "recovery_target_hours": 72,
        "owner": "Supply Quality Lead",
        "reviewed_on": date(2026, 9, 1),
        **overrides,
    }
    return add_scenario(session, site=site, **fields)


def create_trigger(session: Session, site: Site, **overrides: Any) -> InventoryTrigger:
    """A minimum inventory trigger: 20,000 stoppers, no level recorded yet."""
    fields: dict[str, Any] = {
        "material": "20 mm bromobutyl stoppers",
        "unit": "pieces",
        "minimum_level": 20000,
        **overrides,
    }
    return add_trigger(session, site=site, **fields)


def create_agreement(session: Session, site: Site, **overrides: Any) -> SupplierAgreement:
    """A supplier quality agreement signed 1 January 2026: reviews every 6, drills every 12."""
    fields: dict[str, Any] = {
        "supplier": "Brightseal Elastomers Inc.",
        "signed_on": date(2026, 1, 1),
        "expires_on": date(2028, 12, 31),
        "response_hours": 24,
        "data_format": "CSV extract of lot CoA data, weekly",
        "participates_in_risk_reviews": True,
        "review_every_months": 6,
        "drill_every_months": 12,
        **overrides,
    }
    return add_agreement(session, site=site, **fields)


def rate_sub_elements(
    session: Session, assessment: Assessment, lead: User, scores: dict[str, float]
) -> None:
    """Record the lead's consensus `score` on every question of each named sub-element."""
    from sqlalchemy import select

    from qmm.assessment.service import record_consensus
    from qmm.models import Question, SubElement

    for code, score in scores.items():
        questions = session.scalars(
            select(Question)
            .join(SubElement, Question.sub_element_id == SubElement.id)
            .where(SubElement.framework_id == assessment.framework_id, SubElement.code == code)
        ).all()
        assert questions, f"no questions for {code}"
        for question in questions:
            record_consensus(
                session,
                assessment=assessment,
                question=question,
                lead=lead,
                score=score,
                rationale=f"{code} at {score}",
            )


def create_vendor_document(session: Session, site: Site, **overrides: Any) -> VendorDocument:
    """A supplier quality agreement carrying every default agreement clause but joint drills."""
    fields: dict[str, Any] = {
        "document_type": "quality_agreement",
        "vendor": "Halden Closures AG",
        "title": "Quality agreement, stoppers, revision 3",
        "owner": "Supplier Quality Manager",
        "effective_on": date(2026, 1, 5),
        "link": "https://eqms.example.invalid/documents/QA-HALDEN-3",
        "clauses": ["maturity_reviews", "reciprocal_capa"],
        **overrides,
    }
    return add_document(session, site=site, **fields)


def create_fda_assessment(session: Session, site: Site, **overrides: Any) -> FdaAssessment:
    """FDA's assessment of the site, Monday to Friday in the week of 2027-03-08, New York time."""
    fields: dict[str, Any] = {
        "title": "FDA QMM assessment 2027",
        "starts_on": date(2027, 3, 8),
        "ends_on": date(2027, 3, 12),
        "time_zone": "America/New_York",
        "owner": "Dana Whitfield",
    }
    fields.update(overrides)
    return plan_fda_assessment(session, site=site, **fields)


def create_person(
    session: Session, site: Site, name: str = "Priya Raman", **overrides: Any
) -> SitePerson:
    """One of the site's people who may attend a session (not a workbench user by default)."""
    fields: dict[str, Any] = {
        "job_title": "QC microbiology lead",
        "department": "Quality Control",
        "email": "priya.raman@example.com",
    }
    fields.update(overrides)
    return add_person(session, site=site, name=name, **fields)
