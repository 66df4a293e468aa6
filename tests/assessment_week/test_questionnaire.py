"""The pre-interview questionnaire: the site's questions (shipped default, edited), answers
drafted from the self-assessment and the chosen examples, a second person's review, and the
site head's signature under the two-person rule."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import (
    create_assessment_of,
    create_fda_assessment,
    create_site_a,
    create_site_b,
    rate_sub_elements,
)
from qmm.assessment_week.examples import (
    add_example,
    approve_example,
    choose_example,
    chosen_examples,
    review_example,
)
from qmm.assessment_week.questionnaire import (
    check_signable,
    default_question_codes,
    demo_week_preparation,
    draft_from,
    edit_answer,
    get_answer,
    get_questionnaire,
    pre_interview_questions,
    questions_framework,
    redraft_answer,
    reset_questions,
    review_questionnaire,
    sign_questionnaire,
    start_questionnaire,
    tag_question,
    untag_question,
)
from qmm.assessment_week.service import choose_self_assessment
from qmm.audit.scope import audit_scope
from qmm.audit.signatures import signatures_for
from qmm.audit.trail import Actor, acting
from qmm.auth.service import create_user, grant_role
from qmm.auth.signing import SecondPersonRequired
from qmm.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.models import AuditEntry, FdaAssessment, Site, User, WeekExample
from qmm.program.common import InvalidProgramInput
from qmm.sites.service import set_two_person_rule

PASSWORD = "correct horse battery"


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


@pytest.fixture
def lead(session: Session, site: Site) -> User:
    user = create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)
    grant_role(session, user=user, role="site_quality_lead", site=site)
    return user


@pytest.fixture
def head(session: Session, site: Site) -> User:
    user = create_user(session, username="hana", full_name="Hana Site-Head", password=PASSWORD)
    grant_role(session, user=user, role="site_quality_lead", site=site)
    return user


@pytest.fixture
def visit(session: Session, site: Site, lead: User) -> FdaAssessment:
    fda = create_fda_assessment(session, site)
    assessment = create_assessment_of(session, site, lead)
    rate_sub_elements(
        session, assessment, lead, {"capa_effectiveness": 4, "quality_risk_management": 3}
    )
    choose_self_assessment(session, fda_assessment=fda, assessment=assessment)
    return fda


def as_user(session: Session, name: str) -> AbstractContextManager[None]:
    return acting(session, Actor(label=name))


def story(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "title": "Air handler repeat deviations stopped",
        "situation": "Three deviations in a quarter from one air handler.",
        "action_taken": "Filters replaced and changed quarterly.",
        "result": "Repeat deviation rate from 40 % to 0 % in the next quarter.",
        "owner": "QA Engineer",
        "sub_elements": ["capa_effectiveness"],
    }
    fields.update(overrides)
    return fields


def test_the_default_set_is_one_or_two_questions_per_sub_element(
    session: Session, site: Site
) -> None:
    framework = questions_framework(session, site=site)
    codes = default_question_codes(framework)
    subs = [se for pa in framework.practice_areas for se in pa.sub_elements]
    assert len(codes) == len(subs) + 6  # two for the six sub-elements FDA named
    assert "capa_effectiveness.q1" in codes
    assert "capa_effectiveness.q2" not in codes
    assert {"data_excellence.q1", "data_excellence.q2"} <= set(codes)
    items = pre_interview_questions(session, site=site, framework=framework)
    assert [i.code for i in items] == codes
    assert {i.practice_area for i in items} == set(PRACTICE_AREA_CODES)


def test_a_site_edits_its_set_and_can_go_back_to_the_default(session: Session, site: Site) -> None:
    framework = questions_framework(session, site=site)
    tag_question(session, site=site, code="capa_effectiveness.q2")
    untag_question(session, site=site, code="data_excellence.q2")
    codes = [i.code for i in pre_interview_questions(session, site=site, framework=framework)]
    assert "capa_effectiveness.q2" in codes
    assert "data_excellence.q2" not in codes
    with pytest.raises(Conflict, match="already"):
        tag_question(session, site=site, code="capa_effectiveness.q2")
    with pytest.raises(InvalidInput, match=r"'nope\.q9' is not in qmm-default"):
        tag_question(session, site=site, code="nope.q9")
    with pytest.raises(NotFound, match="not one of SITE-A's pre-interview questions"):
        untag_question(session, site=site, code="data_excellence.q2")
    reset_questions(session, site=site)
    removals = session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "pre_interview_questions", AuditEntry.action == "delete"
        )
    ).all()
    assert len(removals) == len(default_question_codes(framework)) + 1  # the untag, the reset
    again = [i.code for i in pre_interview_questions(session, site=site, framework=framework)]
    assert again == default_question_codes(framework)


def test_answers_are_drafted_from_the_self_assessment_and_chosen_examples(
    session: Session, site: Site, visit: FdaAssessment
) -> None:
    example = add_example(session, site=site, **story())  # type: ignore[arg-type]
    choose_example(session, fda_assessment=visit, example=example)
    questionnaire = start_questionnaire(session, fda_assessment=visit)
    assert [a.practice_area for a in questionnaire.answers] == list(PRACTICE_AREA_CODES)
    pqs = get_answer(questionnaire, practice_area="advanced_pqs")
    assert pqs.answer == pqs.drafted
    assert "Self-assessment 'FY26 self-assessment' (qmm-default@1)" in pqs.answer
    assert "capa_effectiveness.q1: " in pqs.answer
    assert "Score 4.0 of 5 (consensus).\ncapa_effectiveness at 4" in pqs.answer
    assert "Not rated in the self-assessment." in pqs.answer  # change management, unrated
    assert f"- {example.ref} Air handler repeat deviations stopped: Repeat deviation" in pqs.answer
    other = get_answer(questionnaire, practice_area="employee_engagement")
    assert "No example of this practice area is chosen yet." in other.answer
    with pytest.raises(Conflict, match="has its questionnaire already"):
        start_questionnaire(session, fda_assessment=visit)
    assert audit_scope(session, table="pre_interview_answers", record_id=str(pqs.id)) == (
        site,
        None,
    )


def test_without_a_self_assessment_the_draft_says_so(session: Session, site: Site) -> None:
    fda = create_fda_assessment(session, site)
    questionnaire = start_questionnaire(session, fda_assessment=fda)
    assert questionnaire.answers[0].answer.startswith("No self-assessment is chosen")
    with pytest.raises(NotFound, match="no questionnaire"):
        get_questionnaire(
            session,
            fda_assessment=create_fda_assessment(
                session, site, starts_on=date(2027, 6, 7), ends_on=date(2027, 6, 8)
            ),
        )


def test_bad_edits_are_refused_and_nothing_changes(
    session: Session, site: Site, visit: FdaAssessment
) -> None:
    questionnaire = start_questionnaire(session, fda_assessment=visit)
    before = [a.answer for a in questionnaire.answers]
    for bad, problem in ((" ", "must not be empty"), ("a\x00b", "NUL"), ("x" * 20001, "at most")):
        with pytest.raises(InvalidProgramInput, match=problem):
            edit_answer(
                session, questionnaire=questionnaire, practice_area="advanced_pqs", answer=bad
            )
    with pytest.raises(NotFound, match="'nowhere' is not in the questionnaire"):
        edit_answer(session, questionnaire=questionnaire, practice_area="nowhere", answer="x")
    assert [a.answer for a in questionnaire.answers] == before


def test_review_by_a_second_person_then_the_site_heads_signature_freezes_it(
    session: Session, site: Site, visit: FdaAssessment, lead: User, head: User
) -> None:
    set_two_person_rule(session, site=site, on=True)
    with as_user(session, "alice"):
        questionnaire = start_questionnaire(session, fda_assessment=visit)
        example = add_example(session, site=site, **story())  # type: ignore[arg-type]
        choose_example(session, fda_assessment=visit, example=example)
    with as_user(session, "bob"):
        edit_answer(
            session,
            questionnaire=questionnaire,
            practice_area="advanced_pqs",
            answer="Our CAPAs are verified for effectiveness; see EX-001.",
        )
        with pytest.raises(Conflict, match="bob wrote part of the questionnaire"):
            review_questionnaire(session, questionnaire=questionnaire)
    with as_user(session, "alice"), pytest.raises(Conflict, match="alice wrote part"):
        review_questionnaire(session, questionnaire=questionnaire)
    with pytest.raises(Conflict, match="not reviewed yet"):
        sign_questionnaire(session, questionnaire=questionnaire, user=head, password=PASSWORD)
    with as_user(session, "carol"):
        review_questionnaire(session, questionnaire=questionnaire, note="Checked against records.")
    assert questionnaire.status == "reviewed"
    with pytest.raises(Conflict, match="EX-001 \\(draft\\)"):
        check_signable(session, questionnaire=questionnaire)
    with as_user(session, "carol"):
        review_example(session, example=example)
    with as_user(session, "dave"):
        approve_example(session, example=example)
    with pytest.raises(Unauthenticated):
        sign_questionnaire(session, questionnaire=questionnaire, user=head, password="wrong one!")
    with pytest.raises(SecondPersonRequired, match="alice drafted"):
        sign_questionnaire(session, questionnaire=questionnaire, user=lead, password=PASSWORD)
    sign_questionnaire(session, questionnaire=questionnaire, user=head, password=PASSWORD)
    assert questionnaire.status == "signed"
    assert questionnaire.signed_at is not None
    statuses = signatures_for(
        session, record_type="pre_interview_questionnaire", record_id=str(questionnaire.id)
    )
    assert [(s.username, s.meaning, s.valid) for s in statuses] == [("hana", "approved", True)]
    with pytest.raises(Conflict, match="signed off and can no longer change"):
        edit_answer(session, questionnaire=questionnaire, practice_area="advanced_pqs", answer="x")
    with pytest.raises(Conflict, match="is signed; the examples"):
        choose_example(
            session,
            fda_assessment=visit,
            example=add_example(session, site=site, **story(title="Later")),  # type: ignore[arg-type]
        )


def test_an_edit_after_the_review_makes_it_lapse_and_a_redraft_refreshes(
    session: Session, site: Site, visit: FdaAssessment
) -> None:
    with as_user(session, "alice"):
        questionnaire = start_questionnaire(session, fda_assessment=visit)
    with as_user(session, "carol"):
        review_questionnaire(session, questionnaire=questionnaire)
    with as_user(session, "alice"):
        tag_question(session, site=site, code="capa_effectiveness.q2")
        answer = redraft_answer(session, questionnaire=questionnaire, practice_area="advanced_pqs")
    assert questionnaire.status == "drafting"
    assert questionnaire.reviewed_by is None
    assert "capa_effectiveness.q2" in [q["code"] for q in answer.questions]
    assert "capa_effectiveness.q2: " in answer.answer


def test_the_demo_hook_makes_eight_examples_and_a_half_finished_questionnaire(
    session: Session, site: Site, visit: FdaAssessment
) -> None:
    questionnaire = demo_week_preparation(
        session, fda_assessment=visit, author="dana", reviewer="sam", approver="hana"
    )
    examples = session.scalars(select(WeekExample).order_by(WeekExample.number)).all()
    assert [e.status for e in examples] == ["approved"] * 3 + ["reviewed"] * 2 + ["draft"] * 3
    assert {e.created_by for e in examples} == {"dana"}
    assert [e.ref for e in chosen_examples(session, fda_assessment=visit)] == [
        "EX-001",
        "EX-002",
        "EX-003",
        "EX-004",
        "EX-005",
    ]
    edited = [a.practice_area for a in questionnaire.answers if a.edited_by]
    assert edited == ["management_commitment", "business_continuity"]
    assert questionnaire.status == "drafting"
    pqs = get_answer(questionnaire, practice_area="advanced_pqs")
    assert "- EX-001 Filling line 2 air handler" in pqs.answer


def test_choosing_the_self_assessment_redrafts_only_the_answers_nobody_edited(
    session: Session, site: Site, lead: User
) -> None:
    fda = create_fda_assessment(session, site)
    questionnaire = start_questionnaire(session, fda_assessment=fda)
    edit_answer(
        session, questionnaire=questionnaire, practice_area="business_continuity", answer="Ours."
    )
    assessment = create_assessment_of(session, site, lead)
    rate_sub_elements(session, assessment, lead, {"capa_effectiveness": 4})
    draft_from(session, fda_assessment=fda, assessment=assessment)
    assert fda.self_assessment_id == assessment.id
    pqs = get_answer(questionnaire, practice_area="advanced_pqs")
    assert "Score 4.0 of 5 (consensus)." in pqs.answer
    assert pqs.edited_by is None
    assert get_answer(questionnaire, practice_area="business_continuity").answer == "Ours.\n"
    other = create_assessment_of(session, create_site_b(session), lead, title="B's own")
    with pytest.raises(InvalidProgramInput, match="of another site"):
        draft_from(session, fda_assessment=fda, assessment=other)
    assert fda.self_assessment_id == assessment.id
