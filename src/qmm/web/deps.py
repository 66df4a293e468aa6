"""Per-request dependencies: the web settings and one database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from qmm.audit.trail import Actor, set_actor

# Hosts where a plain-http cookie is acceptable: the developer's own machine and the test client.
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})
ANONYMOUS: Final = Actor(label="web:anonymous")


@dataclass(frozen=True)
class WebSettings:
    """How the web app behaves where deployments differ; the defaults are the safe ones."""

    # None: Secure cookies except over plain http to a local host; True/False forces it.
    secure_cookies: bool | None = None

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
    factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
) -> Iterator[Session]:
    """One session per request: services only flush; the request commits or rolls back whole."""
    with factory() as session:
        set_actor(session, ANONYMOUS)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": commit before the response is sent, so a failed commit is never reported
# to the client as a success.
DB = Annotated[Session, Depends(get_db, scope="function")]
Settings = Annotated[WebSettings, Depends(get_web_settings)]
