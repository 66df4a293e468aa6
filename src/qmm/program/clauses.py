"""QMM written into URS, RFPs, contracts and supplier quality agreements: a clause library, the
vendor documents that carry its clauses, and which expected clauses each vendor's documents lack.

Why: the readiness plan asks sites to "bake QMM into project artifacts" so partners share the
reliability objectives QMM rewards; an assessor asks which agreements carry which expectation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.service import add_evidence, known_sub_element_codes
from qmm.models import (
    Clause,
    ClauseVersion,
    EvidenceItem,
    PlanAction,
    ReadinessPlan,
    Site,
    VendorDocument,
)
from qmm.program.common import SHORT, Problems, actor_label
from qmm.program.plan import DAYS, GOVERNANCE, list_plans

DOCUMENT_TYPES: Final = {
    "urs": "URS",
    "rfp": "RFP",
    "contract": "Contract",
    "quality_agreement": "Supplier quality agreement",
}
PLAN_SOURCE: Final = "missing_clause"
#: A missing clause becomes a plan action due by this day of the 90.
CLAUSE_ACTION_DAY: Final = 60
_PLAN: Final = "The readiness plan (seeds): Bake QMM into project artifacts"


@dataclass(frozen=True)
class DefaultClause:
    """A clause of the shipped library, written from the readiness plan's own list."""

    code: str
    title: str
    text: str
    purpose: str
    document_types: tuple[str, ...]
    practice_areas: tuple[str, ...]
    sub_elements: tuple[str, ...]
    source: str


DEFAULT_CLAUSES: Final[tuple[DefaultClause, ...]] = (
    DefaultClause(
        "qmm_outcome_data",
        "Data and practices that support QMM outcomes",
        "The vendor provides the data and follows the practices the site needs to show QMM "
        "outcomes (process performance, trends, deviations and their investigations), not "
        "only what cGMP requires at minimum.",
        "So equipment, systems and services arrive able to feed the site's maturity signals.",
        ("urs",),
        ("technical_excellence", "advanced_pqs"),
        ("data_excellence", "process_performance_monitoring"),
        f"{_PLAN} (URS); ICH Q10 section 3.2.1",
    ),
    DefaultClause(
        "response_times",
        "Response times",
        "The vendor acknowledges a quality event the site reports within 24 hours and gives a "
        "documented response within the time the agreement names.",
        "So a signal at the vendor reaches the site's investigation in time.",
        ("rfp", "contract"),
        ("business_continuity",),
        ("supplier_oversight",),
        f"{_PLAN} (RFPs and contracts)",
    ),
    DefaultClause(
        "data_formats",
        "Data formats",
        "The vendor delivers certificates, results and event records in the format the "
        "agreement names (for example CSV per lot), so they can be read without re-keying.",
        "So the vendor's data can be trended with the site's own.",
        ("rfp", "contract"),
        ("technical_excellence", "business_continuity"),
        ("data_excellence", "supplier_oversight"),
        f"{_PLAN} (RFPs and contracts)",
    ),
    DefaultClause(
        "risk_review_participation",
        "Participation in cross-functional risk reviews",
        "The vendor takes part, when asked, in the site's cross-functional risk reviews of the "
        "products, materials or services it supplies.",
        "So risks the vendor sees are weighed where the site decides.",
        ("rfp", "contract"),
        ("advanced_pqs",),
        ("quality_risk_management",),
        f"{_PLAN} (RFPs and contracts); ICH Q9(R1)",
    ),
    DefaultClause(
        "business_continuity",
        "Business continuity expectations",
        "The vendor keeps a business continuity plan for what it supplies, tells the site of a "
        "supply risk without delay and names its backup sources and recovery times.",
        "So a disruption at the vendor does not become a shortage at the site.",
        ("rfp", "contract"),
        ("business_continuity",),
        ("continuity_planning",),
        f"{_PLAN} (RFPs and contracts); FDA, Contract Manufacturing Arrangements for Drugs: "
        "Quality Agreements (2016)",
    ),
    DefaultClause(
        "maturity_reviews",
        "Periodic maturity reviews",
        "Site and supplier review the supplier's quality maturity together on the cycle the "
        "agreement names, with actions and owners recorded.",
        "So the partner's maturity is known and improves with the site's.",
        ("quality_agreement",),
        ("business_continuity",),
        ("supplier_oversight",),
        f"{_PLAN} (supplier quality agreements)",
    ),
    DefaultClause(
        "joint_drills",
        "Joint drills",
        "Site and supplier run a joint continuity drill on the cycle the agreement names and "
        "record the recovery time achieved and the lessons.",
        "So the recovery the agreement promises is proven, not assumed.",
        ("quality_agreement",),
        ("business_continuity",),
        ("drills_recovery",),
        f"{_PLAN} (supplier quality agreements)",
    ),
    DefaultClause(
        "reciprocal_capa",
        "Reciprocal CAPA behaviour",
        "Each party opens a CAPA for a problem the other reports that is in its control, shares "
        "the root cause and the effectiveness check, and closes on the agreed timelines.",
        "So a problem between partners is fixed once, at its cause.",
        ("quality_agreement",),
        ("advanced_pqs",),
        ("capa_effectiveness",),
        f"{_PLAN} (supplier quality agreements); ICH Q10 section 3.2.2",
    ),
)


@dataclass(frozen=True)
class ClauseView:
    """A clause as a site reads it: its own copy (with its version) or the default one."""

    code: str
    title: str
    text: str
    purpose: str
    document_types: tuple[str, ...]
    practice_areas: tuple[str, ...]
    sub_elements: tuple[str, ...]
    source: str
    version: int
    site_copy: bool
    history: tuple[ClauseVersion, ...] = ()


def _view_of_default(d: DefaultClause) -> ClauseView:
    return ClauseView(
        d.code,
        d.title,
        d.text,
        d.purpose,
        d.document_types,
        d.practice_areas,
        d.sub_elements,
        d.source,
        1,
        False,
    )


def _view_of(c: Clause) -> ClauseView:
    return ClauseView(
        c.code,
        c.title,
        c.text,
        c.purpose,
        tuple(c.document_types),
        tuple(c.practice_areas),
        tuple(c.sub_elements),
        c.source,
        c.version,
        True,
        tuple(c.versions),
    )


def _site_clauses(session: Session, site: Site) -> dict[str, Clause]:
    found = session.scalars(select(Clause).where(Clause.site_id == site.id)).all()
    return {c.code: c for c in found}


def list_clauses(session: Session, *, site: Site) -> list[ClauseView]:
    """The site's clause library: its own copies, then the defaults it has not copied."""
    own = _site_clauses(session, site)
    out = [_view_of(own[d.code]) if d.code in own else _view_of_default(d) for d in DEFAULT_CLAUSES]
    known = {d.code for d in DEFAULT_CLAUSES}
    out.extend(_view_of(c) for code, c in sorted(own.items()) if code not in known)
    return out


def get_clause(session: Session, *, site: Site, code: str) -> ClauseView:
    """One clause of the site's library by its code."""
    wanted = code.strip().lower()
    for clause in list_clauses(session, site=site):
        if clause.code == wanted:
            return clause
    raise NotFound(
        f"no clause {code!r} in the library of {site.code}; "
        f"`qmm clause list --site {site.code}` lists them"
    )


def copy_clauses(session: Session, *, site: Site) -> list[Clause]:
    """Copy the default clauses the site has not copied yet into its own library."""
    own = _site_clauses(session, site)
    made = []
    for d in DEFAULT_CLAUSES:
        if d.code in own:
            continue
        clause = Clause(
            site_id=site.id,
            code=d.code,
            title=d.title,
            text=d.text,
            purpose=d.purpose,
            document_types=list(d.document_types),
            practice_areas=list(d.practice_areas),
            sub_elements=list(d.sub_elements),
            source=d.source,
            version=1,
            created_by=actor_label(session),
        )
        session.add(clause)
        made.append(clause)
    session.flush()
    return made


def _document_types(p: Problems, field: str, value: Any) -> list[str]:
    wanted = p.texts(field, value, label="document type", limit=40, at_least=1)
    unknown = sorted({w for w in wanted if w not in DOCUMENT_TYPES})
    if unknown and field not in p:
        p[field] = f"document type {', '.join(unknown)} is not one of {', '.join(DOCUMENT_TYPES)}"
    return sorted(set(wanted), key=list(DOCUMENT_TYPES).index) if not unknown else wanted


def edit_clause(session: Session, *, site: Site, code: str, **changes: Any) -> ClauseView:
    """Change the site's wording of a clause (copying the default first); the old one is kept."""
    allowed = {"title", "text", "purpose", "document_types", "sub_elements", "source"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(
            f"{', '.join(unknown)} cannot be changed; editable: {', '.join(sorted(allowed))}"
        )
    current = get_clause(session, site=site, code=code)
    p = Problems()
    title = p.text("title", changes.get("title", current.title), label="title", limit=SHORT)
    text = p.text("text", changes.get("text", current.text), label="clause text")
    purpose = p.text("purpose", changes.get("purpose", current.purpose), label="purpose")
    source = p.text("source", changes.get("source", current.source), label="source")
    types = _document_types(
        p, "document_types", changes.get("document_types", list(current.document_types))
    )
    subs = p.sub_elements(
        session, site, "sub_elements", changes.get("sub_elements", list(current.sub_elements))
    )
    p.raise_any()
    if not current.site_copy:
        copy_clauses(session, site=site)
    clause = _site_clauses(session, site)[current.code]
    session.add(
        ClauseVersion(
            clause_id=clause.id,
            version=clause.version,
            title=clause.title,
            text=clause.text,
            purpose=clause.purpose,
            document_types=list(clause.document_types),
            sub_elements=list(clause.sub_elements),
            source=clause.source,
            replaced_by=actor_label(session),
        )
    )
    assert title is not None
    assert text is not None
    assert purpose is not None
    assert source is not None
    clause.title, clause.text, clause.purpose, clause.source = title, text, purpose, source
    clause.document_types, clause.sub_elements = types, subs
    clause.version += 1
    session.flush()
    session.refresh(clause, ["versions"])
    return _view_of(clause)


# --- vendor documents ------------------------------------------------------------------------


def add_document(
    session: Session,
    *,
    site: Site,
    document_type: str,
    vendor: str,
    title: str,
    owner: str,
    effective_on: date | str | None,
    link: str,
    clauses: Sequence[str] = (),
    expires_on: date | str | None = None,
) -> VendorDocument:
    """Record a URS, RFP, contract or quality agreement and the QMM clauses it carries."""
    p = Problems()
    kind = p.text("document_type", document_type, label="document type", limit=40)
    if kind is not None and kind not in DOCUMENT_TYPES:
        p["document_type"] = f"document type {kind!r} is not one of {', '.join(DOCUMENT_TYPES)}"
    clean_vendor = p.text("vendor", vendor, label="vendor or supplier", limit=SHORT)
    clean_title = p.text("title", title, label="title", limit=SHORT)
    clean_owner = p.text("owner", owner, label="owner", limit=SHORT)
    effective = p.day("effective_on", effective_on, label="effective date")
    expires = p.day("expires_on", expires_on, label="expiry date", required=False)
    clean_link = p.text("link", link, label="link to the definitive copy", limit=2000)
    if clean_link is not None and not clean_link.startswith(("http://", "https://")):
        p["link"] = f"link {clean_link!r} must be an http:// or https:// address of the document"
    if effective is not None and expires is not None and expires <= effective:
        p["expires_on"] = f"the expiry date {expires} is not after the effective date {effective}"
    codes = p.texts("clauses", clauses, label="clause", limit=80)
    known = {c.code for c in list_clauses(session, site=site)}
    unknown = sorted(set(codes) - known)
    if unknown and "clauses" not in p:
        p["clauses"] = (
            f"clause {', '.join(unknown)} is not in the library of {site.code}; "
            f"known: {', '.join(sorted(known))}"
        )
    p.raise_any()
    assert kind is not None
    assert clean_vendor is not None
    assert clean_title is not None
    assert clean_owner is not None
    assert effective is not None
    assert clean_link is not None
    document = VendorDocument(
        site_id=site.id,
        document_type=kind,
        vendor=clean_vendor,
        title=clean_title,
        owner=clean_owner,
        effective_on=effective,
        expires_on=expires,
        link=clean_link,
        clauses=sorted(set(codes)),
        created_by=actor_label(session),
    )
    session.add(document)
    session.flush()
    if kind == "quality_agreement":
        document.evidence_item_id = _agreement_evidence(session, site, document).id
        session.flush()
    return document


def _agreement_evidence(session: Session, site: Site, document: VendorDocument) -> EvidenceItem:
    """A signed quality agreement in the evidence index, linking its definitive copy."""
    library = {c.code: c for c in list_clauses(session, site=site)}
    known = known_sub_element_codes(session, site=site)
    supported = {s for code in document.clauses for s in library[code].sub_elements}
    return add_evidence(
        session,
        site=site,
        title=f"Quality agreement with {document.vendor}: {document.title}"[:SHORT],
        kind="quality_agreement",
        owner=document.owner,
        effective_on=document.effective_on,
        review_by=document.expires_on,
        link=document.link,
        description=(
            f"Vendor document {document.id}. QMM clauses it carries: "
            f"{', '.join(document.clauses) or 'none'}."
        ),
        sub_elements=sorted(supported & known),
    )


def list_documents(session: Session, *, site: Site) -> list[VendorDocument]:
    """The site's vendor documents, by vendor, type and date."""
    return list(
        session.scalars(
            select(VendorDocument)
            .where(VendorDocument.site_id == site.id)
            .order_by(
                VendorDocument.vendor, VendorDocument.document_type, VendorDocument.effective_on
            )
        )
    )


@dataclass(frozen=True)
class CoverageRow:
    """One vendor and document type: which expected clauses its documents carry, which not."""

    vendor: str
    document_type: str
    documents: tuple[VendorDocument, ...]
    expected: tuple[str, ...]
    included: tuple[str, ...]
    missing: tuple[str, ...]


def clause_coverage(session: Session, *, site: Site) -> list[CoverageRow]:
    """Per vendor and document type, the library's clauses for that type the documents lack."""
    library = list_clauses(session, site=site)
    groups: dict[tuple[str, str], list[VendorDocument]] = {}
    for document in list_documents(session, site=site):
        groups.setdefault((document.vendor, document.document_type), []).append(document)
    rows = []
    for (vendor, kind), documents in groups.items():
        expected = tuple(c.code for c in library if kind in c.document_types)
        carried = {code for d in documents for code in d.clauses}
        rows.append(
            CoverageRow(
                vendor,
                kind,
                tuple(documents),
                expected,
                tuple(c for c in expected if c in carried),
                tuple(c for c in expected if c not in carried),
            )
        )
    return rows


def plan_missing_clause(
    session: Session,
    *,
    site: Site,
    vendor: str,
    document_type: str,
    clause: str,
    owner: str | None = None,
) -> PlanAction:
    """Make a missing clause an action of the site's current draft 90-day plan."""
    row = next(
        (
            r
            for r in clause_coverage(session, site=site)
            if r.vendor == vendor.strip() and r.document_type == document_type.strip()
        ),
        None,
    )
    if row is None:
        raise NotFound(f"{site.code} has no {document_type} with {vendor!r}")
    view = get_clause(session, site=site, code=clause)
    if view.code not in row.missing:
        raise Conflict(
            f"the {DOCUMENT_TYPES[row.document_type]} with {row.vendor} already carries "
            f"clause {view.code}, or it is not expected there"
        )
    drafts = [p for p in list_plans(session, site=site) if not p.is_approved]
    if not drafts:
        raise Conflict(
            f"{site.code} has no draft 90-day plan (an approved one is frozen); generate one "
            f"with `qmm plan generate --site {site.code}` and add the clause to it"
        )
    plan: ReadinessPlan = max(drafts, key=lambda p: p.number)
    kind = DOCUMENT_TYPES[row.document_type]
    title = f"Add the '{view.title}' clause to the {kind} with {row.vendor}"[:SHORT]
    detail = f"clause {view.code} missing from {row.document_type} of {row.vendor}"
    if any(a.source == PLAN_SOURCE and a.source_detail == detail for a in plan.actions):
        raise Conflict(f"{plan.ref} already has an action for {detail}")
    number = max((a.number for a in plan.actions), default=0) + 1
    due_day = min(CLAUSE_ACTION_DAY, DAYS)
    action = PlanAction(
        plan_id=plan.id,
        number=number,
        title=title,
        workstream=GOVERNANCE,
        owner=(owner or row.documents[-1].owner).strip()[:SHORT],
        due_day=due_day,
        due_on=plan.start_on + timedelta(days=due_day - 1),
        sub_element=view.sub_elements[0] if view.sub_elements else None,
        evidence=f"The {DOCUMENT_TYPES[row.document_type]} with {row.vendor}, amended to carry "
        f"the clause, filed as a vendor document",
        evidence_kind="quality_agreement" if row.document_type == "quality_agreement" else "other",
        source=PLAN_SOURCE,
        source_detail=detail,
        status="open",
    )
    session.add(action)
    session.flush()
    session.refresh(plan, ["actions"])
    return action
