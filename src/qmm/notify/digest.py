"""The worklist by e-mail: who wants it and how often, what it says, and sending it once.

A digest is a person's worklist cut to what is theirs: items they own or may sign (overdue
first), the FDA assessment milestones, how many threads are broken and which KPIs miss their
target, each with a link into the app. One digest per person and period (a day, or an ISO week)
is recorded as it is handed to the SMTP server, so a re-run sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html import escape
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.auth.scope import UserReader
from qmm.auth.service import get_user
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.models import DigestFrequency, DigestSubscription, SentDigest, Site, User, utcnow
from qmm.notify.mail import MailServer, send_message
from qmm.worklist.service import OVERDUE, WorkItem, worklist

FREQUENCIES: Final = tuple(f.value for f in DigestFrequency)
#: Kinds shown in their own sections rather than among the person's own items.
FDA_KINDS: Final = frozenset({"fda_milestone"})
KPI_KINDS: Final = frozenset({"kpi_missed", "kpi_signal"})
BROKEN_KINDS: Final = frozenset({"broken_thread", "broken_threads_more"})
SIGN_KINDS: Final = frozenset({"draft_signature"})


# --- who wants a digest --------------------------------------------------------------------


@dataclass(frozen=True)
class DigestChoice:
    """A person's digest setting: on or off, and how often."""

    username: str
    email: str | None
    enabled: bool
    frequency: str
    chosen: bool


def _subscription(session: Session, user: User) -> DigestSubscription | None:
    return session.scalar(select(DigestSubscription).where(DigestSubscription.user_id == user.id))


def digest_choice(session: Session, *, user: User) -> DigestChoice:
    """What a person chose; nobody gets a digest before they opt in."""
    found = _subscription(session, user)
    return DigestChoice(
        username=user.username,
        email=user.email,
        enabled=found.enabled if found is not None else False,
        frequency=found.frequency if found is not None else DigestFrequency.weekly.value,
        chosen=found is not None,
    )


def choose_digest(
    session: Session, *, user: User, enabled: bool, frequency: str | None = None
) -> DigestChoice:
    """Opt in (daily or weekly) or out; opting in needs an e-mail address to send to."""
    if frequency is not None and frequency not in FREQUENCIES:
        raise InvalidInput(f"frequency {frequency!r} is not one of {', '.join(FREQUENCIES)}")
    if enabled and not (user.email and user.email.strip()):
        raise InvalidInput(
            f"{user.username} has no e-mail address: add one (qmm user ... or the "
            "administrator's user page) before turning the digest on"
        )
    found = _subscription(session, user)
    if found is None:
        found = DigestSubscription(user_id=user.id)
        session.add(found)
    found.enabled = enabled
    if frequency is not None:
        found.frequency = frequency
    elif found.frequency is None:
        found.frequency = DigestFrequency.weekly.value
    found.changed_at = utcnow()
    session.flush()
    return digest_choice(session, user=user)


def period_of(frequency: str, today: date) -> str:
    """The period a digest covers: the day, or the ISO week (2026-W49)."""
    if frequency == DigestFrequency.daily.value:
        return today.isoformat()
    year, week, _ = today.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class DueDigest:
    """A digest that should go out: to whom, how often, for which period."""

    username: str
    email: str
    frequency: str
    period: str


@dataclass(frozen=True)
class SkippedDigest:
    """A person left out of this run, and why (already sent, no address, disabled)."""

    username: str
    reason: str


def due_digests(
    session: Session, *, today: date, only: str | None = None
) -> tuple[list[DueDigest], list[SkippedDigest]]:
    """Who gets a digest now: opted in, active, with an address, and not yet sent this period."""
    if only is not None:
        get_user(session, username=only)
    due: list[DueDigest] = []
    skipped: list[SkippedDigest] = []
    query = (
        select(DigestSubscription, User)
        .join(User, User.id == DigestSubscription.user_id)
        .where(DigestSubscription.enabled.is_(True))
        .order_by(User.username)
    )
    if only is not None:
        query = query.where(User.username == only)
    for subscription, user in session.execute(query):
        period = period_of(subscription.frequency, today)
        if not user.is_active or user.disabled_at is not None:
            skipped.append(SkippedDigest(user.username, "the account is disabled"))
        elif not (user.email and user.email.strip()):
            skipped.append(SkippedDigest(user.username, "no e-mail address"))
        elif _sent(session, user, period) is not None:
            skipped.append(SkippedDigest(user.username, f"already sent for {period}"))
        else:
            due.append(DueDigest(user.username, user.email.strip(), subscription.frequency, period))
    if only is not None and not due and not skipped:
        skipped.append(SkippedDigest(only, "has not turned the digest on"))
    return due, skipped


def _sent(session: Session, user: User, period: str) -> SentDigest | None:
    return session.scalar(
        select(SentDigest).where(SentDigest.user_id == user.id, SentDigest.period == period)
    )


# --- what a digest says --------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    """One person's digest for one period, as plain text and simple HTML."""

    recipient: str
    subject: str
    text: str
    html: str
    items: int


def _owns(item: WorkItem, user: User) -> bool:
    names = {user.username.casefold(), user.full_name.casefold()}
    return item.owner.strip().casefold() in names


def _link(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def compose_digest(
    session: Session,
    *,
    user: User,
    sites: Iterable[Site],
    store: EventStore,
    today: date,
    frequency: str,
    base_url: str,
) -> Digest:
    """The digest of a person's worklist: theirs first (overdue first), then FDA, threads, KPIs."""
    found = worklist(
        session,
        reader=UserReader(user),
        sites=sites,
        store=store,
        today=today,
        username=user.username,
    )
    mine = [
        i
        for i in found.items
        if i.kind in SIGN_KINDS
        or (i.kind not in FDA_KINDS | KPI_KINDS | BROKEN_KINDS and _owns(i, user))
    ]
    fda = [i for i in found.items if i.kind in FDA_KINDS]
    kpis = [i for i in found.items if i.kind in KPI_KINDS]
    broken: dict[str, int] = {}
    for i in found.items:
        if i.kind in BROKEN_KINDS:
            broken[i.site] = broken.get(i.site, 0) + i.count
    overdue = sum(1 for i in mine if i.state == OVERDUE)
    when = "today" if frequency == DigestFrequency.daily.value else "this week"
    subject = (
        f"QMM Workbench: {len(mine)} for you {when} ({overdue} overdue), "
        f"{len(fda)} FDA milestones, {len(kpis)} KPI misses"
    )
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("Yours: owned or awaiting your signature, overdue first", _lines(mine, base_url)),
        ("FDA assessment milestones", _lines(fda, base_url)),
        (
            "Broken threads",
            [
                (f"{site}: {count} broken threads", _link(base_url, f"/sites/{site}/threads"))
                for site, count in sorted(broken.items())
            ],
        ),
        ("KPIs missing their target or signalling", _lines(kpis, base_url)),
    ]
    home = _link(base_url, "/")
    settings_link = _link(base_url, "/account/digest")
    greeting = f"Hello {user.full_name}, here is what needs attention on {today.isoformat()}."
    text = [greeting, ""]
    html = [
        "<html><body>",
        f"<p>{escape(greeting)}</p>",
    ]
    for title, lines in sections:
        text.append(f"{title} ({len(lines)})")
        html.append(f"<h2>{escape(title)} ({len(lines)})</h2>")
        if not lines:
            text.append("  nothing")
            html.append("<p>Nothing.</p>")
        else:
            html.append("<ul>")
            for line, link in lines:
                text.append(f"  - {line}\n    {link}")
                html.append(f'<li><a href="{escape(link)}">{escape(line)}</a></li>')
            html.append("</ul>")
        text.append("")
    text.append(f"Open your worklist: {home}")
    text.append(f"Change or stop this digest: {settings_link}")
    html.append(f'<p><a href="{escape(home)}">Open your worklist</a></p>')
    html.append(
        f'<p><small><a href="{escape(settings_link)}">Change or stop this digest</a></small></p>'
    )
    html.append("</body></html>")
    assert user.email is not None
    return Digest(
        recipient=user.email.strip(),
        subject=subject,
        text="\n".join(text) + "\n",
        html="\n".join(html) + "\n",
        items=len(mine) + len(fda) + len(kpis) + sum(broken.values()),
    )


def _lines(items: Sequence[WorkItem], base_url: str) -> list[tuple[str, str]]:
    found = []
    for i in items:
        when = f"due {i.due_on}" if i.due_on is not None else f"{i.age_days} days"
        if i.state == OVERDUE:
            when = f"overdue since {i.due_on} ({i.age_days} days)"
        found.append(
            (
                f"[{i.state}] {i.site} {i.kind_name}: {i.title} (owner {i.owner}, {when})",
                _link(base_url, i.path),
            )
        )
    return found


def digest_message(digest: Digest, *, sender: str, to_name: str) -> EmailMessage:
    """The digest as a multipart/alternative mail: plain text first, HTML second."""
    message = EmailMessage()
    message["Subject"] = digest.subject
    message["From"] = sender
    message["To"] = formataddr((to_name, digest.recipient))
    message["Message-ID"] = make_msgid(domain="qmm-workbench")
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    return message


# --- sending once --------------------------------------------------------------------------


def digest_for(
    session: Session,
    *,
    due: DueDigest,
    sites: Iterable[Site],
    store: EventStore,
    today: date,
    base_url: str,
) -> Digest:
    """Compose the digest a due person gets (read only: a dry run prints it)."""
    user = get_user(session, username=due.username)
    if user.email is None:
        raise NotFound(f"{user.username} has no e-mail address")
    return compose_digest(
        session,
        user=user,
        sites=sites,
        store=store,
        today=today,
        frequency=due.frequency,
        base_url=base_url,
    )


def deliver_digest(session: Session, *, due: DueDigest, digest: Digest, server: MailServer) -> None:
    """Record a digest for its period, then hand it to the SMTP server.

    The record is flushed before the mail goes, so a second run (or one beside this one) meets
    the unique person-and-period row and sends nothing; a failed send raises, and the boundary
    rolls the record back so the next run tries again.
    """
    user = get_user(session, username=due.username)
    if _sent(session, user, due.period) is not None:
        raise Conflict(f"the digest of {user.username} for {due.period} was already sent")
    session.add(
        SentDigest(
            user_id=user.id,
            period=due.period,
            frequency=due.frequency,
            recipient=digest.recipient,
            subject=digest.subject[:300],
            items=digest.items,
        )
    )
    session.flush()
    send_message(server, digest_message(digest, sender=server.sender, to_name=user.full_name))
