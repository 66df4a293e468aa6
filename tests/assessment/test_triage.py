"""Filters and the next unrated question, on a roll-up built by hand."""

from __future__ import annotations

import pytest

from assessment.test_scoring import STRUCTURE, rule
from qmm.assessment.scoring import AssessmentScores, RatingInput, roll_up
from qmm.assessment.triage import (
    QuestionFilter,
    QuestionStatus,
    next_unrated,
    question_filter,
    select_questions,
)
from qmm.errors import InvalidFields

ALL = ["m1.q1", "m1.q2", "m2.q1", "b1.q1", "b1.q2"]


def scored(*ratings: RatingInput) -> AssessmentScores:
    return roll_up(
        structure=STRUCTURE, rule=rule(), ratings=ratings, consensus={}, assessors=["al", "bo"]
    )


def r(code: str, assessor: str, score: int | None, *refs: str) -> RatingInput:
    return RatingInput(code, assessor, score, "seen", refs)


SCORES = scored(
    r("m1.q1", "al", 1, "EV-1"),
    r("m1.q1", "bo", 4, "EV-2"),  # three levels apart
    r("m1.q2", "bo", 3),  # cites nothing
    r("b1.q1", "al", 3, "EV-3"),
)


class TestSelectQuestions:
    def test_no_filter_keeps_every_question_in_the_frameworks_order(self) -> None:
        assert select_questions(SCORES, QuestionFilter(), assessor="al") == ALL

    def test_a_sub_element_keeps_its_questions(self) -> None:
        chosen = QuestionFilter(sub_element="m1")
        assert select_questions(SCORES, chosen, assessor="al") == ["m1.q1", "m1.q2"]

    @pytest.mark.parametrize(
        ("status", "assessor", "expected"),
        [
            (QuestionStatus.unrated, "al", ["m1.q2", "m2.q1", "b1.q2"]),
            (QuestionStatus.rated, "al", ["m1.q1", "b1.q1"]),
            (QuestionStatus.unrated, None, ["m2.q1", "b1.q2"]),  # nobody has rated them
            (QuestionStatus.rated, None, ["m1.q1", "m1.q2", "b1.q1"]),
            (QuestionStatus.disagreement, "al", ["m1.q1"]),
            (QuestionStatus.no_evidence, "al", ["m1.q2"]),
        ],
    )
    def test_a_status_keeps_the_questions_standing_so_for_the_person(
        self, status: QuestionStatus, assessor: str | None, expected: list[str]
    ) -> None:
        chosen = QuestionFilter(status=status)
        assert select_questions(SCORES, chosen, assessor=assessor) == expected

    def test_sub_element_and_status_together(self) -> None:
        chosen = QuestionFilter(sub_element="m1", status=QuestionStatus.unrated)
        assert select_questions(SCORES, chosen, assessor="al") == ["m1.q2"]


class TestQuestionFilter:
    def test_it_reads_a_url_and_gives_it_back_as_a_query(self) -> None:
        chosen = question_filter(SCORES, sub_element=" b1 ", status="disagreement")
        assert chosen == QuestionFilter("b1", QuestionStatus.disagreement)
        assert chosen.as_query() == {"sub_element": "b1", "status": "disagreement"}
        assert question_filter(SCORES).is_empty
        assert question_filter(SCORES).as_query() == {}

    def test_an_unknown_sub_element_and_status_are_named(self) -> None:
        with pytest.raises(InvalidFields) as refused:
            question_filter(SCORES, sub_element="zz", status="done")
        assert refused.value.problems == {
            "sub_element": "there is no sub-element 'zz' in this framework",
            "status": "there is no status 'done'; choose one of unrated, rated, disagreement, "
            "no-evidence",
        }


class TestNextUnrated:
    def test_it_is_the_first_question_the_assessor_has_not_rated(self) -> None:
        assert next_unrated(SCORES, assessor="al") == "m1.q2"
        assert next_unrated(SCORES, assessor="bo") == "m2.q1"

    def test_it_goes_on_from_the_question_just_rated_and_wraps_round(self) -> None:
        assert next_unrated(SCORES, assessor="al", after="m2.q1") == "b1.q2"
        assert next_unrated(SCORES, assessor="al", after="b1.q2") == "m1.q2"

    def test_it_stays_within_a_filter_even_after_a_question_that_left_it(self) -> None:
        # m1.q1 was just rated, so an "unrated" filter no longer holds it: go on from there.
        assert next_unrated(SCORES, assessor="al", after="m1.q1", among=["b1.q2"]) == "b1.q2"
        assert next_unrated(SCORES, assessor="al", among=["m1.q1", "b1.q1"]) is None

    def test_none_when_everything_is_rated(self) -> None:
        everything = scored(*(r(code, "al", 3, "EV-1") for code in ALL))
        assert next_unrated(everything, assessor="al") is None
        assert next_unrated(everything, assessor="al", after="m1.q1") is None
