"""The readiness report built in the background and cached by its inputs, so a page never waits
for WeasyPrint and a repeat download is a file read."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qmm.audit.trail import trail_head
from qmm.auth.scope import Reader
from qmm.config import get_settings
from qmm.errors import InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.models import ReportBuild, Site, utcnow
from qmm.reports.readiness import ReadinessReport, build_report
from qmm.reports.render import ReportFormat, render_report, render_summary

ReportPart = Literal["full", "summary"]
REPORT_PARTS: Final = ("full", "summary")
#: A build claimed longer ago than this is taken to have died with its process.
CLAIM_TIMEOUT: Final = timedelta(minutes=15)
#: The cache keeps at most this many bytes of built reports; the oldest files go first.
CACHE_LIMIT_BYTES: Final = 512 * 1024 * 1024
#: Whether builds run in a thread (False: in the caller, as the CLI does).
BACKGROUND: Final = True
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportRequest:
    """What a report is of, and for whom (the reader decides which plans and assessments show)."""

    site: str
    assessment_id: int
    as_of: date
    since: date | None
    fmt: ReportFormat
    part: ReportPart
    reader: Reader
    #: Who reads, as text for the cache key (two readers may see different plans).
    reader_key: str


@dataclass(frozen=True)
class BuildState:
    """Where one build stands: building (since when, usually how long), ready, or failed."""

    key: str
    status: Literal["building", "ready", "failed"]
    started_at: datetime | None
    usual_seconds: int | None = None
    path: Path | None = None
    error: str | None = None
    content: bytes | None = None

    def read(self) -> bytes:
        """The built bytes (from the cache file, or kept in memory when built in the caller)."""
        if self.content is not None:
            return self.content
        assert self.path is not None
        return self.path.read_bytes()


def check_part(part: str) -> ReportPart:
    """full or summary, or a refusal naming both."""
    if part not in REPORT_PARTS:
        raise InvalidInput(f"part {part!r} is not one of {', '.join(REPORT_PARTS)}")
    return "summary" if part == "summary" else "full"


def cache_dir() -> Path:
    """Where built reports are kept: the data folder's `report-cache`."""
    return get_settings().data_dir / "report-cache"


def build_key(session: Session, store: EventStore | None, request: ReportRequest) -> str:
    """SHA-256 of every input the bytes depend on: the request, the store's batches and sites,
    and the audit trail's head (which moves with every change to an audited record)."""
    inputs = {
        "site": request.site,
        "assessment": request.assessment_id,
        "as_of": request.as_of.isoformat(),
        "since": request.since.isoformat() if request.since else None,
        "format": request.fmt,
        "part": request.part,
        "reader": request.reader_key,
        "store": repr(store.state(session)) if store is not None else None,
        "audit_head": trail_head(session),
        "version": _code_version(),
    }
    return hashlib.sha256(json.dumps(inputs, default=str).encode("utf-8")).hexdigest()


def _code_version() -> str:
    from qmm import __version__

    return __version__


def render_part(report: ReadinessReport, fmt: ReportFormat, part: ReportPart) -> bytes:
    """The bytes of the whole report or of its one-page summary."""
    return render_summary(report, fmt) if part == "summary" else render_report(report, fmt)


def build_bytes(session: Session, store: EventStore | None, request: ReportRequest) -> bytes:
    """Gather and render one report in the caller (the CLI, and the background worker)."""
    site = session.scalars(select(Site).where(Site.code == request.site)).first()
    if site is None:
        raise NotFound(f"no site with code {request.site!r}")
    built = build_report(
        session,
        site=site,
        store=store,
        assessment_id=request.assessment_id,
        as_of=request.as_of,
        since=request.since,
        reader=request.reader,
    )
    return render_part(built, request.fmt, request.part)


def _usual_seconds(session: Session, request: ReportRequest) -> int | None:
    rows = session.execute(
        select(ReportBuild.started_at, ReportBuild.finished_at)
        .where(
            ReportBuild.status == "ready",
            ReportBuild.fmt == request.fmt,
            ReportBuild.part == request.part,
            ReportBuild.finished_at.is_not(None),
        )
        .order_by(ReportBuild.finished_at.desc())
        .limit(10)
    ).all()
    spans = [(f - s).total_seconds() for s, f in rows if f is not None]
    return max(1, round(statistics.median(spans))) if spans else None


def _state(row: ReportBuild, directory: Path, usual: int | None) -> BuildState | None:
    """The row as a state, or None when it must be built (again)."""
    if row.status == "ready":
        path = directory / (row.file_name or "")
        if row.file_name and path.is_file():
            return BuildState(row.key, "ready", row.started_at, path=path)
        return None  # its file went with the cache's cleanup
    if row.status == "failed":
        return BuildState(row.key, "failed", row.started_at, error=row.error)
    if row.started_at > utcnow() - CLAIM_TIMEOUT:
        return BuildState(row.key, "building", row.started_at, usual_seconds=usual)
    return None  # a claim that died with its process


def _claim(engine: Engine, request: ReportRequest, key: str, *, retry: bool) -> bool:
    """Mark the key as building unless another worker holds a young claim: one build per key
    across every worker and process."""
    now = utcnow()
    with engine.begin() as connection:
        claimable = [ReportBuild.status == "ready", ReportBuild.started_at < now - CLAIM_TIMEOUT]
        if retry:
            claimable.append(ReportBuild.status == "failed")
        taken = connection.execute(
            update(ReportBuild)
            .where(ReportBuild.key == key, or_(*claimable))
            .values(status="building", started_at=now, finished_at=None, error=None)
        )
        if taken.rowcount == 1:
            return True
        exists = connection.execute(select(ReportBuild.key).where(ReportBuild.key == key)).first()
    if exists is not None:
        return False
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(ReportBuild).values(
                    key=key,
                    site=request.site,
                    assessment_id=request.assessment_id,
                    fmt=request.fmt,
                    part=request.part,
                    status="building",
                    started_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _write(directory: Path, key: str, fmt: str, content: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{key}.{fmt}"
    partial = directory / f".{name}.{os.getpid()}.{threading.get_ident()}.part"
    partial.write_bytes(content)
    partial.replace(directory / name)  # readers see the whole file or none
    return name


def trim_cache(directory: Path, limit: int = CACHE_LIMIT_BYTES) -> list[str]:
    """Delete the oldest built reports until the cache holds at most `limit` bytes."""
    if not directory.is_dir():
        return []
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    total = sum(p.stat().st_size for p in files)
    gone: list[str] = []
    for path in files:
        if total <= limit:
            break
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
        gone.append(path.name)
    return gone


def _build_claimed(
    engine: Engine, store: EventStore | None, request: ReportRequest, key: str, directory: Path
) -> None:
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            content = build_bytes(session, store, request)
        name = _write(directory, key, request.fmt, content)
        values: dict[str, object] = {
            "status": "ready",
            "file_name": name,
            "size": len(content),
            "finished_at": utcnow(),
        }
        trim_cache(directory)
    except Exception as failure:  # shown on the report page, never a hang
        _log.exception("building report %s failed", key)
        reason = str(failure) or type(failure).__name__
        values = {"status": "failed", "error": reason, "finished_at": utcnow()}
    with engine.begin() as connection:
        connection.execute(update(ReportBuild).where(ReportBuild.key == key).values(**values))


def start_build(
    session: Session,
    *,
    store: EventStore | None,
    request: ReportRequest,
    directory: Path | None = None,
    retry: bool = False,
) -> BuildState:
    """The report's cached build, the build under way, or a new build started in a thread the
    request does not wait for.

    A session bound to an open connection (not an engine) cannot share its data with another
    connection, so there the report is built in the caller, as the KPI refresh declines there.
    """
    folder = directory or cache_dir()
    key = build_key(session, store, request)
    bind = session.get_bind()
    if not BACKGROUND or not isinstance(bind, Engine):
        return BuildState(key, "ready", utcnow(), content=build_bytes(session, store, request))
    usual = _usual_seconds(session, request)
    for _attempt in range(2):
        row = _read_row(bind, key)
        if row is not None:
            state = _state(row, folder, usual)
            if state is not None and not (retry and state.status == "failed"):
                return state
        if _claim(bind, request, key, retry=retry):
            worker = threading.Thread(
                target=_build_claimed,
                args=(bind, store, request, key, folder),
                name=f"qmm-report-{key[:8]}",
                daemon=True,
            )
            worker.start()
            return BuildState(key, "building", utcnow(), usual_seconds=usual)
    row = _read_row(bind, key)
    assert row is not None
    return _state(row, folder, usual) or BuildState(key, "building", row.started_at, usual)


def _read_row(engine: Engine, key: str) -> ReportBuild | None:
    # A fresh session sees what other workers committed since the request began.
    with Session(bind=engine, expire_on_commit=False) as fresh:
        return fresh.get(ReportBuild, key)
