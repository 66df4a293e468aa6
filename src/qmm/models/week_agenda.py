"""The FDA assessment week's agenda: sessions per day, who attends each, and what each of the
site's people can speak for; one revision counter so calendar invitations can be updated."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.assessment_week import FdaAssessment, SitePerson
from qmm.models.base import Base, UTCDateTime, utcnow


class AgendaSessionStatus(StrEnum):
    """A session is held as planned, or cancelled (kept so invitations can say so)."""

    scheduled = "scheduled"
    cancelled = "cancelled"


class FdaAgenda(Base):
    """The agenda of one FDA assessment: its revision grows with every change (ICS SEQUENCE)."""

    __tablename__ = "fda_agendas"

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_assessment_id: Mapped[int] = mapped_column(
        ForeignKey("fda_assessments.id"), unique=True, index=True
    )
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120))

    fda_assessment: Mapped[FdaAssessment] = relationship()
    sessions: Mapped[list[AgendaSession]] = relationship(
        back_populates="agenda", order_by="AgendaSession.id"
    )


class AgendaSession(Base):
    """One session of the week: a practice area (or another topic), its local times and place."""

    __tablename__ = "fda_agenda_sessions"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_id: Mapped[int] = mapped_column(ForeignKey("fda_agendas.id"), index=True)
    #: A practice area code of the framework, or None for a topic (opening, plant tour...).
    practice_area: Mapped[str | None] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(200))
    day: Mapped[date] = mapped_column(Date)
    #: Wall-clock times in the FDA assessment's time zone.
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)
    room: Mapped[str | None] = mapped_column(String(200))
    video_link: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=AgendaSessionStatus.scheduled)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agenda: Mapped[FdaAgenda] = relationship(back_populates="sessions")
    attendees: Mapped[list[AgendaAttendee]] = relationship(
        back_populates="session", order_by="AgendaAttendee.id"
    )


class AgendaAttendee(Base):
    """One of the site's people attending a session, in the room or remotely."""

    __tablename__ = "fda_agenda_attendees"
    __table_args__ = (UniqueConstraint("session_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("fda_agenda_sessions.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("site_people.id"), index=True)
    remote: Mapped[bool] = mapped_column(default=False)

    session: Mapped[AgendaSession] = relationship(back_populates="attendees")
    person: Mapped[SitePerson] = relationship()


class PersonPracticeArea(Base):
    """A practice area a person can speak for: a session in that area wants one of them."""

    __tablename__ = "site_person_practice_areas"
    __table_args__ = (UniqueConstraint("person_id", "practice_area"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("site_people.id"), index=True)
    practice_area: Mapped[str] = mapped_column(String(80))

    person: Mapped[SitePerson] = relationship()
