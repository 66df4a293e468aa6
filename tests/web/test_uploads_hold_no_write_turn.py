"""An upload is read, checked and staged before its turn to write; only storing it takes the turn.

The app runs under uvicorn on a database file of its own; the importer's check and the store's
batch writer note, each time they work, whether this process's writer turn is taken and whether
SQLite's write lock is held: checking a large extract takes minutes, and every other writer
(a sign-in, a rating) would wait that long behind it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import Barrier
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

import qmm.events.uploads as uploads
from conftest import is_postgres
from factories import create_site_a
from qmm.auth.service import create_user, grant_role
from qmm.auth.sessions import start_web_session
from qmm.db import unit_of_work
from qmm.events.store import STAGING, EventStore
from qmm.models import ImportBatch
from qmm.web.deps import WriterQueue
from qmm.web.security import CSRF_FIELD, SESSION_COOKIE
from web.test_morning_rush import PASSWORD, LiveServer, serving
from web.test_password_checks_hold_no_write_turn import _write_locked

HEADER = ["capa_id", "site", "opened_on", "due_on", "root_cause_category", "closed_on"]


def capa_extract(*rows: list[str]) -> bytes:
    content = io.StringIO()
    csv.writer(content).writerows([HEADER, *rows])
    return content.getvalue().encode()


def capa(number: int, *, opened_on: str = "2025-01-06") -> list[str]:
    return [f"CAPA-{number}", "SITE-A", opened_on, "2025-02-06", "training", ""]


@dataclass
class Watch:
    """What was held each time an upload was checked and each time a batch was stored."""

    queue: WriterQueue
    database: str
    #: (check or store, writer turn taken, SQLite write lock held), in order.
    held: list[tuple[str, bool, bool]] = field(default_factory=list)

    def note(self, work: str) -> None:
        turn_taken = any(lock.locked() for lock in list(self.queue._locks.values()))
        self.held.append((work, turn_taken, self.database != "" and _write_locked(self.database)))


@dataclass
class Uploader:
    server: LiveServer
    watch: Watch
    cookie: str
    csrf: str

    def upload(self, name: str, content: bytes) -> httpx.Response:
        with httpx.Client(
            base_url=self.server.url, timeout=120, cookies={SESSION_COOKIE: self.cookie}
        ) as client:
            return client.post(
                "/sites/SITE-A/imports",
                data={"record_type": "capa", CSRF_FIELD: self.csrf},
                files={"upload": (name, content, "text/csv")},
            )


@pytest.fixture
def uploader(cli_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Uploader]:
    """An administrator signed in to a live server, the upload's check and store watched."""
    with serving(cli_database) as server:
        with unit_of_work(server.engine) as session:
            create_site_a(session)
            root = create_user(session, username="root", full_name="Root", password=PASSWORD)
            grant_role(session, user=root, role="administrator", site=None)
            secret, web_session = start_web_session(session, user=root)
            arranged = (secret, web_session.csrf_token)
        database = "" if is_postgres() else make_url(cli_database).database or ""
        watch = Watch(queue=server.app.state.writer_queue, database=database)
        checked_by = uploads.stage_file
        stored_by = EventStore.write_batch

        def watched_check(*args: Any, **kwargs: Any) -> Any:
            watch.note("check")
            return checked_by(*args, **kwargs)

        def watched_store(*args: Any, **kwargs: Any) -> Any:
            watch.note("store")
            return stored_by(*args, **kwargs)

        monkeypatch.setattr(uploads, "stage_file", watched_check)
        monkeypatch.setattr(EventStore, "write_batch", watched_store)
        yield Uploader(server, watch, *arranged)


def stored_batches(server: LiveServer) -> list[str]:
    with unit_of_work(server.engine) as session:
        return list(session.scalars(select(ImportBatch.source_name).order_by(ImportBatch.id)))


def staging_left() -> list[Path]:
    """Anything an upload left under the event store's staging folder."""
    staging = EventStore.from_settings().directory / STAGING
    return sorted(staging.rglob("*")) if staging.exists() else []


def test_an_upload_is_checked_before_its_turn_and_stored_in_it(uploader: Uploader) -> None:
    answer = uploader.upload("capa.csv", capa_extract(capa(1), capa(2)))

    assert answer.status_code == 303, answer.text
    assert "/sites/SITE-A/imports?batch=" in answer.headers["location"]
    lock_in_turn = uploader.watch.database != ""  # SQLite: the turn's writer holds the lock
    assert uploader.watch.held == [("check", False, False), ("store", True, lock_in_turn)]
    assert stored_batches(uploader.server) == ["capa.csv"]
    assert staging_left() == []


def test_a_refused_file_takes_no_turn_and_stores_nothing(uploader: Uploader) -> None:
    answer = uploader.upload("capa.csv", capa_extract(capa(1), capa(2, opened_on="someday")))

    assert answer.status_code == 422
    assert "1 problem found; nothing was stored." in answer.text
    assert "someday" in answer.text
    assert uploader.watch.held == [("check", False, False)]
    assert stored_batches(uploader.server) == []
    assert staging_left() == []


def test_two_uploads_at_once_both_land(uploader: Uploader) -> None:
    files = [("first.csv", capa_extract(capa(1), capa(2))), ("second.csv", capa_extract(capa(3)))]
    start = Barrier(len(files))

    def upload(file: tuple[str, bytes]) -> int:
        start.wait()
        return uploader.upload(*file).status_code

    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        answers = list(pool.map(upload, files))

    assert answers == [303, 303]
    assert sorted(stored_batches(uploader.server)) == ["first.csv", "second.csv"]
    # Which turn a check overlaps cannot be told here (the watch sees the process's turn, which
    # the other upload may hold while it stores); the single-upload tests show the check holds
    # none. Here: each file was checked once and stored once.
    assert sorted(work for work, _, _ in uploader.watch.held) == [
        "check",
        "check",
        "store",
        "store",
    ]
    assert staging_left() == []


def test_the_api_checks_an_upload_before_its_turn(uploader: Uploader) -> None:
    with httpx.Client(
        base_url=uploader.server.url, timeout=120, cookies={SESSION_COOKIE: uploader.cookie}
    ) as client:
        answer = client.post(
            "/api/sites/SITE-A/imports",
            data={"record_type": "capa"},
            files={"upload": ("capa.csv", capa_extract(capa(1)), "text/csv")},
            headers={"X-CSRF-Token": uploader.csrf},
        )

    assert answer.status_code == 201, answer.text
    assert [(work, turn) for work, turn, _ in uploader.watch.held] == [
        ("check", False),
        ("store", True),
    ]
    assert stored_batches(uploader.server) == ["capa.csv"]
