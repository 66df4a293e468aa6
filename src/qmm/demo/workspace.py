"""A realistic demo workspace: three sites, their teams and completed self-assessments."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment.service import (
    close_assessment,
    create_assessment,
    record_consensus,
    record_rating,
)
from qmm.audit.signatures import signatures_for
from qmm.auth.service import active_grants, create_user, grant_role
from qmm.auth.signing import sign
from qmm.demo.threads import add_vendor_documents
from qmm.evidence.service import add_evidence, retire_evidence
from qmm.framework.service import install_default
from qmm.models import Assessment, EvidenceItem, Framework, Site, User, utcnow
from qmm.sites.service import create_site


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    fei: str
    site_type: str
    headcount: int
    maturity: float
    team: tuple[str, str, str]


# SITE-A's FDA assessment starts on the Monday this many weeks after the demo's "today".
FDA_WEEK_WEEKS_AHEAD = 6

# A demo workspace only: every demo user signs in with this password, printed by `qmm demo`.
DEMO_PASSWORD = "qmm-demo-2026!"

DEMO_USERS: dict[str, str] = {
    "admin": "Quality Systems Administrator",
    "alice": "Alice Moreau",
    "bob": "Bob Okafor",
    "carol": "Carol Nguyen",
    "dmitri": "Dmitri Volkov",
    "erin": "Erin Walsh",
    "farah": "Farah Haddad",
    "xavier": "Xavier Lindqvist (external assessor)",
}

# (user, role, site code or None for every site, days the grant lasts or None)
DEMO_GRANTS: tuple[tuple[str, str, str | None, int | None], ...] = (
    ("admin", "administrator", None, None),
    ("alice", "site_quality_lead", "SITE-A", None),
    ("dmitri", "site_quality_lead", "SITE-B", None),
    ("farah", "site_quality_lead", "SITE-C", None),
    ("bob", "contributor", "SITE-A", None),
    ("bob", "contributor", "SITE-C", None),
    ("carol", "contributor", "SITE-A", None),
    ("erin", "contributor", "SITE-B", None),
    ("erin", "contributor", "SITE-C", None),
    ("alice", "contributor", "SITE-B", None),
    ("xavier", "assessor", "SITE-A", 30),
)

DEMO_SITES: tuple[DemoSite, ...] = (
    DemoSite(
        "SITE-A",
        "Riverside Sterile Injectables",
        "3001234567",
        "fdf",
        640,
        3.9,
        ("alice", "bob", "carol"),
    ),
    DemoSite(
        "SITE-B",
        "Northfield Oral Solids",
        "3007654321",
        "fdf",
        410,
        3.2,
        ("dmitri", "erin", "alice"),
    ),
    DemoSite(
        "SITE-C", "Lakeshore API Synthesis", "3005550123", "api", 220, 2.5, ("farah", "bob", "erin")
    ),
)

# The 2024 FDA cohort was weakest on these two sub-elements; the demo sites share that pattern.
WEAK_SUB_ELEMENTS = {"quality_risk_management": -0.7, "data_excellence": -0.8}
EVIDENCE_PREFIX = {
    "management_commitment": "POL-QA",
    "business_continuity": "BCP",
    "advanced_pqs": "SOP-QA",
    "technical_excellence": "SOP-TE",
    "employee_engagement": "HR-TRN",
}
DEMO_YEAR_TITLE = "FY2026 QMM readiness self-assessment"
BASELINE_TITLE = "FY2025 baseline mock assessment"


@dataclass(frozen=True)
class DemoEvidence:
    """One evidence item of the demo index; `min_maturity` decides which sites have it."""

    title: str
    kind: str
    owner: str
    eqms_path: str
    sub_elements: tuple[str, ...]
    effective_on: date
    review_months: int | None
    min_maturity: float
    description: str


EQMS_BASE = "https://eqms.example.invalid"

# Shared by the three demo sites; a weaker site has fewer of them, so its gaps show.
DEMO_EVIDENCE: tuple[DemoEvidence, ...] = (
    DemoEvidence(
        "Site quality policy, revision 7",
        "policy",
        "Head of Quality",
        "documents/POL-QA-001",
        ("quality_policy_objectives",),
        date(2025, 2, 1),
        24,
        0.0,
        "Signed by the site head; cascaded to departmental quality objectives.",
    ),
    DemoEvidence(
        "FY2026 quality objectives and cascade",
        "metric_snapshot",
        "Head of Quality",
        "documents/OBJ-2026-01",
        ("quality_policy_objectives", "management_review"),
        date(2026, 1, 15),
        12,
        2.4,
        "Objectives per department with owners, targets and the Q2 status.",
    ),
    DemoEvidence(
        "Quality management review minutes, Q2 2026",
        "steering_minutes",
        "Site Director",
        "meetings/QMR-2026-Q2",
        ("management_review", "resourcing_for_quality"),
        date(2026, 7, 10),
        None,
        0.0,
        "KPI review, resourcing decisions and actions with owners and due dates.",
    ),
    DemoEvidence(
        "Decision record: second QC analyst shift funded",
        "decision_record",
        "Site Director",
        "decisions/DR-2026-014",
        ("resourcing_for_quality", "quality_first_decisions"),
        date(2026, 3, 2),
        None,
        3.0,
        "Release backlog trend led to funding a second shift ahead of the budget cycle.",
    ),
    DemoEvidence(
        "SOP: escalation of quality issues to site leadership",
        "sop",
        "QA Operations Manager",
        "documents/SOP-QA-014",
        ("quality_first_decisions", "internal_communication"),
        date(2024, 6, 1),
        24,
        2.0,
        "Escalation within 24 hours; the leadership decision is recorded in the eQMS.",
    ),
    DemoEvidence(
        "Quality town hall plan and attendance, 2026",
        "other",
        "Head of Quality",
        "documents/COM-QA-002",
        ("internal_communication",),
        date(2026, 1, 10),
        12,
        0.0,
        "Quarterly town halls on quality performance, with attendance by shift.",
    ),
    DemoEvidence(
        "Supplier qualification and monitoring SOP",
        "sop",
        "Supplier Quality Lead",
        "documents/SOP-SQ-003",
        ("supplier_oversight",),
        date(2023, 11, 1),
        24,
        0.0,
        "Risk-based audit frequency, scorecards and supplier corrective action requests.",
    ),
    DemoEvidence(
        "Quality agreement with the primary API supplier",
        "quality_agreement",
        "Supplier Quality Lead",
        "agreements/QAG-0042",
        ("supplier_oversight", "continuity_planning"),
        date(2025, 5, 20),
        36,
        2.5,
        "Change notification, audit rights and supply continuity obligations.",
    ),
    DemoEvidence(
        "Business continuity plan: sterile filling line",
        "continuity_plan",
        "Operations Director",
        "documents/BCP-007",
        ("continuity_planning", "inventory_capacity"),
        date(2024, 9, 1),
        12,
        2.8,
        "Scenarios, backup suppliers and minimum inventory triggers for critical materials.",
    ),
    DemoEvidence(
        "Supply disruption drill report, March 2026",
        "drill_report",
        "Operations Director",
        "reports/DRL-2026-03",
        ("drills_recovery",),
        date(2026, 3, 28),
        None,
        3.0,
        "Tabletop drill of a sole-source excipient outage; three actions raised.",
    ),
    DemoEvidence(
        "Quality risk management SOP (ICH Q9(R1))",
        "sop",
        "QRM Lead",
        "documents/SOP-QA-021",
        ("quality_risk_management",),
        date(2025, 4, 1),
        24,
        3.1,
        "Risk assessment methods, formality levels and subjectivity controls.",
    ),
    DemoEvidence(
        "CAPA procedure",
        "sop",
        "CAPA Coordinator",
        "documents/SOP-QA-030",
        ("capa_effectiveness", "deviations_investigations"),
        date(2022, 3, 1),
        24,
        0.0,
        "CAPA lifecycle including effectiveness verification criteria.",
    ),
    DemoEvidence(
        "CAPA effectiveness and recurrence analytics, H1 2026",
        "capa_analytics",
        "CAPA Coordinator",
        "reports/CAPA-AN-2026H1",
        ("capa_effectiveness", "continual_improvement"),
        date(2026, 7, 5),
        6,
        2.5,
        "On-time closure, effectiveness checks and recurrence by root cause category.",
    ),
    DemoEvidence(
        "Change control SOP",
        "sop",
        "Change Control Owner",
        "documents/SOP-QA-040",
        ("change_management",),
        date(2024, 1, 15),
        24,
        0.0,
        "Risk tiers, target cycle times and post-implementation review.",
    ),
    DemoEvidence(
        "Annual product quality review trend report, 2025",
        "trend_report",
        "QA Product Steward",
        "reports/APQR-2025",
        ("process_performance_monitoring",),
        date(2026, 2, 27),
        12,
        2.2,
        "Process capability and stability trends for the five highest-volume products.",
    ),
    DemoEvidence(
        "Deviation trend report, Q2 2026",
        "trend_report",
        "QA Operations Manager",
        "reports/DEV-TR-2026Q2",
        ("deviations_investigations", "process_performance_monitoring"),
        date(2026, 7, 12),
        3,
        2.9,
        "Repeat deviations by root cause and process area, with control chart signals.",
    ),
    DemoEvidence(
        "Continual improvement portfolio review",
        "steering_minutes",
        "Operational Excellence Lead",
        "meetings/CI-2026-05",
        ("continual_improvement", "involvement_suggestions"),
        date(2026, 5, 19),
        None,
        3.4,
        "Improvement projects, benefits realised and stop/continue decisions.",
    ),
    DemoEvidence(
        "Internal audit programme report, 2025",
        "other",
        "Internal Audit Lead",
        "reports/IA-2025",
        ("continual_improvement",),
        date(2026, 1, 31),
        12,
        0.0,
        "Self-inspection results against plan, with findings trended by system.",
    ),
    DemoEvidence(
        "Data integrity governance SOP",
        "sop",
        "Data Governance Lead",
        "documents/SOP-DI-001",
        ("data_excellence",),
        date(2025, 8, 1),
        24,
        3.5,
        "ALCOA+ expectations, audit trail review and data criticality assessment.",
    ),
    DemoEvidence(
        "Knowledge management SOP: lessons learned",
        "sop",
        "Technical Services Manager",
        "documents/SOP-TS-005",
        ("knowledge_management",),
        date(2023, 5, 1),
        24,
        2.5,
        "How investigation and tech-transfer lessons reach procedures and training.",
    ),
    DemoEvidence(
        "Decision record: PAT rollout on the granulation line",
        "decision_record",
        "Engineering Director",
        "decisions/DR-2025-031",
        ("technological_advancement", "process_analytical_capability"),
        date(2025, 10, 6),
        None,
        3.6,
        "NIR endpoint monitoring approved after a risk-based business case.",
    ),
    DemoEvidence(
        "Analytical method lifecycle SOP",
        "sop",
        "QC Manager",
        "documents/SOP-QC-011",
        ("process_analytical_capability",),
        date(2024, 4, 1),
        24,
        2.0,
        "Method performance monitoring and triggers for re-validation.",
    ),
    DemoEvidence(
        "Contamination control strategy",
        "policy",
        "Microbiology Lead",
        "documents/CCS-001",
        ("contamination_control",),
        date(2025, 1, 20),
        12,
        2.4,
        "Site CCS per EU GMP Annex 1 with EM trending and review cadence.",
    ),
    DemoEvidence(
        "Environmental monitoring trend snapshot, Q2 2026",
        "metric_snapshot",
        "Microbiology Lead",
        "reports/EM-TR-2026Q2",
        ("contamination_control",),
        date(2026, 7, 8),
        3,
        3.2,
        "Excursion rate and recovery rate per grade; two rooms under review.",
    ),
    DemoEvidence(
        "Quality culture survey results, 2026",
        "metric_snapshot",
        "HR Business Partner",
        "reports/QCS-2026",
        ("quality_culture",),
        date(2026, 4, 30),
        12,
        3.3,
        "Speak-up and psychological-safety items by department, with year-on-year change.",
    ),
    DemoEvidence(
        "Gemba and stop-and-fix forum minutes, June 2026",
        "steering_minutes",
        "Production Manager",
        "meetings/SAF-2026-06",
        ("empowerment_problem_solving", "quality_culture"),
        date(2026, 6, 30),
        None,
        2.9,
        "Problems raised by operators, decisions taken on the floor and follow-up.",
    ),
    DemoEvidence(
        "GMP training compliance and effectiveness records",
        "training_record",
        "Training Coordinator",
        "training/TRN-2026-H1",
        ("training_competency", "knowledge_management"),
        date(2026, 7, 1),
        6,
        0.0,
        "Completion by role and effectiveness checks for the ten highest-risk courses.",
    ),
    DemoEvidence(
        "Suggestion scheme procedure and 2025 statistics",
        "other",
        "Operational Excellence Lead",
        "documents/SOP-OE-002",
        ("involvement_suggestions",),
        date(2024, 2, 1),
        24,
        2.5,
        "How suggestions are decided within 30 days; 2025 acceptance and cycle time.",
    ),
)
# Retired in the demo to show that retired items stay readable but leave the current index.
RETIRED_DEMO_EVIDENCE = {"CAPA procedure": "superseded by a new revision in the eQMS"}


def minimal_pdf(lines: Sequence[str]) -> bytes:
    """A small, valid one-page PDF with these lines of text (no PDF library needed)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = (
        "BT /F1 11 Tf 56 780 Td 14 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("latin-1")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("latin-1")
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode("latin-1")
    return bytes(out)


def _months_after(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


def _demo_files(spec: DemoSite, evidence: DemoEvidence) -> list[tuple[str, bytes]]:
    if evidence.kind == "policy" and evidence.title.startswith("Site quality policy"):
        text = [
            f"{spec.name} ({spec.code})",
            evidence.title,
            "We make medicines patients can trust, every batch, every time.",
            "Demo document generated by QMM Workbench; not a real record.",
        ]
        return [("quality-policy-rev7.pdf", minimal_pdf(text))]
    if evidence.title.startswith("Environmental monitoring trend"):
        rows = ["grade,samples,excursions,excursion_rate"]
        rows += ["A,1840,2,0.0011", "B,2210,9,0.0041", "C,1302,15,0.0115", "D,980,21,0.0214"]
        return [("em-trend-2026q2.csv", ("\n".join(rows) + "\n").encode("utf-8"))]
    return []


def _evidence(session: Session, spec: DemoSite, site: Site) -> None:
    """The site's demo evidence index, created once."""
    if session.scalar(select(EvidenceItem.id).where(EvidenceItem.site_id == site.id).limit(1)):
        return
    for evidence in DEMO_EVIDENCE:
        if spec.maturity < evidence.min_maturity:
            continue
        files = _demo_files(spec, evidence)
        item = add_evidence(
            session,
            site=site,
            title=evidence.title,
            kind=evidence.kind,
            owner=evidence.owner,
            effective_on=evidence.effective_on,
            review_by=(
                _months_after(evidence.effective_on, evidence.review_months)
                if evidence.review_months
                else None
            ),
            link=f"{EQMS_BASE}/{spec.code.lower()}/{evidence.eqms_path}",
            eqms_id=evidence.eqms_path.rsplit("/", 1)[-1],
            description=evidence.description,
            sub_elements=evidence.sub_elements,
            files=files,
        )
        if evidence.title in RETIRED_DEMO_EVIDENCE and spec.maturity >= 3.5:
            retire_evidence(session, item=item, reason=RETIRED_DEMO_EVIDENCE[evidence.title])


def _evidence_refs(session: Session, site: Site, on: date) -> dict[str, list[str]]:
    """Refs of the site's current items effective by a date, per sub-element code."""
    refs: dict[str, list[str]] = {}
    items = session.scalars(
        select(EvidenceItem)
        .where(
            EvidenceItem.site_id == site.id,
            EvidenceItem.retired_at.is_(None),
            EvidenceItem.effective_on <= on,
        )
        .order_by(EvidenceItem.number)
    )
    for item in items:
        for code in item.sub_element_codes:
            refs.setdefault(code, []).append(item.ref)
    return refs


def _users(session: Session) -> dict[str, User]:
    users = {u.username: u for u in session.scalars(select(User)).all()}
    for username, name in DEMO_USERS.items():
        if username not in users:
            users[username] = create_user(
                session,
                username=username,
                full_name=name,
                email=f"{username}@demo.qmm.example",
                password=DEMO_PASSWORD,
            )
    return users


def _site(session: Session, spec: DemoSite) -> Site:
    site = session.scalar(select(Site).where(Site.code == spec.code))
    if site is None:
        site = create_site(
            session,
            code=spec.code,
            name=spec.name,
            fei=spec.fei,
            site_type=spec.site_type,
            headcount=spec.headcount,
        )
    return site


def _rate_all(
    session: Session,
    *,
    assessment: Assessment,
    framework: Framework,
    team: Sequence[User],
    maturity: float,
    rng: random.Random,
    evidence: dict[str, list[str]],
) -> None:
    # A site's profile across areas is its own and stable; assessors add their bias and noise.
    profile = random.Random(assessment.site.code)
    bias = {u.username: rng.uniform(-0.2, 0.2) for u in team}
    lead = team[0]
    for pa in framework.practice_areas:
        pa_offset = profile.uniform(-0.35, 0.35)
        for se in pa.sub_elements:
            se_level = maturity + pa_offset + WEAK_SUB_ELEMENTS.get(se.code, 0.0)
            se_level += profile.uniform(-0.6, 0.6)
            for n, question in enumerate(se.questions):
                scores = []
                for user in team:
                    raw = se_level + bias[user.username] + rng.gauss(0, 0.3)
                    score = min(5, max(1, round(raw)))
                    scores.append(score)
                    anchor = question.anchors[str(score)]
                    record_rating(
                        session,
                        assessment=assessment,
                        question=question,
                        assessor=user,
                        score=score,
                        rationale=f"Observed level {score}: {anchor}",
                        # Cite the index where it has evidence, else the legacy document number
                        # (which `qmm evidence coverage` then reports as not in the index).
                        evidence_refs=evidence.get(se.code, [])[:2]
                        or [f"{EVIDENCE_PREFIX[pa.code]}-{100 + se.position * 10 + n}"],
                    )
                if max(scores) - min(scores) >= 2:
                    agreed = sorted(scores)[len(scores) // 2]
                    record_consensus(
                        session,
                        assessment=assessment,
                        question=question,
                        lead=lead,
                        score=float(agreed),
                        rationale=(
                            f"Calibration session: assessors rated {sorted(scores)}; agreed "
                            f"{agreed} after reviewing the evidence against the level "
                            f"{agreed} anchor."
                        ),
                    )


def _assessment(
    session: Session,
    *,
    site: Site,
    framework: Framework,
    team: Sequence[User],
    title: str,
    kind: str,
    started_on: date,
    maturity: float,
    seed: int,
) -> Assessment:
    existing = session.scalar(
        select(Assessment).where(Assessment.site_id == site.id, Assessment.title == title)
    )
    if existing is not None:
        return existing
    assessment = create_assessment(
        session,
        site=site,
        framework=framework,
        kind=kind,
        title=title,
        lead=team[0],
        assessors=team[1:],
        started_on=started_on,
    )
    _rate_all(
        session,
        assessment=assessment,
        framework=framework,
        team=team,
        maturity=maturity,
        rng=random.Random(seed),
        evidence=_evidence_refs(session, site, started_on),
    )
    close_assessment(session, assessment=assessment, by=team[0])
    return assessment


def _grants(session: Session, users: dict[str, User], sites: dict[str, Site]) -> None:
    for username, role, site_code, days in DEMO_GRANTS:
        user = users[username]
        site = sites[site_code] if site_code else None
        held = {(g.role, g.site_id) for g in active_grants(session, user=user)}
        if (role, site.id if site else None) in held:
            continue
        grant_role(
            session,
            user=user,
            role=role,
            site=site,
            expires_at=utcnow() + timedelta(days=days) if days else None,
        )


def _sign(session: Session, assessment: Assessment, lead: User) -> None:
    existing = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
    if not existing:
        sign(
            session,
            user=lead,
            password=DEMO_PASSWORD,
            meaning="approved",
            record_type="assessment",
            record_id=str(assessment.id),
        )


def _decision_log(session: Session, site: Site, lead: User) -> None:
    """SITE-A's decision log: a signed decision, one superseded by a signed successor, a draft."""
    from qmm.program.decisions import (
        add_decision,
        list_decisions,
        sign_decision,
        supersede_decision,
    )

    if list_decisions(session, site=site):
        return
    held = add_decision(
        session,
        site=site,
        title="Hold filling line 2 lots until the EM excursion is investigated",
        context="Grade A active-air excursion on filling line 2 during lot 26-311; two lots "
        "awaiting release and a customer shipment due in four days.",
        options=[
            "Release both lots on the batch record review alone",
            "Hold both lots until the investigation and the smoke study are complete",
        ],
        decision="Hold both lots; repeat the smoke study under dynamic conditions first.",
        quality_won=True,
        trade_off="Sterility assurance over the shipment date: the customer receives the "
        "lots nine days late.",
        rationale="The excursion's root cause was unknown and could affect every lot filled "
        "since the last intervention.",
        owner="Alice Moreau, Site Quality Head",
        decided_on=date(2026, 6, 18),
        sub_elements=["contamination_control", "deviations_investigations"],
        kpis=["em_response_hours"],
        record_links=["DEV-2026-117", "EM-2026-0611"],
    )
    sign_decision(session, decision=held, user=lead, password=DEMO_PASSWORD)
    backup = add_decision(
        session,
        site=site,
        title="Qualify a second stopper supplier before the Q4 campaign",
        context="The only stopper supplier had a 6-week outage risk flagged in the risk review.",
        options=[
            "Accept single sourcing and raise safety stock",
            "Qualify the backup supplier with three conformance lots",
        ],
        decision="Qualify the backup supplier; raise stopper safety stock until then.",
        quality_won=True,
        trade_off="Qualification cost and two weeks of QC capacity over short-term savings.",
        rationale="Continuity of supply with full qualification evidence.",
        owner="Bob Okafor, Supply Quality Lead",
        decided_on=date(2026, 7, 2),
        sub_elements=["supplier_oversight", "inventory_capacity"],
        kpis=["scar_on_time_closure"],
    )
    sign_decision(session, decision=backup, user=lead, password=DEMO_PASSWORD)
    revised = supersede_decision(
        session,
        decision=backup,
        changes={
            "decision": "Qualify the backup supplier with two conformance lots plus a "
            "reduced-testing plan agreed with the supplier; keep raised safety stock.",
            "rationale": "The supplier's data package covers the third lot's purpose; the "
            "quality agreement now includes joint drills.",
            "decided_on": date(2026, 8, 20),
        },
    )
    sign_decision(session, decision=revised, user=lead, password=DEMO_PASSWORD)
    add_decision(
        session,
        site=site,
        title="Defer the LIMS upgrade by one quarter",
        context="The LIMS upgrade clashes with the annual shutdown validation work.",
        options=["Upgrade in Q4 as planned", "Defer to Q1 and validate after the shutdown"],
        decision="Defer the upgrade to Q1.",
        quality_won=False,
        trade_off="Data-integrity improvements wait a quarter for validation capacity.",
        rationale="Validation staff cannot cover both without shortcuts.",
        owner="Carol Nguyen, QA Systems",
        decided_on=date(2026, 9, 30),
        sub_elements=["data_excellence"],
    )


def _continuity(session: Session, site: Site) -> None:
    """SITE-A's continuity: two scenarios, three triggers (one breached), a missed joint drill
    with lessons and actions, and two supplier agreements (one maturity review overdue)."""
    from qmm.program.continuity import (
        add_scenario,
        add_trigger,
        complete_drill_action,
        list_scenarios,
        plan_drill,
        record_drill_run,
        record_level,
    )
    from qmm.program.steering import ActionInput
    from qmm.program.suppliers import add_agreement

    if list_scenarios(session, site=site):
        return
    stoppers = add_scenario(
        session,
        site=site,
        title="Sole stopper supplier cannot ship for six weeks",
        what_fails="Brightseal's moulding plant stops after a fire or a recall; no 20 mm "
        "stoppers arrive for up to six weeks.",
        likelihood=3,
        impact=4,
        products=["Ceftriaxone 1 g vials", "Meropenem 500 mg vials"],
        suppliers=["Brightseal Elastomers Inc."],
        backup_strategy="Qualified backup supplier with a call-off agreement; four weeks of "
        "stopper safety stock on site.",
        backup_suppliers=["Halden Closures AG"],
        recovery_steps=[
            "Declare the supply interruption and convene the continuity team",
            "Quarantine-check and allocate the safety stock by product priority",
            "Call off the backup supplier's qualified stoppers",
            "Release the first backup lot with the reduced-testing plan",
            "Review the schedule with planning and tell affected customers",
        ],
        recovery_target_hours=72,
        owner="Bob Okafor, Supply Quality Lead",
        reviewed_on=date(2026, 9, 15),
    )
    add_scenario(
        session,
        site=site,
        title="WFI loop out of specification",
        what_fails="The water-for-injection loop fails endotoxin or TOC limits; compounding "
        "stops until the loop is sanitised and requalified.",
        likelihood=2,
        impact=5,
        products=["All sterile products"],
        suppliers=["Everpure WFI Systems"],
        backup_strategy="Hot sanitisation and a second still; bulk WFI bought in for "
        "cleaning while the loop is requalified.",
        backup_suppliers=["Northgate Pharma Waters"],
        recovery_steps=[
            "Stop compounding and quarantine affected batches",
            "Hot-sanitise the loop",
            "Sample every point of use for three days",
            "Release the loop on QA approval",
        ],
        recovery_target_hours=96,
        owner="Carol Nguyen, QA Systems",
        reviewed_on=date(2026, 6, 30),
    )
    stopper_trigger = add_trigger(
        session,
        site=site,
        material="20 mm bromobutyl stoppers",
        unit="pieces",
        minimum_level=120_000,
        scenario=stoppers,
        current_level=180_000,
        recorded_on=date(2026, 10, 1),
    )
    record_level(session, trigger=stopper_trigger, level=95_000, recorded_on=date(2026, 11, 10))
    add_trigger(
        session,
        site=site,
        material="10 mL type I glass vials",
        unit="pieces",
        minimum_level=150_000,
        current_level=240_000,
        recorded_on=date(2026, 11, 10),
    )
    add_trigger(
        session,
        site=site,
        material="0.2 um sterilising filters",
        unit="pieces",
        minimum_level=400,
        current_level=400,
        recorded_on=date(2026, 11, 10),
    )
    add_agreement(
        session,
        site=site,
        supplier="Brightseal Elastomers Inc.",
        signed_on=date(2025, 3, 1),
        expires_on=date(2028, 2, 29),
        response_hours=24,
        data_format="Lot CoA and in-process data as a weekly CSV extract; deviations within "
        "24 hours by e-mail to Supply Quality.",
        participates_in_risk_reviews=True,
        review_every_months=6,
        last_review_on=date(2026, 1, 15),
        drill_every_months=12,
    )
    add_agreement(
        session,
        site=site,
        supplier="Aldon Glass Tubing GmbH",
        signed_on=date(2026, 2, 1),
        expires_on=date(2029, 1, 31),
        response_hours=48,
        data_format="Dimensional and cosmetic inspection data per lot, XLSX template v3.",
        participates_in_risk_reviews=False,
        review_every_months=12,
        last_review_on=date(2026, 8, 20),
        drill_every_months=12,
        last_drill_on=date(2026, 5, 12),
    )
    drill = plan_drill(
        session,
        site=site,
        scenario=stoppers,
        planned_on=date(2026, 10, 8),
        supplier="Brightseal Elastomers Inc.",
    )
    record_drill_run(
        session,
        drill=drill,
        run_on=date(2026, 10, 14),
        achieved_hours=96,
        lessons="The backup supplier's call-off needed a purchase order the site could not "
        "raise out of hours, and the safety-stock allocation by product was not written down.",
        actions=[
            ActionInput(
                "Pre-authorise an emergency call-off with Halden Closures",
                "Supply Chain Lead",
                date(2026, 11, 15),
            ),
            ActionInput(
                "Write the safety-stock allocation by product priority into the plan",
                "Bob Okafor, Supply Quality Lead",
                date(2026, 12, 15),
            ),
        ],
    )
    complete_drill_action(session, action=drill.actions[0], done_on=date(2026, 11, 5))


def _program(session: Session, site: Site, lead: User) -> None:
    """SITE-A runs the program: objectives, a steering cadence, the forum and an approved plan."""
    from qmm.program.forum import list_forum_items, raise_roadblock, remove_roadblock
    from qmm.program.objectives import add_objective, list_objectives
    from qmm.program.plan import approve_plan, complete_action, generate_plan, list_plans
    from qmm.program.steering import ActionInput as SteeringActionInput
    from qmm.program.steering import hold_meeting, list_cadences, set_up_cadence

    if not list_objectives(session, site=site, include_retired=True):
        on_time = add_objective(
            session,
            site=site,
            title="Close CAPAs on time",
            owner="Alice Moreau, Site Quality Head",
            published_on=date(2026, 1, 12),
            kpi="capa_on_time_closure",
        )
        add_objective(
            session,
            site=site,
            title="Respond to EM excursions within 24 hours",
            owner="Alice Moreau, Site Quality Head",
            published_on=date(2026, 1, 12),
            kpi="em_response_hours",
        )
        add_objective(
            session,
            site=site,
            title="Every CAPA step has an owner and a date",
            owner="Filling line supervisors",
            published_on=date(2026, 2, 2),
            parent=on_time,
            role="supervisor",
            what_good_looks_like="Overdue CAPA steps are escalated at the daily tier meeting.",
        )
    if not list_cadences(session, site=site):
        cadence = set_up_cadence(
            session,
            site=site,
            name="QMM steering committee",
            chair="Alice Moreau, Site Quality Head",
            cadence_days=30,
            first_meeting_on=date(2026, 9, 21),
        )
        # Held once; the next meeting (21 October) was not held: the cadence shows overdue.
        hold_meeting(
            session,
            meeting=cadence.meetings[0],
            held_on=date(2026, 9, 22),
            attendees=["Alice Moreau", "Bob Okafor", "Carol Nguyen", "Site Director"],
            agenda=["Self-assessment results", "EM excursion on filling line 2", "Plan owners"],
            minutes="Reviewed the self-assessment's weakest sub-elements and confirmed the "
            "hold of the filling line 2 lots (DEC-0001). Agreed to draft the 90-day plan.",
            decision_refs=["DEC-0001"],
            actions=[
                SteeringActionInput(
                    "Draft the 90-day readiness plan", "Alice Moreau", date(2026, 10, 16)
                )
            ],
        )
    if not list_forum_items(session, site=site):
        removed = raise_roadblock(
            session,
            site=site,
            roadblock="Spare HEPA filters not stocked for filling line 2",
            raised_by="Line 2 operator",
            raised_on=date(2026, 9, 8),
            owner="Maintenance Manager",
        )
        remove_roadblock(
            session,
            item=removed,
            removed_on=date(2026, 9, 12),
            resolution="Two spare sets ordered; minimum stock added to the maintenance plan.",
        )
        raise_roadblock(
            session,
            site=site,
            roadblock="Packaging label printer drops lot numbers",
            raised_by="Packaging supervisor",
            raised_on=date(2026, 10, 27),
            owner="Engineering Lead",
        )
    if not list_plans(session, site=site):
        latest = session.scalar(
            select(Assessment).where(
                Assessment.site_id == site.id, Assessment.title == DEMO_YEAR_TITLE
            )
        )
        assert latest is not None
        plan = generate_plan(
            session,
            assessment=latest,
            owner="Alice Moreau, Site Quality Head",
            start_on=date(2026, 10, 19),
            today=date(2026, 10, 16),
        )
        approve_plan(session, plan=plan, user=lead, password=DEMO_PASSWORD)
        # Everything due by day 30 is done, except opening the evidence index: it is overdue.
        for action in plan.actions:
            if action.due_day <= 30 and not action.title.startswith("Open the QMM evidence"):
                complete_action(
                    session,
                    action=action,
                    done_on=action.due_on - timedelta(days=2),
                    note="Done; evidence filed in the index.",
                )


def _upcoming_fda_week(session: Session, site: Site, assessment: Assessment, today: date) -> None:
    """SITE-A's coming FDA assessment, six weeks after TODAY: examples, a half-finished
    questionnaire, a draft agenda with one double booking and a mock interview held."""
    from qmm.assessment_week.agenda import demo_agenda
    from qmm.assessment_week.feedback_demo import demo_mock_interview
    from qmm.assessment_week.questionnaire import demo_week_preparation
    from qmm.assessment_week.service import (
        choose_self_assessment,
        plan_fda_assessment,
        update_milestone,
    )

    monday = today + timedelta(days=FDA_WEEK_WEEKS_AHEAD * 7 - today.weekday())
    visit = plan_fda_assessment(
        session,
        site=site,
        title=f"FDA QMM assessment {monday:%B %Y}",
        starts_on=monday,
        ends_on=monday + timedelta(days=4),
        time_zone="America/New_York",
        owner="Alice Moreau",
    )
    for step in visit.milestones:
        if step.due_on <= today:  # FDA's orientation call is behind us
            update_milestone(session, fda_assessment=visit, kind=step.kind, done_on=step.due_on)
    choose_self_assessment(session, fda_assessment=visit, assessment=assessment)
    demo_week_preparation(
        session, fda_assessment=visit, author="carol", reviewer="bob", approver="alice"
    )
    demo_agenda(session, fda_assessment=visit)
    demo_mock_interview(session, fda_assessment=visit, held_on=today - timedelta(days=3))


def _past_fda_week(session: Session, site: Site, assessment: Assessment, today: date) -> None:
    """SITE-B's past FDA assessment with FDA's feedback: Advanced PQS was rated too high.

    The visit comes after the self-assessment it is compared with (two weeks after it began at
    the earliest) when its feedback, 45 days after, can be in by TODAY; else seven months ago."""
    from qmm.assessment_week.feedback_demo import demo_past_feedback

    # demo_past_feedback puts the visit on the Monday seven months (210 days) before its "today".
    earliest = assessment.started_on + timedelta(days=14)
    earliest += timedelta(days=-earliest.weekday() % 7)
    as_of = today
    if earliest + timedelta(days=3 + 45) <= today and earliest > today - timedelta(days=210):
        as_of = earliest + timedelta(days=210)
    demo_past_feedback(
        session, site=site, self_assessment=assessment, owner="Dmitri Volkov", today=as_of
    )


def _fda_weeks(
    session: Session, sites: dict[str, Site], current: dict[str, Assessment], today: date
) -> None:
    """The FDA assessment week, planned once per site: later runs (any day) add nothing."""
    from qmm.assessment_week.service import list_fda_assessments

    for code, build in (("SITE-A", _upcoming_fda_week), ("SITE-B", _past_fda_week)):
        if not list_fda_assessments(session, site=sites[code]):
            build(session, sites[code], current[code], today)


def load_demo(session: Session, *, seed: int = 2026, today: date | None = None) -> list[Assessment]:
    """Load the demo workspace; loading it again changes nothing.

    The FDA assessment week is dated from TODAY (the real date by default), so its timeline is
    live, while the records themselves end on 2026-10-31."""
    framework = install_default(session)
    users = _users(session)
    sites = {spec.code: _site(session, spec) for spec in DEMO_SITES}
    _grants(session, users, sites)
    loaded = []
    self_assessments: dict[str, Assessment] = {}
    for index, spec in enumerate(DEMO_SITES):
        site = sites[spec.code]
        team = [users[u] for u in spec.team]
        _evidence(session, spec, site)
        if index == 0:
            loaded.append(
                _assessment(
                    session,
                    site=site,
                    framework=framework,
                    team=team,
                    title=BASELINE_TITLE,
                    kind="mock",
                    started_on=date(2025, 9, 15),
                    maturity=spec.maturity - 0.45,
                    seed=seed + 100,
                )
            )
        current = _assessment(
            session,
            site=site,
            framework=framework,
            team=team,
            title=DEMO_YEAR_TITLE,
            kind="self",
            started_on=date(2026, 9, 14),
            maturity=spec.maturity,
            seed=seed + index,
        )
        _sign(session, current, team[0])
        loaded.append(current)
        self_assessments[spec.code] = current
        if index == 0:
            _decision_log(session, site, team[0])
            _continuity(session, site)
            _program(session, site, team[0])
            add_vendor_documents(session, site)
    _fda_weeks(session, sites, self_assessments, today or utcnow().date())
    return loaded
