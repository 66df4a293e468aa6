"""The readiness report built in the background: a request never waits for the render, a repeat
is served from the cache, new inputs make a new build, a failure shows its reason, and two
workers starting the same report build it once. Real database, real app; only the renderer
(WeasyPrint, the outside world) is replaced by a controllable fake."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qmm.auth.scope import Operator
from qmm.db import make_engine
from qmm.errors import InvalidInput
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import ReportBuild
from qmm.reports import builds
from qmm.reports.builds import ReportRequest, start_build, trim_cache
from qmm.web.app import create_app
from web.support import CAPA_COLUMNS, World, build_world, capa_rows, csv_bytes, sign_in


@dataclass
class FakeRenderer:
    """Stands in for the render step: records the thread it ran on, waits until released."""

    release: threading.Event = field(default_factory=threading.Event)
    threads: list[str] = field(default_factory=list)
    failure: str | None = None

    def __call__(self, report: object, fmt: str, part: str) -> bytes:
        self.threads.append(threading.current_thread().name)
        assert self.release.wait(30), "the test never released the build"
        if self.failure:
            raise InvalidInput(self.failure)
        return b"%PDF-1.7 fake " + part.encode() if fmt == "pdf" else b"<html>fake</html>"


@pytest.fixture
def engine(cli_database: str) -> Iterator[Engine]:
    made = make_engine(cli_database)
    yield made
    made.dispose()


@pytest.fixture
def world(engine: Engine) -> World:
    with Session(bind=engine, expire_on_commit=False) as session:
        built = build_world(session)
        session.commit()
    return built


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def renderer(monkeypatch: pytest.MonkeyPatch) -> FakeRenderer:
    fake = FakeRenderer()
    monkeypatch.setattr(builds, "render_part", fake)
    return fake


@pytest.fixture
def client(engine: Engine, world: World, store: EventStore) -> Iterator[TestClient]:
    with TestClient(create_app(engine, store=store), follow_redirects=False) as test_client:
        with Session(bind=engine) as session:
            sign_in(test_client, session, world, "viewer-a")
        yield test_client


def _wait_done(client: TestClient, url: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get(url)
        if response.status_code != 202:
            return response
        time.sleep(0.05)
    raise AssertionError("the build never finished")


def _import_capas(engine: Engine, store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "capa.csv"
    path.write_bytes(csv_bytes(CAPA_COLUMNS, capa_rows(low_month=6)))
    with Session(bind=engine) as session:
        import_files(session, paths=[path], store=store)
        session.commit()


URL = "/sites/SITE-A/report?format=pdf"


def test_the_request_returns_at_once_and_the_render_runs_elsewhere(
    client: TestClient, renderer: FakeRenderer
) -> None:
    first = client.get(URL)
    assert first.status_code == 202
    assert "Building, started" in first.text
    assert first.headers["refresh"].startswith("2; url=/sites/SITE-A/report?")
    still = client.get(URL)  # the build is still held: the page says so, it does not wait
    assert still.status_code == 202
    renderer.release.set()
    done = _wait_done(client, URL)
    assert done.status_code == 200
    assert done.content == b"%PDF-1.7 fake full"
    assert len(renderer.threads) == 1
    assert renderer.threads[0].startswith("qmm-report-")
    assert threading.current_thread().name not in renderer.threads
    offered = client.get(first.headers["refresh"].split("url=", 1)[1])  # where the page goes
    assert offered.status_code == 200
    assert "Download the PDF" in offered.text


def test_a_repeat_request_is_served_from_the_cache(
    client: TestClient, renderer: FakeRenderer
) -> None:
    renderer.release.set()
    client.get(URL)
    _wait_done(client, URL)
    again = client.get(URL)
    assert again.status_code == 200
    assert again.content == b"%PDF-1.7 fake full"
    assert len(renderer.threads) == 1
    progress = client.get(URL + "&part=summary")  # another part is another build
    assert progress.status_code == 202
    assert "usually" not in progress.text  # no summary was built before to time it by


def test_a_new_import_makes_a_new_build(
    client: TestClient, renderer: FakeRenderer, engine: Engine, store: EventStore, tmp_path: Path
) -> None:
    renderer.release.set()
    client.get(URL)
    _wait_done(client, URL)
    _import_capas(engine, store, tmp_path)
    assert client.get(URL).status_code == 202
    _wait_done(client, URL)
    assert len(renderer.threads) == 2
    with Session(bind=engine) as session:
        assert len(session.scalars(select(ReportBuild)).all()) == 2


def test_a_failing_build_shows_its_reason_and_can_be_tried_again(
    client: TestClient, renderer: FakeRenderer
) -> None:
    renderer.failure = "the PDF engine found no font for U+FF0B"
    renderer.release.set()
    client.get(URL)
    failed = _wait_done(client, URL)
    assert failed.status_code == 500
    assert "The report could not be built" in failed.text
    assert "no font for U+FF0B" in failed.text
    assert client.get(URL).status_code == 500  # shown again, not rebuilt behind the user's back
    renderer.failure = None
    assert client.get(URL + "&retry=1").status_code == 202
    assert _wait_done(client, URL).status_code == 200


def test_concurrent_starts_build_once(
    engine: Engine, world: World, store: EventStore, renderer: FakeRenderer, tmp_path: Path
) -> None:
    request = ReportRequest(
        site="SITE-A",
        assessment_id=world.assessment_a,
        as_of=builds.utcnow().date(),
        since=None,
        fmt="pdf",
        part="full",
        reader=Operator(),
        reader_key="operator",
    )
    states: list[str] = []

    def start() -> None:
        with Session(bind=engine) as session:
            states.append(start_build(session, store=store, request=request).status)

    starters = [threading.Thread(target=start) for _ in range(4)]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    assert states == ["building"] * 4
    renderer.release.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with Session(bind=engine) as session:
            if start_build(session, store=store, request=request).status == "ready":
                break
        time.sleep(0.05)
    assert len(renderer.threads) == 1


def test_the_cache_drops_its_oldest_files_past_its_size_cap(tmp_path: Path) -> None:
    for age, name in enumerate(["old.pdf", "mid.pdf", "new.pdf"]):
        path = tmp_path / name
        path.write_bytes(b"x" * 100)
        stamp = 1_000_000 + age
        os.utime(path, (stamp, stamp))
    assert trim_cache(tmp_path, limit=250) == ["old.pdf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid.pdf", "new.pdf"]
