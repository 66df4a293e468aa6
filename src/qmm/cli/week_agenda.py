"""`qmm week agenda` and `qmm week card`: the assessment week's sessions, attendees, conflicts,
printable agenda and invitations; each attendee's preparation card."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.orm import Session

from qmm.assessment_week.agenda import (
    add_attendee,
    add_session,
    agenda_view,
    cancel_session,
    change_session,
    find_agenda,
    get_session,
    remove_attendee,
    set_person_areas,
)
from qmm.assessment_week.agenda_schemas import AgendaOut, SmeCardOut
from qmm.assessment_week.cards import build_card
from qmm.assessment_week.service import get_fda_assessment, get_person
from qmm.auth.permissions import Permission
from qmm.cli.common import (
    OutputFormat,
    acting_reader,
    boundary,
    console,
    fail,
    print_json,
    print_table,
    refuse_link,
)
from qmm.cli.program_common import optional_day, site_for, utc_today
from qmm.metrics.service import event_store
from qmm.models import FdaAssessment

agenda_app = typer.Typer(
    help="The assessment week's agenda: sessions, attendees, conflicts, PDF and .ics invitations.",
    no_args_is_help=True,
)
card_app = typer.Typer(
    help="SME preparation cards: sessions, likely questions, evidence, KPIs and known gaps.",
    no_args_is_help=True,
)

FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
NUMBER = typer.Argument(..., help="The FDA assessment's number (`qmm week list`).")
SESSION = typer.Argument(..., help="The session's number (`qmm week agenda show`).")
PERSON = typer.Option(..., "--person", help="The person's number (`qmm week people`).")
OUT = typer.Option(..., "--out", help="File to write, whole or not at all.")


def _visit(session: Session, number: int, permission: Permission) -> FdaAssessment:
    visit = get_fda_assessment(session, fda_assessment_id=number)
    site_for(session, visit.site.code, permission)
    return visit


def _check_out(out: Path) -> None:
    refuse_link(out)
    if out.is_dir():
        fail(f"--out {out} is a folder; name the file to write")
    if not out.parent.is_dir():
        fail(f"--out {out}: folder {out.parent} does not exist")


def _print_agenda(out: AgendaOut) -> None:
    print_table(
        f"Agenda of FDA assessment {out.fda_assessment_id} ({out.site}), revision "
        f"{out.revision}; times in {out.time_zone}",
        ["session", "day", "time", "topic", "where", "attendees", "status", "flags"],
        [
            [
                s.id,
                s.day,
                f"{s.starts_at}-{s.ends_at}",
                s.topic,
                " / ".join(p for p in (s.room, s.video_link) if p),
                ", ".join(
                    a.name + (" (double-booked)" if a.double_booked else "") for a in s.attendees
                ),
                s.status,
                ", ".join(s.conflicts),
            ]
            for s in out.sessions
        ],
    )
    for c in out.conflicts:
        console.print(f"[bold red]![/] {c.kind}: {c.message}", highlight=False, soft_wrap=True)
    if not out.conflicts:
        console.print("No conflict.")


def _show(session: Session, visit: FdaAssessment, fmt: OutputFormat) -> None:
    out = AgendaOut.of(agenda_view(session, fda_assessment=visit))
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _print_agenda(out)


@agenda_app.command("show")
def show(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """The week's sessions by day with attendees, and the conflicts to resolve."""
    with boundary() as session:
        _show(session, _visit(session, number, Permission.site_read), fmt)


@agenda_app.command("add")
def add(
    number: int = NUMBER,
    day: str = typer.Option(..., "--day", help="Day of the week, YYYY-MM-DD."),
    starts_at: str = typer.Option(..., "--starts-at", help="Local start, HH:MM (24 hours)."),
    ends_at: str = typer.Option(..., "--ends-at", help="Local end, HH:MM."),
    area: str | None = typer.Option(None, "--area", help="Practice area code, e.g. advanced_pqs."),
    topic: str | None = typer.Option(None, "--topic", help="Topic (default the area's name)."),
    room: str | None = typer.Option(None, "--room", help="Room on site."),
    video_link: str | None = typer.Option(None, "--video-link", help="https:// link to join."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Plan a session: a practice area or a topic, local times, a room or a video link."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        add_session(
            session,
            fda_assessment=visit,
            day=optional_day(day, option="--day"),
            starts_at=starts_at,
            ends_at=ends_at,
            practice_area=area,
            topic=topic,
            room=room,
            video_link=video_link,
        )
        _show(session, visit, fmt)


@agenda_app.command("change")
def change(
    number: int = NUMBER,
    session_id: int = SESSION,
    day: str | None = typer.Option(None, "--day", help="New day, YYYY-MM-DD."),
    starts_at: str | None = typer.Option(None, "--starts-at", help="New local start, HH:MM."),
    ends_at: str | None = typer.Option(None, "--ends-at", help="New local end, HH:MM."),
    area: str | None = typer.Option(None, "--area", help="New practice area code."),
    topic: str | None = typer.Option(None, "--topic", help="New topic."),
    room: str | None = typer.Option(None, "--room", help="New room."),
    video_link: str | None = typer.Option(None, "--video-link", help="New video link."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Move a session or change its area, topic or place (the invitations' SEQUENCE rises)."""
    given = {
        "day": optional_day(day, option="--day"),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "practice_area": area,
        "topic": topic,
        "room": room,
        "video_link": video_link,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        fail(
            "give at least one of --day, --starts-at, --ends-at, --area, --topic, --room, "
            "--video-link"
        )
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        planned = get_session(session, fda_assessment=visit, session_id=session_id)
        change_session(session, agenda_session=planned, **changes)
        _show(session, visit, fmt)


@agenda_app.command("cancel")
def cancel(number: int = NUMBER, session_id: int = SESSION) -> None:
    """Cancel a session; attendees' invitations then carry it as STATUS:CANCELLED."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        cancel_session(
            session,
            agenda_session=get_session(session, fda_assessment=visit, session_id=session_id),
        )
    typer.echo(f"session {session_id} of FDA assessment {number} is cancelled")


@agenda_app.command("attend")
def attend(
    number: int = NUMBER,
    session_id: int = SESSION,
    person: int = PERSON,
    remote: bool = typer.Option(False, "--remote", help="Joins by video."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Put one of the site's people in a session; a double booking is flagged, not refused."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        planned = get_session(session, fda_assessment=visit, session_id=session_id)
        add_attendee(
            session,
            agenda_session=planned,
            person=get_person(session, site=visit.site, person_id=person),
            remote=remote,
        )
        _show(session, visit, fmt)


@agenda_app.command("leave")
def leave(
    number: int = NUMBER,
    session_id: int = SESSION,
    person: int = PERSON,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Take a person out of a session (to fix a double booking, say)."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        planned = get_session(session, fda_assessment=visit, session_id=session_id)
        remove_attendee(
            session,
            agenda_session=planned,
            person=get_person(session, site=visit.site, person_id=person),
        )
        _show(session, visit, fmt)


@agenda_app.command("speaks-for")
def speaks_for(
    site: str = typer.Option(..., "--site", help="Site code, e.g. SITE-A."),
    person: int = PERSON,
    area: list[str] = typer.Option(
        [], "--area", help="A practice area code the person speaks for; repeat for more."
    ),
) -> None:
    """Set the practice areas a person can speak for (a session of the area wants one of them)."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        someone = get_person(session, site=the_site, person_id=person)
        held = set_person_areas(session, person=someone, practice_areas=area)
    typer.echo(f"{someone.name} speaks for: {', '.join(held) or 'no practice area'}")


@agenda_app.command("pdf")
def pdf(number: int = NUMBER, out: Path = OUT) -> None:
    """The printable agenda as a PDF (the same agenda gives the same bytes)."""
    from qmm.reports.exports import write_file
    from qmm.reports.week_docs import agenda_pdf

    _check_out(out)
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        content = agenda_pdf(agenda_view(session, fda_assessment=visit))
        write_file(out, content)
    typer.echo(f"wrote the agenda of FDA assessment {number} to {out} ({len(content):,} bytes)")


@agenda_app.command("ics")
def ics(number: int = NUMBER, person: int = PERSON, out: Path = OUT) -> None:
    """One attendee's calendar invitation (.ics): their sessions at local time, updates by
    SEQUENCE, cancelled sessions as STATUS:CANCELLED."""
    from qmm.reports.exports import write_file
    from qmm.reports.week_docs import invitation_for

    _check_out(out)
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        someone = get_person(session, site=visit.site, person_id=person)
        content = invitation_for(
            session,
            fda_assessment=visit,
            agenda=find_agenda(session, fda_assessment=visit),
            person=someone,
        )
        write_file(out, content)
    typer.echo(f"wrote {someone.name}'s invitation to {out} ({len(content):,} bytes)")


# --- cards ------------------------------------------------------------------------------------


@card_app.command("show")
def card_show(number: int = NUMBER, person: int = PERSON, fmt: OutputFormat = FORMAT) -> None:
    """One attendee's card: sessions, likely questions, evidence, KPIs, gaps and plan actions."""
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        card = build_card(
            session,
            fda_assessment=visit,
            person=get_person(session, site=visit.site, person_id=person),
            reader=acting_reader(session),
            store=event_store(),
            today=utc_today(),
        )
        out = SmeCardOut.of(card)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    print_table(
        f"{out.name}'s sessions ({out.time_zone})",
        ["session", "day", "time", "topic", "where"],
        [
            [s.id, s.day, f"{s.starts_at}-{s.ends_at}", s.topic, s.room or s.video_link or ""]
            for s in out.sessions
        ],
    )
    for area in out.areas:
        console.print(
            f"[bold]{area.name}[/]: {len(area.questions)} likely questions, "
            f"{len(area.evidence)} evidence items, {len(area.kpis)} KPIs",
            highlight=False,
        )
        for gap in area.gaps:
            actions = "; ".join(f"#{a.number} {a.title} ({a.status})" for a in gap.actions)
            console.print(
                f"  gap {gap.name}: {gap.why}"
                + (f" -> {actions}" if actions else " -> no plan action"),
                highlight=False,
                soft_wrap=True,
            )


@card_app.command("pdf")
def card_pdf_command(number: int = NUMBER, person: int = PERSON, out: Path = OUT) -> None:
    """One attendee's card as a PDF."""
    from qmm.reports.exports import write_file
    from qmm.reports.week_docs import card_pdf

    _check_out(out)
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        agenda = find_agenda(session, fda_assessment=visit)
        card = build_card(
            session,
            fda_assessment=visit,
            person=get_person(session, site=visit.site, person_id=person),
            reader=acting_reader(session),
            store=event_store(),
            today=utc_today(),
        )
        content = card_pdf(card, changed_at=agenda.changed_at if agenda else None)
        write_file(out, content)
    typer.echo(f"wrote {card.person.name}'s card to {out} ({len(content):,} bytes)")
