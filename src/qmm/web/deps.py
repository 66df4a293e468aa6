"""Per-request dependencies: the web settings, one database session, the event store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from qmm.audit.trail import Actor, set_actor
from qmm.auth.sessions import apply_deferred_touches
from qmm.db import begin_writing
from qmm.events.store import EventStore

# Hosts where a plain-http cookie is acceptable: the developer's own machine and the test client.
READ_ONLY_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})
ANONYMOUS: Final = Actor(label="web:anonymous")
logger = logging.getLogger("qmm.web")


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


def get_db(
    request: Request,
    factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
) -> Iterator[Session]:
    """One session per request: services only flush; the request commits or rolls back whole.

    A request that may change something (not GET, HEAD or OPTIONS) starts as a writer, so that
    on SQLite it waits for the write lock rather than failing when another request commits
    first; "last seen" times are recorded after the request's own work has committed.
    """
    with factory() as session:
        set_actor(session, ANONYMOUS)
        try:
            if request.method not in READ_ONLY_METHODS:
                begin_writing(session)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        _record_deferred_touches(session)


def _record_deferred_touches(session: Session) -> None:
    """Best effort: a "last seen" time lost to a busy database only shortens an idle window."""
    try:
        begin_writing(session)
        if apply_deferred_touches(session):
            session.commit()
        else:
            session.rollback()
    except OperationalError as error:
        session.rollback()
        logger.warning("could not record a session's last use: %s", error)


# scope="function": commit before the response is sent, so a failed commit is never reported
# to the client as a success.
DB = Annotated[Session, Depends(get_db, scope="function")]
Settings = Annotated[WebSettings, Depends(get_web_settings)]


def get_event_store(request: Request) -> EventStore:
    """The event store the app was created with, else the configured one (tests override it)."""
    store: EventStore | None = getattr(request.app.state, "event_store", None)
    return store if store is not None else EventStore.from_settings()


Store = Annotated[EventStore, Depends(get_event_store)]
