"""A small thread world: one whole thread from an excursion to a decision, and broken ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from factories import create_decision
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import Site

EXTRACTS = {
    "em_sample": (
        "sample_id,site,room,grade,method,sampled_at,result_at,response_at,cfu,alert_limit,"
        "action_limit,deviation_id\n"
        "EM-1,SITE-A,Fill 2,B,active_air,2026-03-02T08:00:00Z,2026-03-04T09:00:00Z,"
        "2026-03-04T15:00:00Z,12,5,10,DEV-1\n"
        "EM-2,SITE-A,Fill 2,B,settle_plate,2026-03-10T08:00:00Z,,,15,5,10,\n"
        "EM-3,SITE-A,Fill 2,B,settle_plate,2026-03-11T08:00:00Z,,,2,5,10,\n"
        "EM-4,SITE-A,Fill 1,B,glove,2026-03-12T08:00:00Z,,2026-03-13T08:00:00Z,20,5,10,DEV-404\n"
        "EM-9,SITE-B,Fill 1,B,glove,2026-03-12T08:00:00Z,,,20,5,10,\n"
    ),
    "deviation": (
        "deviation_id,site,opened_on,closed_on,severity,root_cause_category,capa_id\n"
        "DEV-1,SITE-A,2026-03-05,2026-03-20,major,equipment,CAPA-1\n"
        "DEV-2,SITE-A,2026-02-01,2026-02-10,critical,procedure,\n"
    ),
    "capa": (
        "capa_id,site,opened_on,due_on,closed_on,root_cause_category,source_type,source_id,"
        "severity,voe_due_on,voe_done_on,voe_result,owner\n"
        "CAPA-1,SITE-A,2026-03-06,2026-04-30,2026-04-20,equipment,deviation,DEV-1,major,"
        "2026-07-20,2026-07-15,effective,QA Engineer\n"
        "CAPA-2,SITE-A,2026-01-05,2026-02-05,2026-02-01,training,audit,AUD-26-01,minor,,,,\n"
    ),
    "change_control": (
        "change_id,site,opened_on,closed_on,risk_tier,capa_id,owner\n"
        "CC-1,SITE-A,2026-04-25,2026-05-30,medium,CAPA-1,Engineering Lead\n"
    ),
}


def import_thread_world(session: Session, store: EventStore, folder: Path) -> None:
    """Import the extracts and log a decision that links the change control and the CAPA."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in EXTRACTS.items():
        path = folder / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    import_files(session, paths=paths, store=store)
    session.flush()


def log_thread_decision(session: Session, site: Site) -> str:
    """A decision naming the change control (bare id) and the CAPA (typed id)."""
    decision = create_decision(
        session,
        site,
        title="Replace the filling line 2 air handler filters quarterly",
        decided_on=date(2026, 6, 2),
        record_links=["CC-1", "capa:CAPA-1"],
    )
    return decision.ref
