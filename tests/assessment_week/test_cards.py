"""SME preparation cards: the areas of the person's sessions, the framework's questions, the
evidence mapped there, the KPIs, and the known gaps with the plan actions addressing them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_evidence,
    create_fda_assessment,
    create_person,
    create_site_a,
    rate_sub_elements,
)
from qmm.assessment_week.agenda import add_attendee, add_session, set_person_areas
from qmm.assessment_week.cards import build_card, card_areas, demo_cards
from qmm.assessment_week.examples import add_example, choose_example
from qmm.assessment_week.questionnaire import pre_interview_questions, questions_framework
from qmm.assessment_week.service import choose_self_assessment
from qmm.auth.scope import Operator
from qmm.events.store import EventStore
from qmm.program.plan import generate_plan

TODAY = date(2027, 1, 15)


def test_a_low_score_is_a_gap_with_the_plan_action_that_addresses_it(
    session: Session, tmp_path: Path
) -> None:
    site = create_site_a(session)
    alice = create_alice(session)
    assessment = create_assessment_of(session, site, alice)
    rate_sub_elements(
        session, assessment, alice, {"data_excellence": 2.0, "knowledge_management": 4.5}
    )
    create_evidence(session, site, sub_elements=("data_excellence", "knowledge_management"))
    store = EventStore(tmp_path / "events")
    plan = generate_plan(
        session,
        assessment=assessment,
        owner="Alice Moreau",
        start_on=TODAY,
        today=TODAY,
        store=store,
    )
    visit = create_fda_assessment(session, site)
    choose_self_assessment(session, fda_assessment=visit, assessment=assessment)
    priya = create_person(session, site)
    planned = add_session(
        session,
        fda_assessment=visit,
        day=date(2027, 3, 8),
        starts_at="09:00",
        ends_at="10:00",
        practice_area="technical_excellence",
        room="Lab",
    )
    add_attendee(session, agenda_session=planned, person=priya)
    card = build_card(
        session, fda_assessment=visit, person=priya, reader=Operator(), store=store, today=TODAY
    )
    assert card.assessment is assessment
    assert card.plan_ref == plan.ref
    gaps = {g.sub_element: g for g in card.areas[0].gaps}
    assert gaps["data_excellence"].score == 2.0
    assert "self-assessed 2.0 of 5" in gaps["data_excellence"].why
    assert gaps["data_excellence"].actions
    assert all(a.sub_element == "data_excellence" for a in gaps["data_excellence"].actions)
    assert "knowledge_management" not in gaps  # scored 4.5 with evidence: no gap


def test_a_person_in_topic_sessions_only_gets_the_areas_they_speak_for(
    session: Session, tmp_path: Path
) -> None:
    site = create_site_a(session)
    visit = create_fda_assessment(session, site)
    tomas = create_person(session, site, name="Tomás Ruiz")
    set_person_areas(session, person=tomas, practice_areas=["business_continuity"])
    tour = add_session(
        session,
        fda_assessment=visit,
        day=date(2027, 3, 9),
        starts_at="10:00",
        ends_at="11:00",
        topic="Plant tour",
        room="Gowning room",
    )
    add_attendee(session, agenda_session=tour, person=tomas)
    assert card_areas(session, fda_assessment=visit, person=tomas) == ["business_continuity"]
    cards = demo_cards(
        session,
        fda_assessment=visit,
        reader=Operator(),
        store=EventStore(tmp_path / "events"),
        today=TODAY,
    )
    assert [c.person.name for c in cards] == ["Tomás Ruiz"]
    assert [a.code for a in cards[0].areas] == ["business_continuity"]
    assert cards[0].assessment is None  # no self-assessment yet: said, not invented


def test_a_card_asks_the_pre_interview_questions_and_tells_the_chosen_examples(
    session: Session, tmp_path: Path
) -> None:
    site = create_site_a(session)
    visit = create_fda_assessment(session, site)
    priya = create_person(session, site)
    planned = add_session(
        session,
        fda_assessment=visit,
        day=date(2027, 3, 8),
        starts_at="09:00",
        ends_at="10:00",
        practice_area="advanced_pqs",
        room="Board room",
    )
    add_attendee(session, agenda_session=planned, person=priya)
    told = add_example(
        session,
        site=site,
        title="Repeat deviations stopped",
        situation="Three deviations from one air handler.",
        action_taken="Filters changed quarterly.",
        result="No repeat in six months.",
        owner="QA Engineer",
        practice_areas=["advanced_pqs"],
    )
    add_example(
        session,
        site=site,
        title="Drill met its target",
        situation="A supplier outage.",
        action_taken="Switched to the backup source.",
        result="Recovered in 30 hours against 48.",
        owner="Supply Chain Lead",
        practice_areas=["business_continuity"],
    )
    choose_example(session, fda_assessment=visit, example=told)
    framework = questions_framework(session, site=site, fda_assessment=visit)
    asked = {
        q.code
        for q in pre_interview_questions(session, site=site, framework=framework)
        if q.practice_area == "advanced_pqs"
    }

    card = build_card(
        session,
        fda_assessment=visit,
        person=priya,
        reader=Operator(),
        store=EventStore(tmp_path / "events"),
        today=TODAY,
    )

    (area,) = card.areas
    assert {q.code for q in area.questions} == asked
    assert [e.title for e in area.examples] == ["Repeat deviations stopped"]
    assert area.examples[0].href == f"/sites/SITE-A/examples/{told.ref}"
