"""Per-request dependencies: the web settings, one database session, the event store."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from qmm.audit.trail import Actor, set_actor
from qmm.auth.service import CheckedPassword, check_password, prepare_sign_in
from qmm.auth.sessions import LastUseStamps, write_last_use
from qmm.db import begin_writing
from qmm.events.store import EventStore
from qmm.models import User

# Hosts where a plain-http cookie is acceptable: the developer's own machine and the test client.
READ_ONLY_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})
ANONYMOUS: Final = Actor(label="web:anonymous")
logger = logging.getLogger("qmm.web")
#: Seconds a writing request waits for its turn before it is answered 503 "try again": the
#: worst honest wait, a queue of the process's writers holding the lock for milliseconds each,
#: is far shorter.
WRITE_WAIT_SECONDS: Final = 20
#: What a 503 asks the client to wait before trying again, in seconds.
RETRY_AFTER_SECONDS: Final = 5


@dataclass(frozen=True)
class WebSettings:
    """How the web app behaves where deployments differ; the defaults are the safe ones."""

    # None: Secure cookies except over plain http to a local host; True/False forces it.
    secure_cookies: bool | None = None
    # Request bodies (uploaded extracts above all) larger than this are refused with 413.
    max_upload_bytes: int = 50 * 1024 * 1024

    def cookie_secure(self, request: Request) -> bool:
        """Whether cookies set for this request must carry the Secure flag."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        local_http = request.url.scheme == "http" and request.url.hostname in LOCAL_HOSTS
        return not local_http


def get_web_settings(request: Request) -> WebSettings:
    """The settings the app was created with (tests may override this dependency)."""
    settings: WebSettings = request.app.state.web_settings
    return settings


def get_session_factory(request: Request) -> sessionmaker[Session]:
    """The app's session factory; tests override it to bind sessions to one connection."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


class WriterQueue:
    """Requests that write take turns, waiting in the event loop, not in a worker thread.

    A request that waited for the database's write lock in one of the server's threads kept
    that thread: with every thread waiting, the request holding the lock had none left to
    finish in, and all of them failed together ("database is locked" on SQLite; on PostgreSQL,
    the audit trail's lock, for ever). Waiting here holds no thread and no connection; the one
    whose turn it is has the threads it needs. One queue per server process.
    """

    def __init__(self, wait_seconds: float = WRITE_WAIT_SECONDS, *, at_once: int = 1) -> None:
        self.wait_seconds = wait_seconds
        self.at_once = at_once
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Semaphore(self.at_once)
        return lock

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this request's turn to write; DatabaseBusy when it does not come in time."""
        lock = self._lock()
        try:
            await asyncio.wait_for(lock.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            raise DatabaseBusy from None
        try:
            yield
        finally:
            lock.release()


class DatabaseBusy(Exception):
    """A request could not have its turn to write in time: answered 503, try again shortly."""


def writer_queue(request: Request) -> WriterQueue:
    """The app's queue of writing requests (one per server process)."""
    queue: WriterQueue = request.app.state.writer_queue
    return queue


def password_check_queue(request: Request) -> WriterQueue:
    """The app's queue of password checks: as many at once as there are cores.

    argon2 keeps a core busy for most of a second; more checks at once than cores finish no
    sooner, and would take every server thread, leaving none for the request whose turn it is
    to write.
    """
    queue: WriterQueue = request.app.state.password_check_queue
    return queue


def last_use_stamps(request: Request) -> LastUseStamps:
    """The app's batch of "last seen" times waiting to be written."""
    stamps: LastUseStamps = request.app.state.last_use_stamps
    return stamps


async def writer_turn(request: Request) -> AsyncIterator[None]:
    """A request that may change something waits here for its turn before it opens a session.

    Routes marked reads_first take their turn themselves, after their slow reading part.
    """
    if request.method in READ_ONLY_METHODS or _reads_first(request):
        yield
        return
    async with writer_queue(request).turn():
        yield


def get_db(
    request: Request,
    factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
    _turn: Annotated[None, Depends(writer_turn, scope="function")],
) -> Iterator[Session]:
    """One session per request: services only flush; the request commits or rolls back whole.

    A request that may change something (not GET, HEAD or OPTIONS) waits for its turn among
    the process's writers (writer_turn), then starts as a writer, so that on SQLite it waits
    for another process's write lock rather than failing when that one commits first.
    "Last seen" times are noted and written in batches, never in the request's way.
    """
    with factory() as session:
        set_actor(session, ANONYMOUS)
        try:
            if request.method not in READ_ONLY_METHODS and not _reads_first(request):
                begin_writing(session)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        record_last_use(session, last_use_stamps(request))


#: Marks a route whose request must not start as a writer: it reads, ends that transaction,
#: does its slow work (a password check) holding nothing, then takes its turn to write.
_READS_FIRST: Final = "qmm_reads_first"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def reads_first(endpoint: Endpoint) -> Endpoint:
    """Let a route read and do slow work before it takes its turn to write (see get_db)."""
    setattr(endpoint, _READS_FIRST, True)
    return endpoint


Outcome = TypeVar("Outcome")


async def password_checked_first(
    request: Request, db: Session, *, user: User, password: str, channel: str
) -> CheckedPassword:
    """A signed-in person's password checked again holding no connection, lock or turn.

    For a reads_first route: the read ends before argon2 works, in the queue of password checks;
    the route's writing part confirms the result cheaply in its turn (confirm_password).
    """
    check = await run_in_threadpool(
        lambda: prepare_sign_in(db, username=user.username, channel=channel)
    )
    await run_in_threadpool(db.rollback)
    async with password_check_queue(request).turn():
        verdict = await run_in_threadpool(check_password, check, password)
    return CheckedPassword(check=check, verdict=verdict)


async def in_writer_turn(request: Request, db: Session, work: Callable[[], Outcome]) -> Outcome:
    """A reads_first route's writing part: in its turn, as a writer, committed before the turn ends.

    When work raises, nothing of it is kept: it is rolled back before the turn ends, so the
    route may answer the refusal from a clean session.
    """

    def write() -> Outcome:
        begin_writing(db)
        try:
            outcome = work()
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return outcome

    async with writer_queue(request).turn():
        return await run_in_threadpool(write)


def _reads_first(request: Request) -> bool:
    route = request.scope.get("route")
    return bool(getattr(getattr(route, "endpoint", None), _READS_FIRST, False))


def record_last_use(session: Session, stamps: LastUseStamps) -> None:
    """Best effort: note the request's "last seen" times; write the batch when a round is due.

    The batch is written only when the write lock is free at once; otherwise it waits for the
    next round. Stamps dropped because too many waited are counted and logged, never shown.
    """
    lost_before = stamps.lost
    stamps.note(session)
    batch = stamps.take_due()
    if batch:
        try:
            begin_writing(session, wait=False)
            write_last_use(session, batch=batch)
            session.commit()
        except OperationalError:
            session.rollback()
            stamps.give_back(batch)
        else:
            stamps.count_written(batch)
    if stamps.lost > lost_before:
        logger.warning(
            '%d "last seen" time(s) dropped so far in this process: the database was too busy '
            "to record them (sessions may time out a little early)",
            stamps.lost,
        )


# scope="function": commit before the response is sent, so a failed commit is never reported
# to the client as a success.
DB = Annotated[Session, Depends(get_db, scope="function")]
Settings = Annotated[WebSettings, Depends(get_web_settings)]


def get_event_store(request: Request) -> EventStore:
    """The event store the app was created with, else the configured one (tests override it)."""
    store: EventStore | None = getattr(request.app.state, "event_store", None)
    return store if store is not None else EventStore.from_settings()


Store = Annotated[EventStore, Depends(get_event_store)]
