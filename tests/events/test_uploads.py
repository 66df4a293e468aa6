"""A page names an import batch by id: only a batch holding the site's records is shown."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import create_site_a
from qmm.errors import InvalidFile
from qmm.events.store import EventStore
from qmm.events.uploads import batch_of_site, import_upload
from qmm.models import ImportBatch


def create_batch(session: Session, *sites: str) -> ImportBatch:
    batch = ImportBatch(
        record_type="capa",
        source_name="capa.csv",
        source_sha256="0" * 64,
        profile=None,
        rows=1,
        rows_new=1,
        rows_changed=0,
        rows_unchanged=0,
        sites=list(sites),
        store_path="capa/batch-1",
        imported_by="alice",
    )
    session.add(batch)
    session.flush()
    return batch


class TestBatchOfSite:
    def test_a_batch_of_the_site_is_found(self, session: Session) -> None:
        site = create_site_a(session)
        batch = create_batch(session, site.code, "SITE-B")
        assert batch_of_site(session, site=site, batch_id=str(batch.id)) is batch

    def test_a_batch_of_other_sites_only_is_not_shown(self, session: Session) -> None:
        site = create_site_a(session)
        batch = create_batch(session, "SITE-B")
        assert batch_of_site(session, site=site, batch_id=str(batch.id)) is None

    @pytest.mark.parametrize("batch_id", ["²", "٣", "99999999999999999999", "", "x1", "-1"])
    def test_an_id_that_is_not_a_database_integer_is_no_batch(
        self, session: Session, batch_id: str
    ) -> None:
        site = create_site_a(session)
        create_batch(session, site.code)
        assert batch_of_site(session, site=site, batch_id=batch_id) is None


def test_an_upload_names_rows_of_other_sites_with_every_other_problem_at_once(
    session: Session, tmp_path: Path
) -> None:
    site = create_site_a(session)
    store = EventStore(tmp_path / "events")
    header = ["capa_id", "site", "opened_on", "due_on", "root_cause_category", "closed_on"]
    rows = [
        ["CAPA-1", "SITE-A", "2025-01-06", "2025-02-06", "training", ""],
        ["CAPA-2", "SITE-A", "someday", "2025-02-06", "training", ""],
        ["CAPA-3", "SITE-B", "2025-01-06", "2025-02-06", "training", ""],
        ["CAPA-4", "SITE-A", "2025-01-06", "2025-02-06", "", ""],
    ]
    content = io.StringIO()
    csv.writer(content).writerows([header, *rows])
    with pytest.raises(InvalidFile) as caught:
        import_upload(
            session,
            store=store,
            site=site,
            file_name="capa.csv",
            content=io.BytesIO(content.getvalue().encode()),
            record_type="capa",
            profile=None,
        )
    assert [(p.row, p.column) for p in caught.value.problems] == [
        (3, "opened_on"),
        (4, "site"),
        (5, "root_cause_category"),
    ]
    assert "this page imports records of SITE-A only" in caught.value.problems[1].reason
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0
