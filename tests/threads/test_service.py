"""Threads: following the extracts' links and the decision log, and naming what is broken."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from qmm.errors import InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.models import Site
from qmm.threads.schemas import ThreadOut
from qmm.threads.service import (
    BrokenKind,
    broken_threads,
    build_thread,
    find_record,
    thread_completeness,
)
from threads.support import log_thread_decision


def test_an_excursion_thread_runs_to_the_decision(
    session: Session, site_a: Site, store: EventStore
) -> None:
    ref = log_thread_decision(session, site_a)
    thread = build_thread(
        session, site=site_a, record_type="em_sample", record_id="EM-1", store=store
    )
    order = [(r.record_type, r.record_id) for r in thread.records]
    assert order == [
        ("em_sample", "EM-1"),
        ("deviation", "DEV-1"),
        ("capa", "CAPA-1"),
        ("change_control", "CC-1"),
        ("decision", ref),
    ]
    assert thread.complete, thread.broken
    vias = {(link.from_id, link.to_id): link.via for link in thread.links}
    assert vias[("EM-1", "DEV-1")] == "deviation_id"
    assert vias[("DEV-1", "CAPA-1")] == "capa_id"
    assert vias[("CAPA-1", "CC-1")] == "change_control.capa_id"
    assert vias[("CC-1", ref)] == "record_links"
    assert vias[("CAPA-1", ref)] == "record_links"
    first = next(link for link in thread.links if link.from_id == "EM-1")
    # From the result (4 March 09:00) to the deviation opened on 5 March.
    assert first.took_hours == pytest.approx(15.0)
    sample = thread.records[0]
    assert sample.kpis[0].kpi == "em_response_hours"
    assert sample.kpis[0].value == pytest.approx(6.0)
    assert sample.kpis[0].meets is True
    capa = thread.records[2]
    assert capa.owner == "QA Engineer"
    assert {k.kpi: k.meets for k in capa.kpis} == {
        "capa_on_time_closure": True,
        "capa_voe_planned": True,
        "capa_effectiveness": True,
    }
    assert thread.records[4].owner == "Site Quality Head"


def test_the_same_thread_from_the_decision_and_from_the_middle(
    session: Session, site_a: Site, store: EventStore
) -> None:
    ref = log_thread_decision(session, site_a)
    from_decision = build_thread(
        session, site=site_a, record_type="decision", record_id=ref.lower(), store=store
    )
    from_capa = build_thread(
        session, site=site_a, record_type="capa", record_id="CAPA-1", store=store
    )
    nodes = {(r.record_type, r.record_id) for r in from_decision.records}
    assert nodes == {(r.record_type, r.record_id) for r in from_capa.records}
    assert ("em_sample", "EM-1") in nodes


def test_broken_threads_are_named(session: Session, site_a: Site, store: EventStore) -> None:
    no_deviation = build_thread(
        session, site=site_a, record_type="em_sample", record_id="EM-2", store=store
    )
    assert [b.kind for b in no_deviation.broken] == [BrokenKind.no_deviation]
    assert "15 > 10 cfu" in no_deviation.broken[0].message
    no_capa = build_thread(
        session, site=site_a, record_type="deviation", record_id="DEV-2", store=store
    )
    assert [b.kind for b in no_capa.broken] == [BrokenKind.no_capa]
    no_voe = build_thread(session, site=site_a, record_type="capa", record_id="CAPA-2", store=store)
    assert [b.kind for b in no_voe.broken] == [BrokenKind.no_voe]
    dangling = build_thread(
        session, site=site_a, record_type="em_sample", record_id="EM-4", store=store
    )
    assert [b.kind for b in dangling.broken] == [BrokenKind.missing]
    assert "DEV-404" in dangling.broken[0].message
    assert [r.found for r in dangling.records] == [True, False]


def test_the_site_list_of_broken_threads_is_oldest_first(
    session: Session, site_a: Site, store: EventStore
) -> None:
    log_thread_decision(session, site_a)
    create_dangling = broken_threads(session, site=site_a, store=store)
    found = [(b.kind, b.record_id) for b in create_dangling]
    assert found == [
        (BrokenKind.no_voe, "CAPA-2"),
        (BrokenKind.no_capa, "DEV-2"),
        (BrokenKind.no_deviation, "EM-2"),
        (BrokenKind.missing, "EM-4"),
    ]
    assert broken_threads(session, site=site_a, store=store, limit=1)[0].record_id == "CAPA-2"
    (a,) = thread_completeness(session, sites=[site_a], store=store)
    # Action excursions EM-1, EM-2, EM-4; closed serious DEV-1, DEV-2; closed CAPA-1, CAPA-2.
    assert (a.checked, a.broken) == (7, 3)


def test_a_decision_link_to_no_stored_record_is_broken(
    session: Session, site_a: Site, store: EventStore
) -> None:
    from factories import create_decision

    decision = create_decision(session, site_a, record_links=["DEV-2026-999"])
    thread = build_thread(
        session, site=site_a, record_type="decision", record_id=decision.ref, store=store
    )
    assert [b.kind for b in thread.broken] == [BrokenKind.missing]
    assert "DEV-2026-999" in thread.broken[0].message
    listed = broken_threads(session, site=site_a, store=store)
    assert any(b.record_id == decision.ref for b in listed)


def test_another_sites_record_has_no_thread_here(
    session: Session, site_a: Site, store: EventStore
) -> None:
    with pytest.raises(NotFound, match="no EM sample EM-9 at SITE-A"):
        build_thread(session, site=site_a, record_type="em_sample", record_id="EM-9", store=store)


def test_bad_record_types_and_ids_are_refused_clearly(
    session: Session, site_a: Site, store: EventStore
) -> None:
    with pytest.raises(InvalidInput, match="record type 'lot' has no thread; choose one of"):
        build_thread(session, site=site_a, record_type="lot", record_id="L-1", store=store)
    with pytest.raises(InvalidInput, match="a record id is required"):
        build_thread(session, site=site_a, record_type="capa", record_id="  ", store=store)
    with pytest.raises(NotFound, match="no decision DEC-0099"):
        build_thread(
            session, site=site_a, record_type="decision", record_id="DEC-0099", store=store
        )


def test_an_id_is_found_whatever_its_type(
    session: Session, site_a: Site, store: EventStore
) -> None:
    assert find_record(session, site=site_a, record_id="CC-1", store=store) == (
        "change_control",
        "CC-1",
    )
    with pytest.raises(NotFound, match="no record NOPE-1 at SITE-A"):
        find_record(session, site=site_a, record_id="NOPE-1", store=store)


def test_the_json_shape_carries_dates_paths_and_labels(
    session: Session, site_a: Site, store: EventStore
) -> None:
    thread = build_thread(
        session, site=site_a, record_type="deviation", record_id="DEV-1", store=store
    )
    shape = ThreadOut.of(thread).model_dump(mode="json")
    assert shape["complete"] is True
    first = shape["records"][0]
    assert first["path"] == "/sites/SITE-A/threads/em_sample/EM-1"
    assert first["starts"] == "2026-03-04T09:00:00Z"
    assert shape["links"][0]["took_hours"] == pytest.approx(15.0)
