"""The demo's thread from event to decision at SITE-A, two broken threads, and vendor documents
with one quality agreement that lacks the joint-drill clause.

Why hand-written records: the generated extracts link records at realistic rates, but a demo
needs one thread an assessor can follow end to end, named in the decision log (DEC-0001 links
DEV-2026-117 and EM-2026-0611), and broken threads whose gap is plain to see.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from qmm.models import Site
from qmm.program.clauses import add_document, list_documents

#: One CSV per record type, SITE-A only: the whole thread, then the two broken ones.
THREAD_EXTRACTS: Final[dict[str, str]] = {
    "em_sample": (
        "sample_id,site,room,grade,method,sampled_at,result_at,response_at,cfu,alert_limit,"
        "action_limit,deviation_id,owner\n"
        "EM-2026-0611,SITE-A,A-FILL-02,A,active_air,2026-06-11T09:40:00Z,"
        "2026-06-13T08:00:00Z,2026-06-13T11:30:00Z,3,0,1,DEV-2026-117,Microbiology Lead\n"
        "EM-2026-0702,SITE-A,B-FILL-01,B,settle_plate,2026-07-02T14:00:00Z,"
        "2026-07-05T08:00:00Z,2026-07-06T09:00:00Z,9,3,5,,Microbiology Lead\n"
    ),
    "deviation": (
        "deviation_id,site,opened_on,due_on,closed_on,severity,root_cause_category,"
        "process_area,capa_id,owner\n"
        "DEV-2026-117,SITE-A,2026-06-13,2026-07-13,2026-07-09,major,equipment,aseptic filling,"
        "CAPA-2026-045,QA Investigations Lead\n"
    ),
    "capa": (
        "capa_id,site,opened_on,due_on,closed_on,root_cause_category,source_type,source_id,"
        "severity,voe_due_on,voe_done_on,voe_result,owner\n"
        "CAPA-2026-045,SITE-A,2026-06-20,2026-08-31,2026-08-14,equipment,deviation,"
        "DEV-2026-117,major,2026-10-14,2026-10-10,effective,Engineering Manager\n"
        "CAPA-2026-051,SITE-A,2026-07-01,2026-08-15,2026-08-10,procedure,audit,AUD-26-07,"
        "minor,,,,QA Compliance Lead\n"
    ),
    "change_control": (
        "change_id,site,opened_on,closed_on,risk_tier,target_days,risk_assessment_done,"
        "capa_id,owner\n"
        "CC-2026-088,SITE-A,2026-07-01,2026-08-05,medium,60,true,CAPA-2026-045,"
        "Engineering Manager\n"
    ),
}
#: Where the demo's hand-written thread extracts go, beside the generated ones.
THREAD_FOLDER: Final = "threads"


def write_thread_extracts(folder: Path) -> list[Path]:
    """Write the demo thread's extracts (one CSV per record type) and return their paths."""
    out = folder / THREAD_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in THREAD_EXTRACTS.items():
        path = out / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def add_vendor_documents(session: Session, site: Site) -> None:
    """SITE-A's vendor documents: a URS and contract in full, one agreement without joint drills."""
    if list_documents(session, site=site):
        return
    add_document(
        session,
        site=site,
        document_type="quality_agreement",
        vendor="Brightseal Elastomers Inc.",
        title="Supplier quality agreement, stoppers, revision 4",
        owner="Bob Okafor, Supply Quality Lead",
        effective_on=date(2025, 3, 1),
        expires_on=date(2028, 2, 29),
        link="https://eqms.example.invalid/agreements/SQA-BRIGHTSEAL-4",
        clauses=["maturity_reviews", "reciprocal_capa"],
    )
    add_document(
        session,
        site=site,
        document_type="quality_agreement",
        vendor="Aldon Glass Tubing GmbH",
        title="Supplier quality agreement, glass tubing, revision 2",
        owner="Bob Okafor, Supply Quality Lead",
        effective_on=date(2026, 2, 1),
        link="https://eqms.example.invalid/agreements/SQA-ALDON-2",
        clauses=["maturity_reviews", "joint_drills", "reciprocal_capa"],
    )
    add_document(
        session,
        site=site,
        document_type="urs",
        vendor="Steriline Isolators",
        title="URS, filling line 3 isolator",
        owner="Carol Nguyen, QA Systems",
        effective_on=date(2026, 4, 15),
        link="https://eqms.example.invalid/urs/URS-FL3-ISO",
        clauses=["qmm_outcome_data"],
    )
