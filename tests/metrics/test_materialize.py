"""Stored KPI values: equal to a fresh computation, refreshed only where an import reaches,
untouched by a failed import, and known to be stale when the store moved on without them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.support import EM_HEADER, write_csv
from factories import create_site_a
from metrics.support import arrow_tables, random_rows
from qmm.db import make_engine
from qmm.events import after_import as after_import_hooks
from qmm.events.importer import InvalidImport, import_files
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.engine import KPIValue, compute
from qmm.metrics.materialize import STORED_PERIODS, read_values, value_set, window_reach
from qmm.metrics.service import (
    extract_dates,
    kpi_values,
    kpi_values_freshness,
    open_tables,
    refresh_in_background,
    refresh_kpi_values,
    stored_kpi_values,
)
from qmm.models import ImportBatch, StoredKPIValue
from qmm.presentation.kpis import KPIRequest
from qmm.sites.service import get_site

EXTRACTED = date(2026, 1, 31)
#: The record types of the seeded random data, in an order the importer accepts.
TYPES = (
    "capa",
    "deviation",
    "change_control",
    "em_sample",
    "training",
    "supplier_car",
    "lot",
    "complaint",
    "oos",
    "suggestion",
    "distribution",
)


def _import_random(session: Session, store: EventStore, folder: Path) -> None:
    """The seeded random records of every type, one parquet file per type, as one import."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = arrow_tables({k: v for k, v in random_rows(n=600).items() if k in TYPES})
    paths = []
    for name in TYPES:
        path = folder / f"{name}.parquet"
        pq.write_table(tables[name], path)
        paths.append(path)
    import_files(session, paths=paths, store=store, extracted_on=EXTRACTED)


@pytest.fixture
def store(session: Session, tmp_path: Path) -> EventStore:
    """A store holding the seeded random records; the import stored every KPI value."""
    made = EventStore(tmp_path / "events")
    create_site_a(session)
    _import_random(session, made, tmp_path / "random")
    return made


def _fresh(session: Session, store: EventStore, period: str) -> list[KPIValue]:
    return compute(
        open_tables(session, store), period=period, extract_dates=extract_dates(session, store)
    )


def _stored_rows(session: Session) -> dict[tuple[str, str, str, str, str], tuple[Any, ...]]:
    return {
        (r.kpi, r.site, r.period_kind, r.period, r.group_key): (
            r.value,
            r.numerator,
            r.denominator,
            r.complete,
            r.as_of,
            r.batch_id,
            r.computed_at,
        )
        for r in session.scalars(select(StoredKPIValue))
    }


def _em_month(folder: Path, site: str, month: str) -> Path:
    """Ten EM samples of one site in one month (two excursions), none seen before."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        [
            f"NEW-{site}-{month}-{n}",
            site,
            "B-FILL-02",
            "B",
            "active_air",
            f"{month}-{10 + n:02d}T08:00:00Z",
            "12" if n < 2 else "0",
            "5",
            "10",
            f"{month}-{10 + n:02d}T20:00:00Z",
            "",
        ]
        for n in range(10)
    ]
    return write_csv(folder / "em_sample.csv", EM_HEADER, rows)


def test_stored_values_equal_a_fresh_computation(session: Session, store: EventStore) -> None:
    assert kpi_values_freshness(session, store=store) == "fresh"
    for period in STORED_PERIODS:
        fresh = _fresh(session, store, period)
        assert fresh, period
        assert read_values(session, kpis=None, sites=None, period=period) == fresh


def test_pages_read_the_stored_values(session: Session, store: EventStore) -> None:
    read = stored_kpi_values(session, store=store, kpis=["capa_on_time_closure"], sites=["SITE-A"])
    assert read.freshness == "fresh"
    request = KPIRequest(session, store)
    assert request.values(site="SITE-A", kpis=["capa_on_time_closure"], period="month") == (
        read.values
    )
    assert not request.refreshing
    # kpi_values answers from them too when the as-of date is the data's own
    assert kpi_values(session, store=store, kpis=["capa_on_time_closure"]) == read_values(
        session, kpis=["capa_on_time_closure"], sites=None, period="month"
    )


def test_an_import_of_one_month_at_one_site_recomputes_only_what_it_reaches(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    before = _stored_rows(session)
    path = _em_month(tmp_path / "june", "SITE-A", "2025-06")
    [batch] = import_files(session, paths=[path], store=store, extracted_on=EXTRACTED)
    after = _stored_rows(session)
    recomputed = {key for key, row in after.items() if row[5] == batch.id}
    em_kpis = {k for k in {key[0] for key in after} if "em_sample" in get_kpi(k).reads}
    reach = {"month": {"2025-06"}, "quarter": {"2025-Q2"}, "year": {"2025"}}
    assert recomputed, "the new month's values were not recomputed"
    for kpi, site, kind, period, _group in recomputed:
        assert kpi in em_kpis
        assert window_reach(kpi) == (0, 0)
        assert site == "SITE-A"
        assert period in reach[kind]
    # every other stored value is the very row stored before, not computed again
    for key, row in after.items():
        if key not in recomputed:
            assert before[key] == row
    assert {k for k in before if k not in after} <= {k for k in before if k[0] in em_kpis}
    assert kpi_values_freshness(session, store=store) == "fresh"
    for period in STORED_PERIODS:
        assert read_values(session, kpis=None, sites=None, period=period) == _fresh(
            session, store, period
        )


def test_an_import_reaching_back_through_a_window_recomputes_those_periods(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    """A deviation can make a CAPA closed up to the recurrence window before it recur."""
    folder = tmp_path / "deviation"
    folder.mkdir()
    header = ["deviation_id", "site", "opened_on", "severity", "root_cause_category"]
    header += ["process_area", "recurrence_key"]
    path = write_csv(
        folder / "deviation.csv",
        header,
        [["DEV-NEW-1", "SITE-B", "2025-09-15", "minor", "equipment", "filling", ""]],
    )
    [batch] = import_files(session, paths=[path], store=store, extracted_on=EXTRACTED)
    recomputed = {k for k, row in _stored_rows(session).items() if row[5] == batch.id}
    recurrence_months = {
        period
        for kpi, site, kind, period, _ in recomputed
        if kpi == "capa_recurrence_rate" and kind == "month"
    }
    window = window_reach("capa_recurrence_rate")[0]
    assert window >= 90
    assert min(recurrence_months, default="9999") <= "2025-04"
    assert all(site == "SITE-B" for _, site, *_ in recomputed)
    repeat = {
        p for k, _, kind, p, _ in recomputed if k == "deviation_repeat_rate" and kind == "month"
    }
    assert max(repeat) > "2025-09"  # the 365-day look-back reaches forward
    for period in STORED_PERIODS:
        assert read_values(session, kpis=None, sites=None, period=period) == _fresh(
            session, store, period
        )


def test_an_invalid_file_leaves_the_stored_values_untouched(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    before = _stored_rows(session)
    folder = tmp_path / "bad"
    folder.mkdir()
    bad = write_csv(
        folder / "em_sample.csv",
        EM_HEADER,
        [["S-X", "SITE-A", "B-FILL-02", "B", "active_air", "not a time", "1", "5", "10", "", ""]],
    )
    with pytest.raises(InvalidImport):
        import_files(session, paths=[bad], store=store, extracted_on=EXTRACTED)
    assert _stored_rows(session) == before


@pytest.fixture
def failing_hook() -> Iterator[None]:
    """A hook after the KPI refresh that fails, as a crash late in an import would."""

    def fail(*_args: Any) -> None:
        raise RuntimeError("the import failed after refreshing the KPI values")

    after_import_hooks.register_after_import("test-failure", fail)
    yield
    after_import_hooks._HOOKS.pop("test-failure")


def test_an_import_failing_after_the_refresh_leaves_the_stored_values_untouched(
    session: Session, store: EventStore, tmp_path: Path, failing_hook: None
) -> None:
    before = _stored_rows(session)
    batches_before = session.scalars(select(ImportBatch.id)).all()
    path = _em_month(tmp_path / "june", "SITE-A", "2025-06")
    savepoint = session.begin_nested()  # the import's transaction, as a command's boundary
    with pytest.raises(RuntimeError):
        import_files(session, paths=[path], store=store, extracted_on=EXTRACTED)
    savepoint.rollback()
    assert session.scalars(select(ImportBatch.id)).all() == batches_before
    assert _stored_rows(session) == before
    assert kpi_values_freshness(session, store=store) == "fresh"


def test_values_older_than_the_store_are_shown_as_refreshing(
    session: Session, store: EventStore
) -> None:
    shown = KPIRequest(session, store).values(
        site="SITE-A", kpis=["capa_on_time_closure"], period="month"
    )
    # a changed headcount changes the store's state: the stored values are now older
    get_site(session, code="SITE-A").headcount = 700
    session.flush()
    assert kpi_values_freshness(session, store=store) == "stale"
    request = KPIRequest(session, store)
    again = request.values(site="SITE-A", kpis=["capa_on_time_closure"], period="month")
    assert request.refreshing
    assert again == shown  # the older values, never recomputed in the request
    result = refresh_kpi_values(session, store=store)
    assert result.whole
    assert result.rows > 0
    assert kpi_values_freshness(session, store=store) == "fresh"
    assert not KPIRequest(session, store).refreshing


def test_a_store_without_stored_values_is_missing_and_refresh_fills_it(
    session: Session, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "events")
    assert kpi_values_freshness(session, store=store) == "missing"
    read = stored_kpi_values(session, store=store, kpis=["capa_on_time_closure"])
    assert read.refreshing
    assert read.values == []
    result = refresh_kpi_values(session, store=store)
    assert result.rows == 0
    assert result.batch_id is None
    assert kpi_values_freshness(session, store=store) == "fresh"


def test_an_unknown_period_is_refused(session: Session, store: EventStore) -> None:
    with pytest.raises(ValueError, match="unknown period 'week'"):
        stored_kpi_values(session, store=store, period="week")


def test_the_footprint_names_the_sites_and_days_of_new_and_changed_records(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = _em_month(tmp_path / "june", "SITE-C", "2025-06")
    [batch] = import_files(session, paths=[path], store=store, extracted_on=EXTRACTED)
    footprint = store.batch_footprint(session, batch)
    assert footprint.record_type == "em_sample"
    assert footprint.days == {"SITE-C": (date(2025, 6, 10), date(2025, 6, 19))}


def test_one_worker_refreshes_stale_values_beside_the_requests(
    cli_database: str, tmp_path: Path
) -> None:
    engine = make_engine(cli_database)
    store = EventStore(tmp_path / "events")
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            create_site_a(session)
            _import_random(session, store, tmp_path / "random")
            session.commit()
            get_site(session, code="SITE-A").headcount = 701
            session.commit()
            assert kpi_values_freshness(session, store=store) == "stale"
            assert refresh_in_background(session, store)
            assert not refresh_in_background(session, store)  # claimed by the first
            for worker in threading.enumerate():
                if worker.name == "qmm-kpi-refresh":
                    worker.join(300)
        with Session(bind=engine) as session:
            assert kpi_values_freshness(session, store=store) == "fresh"
            header = value_set(session)
            assert header is not None
            assert header.refreshing_since is None
            assert read_values(session, kpis=None, sites=None, period="month") == _fresh(
                session, store, "month"
            )
    finally:
        engine.dispose()
