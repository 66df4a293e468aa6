"""Tamper evidence of the event store: data files changed, removed or added behind the app."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from events.support import write_csv
from qmm.cli.main import app
from qmm.config import get_settings
from qmm.db import make_engine, unit_of_work
from qmm.events.importer import import_files
from qmm.events.integrity import verify_store
from qmm.events.store import EventStore
from qmm.metrics.engine import compute
from qmm.metrics.kpis import SITES_TABLE
from qmm.models import ImportBatch

VOE_HEADER = [
    "capa_id",
    "site",
    "opened_on",
    "due_on",
    "root_cause_category",
    "voe_done_on",
    "voe_result",
]
VOE_ROWS = [
    ["CAPA-1", "SITE-A", "2025-01-06", "2025-02-06", "training", "2025-03-02", "effective"],
    ["CAPA-2", "SITE-A", "2025-01-10", "2025-03-10", "equipment", "2025-03-03", "not_effective"],
    ["CAPA-3", "SITE-A", "2025-01-11", "2025-03-10", "equipment", "2025-03-04", "not_effective"],
    ["CAPA-4", "SITE-A", "2025-01-12", "2025-03-10", "procedure", "2025-03-05", "effective"],
]


def effectiveness(store: EventStore, session: Session) -> float | None:
    """CAPA effectiveness of SITE-A in March 2025, read afresh from the store's files."""
    backend = store.connect(session)
    tables = {name: backend.table(name) for name in ("capa", SITES_TABLE)}
    [value] = [
        v
        for v in compute(tables, kpis=["capa_effectiveness"], as_of=date(2025, 6, 30))
        if v.site == "SITE-A" and v.period == "2025-03"
    ]
    return value.value


def all_effective(path: Path) -> None:
    """What an attacker with write access to the data folder does: every VoE effective."""
    table = pq.read_table(path)
    index = table.schema.get_field_index("voe_result")
    effective = pc.if_else(
        pc.is_null(table.column(index)), None, pa.scalar("effective", pa.string())
    )
    pq.write_table(table.set_column(index, "voe_result", effective), path)


def store_files(store: EventStore) -> list[Path]:
    return sorted(p for p in store.directory.rglob("*.parquet") if p.is_file())


def test_a_rewritten_data_file_changes_a_kpi_and_verify_names_it_with_its_batch(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "capa.csv", VOE_HEADER, VOE_ROWS)
    [batch] = import_files(session, paths=[path], store=store)
    assert verify_store(session, store).ok
    assert effectiveness(store, session) == 0.5
    [data_file] = store_files(store)
    all_effective(data_file)
    assert effectiveness(store, session) == 1.0  # the tampering matters
    report = verify_store(session, store)
    assert not report.ok
    [problem] = report.problems
    assert f"batch #{batch.id}" in problem
    assert "capa.csv" in problem
    assert data_file.relative_to(store.directory).as_posix() in problem
    assert "changed" in problem


def test_a_missing_and_an_extra_data_file_are_named(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "capa.csv", VOE_HEADER, VOE_ROWS)
    [batch] = import_files(session, paths=[path], store=store)
    [data_file] = store_files(store)
    extra = data_file.with_name("batch-00009999.parquet")
    extra.write_bytes(data_file.read_bytes())
    data_file.unlink()
    young = verify_store(session, store)
    assert any("an import may be in progress" in n for n in young.notes)
    old = time.time() - 7200
    os.utime(extra, (old, old))
    problems = verify_store(session, store).problems
    assert any("missing" in p and f"batch #{batch.id}" in p for p in problems), problems
    assert any("batch-00009999.parquet" in p and "no committed batch" in p for p in problems)


def test_qmm_audit_verify_fails_on_a_rewritten_data_file(cli_database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    path = write_csv(tmp_path / "capa.csv", VOE_HEADER, VOE_ROWS)
    imported = runner.invoke(app, ["import", str(path), "--create-sites"])
    assert imported.exit_code == 0, imported.output
    verified = runner.invoke(app, ["audit", "verify", "--no-checkpoint"])
    assert verified.exit_code == 0, verified.output
    [data_file] = store_files(EventStore(get_settings().events_dir))
    all_effective(data_file)
    verified = runner.invoke(app, ["audit", "verify", "--no-checkpoint"])
    assert verified.exit_code != 0
    assert "capa.csv" in verified.output
    assert "changed" in verified.output


def test_qmm_init_records_the_hashes_of_batches_stored_before_hashing(
    cli_database: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    path = write_csv(tmp_path / "capa.csv", VOE_HEADER, VOE_ROWS)
    assert runner.invoke(app, ["import", str(path), "--create-sites"]).exit_code == 0
    engine = make_engine(cli_database)
    with unit_of_work(engine) as session:
        session.execute(update(ImportBatch).values(data_files=None))
    verified = runner.invoke(app, ["audit", "verify", "--no-checkpoint"])
    assert "checked for presence only" in verified.output
    initialised = runner.invoke(app, ["init"])
    said = " ".join(initialised.output.split())
    assert "recorded the SHA-256 of the data files of 1 earlier import batch" in said
    [data_file] = store_files(EventStore(get_settings().events_dir))
    assert runner.invoke(app, ["audit", "verify", "--no-checkpoint"]).exit_code == 0
    all_effective(data_file)
    verified = runner.invoke(app, ["audit", "verify", "--no-checkpoint"])
    assert verified.exit_code != 0
    assert "was changed after it was committed" in " ".join(verified.output.split())
    engine.dispose()
