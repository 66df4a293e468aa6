"""Roll ratings up to question, sub-element, practice-area and overall scores; measure agreement."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np

from qmm.framework.schema import RollupMethod

CALIBRATION_SPREAD = 2
OVERALL_LABEL = (
    "Overall score computed by QMM Workbench from the practice-area scores; "
    "FDA does not publish an overall QMM score."
)
AGREEMENT_STATISTIC = "Krippendorff's alpha (ordinal)"
AGREEMENT_WHY = (
    "Chance-corrected, works for any number of assessors, tolerates missing and not-applicable "
    "ratings, and treats the 1-5 levels as ordered categories rather than equal-interval numbers."
)


@dataclass(frozen=True)
class RatingInput:
    """One assessor's current rating of one question, as the roll-up needs it."""

    question_code: str
    assessor: str
    score: int | None
    rationale: str
    evidence_refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsensusInput:
    """The lead's recorded consensus for one question (score None means not applicable)."""

    question_code: str
    score: float | None
    rationale: str
    recorded_by: str


@dataclass(frozen=True)
class QuestionNode:
    code: str
    text: str
    weight: float


@dataclass(frozen=True)
class SubElementNode:
    code: str
    name: str
    weight: float
    questions: tuple[QuestionNode, ...]


@dataclass(frozen=True)
class PracticeAreaNode:
    code: str
    name: str
    weight: float
    sub_elements: tuple[SubElementNode, ...]


@dataclass(frozen=True)
class Rule:
    """The roll-up rule of the framework version an assessment pins."""

    version: int
    question_to_sub_element: RollupMethod
    sub_element_to_practice_area: RollupMethod
    practice_area_to_overall: RollupMethod

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        return cls(
            version=int(data["version"]),
            question_to_sub_element=RollupMethod(data["question_to_sub_element"]),
            sub_element_to_practice_area=RollupMethod(data["sub_element_to_practice_area"]),
            practice_area_to_overall=RollupMethod(data["practice_area_to_overall"]),
        )

    def describe(self) -> str:
        return (
            f"roll-up rule v{self.version}: questions to sub-element by "
            f"{self.question_to_sub_element}, sub-elements to practice area by "
            f"{self.sub_element_to_practice_area}, practice areas to overall by "
            f"{self.practice_area_to_overall}"
        )


@dataclass(frozen=True)
class QuestionScore:
    code: str
    text: str
    sub_element: str
    consensus: float | None
    consensus_source: str  # lead, assessors_mean, not_applicable or unrated
    consensus_rationale: str
    ratings: tuple[RatingInput, ...]
    spread: int | None
    needs_calibration: bool


@dataclass(frozen=True)
class SubElementScore:
    code: str
    name: str
    practice_area: str
    score: float | None
    questions_scored: int
    questions_total: int
    rationale: tuple[str, ...]
    evidence_refs: tuple[str, ...]


@dataclass(frozen=True)
class PracticeAreaScore:
    code: str
    name: str
    score: float | None
    sub_elements_scored: int
    sub_elements_total: int


@dataclass(frozen=True)
class Agreement:
    statistic: str
    why: str
    value: float | None
    reading: str
    questions_compared: int
    questions_flagged: tuple[str, ...]


@dataclass(frozen=True)
class AssessmentScores:
    rule: Rule
    questions: dict[str, QuestionScore]
    sub_elements: dict[str, SubElementScore]
    practice_areas: dict[str, PracticeAreaScore]
    overall: float | None
    agreement: Agreement
    strengths: tuple[SubElementScore, ...]
    opportunities: tuple[SubElementScore, ...]
    rated_by: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The scores as plain data; values are not rounded."""
        return {
            "rollup_rule": self.rule.describe(),
            "overall": {"score": self.overall, "label": OVERALL_LABEL},
            "practice_areas": {
                code: {
                    "name": pa.name,
                    "score": pa.score,
                    "sub_elements_scored": pa.sub_elements_scored,
                    "sub_elements_total": pa.sub_elements_total,
                }
                for code, pa in self.practice_areas.items()
            },
            "sub_elements": {
                code: {
                    "name": se.name,
                    "practice_area": se.practice_area,
                    "score": se.score,
                    "questions_scored": se.questions_scored,
                    "questions_total": se.questions_total,
                }
                for code, se in self.sub_elements.items()
            },
            "questions": {
                code: {
                    "sub_element": q.sub_element,
                    "consensus": q.consensus,
                    "consensus_source": q.consensus_source,
                    "spread": q.spread,
                    "needs_calibration": q.needs_calibration,
                    "ratings": {r.assessor: r.score for r in q.ratings},
                }
                for code, q in self.questions.items()
            },
            "agreement": {
                "statistic": self.agreement.statistic,
                "why": self.agreement.why,
                "value": self.agreement.value,
                "reading": self.agreement.reading,
                "questions_compared": self.agreement.questions_compared,
                "questions_flagged_for_calibration": list(self.agreement.questions_flagged),
            },
            "strengths": [_strength_json(s) for s in self.strengths],
            "opportunities": [_strength_json(s) for s in self.opportunities],
            "progress": {"questions_total": len(self.questions), "rated_by": self.rated_by},
        }


def _strength_json(se: SubElementScore) -> dict[str, Any]:
    return {
        "sub_element": se.code,
        "name": se.name,
        "practice_area": se.practice_area,
        "score": se.score,
        "rationale": list(se.rationale),
        "evidence": list(se.evidence_refs),
    }


def combine(method: RollupMethod, values: Sequence[tuple[float, float]]) -> float | None:
    """Combine (score, weight) pairs by the rule's method; nothing to combine gives None."""
    if not values:
        return None
    scores = [v for v, _ in values]
    if method is RollupMethod.mean:
        return math.fsum(scores) / len(scores)
    if method is RollupMethod.weighted_mean:
        total_weight = math.fsum(w for _, w in values)
        return math.fsum(v * w for v, w in values) / total_weight
    if method is RollupMethod.median:
        return float(statistics.median(scores))
    if method is RollupMethod.minimum:
        return min(scores)
    raise ValueError(f"unknown roll-up method {method!r}")


def _representative(
    agreed: Sequence[str], rated: Sequence[tuple[float, str]], score: float | None
) -> tuple[str, ...]:
    """Rationales that explain a score: agreed ones first, then ratings nearest the score."""
    if score is not None:
        rated = sorted(rated, key=lambda pair: abs(pair[0] - score))
    ordered = [*agreed, *(text for _, text in rated)]
    return tuple(dict.fromkeys(t for t in ordered if t))


def _question_score(
    node: QuestionNode,
    sub_element: str,
    ratings: Sequence[RatingInput],
    consensus: ConsensusInput | None,
) -> QuestionScore:
    numeric = [r.score for r in ratings if r.score is not None]
    spread = max(numeric) - min(numeric) if len(numeric) >= 2 else None
    if consensus is not None:
        value = consensus.score
        source = "lead" if value is not None else "not_applicable"
        rationale = consensus.rationale
    elif numeric:
        value = math.fsum(numeric) / len(numeric)
        source, rationale = "assessors_mean", ""
    else:
        value = None
        source = "not_applicable" if ratings else "unrated"
        rationale = ""
    return QuestionScore(
        code=node.code,
        text=node.text,
        sub_element=sub_element,
        consensus=value,
        consensus_source=source,
        consensus_rationale=rationale,
        ratings=tuple(ratings),
        spread=spread,
        needs_calibration=spread is not None and spread >= CALIBRATION_SPREAD,
    )


def _agreement(questions: Sequence[QuestionScore], assessors: Sequence[str]) -> Agreement:
    flagged = tuple(q.code for q in questions if q.needs_calibration)
    compared = sum(1 for q in questions if q.spread is not None)
    value: float | None = None
    if assessors and compared:
        index = {a: i for i, a in enumerate(assessors)}
        data = np.full((len(assessors), len(questions)), np.nan)
        for j, q in enumerate(questions):
            for r in q.ratings:
                if r.score is not None:
                    data[index[r.assessor], j] = r.score
        observed = {int(v) for v in data[~np.isnan(data)]}
        if len(observed) > 1:
            value = float(
                krippendorff.alpha(
                    reliability_data=data,
                    level_of_measurement="ordinal",
                    value_domain=[1, 2, 3, 4, 5],
                )
            )
        else:
            value = 1.0
    return Agreement(
        statistic=AGREEMENT_STATISTIC,
        why=AGREEMENT_WHY,
        value=value,
        reading=_reading(value, compared),
        questions_compared=compared,
        questions_flagged=flagged,
    )


def _reading(value: float | None, compared: int) -> str:
    if value is None:
        return "not computable: no question has ratings from two or more assessors"
    if compared < 10:
        caution = f" (only {compared} questions rated by two or more assessors: read with care)"
    else:
        caution = ""
    if value >= 0.8:
        return "reliable agreement (alpha >= 0.80)" + caution
    if value >= 0.667:
        return "tentative agreement (0.667 <= alpha < 0.80): calibrate before relying" + caution
    return "unreliable agreement (alpha < 0.667): calibrate the team on the rubric" + caution


def roll_up(
    *,
    structure: Sequence[PracticeAreaNode],
    rule: Rule,
    ratings: Sequence[RatingInput],
    consensus: Mapping[str, ConsensusInput],
    assessors: Sequence[str],
    highlights: int = 3,
) -> AssessmentScores:
    """Score an assessment from its current ratings and consensus under the pinned rule."""
    by_question: dict[str, list[RatingInput]] = {}
    for rating in ratings:
        by_question.setdefault(rating.question_code, []).append(rating)

    questions: dict[str, QuestionScore] = {}
    sub_elements: dict[str, SubElementScore] = {}
    practice_areas: dict[str, PracticeAreaScore] = {}
    for pa in structure:
        se_values: list[tuple[float, float]] = []
        for se in pa.sub_elements:
            q_values: list[tuple[float, float]] = []
            agreed: list[str] = []
            rated: list[tuple[float, str]] = []
            evidence: list[str] = []
            for qn in se.questions:
                qs = _question_score(
                    qn, se.code, by_question.get(qn.code, []), consensus.get(qn.code)
                )
                questions[qn.code] = qs
                if qs.consensus is not None:
                    q_values.append((qs.consensus, qn.weight))
                if qs.consensus_rationale:
                    agreed.append(qs.consensus_rationale)
                rated += [(r.score, r.rationale) for r in qs.ratings if r.score is not None]
                evidence += [e for r in qs.ratings for e in r.evidence_refs if e not in evidence]
            se_score = combine(rule.question_to_sub_element, q_values)
            rationale = _representative(agreed, rated, se_score)
            sub_elements[se.code] = SubElementScore(
                code=se.code,
                name=se.name,
                practice_area=pa.code,
                score=se_score,
                questions_scored=len(q_values),
                questions_total=len(se.questions),
                rationale=rationale,
                evidence_refs=tuple(evidence),
            )
            if se_score is not None:
                se_values.append((se_score, se.weight))
        practice_areas[pa.code] = PracticeAreaScore(
            code=pa.code,
            name=pa.name,
            score=combine(rule.sub_element_to_practice_area, se_values),
            sub_elements_scored=len(se_values),
            sub_elements_total=len(pa.sub_elements),
        )
    pa_values = [
        (s.score, node.weight)
        for node, s in zip(structure, practice_areas.values(), strict=True)
        if s.score is not None
    ]
    scored = sorted(
        (s for s in sub_elements.values() if s.score is not None),
        key=lambda s: (-(s.score or 0.0), s.code),
    )
    strengths = tuple(scored[:highlights])
    rest = [s for s in scored if s not in strengths]
    opportunities = tuple(sorted(rest, key=lambda s: (s.score or 0.0, s.code))[:highlights])
    rated_by: dict[str, int] = dict.fromkeys(assessors, 0)
    for rating in ratings:
        rated_by[rating.assessor] = rated_by.get(rating.assessor, 0) + 1
    return AssessmentScores(
        rule=rule,
        questions=questions,
        sub_elements=sub_elements,
        practice_areas=practice_areas,
        overall=combine(rule.practice_area_to_overall, pa_values),
        agreement=_agreement(list(questions.values()), assessors),
        strengths=strengths,
        opportunities=opportunities,
        rated_by=rated_by,
    )
