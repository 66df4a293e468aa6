"""One search over the records people look for, scoped like the pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import qmm.migrations
from conftest import is_postgres
from factories import (
    create_alice,
    create_assessment_of,
    create_decision,
    create_evidence,
    create_scenario,
    create_site_a,
    create_site_b,
    create_tiny_framework,
    create_vendor_document,
)
from qmm.assessment.service import get_question, record_rating
from qmm.auth.scope import Operator, UserReader
from qmm.auth.service import create_user, grant_role
from qmm.evidence.service import retire_evidence, update_evidence
from qmm.search.index import SEARCHED, pg_vector_sql, reindex
from qmm.search.query import MAX_QUERY_CHARS, InvalidSearch
from qmm.search.service import KINDS, search


@pytest.fixture
def sites(session: Session):
    return create_site_a(session), create_site_b(session)


def _refs(results, kind: str) -> list[str]:
    for k in results.kinds:
        if k.kind == kind:
            return [h.ref for h in k.hits]
    return []


def test_finds_evidence_by_a_word_in_its_description(session, sites) -> None:
    site_a, _ = sites
    item = create_evidence(
        session, site_a, title="Line clearance SOP", description="Covers the lyophiliser."
    )
    create_evidence(session, site_a, title="Training matrix", description="Who is trained.")
    found = search(session, reader=Operator(), sites=sites, query="lyophiliser")
    assert _refs(found, "evidence") == [item.ref]
    hit = found.kinds[0].hits[0]
    assert hit.path == f"/sites/SITE-A/evidence/{item.ref}"
    assert "lyophiliser" in hit.excerpt


def test_words_are_prefixes_and_stems_and_all_must_match(session, sites) -> None:
    site_a, _ = sites
    create_evidence(session, site_a, title="Deviation trending report", kind="trend_report")
    create_evidence(session, site_a, title="Deviation management SOP")
    assert (
        len(_refs(search(session, reader=Operator(), sites=sites, query="devia"), "evidence")) == 2
    )
    both = search(session, reader=Operator(), sites=sites, query="deviation trends")
    assert len(_refs(both, "evidence")) == 1


def test_the_index_follows_every_write(session, sites) -> None:
    site_a, _ = sites
    item = create_evidence(session, site_a, title="Cleaning validation master plan")
    update_evidence(session, item=item, title="Sterilisation validation master plan")
    session.flush()
    assert (
        _refs(search(session, reader=Operator(), sites=sites, query="cleaning"), "evidence") == []
    )
    assert _refs(search(session, reader=Operator(), sites=sites, query="sterilisation"), "evidence")
    retire_evidence(session, item=item, reason="replaced")
    hits = search(session, reader=Operator(), sites=sites, query="sterilisation").kinds[0].hits
    assert hits[0].note == "retired"


def test_only_sites_the_reader_may_read(session, sites) -> None:
    site_a, site_b = sites
    create_evidence(session, site_a, title="Autoclave qualification")
    create_evidence(session, site_b, title="Autoclave requalification")
    alice = create_alice(session)
    grant_role(session, user=alice, role="contributor", site=site_a)
    found = search(session, reader=UserReader(alice), sites=sites, query="autoclave")
    assert found.sites == ("SITE-A",)
    assert [h.site for h in found.kinds[0].hits] == ["SITE-A"]


def test_an_assessor_sees_only_the_rationales_of_their_assessment(session, sites) -> None:
    site_a, _ = sites
    framework = create_tiny_framework(session)
    lead = create_user(session, username="lead", full_name="Lead")
    rater = create_user(session, username="rater", full_name="Rater")
    grant_role(session, user=lead, role="site_quality_lead", site=site_a)
    grant_role(session, user=rater, role="contributor", site=site_a)
    first = create_assessment_of(session, site_a, lead, rater, framework=framework, title="One")
    second = create_assessment_of(session, site_a, lead, rater, framework=framework, title="Two")
    for assessment in (first, second):
        record_rating(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code="m1.q1"),
            assessor=rater,
            score=3,
            rationale=f"Calibrated pipettes seen in {assessment.title}",
        )
    outsider = create_user(session, username="outsider", full_name="Outside Assessor")
    grant_role(
        session,
        user=outsider,
        role="assessor",
        site=site_a,
        expires_at=datetime.now(UTC) + timedelta(days=30),
        assessments=[second],
    )
    seen = search(session, reader=UserReader(outsider), sites=sites, query="pipettes")
    assert _refs(seen, "rating") == [f"assessment {second.id}, m1.q1"]
    everything = search(session, reader=Operator(), sites=sites, query="pipettes")
    assert len(_refs(everything, "rating")) == 2
    question = search(session, reader=UserReader(outsider), sites=sites, query="question m1")
    assert all(h.path.startswith(f"/assessments/{second.id}#") for h in question.kinds[0].hits)


def test_decisions_scenarios_vendor_documents_and_sites(session, sites) -> None:
    site_a, _ = sites
    decision = create_decision(session, site_a)
    create_scenario(session, site_a)
    create_vendor_document(session, site_a)
    assert _refs(
        search(session, reader=Operator(), sites=sites, query="DEV-2026-041"), "decision"
    ) == [decision.ref]
    assert _refs(search(session, reader=Operator(), sites=sites, query="Halden"), "vendor_document")
    assert _refs(search(session, reader=Operator(), sites=sites, query="Riverside"), "site") == [
        "SITE-A"
    ]


def test_paging_one_kind(session, sites) -> None:
    site_a, _ = sites
    for n in range(7):
        create_evidence(session, site_a, title=f"Batch record review {n}")
    first = search(session, reader=Operator(), sites=sites, query="batch", kinds=["evidence"])
    assert first.kinds[0].total == 7
    assert len(first.kinds[0].hits) == 5
    rest = search(
        session, reader=Operator(), sites=sites, query="batch", kinds=["evidence"], offset=5
    )
    assert len(rest.kinds[0].hits) == 2
    assert not {h.ref for h in rest.kinds[0].hits} & {h.ref for h in first.kinds[0].hits}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type a word"),
        ("   ", "Type a word"),
        ("x" * (MAX_QUERY_CHARS + 1), "at most 200 characters"),
        ('"*"', "no letter or digit"),
        ("* ^ : ( ) -", "no letter or digit"),
        (" ".join(f"w{n}" for n in range(13)), "at most 12 words"),
    ],
)
def test_a_search_that_cannot_run_says_why(session, sites, query, message) -> None:
    with pytest.raises(InvalidSearch, match=message):
        search(session, reader=Operator(), sites=sites, query=query)


@pytest.mark.parametrize(
    "query",
    [
        'deviation"',
        '"deviation',
        "deviation*",
        "deviation NEAR sop",
        "NEAR(deviation sop)",
        "deviation AND OR NOT",
        "title:deviation",
        "deviation & | ! <-> :*",
        "-deviation +sop",
        "the and of",
        "'; DROP TABLE evidence_items; --",
        "déviation",
        "{deviation}",
        "dev\x00iation",
    ],
)
def test_query_syntax_is_read_as_plain_words(session, sites, query) -> None:
    site_a, _ = sites
    create_evidence(session, site_a, title="Deviation management SOP")
    found = search(session, reader=Operator(), sites=sites, query=query)
    assert found.query == query.strip()


def test_a_quoted_phrase_matches_words_in_order(session, sites) -> None:
    site_a, _ = sites
    create_evidence(session, site_a, title="Deviation management SOP")
    create_evidence(session, site_a, title="Management of a deviation")
    assert (
        len(
            _refs(
                search(session, reader=Operator(), sites=sites, query='"deviation management"'),
                "evidence",
            )
        )
        == 1
    )


def test_an_unknown_kind_is_refused(session, sites) -> None:
    with pytest.raises(InvalidSearch, match="no kind 'gossip'"):
        search(session, reader=Operator(), sites=sites, query="sop", kinds=["gossip"])


def test_reindex_rebuilds_from_the_tables(session, sites) -> None:
    site_a, _ = sites
    create_evidence(session, site_a, title="Environmental monitoring trend")
    counts = reindex(session)
    assert counts["evidence_items"] >= 1
    assert _refs(search(session, reader=Operator(), sites=sites, query="environmental"), "evidence")


def test_the_migration_indexed_the_tables_and_columns_the_service_searches() -> None:
    path = Path(qmm.migrations.__file__).parent / "versions" / "0024_full_text_search.py"
    spec = importlib.util.spec_from_file_location("migration_0024", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.SEARCHED == SEARCHED
    assert {k.table for k in KINDS} == set(SEARCHED)


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL's planner")
def test_postgres_answers_from_the_gin_index(session) -> None:
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = session.scalars(
        text(
            f"EXPLAIN SELECT id FROM evidence_items WHERE {pg_vector_sql('evidence_items')} "
            "@@ to_tsquery('english'::regconfig, 'sop:*')"
        )
    ).all()
    assert any("ix_search_evidence_items" in line for line in plan), plan


@pytest.mark.skipif(is_postgres(), reason="SQLite's FTS5 tables")
def test_sqlite_index_tables_hold_the_searched_columns(session) -> None:
    for table_name, columns in SEARCHED.items():
        found = session.execute(text(f"PRAGMA table_info(search_fts_{table_name})")).all()
        assert tuple(row[1] for row in found) == columns


@pytest.mark.skipif(is_postgres(), reason="SQLite's triggers")
def test_every_searched_table_keeps_its_triggers_after_every_migration(session) -> None:
    """A later migration that rebuilds a searched table (SQLite's batch "move and copy") drops
    its triggers, and the index silently stops following it; such a migration must recreate
    them (the statements are in search.index) or run after this one."""
    triggers = set(
        session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
    )
    missing = [
        f"search_fts_{table_name}_{suffix}"
        for table_name in SEARCHED
        for suffix in ("ai", "ad", "au")
        if f"search_fts_{table_name}_{suffix}" not in triggers
    ]
    assert missing == []
