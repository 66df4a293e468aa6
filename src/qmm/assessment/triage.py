"""Which questions an assessor still has to look at: filters by sub-element and status, and the
next question they have not rated, so that rating goes question after question without hunting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from qmm.assessment.scoring import AssessmentScores, QuestionScore
from qmm.errors import InvalidFields


class QuestionStatus(StrEnum):
    """Where a question stands for the person looking at it."""

    unrated = "unrated"  # they have not rated it (read-only people: nobody has)
    rated = "rated"  # they have rated it (read-only people: it has a score)
    disagreement = "disagreement"  # the assessors are two or more levels apart
    no_evidence = "no-evidence"  # a rating of it cites no evidence


#: What each status means, in words for the filter's choices.
STATUS_NAMES: Final = {
    QuestionStatus.unrated: "Not rated by you yet",
    QuestionStatus.rated: "Rated by you",
    QuestionStatus.disagreement: "Assessors disagree (2+ levels apart)",
    QuestionStatus.no_evidence: "A rating cites no evidence",
}


@dataclass(frozen=True)
class QuestionFilter:
    """A choice of questions: one sub-element, one status, or both (empty: every question)."""

    sub_element: str = ""
    status: QuestionStatus | None = None

    @property
    def is_empty(self) -> bool:
        return not self.sub_element and self.status is None

    def as_query(self) -> dict[str, str]:
        """The filter as URL query parameters, so that it is kept in links and redirects."""
        query: dict[str, str] = {}
        if self.sub_element:
            query["sub_element"] = self.sub_element
        if self.status is not None:
            query["status"] = self.status.value
        return query


def question_filter(
    scores: AssessmentScores, *, sub_element: str = "", status: str = ""
) -> QuestionFilter:
    """A filter from what a URL says, checked against the assessment's framework."""
    problems: dict[str, str] = {}
    sub_element = sub_element.strip()
    status = status.strip()
    if sub_element and sub_element not in scores.sub_elements:
        problems["sub_element"] = f"there is no sub-element {sub_element!r} in this framework"
    chosen: QuestionStatus | None = None
    if status:
        try:
            chosen = QuestionStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in QuestionStatus)
            problems["status"] = f"there is no status {status!r}; choose one of {known}"
    if problems:
        raise InvalidFields(problems)
    return QuestionFilter(sub_element=sub_element, status=chosen)


def _rated_by(question: QuestionScore, assessor: str | None) -> bool:
    if assessor is None:
        return question.consensus_source != "unrated"
    return any(r.assessor == assessor for r in question.ratings)


def has_status(question: QuestionScore, status: QuestionStatus, *, assessor: str | None) -> bool:
    """Whether a question stands as `status` for `assessor` (None: someone who does not rate)."""
    if status is QuestionStatus.unrated:
        return not _rated_by(question, assessor)
    if status is QuestionStatus.rated:
        return _rated_by(question, assessor)
    if status is QuestionStatus.disagreement:
        return question.needs_calibration
    return any(not r.evidence_refs for r in question.ratings)


def select_questions(
    scores: AssessmentScores, chosen: QuestionFilter, *, assessor: str | None
) -> list[str]:
    """The codes of the questions the filter keeps, in the framework's order."""
    return [
        code
        for code, question in scores.questions.items()
        if (not chosen.sub_element or question.sub_element == chosen.sub_element)
        and (chosen.status is None or has_status(question, chosen.status, assessor=assessor))
    ]


def next_unrated(
    scores: AssessmentScores,
    *,
    assessor: str,
    after: str | None = None,
    among: Sequence[str] | None = None,
) -> str | None:
    """The first question after `after` (wrapping round) that `assessor` has not rated, among
    `among` when given (the filtered list), else among all; None when every one is rated."""
    order = list(scores.questions)
    start = order.index(after) + 1 if after in scores.questions else 0
    kept = None if among is None else set(among)
    for code in order[start:] + order[:start]:
        if kept is not None and code not in kept:
            continue
        if code != after and not _rated_by(scores.questions[code], assessor):
            return code
    return None
