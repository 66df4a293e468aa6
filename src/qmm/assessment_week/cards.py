"""SME preparation cards: one page per attendee with their sessions, the questions likely asked,
the examples and evidence to bring, their areas' KPIs with current values and trends, and the
site's known gaps in those areas with the plan actions that address them.

Why: FDA's assessors talk to the people doing the work; each of them walks in knowing what will
be asked, what to show, and where the site is honestly weak and what it is doing about it.

Which areas a card covers: the practice areas of the sessions the person attends; a person in
topic sessions only (opening, plant tour) gets the areas they speak for (set_person_areas).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy.orm import Session

from qmm.assessment.scoring import SubElementScore
from qmm.assessment.service import compute_scores, get_assessment
from qmm.assessment_week.agenda import find_agenda, person_areas, sessions_of
from qmm.assessment_week.examples import app_path, chosen_examples, list_examples
from qmm.assessment_week.questionnaire import pre_interview_questions, questions_framework
from qmm.auth.scope import (
    Reader,
    latest_readable_assessment,
    may_read_assessment,
)
from qmm.errors import NotFound
from qmm.events.store import EventStore
from qmm.evidence.service import evidence_by_sub_element, site_framework
from qmm.metrics.catalogue import KPIS
from qmm.models import (
    AgendaSession,
    AgendaSessionStatus,
    Assessment,
    EvidenceItem,
    ExampleStatus,
    FdaAssessment,
    PlanAction,
    ReadinessPlanStatus,
    SitePerson,
)
from qmm.presentation.kpis import KPIRequest, Tile, tile
from qmm.program.plan import LOW_SCORE_BELOW, current_readable_plan

#: The KPI trends on a card are monthly, as on the dashboard's default and the readiness report.
CARD_PERIOD: Final = "month"


@dataclass(frozen=True)
class CardQuestion:
    """A question FDA is likely to ask, with the sub-element it probes."""

    code: str
    text: str
    sub_element: str


@dataclass(frozen=True)
class CardExample:
    """An example to tell (from the site's examples library)."""

    title: str
    summary: str
    href: str


@dataclass(frozen=True)
class CardGap:
    """A known gap: a sub-element scored low or without current evidence, and its actions."""

    sub_element: str
    sub_element_name: str
    score: float | None
    evidence_count: int
    actions: tuple[PlanAction, ...]

    @property
    def why(self) -> str:
        reasons = []
        if self.score is not None and self.score < LOW_SCORE_BELOW:
            reasons.append(f"self-assessed {self.score:.1f} of 5")
        if self.evidence_count == 0:
            reasons.append("no current evidence in the index")
        return "; ".join(reasons)


@dataclass(frozen=True)
class CardArea:
    """Everything one practice area puts on the card."""

    code: str
    name: str
    questions: tuple[CardQuestion, ...]
    evidence: tuple[tuple[str, tuple[EvidenceItem, ...]], ...]
    examples: tuple[CardExample, ...]
    kpis: tuple[Tile, ...]
    gaps: tuple[CardGap, ...]
    #: The plan's other actions on the area's sub-elements (a KPI off target, the checklist).
    other_actions: tuple[PlanAction, ...] = ()


@dataclass(frozen=True)
class SmeCard:
    """One attendee's preparation card."""

    fda_assessment: FdaAssessment
    person: SitePerson
    sessions: tuple[AgendaSession, ...]
    area_names: dict[str, str]
    areas: tuple[CardArea, ...]
    speaks_for: tuple[str, ...]
    assessment: Assessment | None
    plan_ref: str | None
    as_of: date


def likely_questions(
    session: Session, *, fda_assessment: FdaAssessment, area_code: str
) -> list[CardQuestion]:
    """The questions likely asked in an area: the site's pre-interview questions of that area
    (its own set once edited, else the shipped default), from the questionnaire's framework."""
    framework = questions_framework(
        session, site=fda_assessment.site, fda_assessment=fda_assessment
    )
    return [
        CardQuestion(code=q.code, text=q.text, sub_element=q.sub_element_name)
        for q in pre_interview_questions(session, site=fda_assessment.site, framework=framework)
        if q.practice_area == area_code
    ]


def card_examples(
    session: Session, *, fda_assessment: FdaAssessment, area_code: str
) -> list[CardExample]:
    """The examples to tell in an area: those chosen for this assessment, else the site's
    examples approved for sharing that demonstrate the area."""
    chosen = chosen_examples(session, fda_assessment=fda_assessment) or list_examples(
        session, site=fda_assessment.site, status=ExampleStatus.approved
    )
    return [
        CardExample(title=e.title, summary=e.result, href=app_path(e))
        for e in chosen
        if area_code in e.practice_areas
    ]


def _kpi_tiles(kpi_request: KPIRequest, *, site: str, area_code: str) -> list[Tile]:
    chosen = [k for k in KPIS if area_code in k.practice_areas]
    values = kpi_request.values(site=site, kpis=[k.id for k in chosen], period=CARD_PERIOD)
    tiles: list[Tile] = []
    for definition in chosen:
        for group in definition.groups or (None,):
            tiles.append(
                tile(values, site=site, kpi=definition.id, group=group, period=CARD_PERIOD)
            )
    return tiles


def _assessment(
    session: Session, *, fda_assessment: FdaAssessment, reader: Reader
) -> Assessment | None:
    """The self-assessment chosen for FDA's visit if the reader may read it, else the latest."""
    if fda_assessment.self_assessment_id is not None:
        chosen = get_assessment(session, assessment_id=fda_assessment.self_assessment_id)
        if may_read_assessment(session, reader=reader, assessment=chosen):
            return chosen
    try:
        return latest_readable_assessment(session, reader=reader, site=fda_assessment.site)
    except NotFound:
        return None


def card_areas(session: Session, *, fda_assessment: FdaAssessment, person: SitePerson) -> list[str]:
    """The practice areas a card covers: its sessions' areas, else the areas they speak for."""
    from_sessions = [
        s.practice_area
        for s in sessions_of(session, fda_assessment=fda_assessment, person=person)
        if s.status == AgendaSessionStatus.scheduled and s.practice_area is not None
    ]
    return list(dict.fromkeys(from_sessions)) or person_areas(session, person=person)


def build_card(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    person: SitePerson,
    reader: Reader,
    store: EventStore,
    today: date,
) -> SmeCard:
    """One attendee's card, every figure from the services the pages use."""
    site = fda_assessment.site
    if person.site_id != site.id:
        raise NotFound(f"{site.code} has no person {person.id}")
    framework = site_framework(session, site=site)
    names = {pa.code: pa.name for pa in framework.practice_areas}
    codes = [
        c for c in names if c in card_areas(session, fda_assessment=fda_assessment, person=person)
    ]
    assessment = _assessment(session, fda_assessment=fda_assessment, reader=reader)
    scores: dict[str, SubElementScore] = (
        compute_scores(session, assessment=assessment).sub_elements if assessment else {}
    )
    plan = current_readable_plan(session, reader=reader, site=site, today=today)
    actions = (
        list(plan.actions)
        if plan is not None and plan.status != ReadinessPlanStatus.discarded.value
        else []
    )
    evidence = {pa.code: pa for pa in evidence_by_sub_element(session, site=site)}
    kpi_request = KPIRequest(session, store)
    areas: list[CardArea] = []
    for code in codes:
        held = evidence.get(code)
        subs = held.sub_elements if held is not None else ()
        gaps: list[CardGap] = []
        for sub in subs:
            score = scores.get(sub.code)
            value = score.score if score is not None else None
            if (value is not None and value < LOW_SCORE_BELOW) or not sub.items:
                gaps.append(
                    CardGap(
                        sub_element=sub.code,
                        sub_element_name=sub.name,
                        score=value,
                        evidence_count=len(sub.items),
                        actions=tuple(a for a in actions if a.sub_element == sub.code),
                    )
                )
        areas.append(
            CardArea(
                code=code,
                name=names[code],
                questions=tuple(
                    likely_questions(session, fda_assessment=fda_assessment, area_code=code)
                ),
                evidence=tuple((sub.name, sub.items) for sub in subs if sub.items),
                examples=tuple(
                    card_examples(session, fda_assessment=fda_assessment, area_code=code)
                ),
                kpis=tuple(_kpi_tiles(kpi_request, site=site.code, area_code=code)),
                gaps=tuple(gaps),
                other_actions=tuple(
                    a
                    for a in actions
                    if a.sub_element in {sub.code for sub in subs}
                    and a.sub_element not in {g.sub_element for g in gaps}
                ),
            )
        )
    return SmeCard(
        fda_assessment=fda_assessment,
        person=person,
        sessions=tuple(
            s
            for s in sessions_of(session, fda_assessment=fda_assessment, person=person)
            if s.status == AgendaSessionStatus.scheduled
        ),
        area_names=names,
        areas=tuple(areas),
        speaks_for=tuple(person_areas(session, person=person)),
        assessment=assessment,
        plan_ref=plan.ref if plan is not None and actions else None,
        as_of=today,
    )


def attendees(session: Session, *, fda_assessment: FdaAssessment) -> list[SitePerson]:
    """Everyone who attends a scheduled session of the week, by name: one card each."""
    agenda = find_agenda(session, fda_assessment=fda_assessment)
    people: dict[int, SitePerson] = {}
    for planned in agenda.sessions if agenda is not None else []:
        if planned.status == AgendaSessionStatus.scheduled:
            for attendee in planned.attendees:
                people[attendee.person_id] = attendee.person
    return sorted(people.values(), key=lambda p: p.name)


def demo_cards(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    reader: Reader,
    store: EventStore,
    today: date,
) -> Sequence[SmeCard]:
    """For the demo: every attendee's card (the agenda from `demo_agenda` gives them)."""
    return [
        build_card(
            session,
            fda_assessment=fda_assessment,
            person=person,
            reader=reader,
            store=store,
            today=today,
        )
        for person in attendees(session, fda_assessment=fda_assessment)
    ]
