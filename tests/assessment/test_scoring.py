"""Roll-up and agreement, checked against values computed by hand."""

from __future__ import annotations

import pytest

from qmm.assessment.scoring import (
    AGREEMENT_STATISTIC,
    ConsensusInput,
    PracticeAreaNode,
    QuestionNode,
    RatingInput,
    Rule,
    SubElementNode,
    combine,
    roll_up,
)
from qmm.framework.schema import RollupMethod


def rule(**methods: RollupMethod) -> Rule:
    base = dict.fromkeys(
        ["question_to_sub_element", "sub_element_to_practice_area", "practice_area_to_overall"],
        RollupMethod.mean,
    )
    return Rule(version=1, **{**base, **methods})


def q(code: str, weight: float = 1.0) -> QuestionNode:
    return QuestionNode(code=code, text=f"{code}?", weight=weight)


STRUCTURE = (
    PracticeAreaNode(
        "management_commitment",
        "Management",
        1.0,
        (
            SubElementNode("m1", "M one", 1.0, (q("m1.q1"), q("m1.q2"))),
            SubElementNode("m2", "M two", 1.0, (q("m2.q1"),)),
        ),
    ),
    PracticeAreaNode(
        "business_continuity",
        "Continuity",
        1.0,
        (SubElementNode("b1", "B one", 1.0, (q("b1.q1"), q("b1.q2"))),),
    ),
)


def r(code: str, assessor: str, score: int | None, why: str = "seen") -> RatingInput:
    return RatingInput(code, assessor, score, why, (f"EV-{code}",))


RATINGS = [
    r("m1.q1", "alice", 3),
    r("m1.q1", "bob", 4),  # mean 3.5
    r("m1.q2", "alice", 2),
    r("m1.q2", "bob", 2),  # mean 2.0, but the lead records 3
    r("m2.q1", "alice", None),
    r("m2.q1", "bob", None),  # not applicable
    r("b1.q1", "alice", 1, "no drills"),
    r("b1.q1", "bob", 4),  # mean 2.5, spread 3
    r("b1.q2", "alice", 5),
    r("b1.q2", "bob", 5),  # 5.0
]
CONSENSUS = {"m1.q2": ConsensusInput("m1.q2", 3.0, "agreed after calibration", "alice")}


class TestRollUp:
    def test_it_uses_the_assessors_mean_unless_the_lead_recorded_consensus(self) -> None:
        scores = roll_up(
            structure=STRUCTURE,
            rule=rule(),
            ratings=RATINGS,
            consensus=CONSENSUS,
            assessors=["alice", "bob"],
        )
        assert scores.questions["m1.q1"].consensus == 3.5
        assert scores.questions["m1.q1"].consensus_source == "assessors_mean"
        assert scores.questions["m1.q2"].consensus == 3.0
        assert scores.questions["m1.q2"].consensus_source == "lead"
        assert scores.questions["m2.q1"].consensus is None
        assert scores.questions["m2.q1"].consensus_source == "not_applicable"

    def test_it_rolls_up_means_and_skips_not_applicable(self) -> None:
        scores = roll_up(
            structure=STRUCTURE,
            rule=rule(),
            ratings=RATINGS,
            consensus=CONSENSUS,
            assessors=["alice", "bob"],
        )
        # m1 = (3.5 + 3.0) / 2 = 3.25; m2 has only N/A so it has no score.
        assert scores.sub_elements["m1"].score == 3.25
        assert scores.sub_elements["m2"].score is None
        # Management = mean of the scored sub-elements = 3.25 (1 of 2 scored).
        assert scores.practice_areas["management_commitment"].score == 3.25
        assert scores.practice_areas["management_commitment"].sub_elements_scored == 1
        # b1 = (2.5 + 5.0) / 2 = 3.75 = Continuity; overall = (3.25 + 3.75) / 2 = 3.5.
        assert scores.practice_areas["business_continuity"].score == 3.75
        assert scores.overall == 3.5

    def test_it_flags_questions_where_assessors_differ_by_two_levels(self) -> None:
        scores = roll_up(
            structure=STRUCTURE,
            rule=rule(),
            ratings=RATINGS,
            consensus=CONSENSUS,
            assessors=["alice", "bob"],
        )
        assert scores.questions["b1.q1"].spread == 3
        assert scores.questions["m1.q1"].spread == 1
        assert scores.questions["m2.q1"].spread is None
        assert scores.agreement.questions_flagged == ("b1.q1",)
        assert scores.agreement.questions_compared == 4

    def test_it_names_strengths_and_opportunities_with_their_rationale(self) -> None:
        scores = roll_up(
            structure=STRUCTURE,
            rule=rule(),
            ratings=RATINGS,
            consensus=CONSENSUS,
            assessors=["alice", "bob"],
            highlights=1,
        )
        assert [s.code for s in scores.strengths] == ["b1"]
        assert [s.code for s in scores.opportunities] == ["m1"]
        assert "agreed after calibration" in scores.opportunities[0].rationale
        assert "no drills" in scores.strengths[0].rationale
        assert "EV-b1.q1" in scores.strengths[0].evidence_refs

    def test_it_explains_a_score_with_the_ratings_nearest_to_it(self) -> None:
        ratings = [
            r("b1.q1", "alice", 5, "drills run quarterly"),
            r("b1.q1", "bob", 2, "no supplier joins the drills"),
            r("b1.q2", "alice", 2, "recovery steps untested"),
            r("b1.q2", "bob", 2, "recovery steps untested"),
        ]
        scores = roll_up(
            structure=STRUCTURE,
            rule=rule(),
            ratings=ratings,
            consensus={},
            assessors=["alice", "bob"],
        )
        # b1 = (3.5 + 2.0) / 2 = 2.75: the level-2 rationales sit nearest, the 5 farthest.
        assert scores.sub_elements["b1"].score == 2.75
        assert scores.sub_elements["b1"].rationale == (
            "no supplier joins the drills",
            "recovery steps untested",
            "drills run quarterly",
        )

    def test_it_marks_unrated_questions(self) -> None:
        scores = roll_up(
            structure=STRUCTURE, rule=rule(), ratings=[], consensus={}, assessors=["alice"]
        )
        assert scores.questions["m1.q1"].consensus_source == "unrated"
        assert scores.overall is None
        assert scores.agreement.value is None

    def test_it_labels_the_overall_score_as_ours(self) -> None:
        data = roll_up(
            structure=STRUCTURE,
            rule=rule(),
            ratings=RATINGS,
            consensus=CONSENSUS,
            assessors=["alice", "bob"],
        ).to_json()
        assert "QMM Workbench" in data["overall"]["label"]
        assert "FDA does not publish" in data["overall"]["label"]


class TestRollupRules:
    def test_weighted_mean_uses_the_weights(self) -> None:
        # (2*3 + 1*5) / 3 = 11/3
        assert combine(RollupMethod.weighted_mean, [(3.0, 2.0), (5.0, 1.0)]) == pytest.approx(
            11 / 3
        )

    def test_median_and_minimum(self) -> None:
        values = [(1.0, 1.0), (4.0, 1.0), (3.0, 1.0), (5.0, 1.0)]
        assert combine(RollupMethod.median, values) == 3.5
        assert combine(RollupMethod.minimum, values) == 1.0
        assert combine(RollupMethod.mean, values) == 3.25

    def test_nothing_to_combine_gives_none(self) -> None:
        assert combine(RollupMethod.mean, []) is None

    def test_a_minimum_rule_changes_the_practice_area_roll_up(self) -> None:
        scores = roll_up(
            structure=STRUCTURE,
            rule=rule(question_to_sub_element=RollupMethod.minimum),
            ratings=RATINGS,
            consensus=CONSENSUS,
            assessors=["alice", "bob"],
        )
        # b1 = min(2.5, 5.0) = 2.5 ; m1 = min(3.5, 3.0) = 3.0
        assert scores.sub_elements["b1"].score == 2.5
        assert scores.sub_elements["m1"].score == 3.0
        assert "minimum" in scores.rule.describe()


class TestAgreement:
    def test_it_reproduces_krippendorffs_published_ordinal_example(self) -> None:
        # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers,
        # 12 units, values 1-5 with gaps; published ordinal alpha = 0.815.
        table = {
            "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
            "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
            "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
            "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
        }
        questions = tuple(q(f"u.q{i}") for i in range(12))
        structure = (
            PracticeAreaNode(
                "advanced_pqs", "PQS", 1.0, (SubElementNode("u", "U", 1.0, questions),)
            ),
        )
        ratings = [
            RatingInput(f"u.q{i}", who, value, "seen")
            for who, values in table.items()
            for i, value in enumerate(values)
            if value is not None
        ]
        scores = roll_up(
            structure=structure, rule=rule(), ratings=ratings, consensus={}, assessors=list(table)
        )
        assert scores.agreement.statistic == AGREEMENT_STATISTIC
        assert scores.agreement.value == pytest.approx(0.815, abs=5e-4)
        # Units 0-10 have two or more values each; unit 11 has only B's, so it is not compared.
        assert scores.agreement.questions_compared == 11
        assert scores.agreement.reading.startswith("reliable agreement")

    def test_identical_ratings_are_perfect_agreement(self) -> None:
        ratings = [r(c, who, 3) for c in ("m1.q1", "m1.q2", "b1.q1") for who in ("a", "b")]
        scores = roll_up(
            structure=STRUCTURE, rule=rule(), ratings=ratings, consensus={}, assessors=["a", "b"]
        )
        assert scores.agreement.value == 1.0
