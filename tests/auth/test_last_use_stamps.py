"""'Last seen' times are bookkeeping: noted by requests, written in batches, their loss counted."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from qmm.auth.service import create_user
from qmm.auth.sessions import (
    LastUseStamps,
    defer_touch,
    start_web_session,
    write_last_use,
)
from qmm.models import WebSession, utcnow

HOUR = timedelta(hours=1)


def noted(session: Session, stamps: LastUseStamps, web_session: WebSession, at: object) -> None:
    """What one request does: note a time on its session, then hand it to the batch."""
    defer_touch(session, WebSession, web_session.id, last_seen_at=at)  # type: ignore[arg-type]
    stamps.note(session)


def test_many_requests_make_one_write_per_round_with_the_latest_time(session: Session) -> None:
    user = create_user(session, username="dan", full_name="Dan")
    _secret, web_session = start_web_session(session, user=user)
    stamps = LastUseStamps(every=timedelta(seconds=5))
    now = utcnow()
    noted(session, stamps, web_session, now - HOUR)
    noted(session, stamps, web_session, now)

    batch = stamps.take_due(now)
    touched = write_last_use(session, batch=batch)
    session.refresh(web_session)

    assert touched == 1
    assert web_session.last_seen_at == now
    noted(session, stamps, web_session, now)
    assert stamps.take_due(now + timedelta(seconds=1)) == {}  # the next round is not due yet
    assert len(stamps.take_due(now + timedelta(seconds=5))) == 1


def test_a_batch_the_database_was_too_busy_for_waits_and_newer_times_win(session: Session) -> None:
    user = create_user(session, username="dan", full_name="Dan")
    _secret, web_session = start_web_session(session, user=user)
    stamps = LastUseStamps(every=timedelta(0))
    now = utcnow()
    noted(session, stamps, web_session, now - HOUR)
    refused = stamps.take_due(now)
    noted(session, stamps, web_session, now)

    stamps.give_back(refused)

    assert stamps.take_due(now) == {(WebSession, web_session.id): {"last_seen_at": now}}
    assert stamps.lost == 0


def test_when_too_many_wait_the_newest_are_dropped_and_counted(session: Session) -> None:
    user = create_user(session, username="dan", full_name="Dan")
    sessions = [start_web_session(session, user=user)[1] for _ in range(3)]
    stamps = LastUseStamps(every=timedelta(0), limit=2)
    now = utcnow()

    for web_session in sessions:
        noted(session, stamps, web_session, now)

    assert stamps.lost == 1
    assert {row_id for _model, row_id in stamps.take_due(now)} == {s.id for s in sessions[:2]}
