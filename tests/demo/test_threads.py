"""The demo's SITE-A: a whole thread from excursion to decision, two broken ones, and a
supplier agreement without the joint-drill clause."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from qmm.demo.threads import write_thread_extracts
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.program.clauses import clause_coverage
from qmm.sites.service import get_site
from qmm.threads.service import BrokenKind, broken_threads, build_thread


def test_site_a_shows_a_whole_thread_two_broken_ones_and_a_missing_clause(
    demo_session: Session, tmp_path: Path
) -> None:
    session = demo_session
    store = EventStore(tmp_path / "events")
    import_files(session, paths=write_thread_extracts(tmp_path / "extracts"), store=store)
    site = get_site(session, code="SITE-A")
    thread = build_thread(
        session, site=site, record_type="em_sample", record_id="EM-2026-0611", store=store
    )
    assert thread.complete, thread.broken
    kinds = [r.record_type for r in thread.records]
    assert {"em_sample", "deviation", "capa", "change_control", "decision"} <= set(kinds)
    capa = next(r for r in thread.records if r.record_type == "capa")
    assert any(k.kpi == "capa_effectiveness" and k.meets for k in capa.kpis)
    decision = next(r for r in thread.records if r.record_type == "decision")
    assert decision.record_id == "DEC-0001"
    broken = {(b.kind, b.record_id) for b in broken_threads(session, site=site, store=store)}
    assert (BrokenKind.no_deviation, "EM-2026-0702") in broken
    assert (BrokenKind.no_voe, "CAPA-2026-051") in broken
    missing = {(r.vendor, c) for r in clause_coverage(session, site=site) for c in r.missing}
    assert ("Brightseal Elastomers Inc.", "joint_drills") in missing
    assert not any(v == "Aldon Glass Tubing GmbH" for v, _ in missing)
