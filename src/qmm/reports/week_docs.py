"""The assessment week's documents: the printable agenda (PDF), each attendee's preparation card
(HTML and PDF) and calendar invitation (.ics). Same inputs give the same bytes: the documents
carry the agenda's revision time, never the clock's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import jinja2
from sqlalchemy.orm import Session

from qmm import __version__
from qmm.assessment_week.agenda import AgendaView, local_moment, sessions_of
from qmm.assessment_week.cards import SmeCard
from qmm.models import AgendaSession, AgendaSessionStatus, FdaAgenda, FdaAssessment, SitePerson
from qmm.presentation.formatting import format_utc
from qmm.reports.render import iso_utc, report_pdf

WEEK_TEMPLATES: Final = Path(__file__).parent / "templates"
#: The calendar's product identifier (RFC 5545 PRODID).
PRODID: Final = "-//QMM Workbench//FDA assessment week//EN"
UID_DOMAIN: Final = "qmm-workbench.invalid"
ICS_MEDIA_TYPE: Final = "text/calendar; charset=utf-8"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEEK_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(iso_utc=iso_utc, utc=format_utc)
    env.globals.update(version=__version__)
    return env


_ENV: Final = _environment()


def _stamp(fda_assessment: FdaAssessment, changed_at: datetime | None) -> datetime:
    """The documents' own time: the agenda's last change, else when the visit was recorded."""
    moment = changed_at or fda_assessment.created_at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def agenda_html(view: AgendaView) -> str:
    """The agenda as one self-contained HTML document, ready to print."""
    return _ENV.get_template("week_agenda.html").render(
        view=view,
        visit=view.fda_assessment,
        stamp=_stamp(view.fda_assessment, view.changed_at),
    )


def agenda_pdf(view: AgendaView) -> bytes:
    """The printable agenda: each day's sessions, attendees, and the conflicts still open."""
    return report_pdf(agenda_html(view))


def card_html(card: SmeCard, *, changed_at: datetime | None) -> str:
    """An attendee's preparation card as one HTML document (the page and the PDF alike)."""
    return _ENV.get_template("week_card.html").render(
        card=card, visit=card.fda_assessment, stamp=_stamp(card.fda_assessment, changed_at)
    )


def card_pdf(card: SmeCard, *, changed_at: datetime | None) -> bytes:
    """The card printed to PDF."""
    return report_pdf(card_html(card, changed_at=changed_at))


def session_uid(agenda_session: AgendaSession, fda_assessment: FdaAssessment) -> str:
    """A session's calendar UID: the same for every revision, so updates replace the event."""
    return f"fda-{fda_assessment.id}-session-{agenda_session.id}@{UID_DOMAIN}"


def _location(agenda_session: AgendaSession) -> str:
    parts = [p for p in (agenda_session.room, agenda_session.video_link) if p]
    return " / ".join(parts)


def invitation_ics(
    *,
    fda_assessment: FdaAssessment,
    agenda: FdaAgenda | None,
    person: SitePerson,
    sessions: list[AgendaSession],
) -> bytes:
    """One attendee's sessions as an iCalendar file: local times with their VTIMEZONE, a stable
    UID per session, SEQUENCE the agenda's revision, cancelled sessions as STATUS:CANCELLED."""
    import icalendar

    stamp = _stamp(fda_assessment, agenda.changed_at if agenda is not None else None)
    revision = agenda.revision if agenda is not None else 0
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{fda_assessment.title}: {person.name}")
    calendar.add("x-wr-timezone", fda_assessment.time_zone)
    site = fda_assessment.site
    for planned in sessions:
        event = icalendar.Event()
        event.add("uid", session_uid(planned, fda_assessment))
        event.add("dtstamp", stamp)
        event.add("sequence", revision)
        event.add("dtstart", local_moment(fda_assessment, planned.day, planned.starts_at))
        event.add("dtend", local_moment(fda_assessment, planned.day, planned.ends_at))
        event.add("summary", f"FDA QMM assessment, {site.code}: {planned.topic}")
        cancelled = planned.status == AgendaSessionStatus.cancelled
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        if _location(planned):
            event.add("location", _location(planned))
        if planned.video_link:
            event.add("url", planned.video_link)
        others = sorted(a.person.name for a in planned.attendees)
        event.add(
            "description",
            "\n".join(
                [
                    f"{fda_assessment.title} at {site.code} ({site.name}).",
                    f"Session {planned.id}: {planned.topic}.",
                    f"Attending: {', '.join(others) if others else 'nobody yet'}.",
                    f"Agenda revision {revision}; times are in {fda_assessment.time_zone}.",
                ]
            ),
        )
        if person.email:
            attendee = icalendar.vCalAddress(f"mailto:{person.email}")
            attendee.params["cn"] = icalendar.vText(person.name)
            attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
            event.add("attendee", attendee, encode=False)
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def invitation_for(
    session: Session, *, fda_assessment: FdaAssessment, agenda: FdaAgenda | None, person: SitePerson
) -> bytes:
    """The invitation of one attendee, from the agenda as it stands."""
    return invitation_ics(
        fda_assessment=fda_assessment,
        agenda=agenda,
        person=person,
        sessions=sessions_of(session, fda_assessment=fda_assessment, person=person),
    )
