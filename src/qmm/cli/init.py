"""`qmm init`: create or upgrade the databases."""

from __future__ import annotations

from qmm.cli.common import boundary, console
from qmm.config import get_settings
from qmm.db import get_engine
from qmm.events.integrity import record_missing_hashes
from qmm.events.migration import migrate_legacy_batches, remove_migrated_files
from qmm.events.store import EventStore
from qmm.framework.service import install_default
from qmm.migrate import current_revision, upgrade


def initialise() -> None:
    """Create or upgrade the app database and publish the shipped default framework."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = get_engine()
    upgrade(engine)
    with boundary() as session:
        framework = install_default(session)
        ref = framework.ref
    store = EventStore.from_settings()
    with boundary(writer=True) as session:
        hashed = record_missing_hashes(session, store)
    with boundary(writer=True) as session:
        moved = migrate_legacy_batches(session, store)
    with boundary() as session:
        remove_migrated_files(session, store)
    console.print(f"App database: {engine.url.render_as_string(hide_password=True)}")
    console.print(f"Schema revision: {current_revision(engine)}")
    console.print(f"Default framework: {ref}")
    if moved:
        console.print(
            f"Event store: moved {moved} earlier import batch(es) into its Delta tables, one "
            "table version each, their history kept."
        )
    if hashed:
        console.print(
            f"Event store: recorded the SHA-256 of the data files of {hashed} earlier import "
            "batch(es); `qmm audit verify` checks them from now on."
        )


def init() -> None:
    """Create or upgrade the databases and publish the shipped default framework."""
    initialise()
