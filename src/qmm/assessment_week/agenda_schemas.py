"""The agenda's and the preparation card's one JSON shape, shared by the API and `--format json`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from qmm.assessment_week.agenda import AgendaConflict, AgendaView, SessionView
from qmm.assessment_week.cards import SmeCard
from qmm.models import AgendaSession


class AttendeeOut(BaseModel):
    """One attendee of a session."""

    person_id: int
    name: str
    job_title: str
    department: str
    remote: bool
    practice_areas: list[str]
    double_booked: bool


class ConflictOut(BaseModel):
    """Something the planner must fix or accept."""

    kind: str
    message: str
    session_ids: list[int]
    person_id: int | None
    practice_area: str | None

    @classmethod
    def of(cls, conflict: AgendaConflict) -> ConflictOut:
        return cls(
            kind=conflict.kind,
            message=conflict.message,
            session_ids=list(conflict.session_ids),
            person_id=conflict.person_id,
            practice_area=conflict.practice_area,
        )


class AgendaSessionOut(BaseModel):
    """One session: its local times in the assessment's zone, place, attendees, conflicts."""

    id: int
    day: date
    starts_at: str
    ends_at: str
    time_zone: str
    practice_area: str | None
    topic: str
    room: str | None
    video_link: str | None
    status: str
    attendees: list[AttendeeOut]
    conflicts: list[str]

    @classmethod
    def of(cls, view: SessionView, *, time_zone: str) -> AgendaSessionOut:
        s = view.session
        return cls(
            id=s.id,
            day=s.day,
            starts_at=f"{s.starts_at:%H:%M}",
            ends_at=f"{s.ends_at:%H:%M}",
            time_zone=time_zone,
            practice_area=s.practice_area,
            topic=s.topic,
            room=s.room,
            video_link=s.video_link,
            status=s.status,
            attendees=[
                AttendeeOut(
                    person_id=a.person.id,
                    name=a.person.name,
                    job_title=a.person.job_title,
                    department=a.person.department,
                    remote=a.remote,
                    practice_areas=list(a.areas),
                    double_booked=a.double_booked,
                )
                for a in view.attendees
            ],
            conflicts=[c.kind for c in view.conflicts],
        )


class AgendaOut(BaseModel):
    """The week's agenda with its revision (the invitations' SEQUENCE) and open conflicts."""

    fda_assessment_id: int
    site: str
    time_zone: str
    starts_on: date
    ends_on: date
    revision: int
    changed_at: datetime | None
    sessions: list[AgendaSessionOut]
    conflicts: list[ConflictOut]

    @classmethod
    def of(cls, view: AgendaView) -> AgendaOut:
        visit = view.fda_assessment
        return cls(
            fda_assessment_id=visit.id,
            site=visit.site.code,
            time_zone=visit.time_zone,
            starts_on=visit.starts_on,
            ends_on=visit.ends_on,
            revision=view.revision,
            changed_at=view.changed_at,
            sessions=[AgendaSessionOut.of(s, time_zone=visit.time_zone) for s in view.sessions()],
            conflicts=[ConflictOut.of(c) for c in view.conflicts],
        )


class CardKpiOut(BaseModel):
    kpi: str
    name: str
    group: str | None
    value: float | None
    value_text: str
    period: str
    trend: str | None
    target: str
    verdict: str


class CardActionOut(BaseModel):
    number: int
    title: str
    owner: str
    due_on: date
    status: str


class CardGapOut(BaseModel):
    sub_element: str
    name: str
    score: float | None
    evidence_count: int
    why: str
    actions: list[CardActionOut]


class CardAreaOut(BaseModel):
    code: str
    name: str
    questions: list[str]
    evidence: list[str]
    examples: list[str]
    kpis: list[CardKpiOut]
    gaps: list[CardGapOut]
    other_actions: list[CardActionOut]


class CardSessionOut(BaseModel):
    id: int
    day: date
    starts_at: str
    ends_at: str
    topic: str
    room: str | None
    video_link: str | None

    @classmethod
    def of(cls, s: AgendaSession) -> CardSessionOut:
        return cls(
            id=s.id,
            day=s.day,
            starts_at=f"{s.starts_at:%H:%M}",
            ends_at=f"{s.ends_at:%H:%M}",
            topic=s.topic,
            room=s.room,
            video_link=s.video_link,
        )


class SmeCardOut(BaseModel):
    """One attendee's preparation card."""

    fda_assessment_id: int
    person_id: int
    name: str
    time_zone: str
    as_of: date
    speaks_for: list[str]
    self_assessment_id: int | None
    plan: str | None
    sessions: list[CardSessionOut]
    areas: list[CardAreaOut]

    @classmethod
    def of(cls, card: SmeCard) -> SmeCardOut:
        return cls(
            fda_assessment_id=card.fda_assessment.id,
            person_id=card.person.id,
            name=card.person.name,
            time_zone=card.fda_assessment.time_zone,
            as_of=card.as_of,
            speaks_for=list(card.speaks_for),
            self_assessment_id=card.assessment.id if card.assessment else None,
            plan=card.plan_ref,
            sessions=[CardSessionOut.of(s) for s in card.sessions],
            areas=[
                CardAreaOut(
                    code=a.code,
                    name=a.name,
                    questions=[q.text for q in a.questions],
                    evidence=[f"{i.ref} {i.title}" for _, items in a.evidence for i in items],
                    examples=[e.title for e in a.examples],
                    kpis=[
                        CardKpiOut(
                            kpi=t.definition.id,
                            name=t.title,
                            group=t.group,
                            value=t.latest.value if t.latest is not None else None,
                            value_text=t.value_text,
                            period=t.period_text,
                            trend=f"{t.trend.arrow} {t.trend.words}" if t.trend else None,
                            target=t.target_text,
                            verdict=t.verdict,
                        )
                        for t in a.kpis
                    ],
                    gaps=[
                        CardGapOut(
                            sub_element=g.sub_element,
                            name=g.sub_element_name,
                            score=g.score,
                            evidence_count=g.evidence_count,
                            why=g.why,
                            actions=[
                                CardActionOut(
                                    number=x.number,
                                    title=x.title,
                                    owner=x.owner,
                                    due_on=x.due_on,
                                    status=x.status,
                                )
                                for x in g.actions
                            ],
                        )
                        for g in a.gaps
                    ],
                    other_actions=[
                        CardActionOut(
                            number=x.number,
                            title=x.title,
                            owner=x.owner,
                            due_on=x.due_on,
                            status=x.status,
                        )
                        for x in a.other_actions
                    ],
                )
                for a in card.areas
            ],
        )
