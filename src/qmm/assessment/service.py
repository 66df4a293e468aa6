"""Assessments of a site: the team, every rating, consensus, scores and comparisons."""

from __future__ import annotations

import csv
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.assessment.scoring import (
    AssessmentScores,
    ConsensusInput,
    PracticeAreaNode,
    PracticeAreaScore,
    QuestionNode,
    RatingInput,
    Rule,
    SubElementNode,
    SubElementScore,
    roll_up,
)
from qmm.audit.signatures import SignableKind, SignableRecord, register_signable
from qmm.audit.trail import canonical_value, trail_head
from qmm.errors import Conflict, InvalidFile, InvalidInput, NotFound, RowProblem
from qmm.framework.service import load_tree
from qmm.models import (
    Assessment,
    AssessmentKind,
    AssessmentMember,
    AssessmentStatus,
    ConsensusScore,
    Framework,
    FrameworkStatus,
    Question,
    Rating,
    Site,
    TeamRole,
    User,
    utcnow,
)

NOT_APPLICABLE = frozenset({"na", "n/a", "not applicable", "not_applicable"})
RATINGS_COLUMNS = ("assessor", "question", "score", "rationale")


class AssessmentClosed(Conflict):
    """The assessment is closed; its ratings and consensus can no longer change."""

    def __init__(self, assessment: Assessment) -> None:
        super().__init__(f"assessment {assessment.id} is closed; its scores can no longer change")


def create_assessment(
    session: Session,
    *,
    site: Site,
    framework: Framework,
    kind: str,
    title: str,
    lead: User,
    assessors: Sequence[User] = (),
    started_on: date | None = None,
) -> Assessment:
    """Open an assessment of a site that pins a published framework version."""
    if kind not in AssessmentKind.__members__:
        raise InvalidInput(
            f"assessment kind {kind!r} is not one of {', '.join(k.value for k in AssessmentKind)}"
        )
    if framework.status != FrameworkStatus.published.value:
        raise Conflict(f"{framework.ref} is a draft; publish it before assessing with it")
    if framework.site_id is not None and framework.site_id != site.id:
        raise Conflict(f"{framework.ref} belongs to another site")
    if not title.strip():
        raise InvalidInput("assessment title must not be empty")
    assessment = Assessment(
        site_id=site.id,
        framework_id=framework.id,
        kind=kind,
        title=title.strip(),
        started_on=started_on or utcnow().date(),
    )
    assessment.team.append(AssessmentMember(user_id=lead.id, role=TeamRole.lead.value))
    seen = {lead.id}
    for user in assessors:
        if user.id not in seen:
            assessment.team.append(AssessmentMember(user_id=user.id, role=TeamRole.assessor.value))
            seen.add(user.id)
    session.add(assessment)
    session.flush()
    return assessment


def no_such_assessment(assessment_id: int) -> NotFound:
    """The one answer for an assessment that is not there, or that the asker may not read."""
    return NotFound(f"no assessment {assessment_id}; `qmm assess list` shows them")


def get_assessment(session: Session, *, assessment_id: int) -> Assessment:
    """Find an assessment by id."""
    assessment = session.get(Assessment, assessment_id)
    if assessment is None:
        raise no_such_assessment(assessment_id)
    return assessment


def list_assessments(session: Session, *, site: Site | None = None) -> Sequence[Assessment]:
    """Assessments, newest first, of one site or all."""
    query = select(Assessment).order_by(Assessment.started_on.desc(), Assessment.id.desc())
    if site is not None:
        query = query.where(Assessment.site_id == site.id)
    return session.scalars(query).all()


def latest_assessment(session: Session, *, site: Site) -> Assessment:
    """The site's most recent closed assessment, else its most recent one."""
    assessments = list_assessments(session, site=site)
    if not assessments:
        raise NotFound(
            f"site {site.code} has no assessment yet; create one with `qmm assess create`"
        )
    closed = [a for a in assessments if a.status == AssessmentStatus.closed.value]
    return (closed or list(assessments))[0]


def add_member(
    session: Session, *, assessment: Assessment, user: User, role: str = "assessor"
) -> AssessmentMember:
    """Add a person to the assessment team."""
    _require_open(assessment)
    if role not in TeamRole.__members__:
        raise InvalidInput(f"team role {role!r} is not one of lead, assessor")
    if any(m.user_id == user.id for m in assessment.team):
        raise Conflict(f"{user.username} is already on the team of assessment {assessment.id}")
    if role == TeamRole.lead.value and _lead(assessment) is not None:
        raise Conflict(f"assessment {assessment.id} already has a lead")
    member = AssessmentMember(user_id=user.id, role=role)
    assessment.team.append(member)
    session.flush()
    return member


def remove_member(session: Session, *, assessment: Assessment, user: User) -> AssessmentMember:
    """Take a person off an open assessment's team; the lead and anyone who has rated stay,
    because the ratings and the consensus on record name them."""
    _require_open(assessment)
    member = next((m for m in assessment.team if m.user_id == user.id), None)
    if member is None:
        raise NotFound(f"{user.username} is not on the team of assessment {assessment.id}")
    if member.role == TeamRole.lead.value:
        raise Conflict(
            f"{user.username} leads assessment {assessment.id}; an assessment keeps its lead"
        )
    rated = session.scalar(
        select(func.count())
        .select_from(Rating)
        .where(Rating.assessment_id == assessment.id, Rating.assessor_id == user.id)
    )
    if rated:
        raise Conflict(
            f"{user.username} has recorded {rated} rating(s) on assessment {assessment.id}; "
            "they stay on the team because those ratings are part of its record"
        )
    assessment.team.remove(member)
    session.flush()
    return member


def _lead(assessment: Assessment) -> User | None:
    return next((m.user for m in assessment.team if m.role == TeamRole.lead.value), None)


def _require_open(assessment: Assessment) -> None:
    if assessment.status != AssessmentStatus.open.value:
        raise AssessmentClosed(assessment)


def _question(session: Session, assessment: Assessment, code: str) -> Question | None:
    return session.scalar(
        select(Question).where(
            Question.framework_id == assessment.framework_id, Question.code == code
        )
    )


def get_question(session: Session, *, assessment: Assessment, code: str) -> Question:
    """A question of the framework version the assessment pins."""
    question = _question(session, assessment, code)
    if question is None:
        raise NotFound(
            f"question {code!r} is not in {assessment.framework.ref}; "
            "`qmm framework show` lists the question codes"
        )
    return question


def _current_rating(
    session: Session, assessment: Assessment, question: Question, assessor: User
) -> Rating | None:
    return session.scalar(
        select(Rating).where(
            Rating.assessment_id == assessment.id,
            Rating.question_id == question.id,
            Rating.assessor_id == assessor.id,
            Rating.superseded_by_id.is_(None),
        )
    )


def _supersede(
    session: Session, previous: Rating | ConsensusScore | None, latest: Rating | ConsensusScore
) -> None:
    """Store the latest version and point the one it replaces at it; both are kept."""
    session.add(latest)
    session.flush()
    if previous is not None:
        previous.superseded_by_id = latest.id
        session.flush()


def record_rating(
    session: Session,
    *,
    assessment: Assessment,
    question: Question,
    assessor: User,
    score: int | None,
    rationale: str,
    evidence_refs: Sequence[str] = (),
) -> Rating:
    """Record one assessor's rating (None = not applicable); it supersedes their earlier one."""
    _require_open(assessment)
    if not any(m.user_id == assessor.id for m in assessment.team):
        raise Conflict(f"{assessor.username} is not on the team of assessment {assessment.id}")
    if question.framework_id != assessment.framework_id:
        raise InvalidInput(f"question {question.code!r} is not in {assessment.framework.ref}")
    if score is not None and (isinstance(score, bool) or score not in range(1, 6)):
        raise InvalidInput(f"score {score!r} must be a whole number from 1 to 5, or not applicable")
    if not rationale.strip():
        raise InvalidInput("a rating needs a rationale: say what evidence supports the level")
    previous = _current_rating(session, assessment, question, assessor)
    rating = Rating(
        assessment_id=assessment.id,
        question_id=question.id,
        assessor_id=assessor.id,
        score=score,
        not_applicable=score is None,
        rationale=rationale.strip(),
        evidence_refs=[e.strip() for e in evidence_refs if e.strip()],
        recorded_at=utcnow(),
    )
    _supersede(session, previous, rating)
    return rating


def rating_history(
    session: Session, *, assessment: Assessment, question: Question
) -> Sequence[Rating]:
    """Every rating ever recorded for a question, oldest first, superseded ones included."""
    return session.scalars(
        select(Rating)
        .where(Rating.assessment_id == assessment.id, Rating.question_id == question.id)
        .order_by(Rating.id)
    ).all()


def record_consensus(
    session: Session,
    *,
    assessment: Assessment,
    question: Question,
    lead: User,
    score: float | None,
    rationale: str,
) -> ConsensusScore:
    """Record the lead's consensus for a question; it replaces the assessors' mean."""
    _require_open(assessment)
    if _lead(assessment) is None or _lead(assessment) != lead:
        raise Conflict(f"only the lead of assessment {assessment.id} records consensus")
    if question.framework_id != assessment.framework_id:
        raise InvalidInput(f"question {question.code!r} is not in {assessment.framework.ref}")
    if score is not None and not 1 <= score <= 5:
        raise InvalidInput(f"consensus score {score!r} must be from 1 to 5, or not applicable")
    if not rationale.strip():
        raise InvalidInput("a consensus needs a rationale: say why the team agreed this level")
    previous = session.scalar(
        select(ConsensusScore).where(
            ConsensusScore.assessment_id == assessment.id,
            ConsensusScore.question_id == question.id,
            ConsensusScore.superseded_by_id.is_(None),
        )
    )
    consensus = ConsensusScore(
        assessment_id=assessment.id,
        question_id=question.id,
        recorded_by_id=lead.id,
        score=score,
        not_applicable=score is None,
        rationale=rationale.strip(),
        recorded_at=utcnow(),
    )
    _supersede(session, previous, consensus)
    return consensus


def close_assessment(session: Session, *, assessment: Assessment, by: User) -> Assessment:
    """Close an assessment once every question has a rating; its scores are then fixed."""
    _require_open(assessment)
    if _lead(assessment) != by:
        raise Conflict(f"only the lead of assessment {assessment.id} can close it")
    scores = compute_scores(session, assessment=assessment)
    unrated = [q.code for q in scores.questions.values() if q.consensus_source == "unrated"]
    if unrated:
        shown = ", ".join(unrated[:5]) + (" ..." if len(unrated) > 5 else "")
        raise Conflict(f"{len(unrated)} question(s) have no rating yet: {shown}")
    assessment.status = AssessmentStatus.closed.value
    assessment.closed_at = utcnow()
    session.flush()
    return assessment


# ---------------------------------------------------------------------------- signing

#: How signatures name an assessment (their record_type).
RECORD_TYPE: Final = "assessment"


def assessment_content(session: Session, assessment: Assessment) -> dict[str, Any]:
    """The exact content a signature binds to: the assessment, its ratings and consensus."""
    ratings = session.execute(
        select(Question.code, User.username, Rating.score, Rating.rationale, Rating.evidence_refs)
        .join(Question, Question.id == Rating.question_id)
        .join(User, User.id == Rating.assessor_id)
        .where(Rating.assessment_id == assessment.id, Rating.superseded_by_id.is_(None))
        .order_by(Question.code, User.username)
    ).all()
    consensus = session.execute(
        select(Question.code, ConsensusScore.score, ConsensusScore.rationale)
        .join(Question, Question.id == ConsensusScore.question_id)
        .where(
            ConsensusScore.assessment_id == assessment.id,
            ConsensusScore.superseded_by_id.is_(None),
        )
        .order_by(Question.code)
    ).all()
    return {
        "assessment": assessment.id,
        "site": assessment.site.code,
        "framework": assessment.framework.ref,
        "framework_sha256": assessment.framework.content_sha256,
        "kind": assessment.kind,
        "title": assessment.title,
        "status": assessment.status,
        "started_on": canonical_value("", "", assessment.started_on),
        "closed_at": canonical_value("", "", assessment.closed_at),
        "ratings": [[*r[:4], list(r[4] or [])] for r in ratings],
        "consensus": [list(c) for c in consensus],
    }


def _signable_assessment(session: Session, record_id: str) -> SignableRecord:
    assessment = session.get(Assessment, int(record_id)) if record_id.isdigit() else None
    if assessment is None:
        raise NotFound(f"no assessment {record_id}")
    return SignableRecord(assessment_content(session, assessment), assessment.site)


register_signable(SignableKind(RECORD_TYPE, read=_signable_assessment))


def _structure(framework: Framework) -> list[PracticeAreaNode]:
    return [
        PracticeAreaNode(
            code=pa.code,
            name=pa.name,
            weight=pa.weight,
            sub_elements=tuple(
                SubElementNode(
                    code=se.code,
                    name=se.name,
                    weight=se.weight,
                    questions=tuple(
                        QuestionNode(code=q.code, text=q.text, weight=q.weight)
                        for q in se.questions
                    ),
                )
                for se in pa.sub_elements
            ),
        )
        for pa in framework.practice_areas
    ]


_SCORES_KEPT: Final = 256
_scores: OrderedDict[tuple[Any, ...], AssessmentScores] = OrderedDict()
_scores_lock: Final = threading.Lock()


def compute_scores(session: Session, *, assessment: Assessment) -> AssessmentScores:
    """Roll the assessment's current ratings and consensus up under its pinned framework.

    The result is kept while the audit trail's head stays the same (every rating, consensus
    and framework change appends an entry), so pages read it again without recomputing.
    """
    key = (assessment.id, trail_head(session))
    with _scores_lock:
        kept = _scores.get(key)
        if kept is not None:
            _scores.move_to_end(key)
            return kept
    scores = _compute_scores(session, assessment=assessment)
    with _scores_lock:
        _scores[key] = scores
        while len(_scores) > _SCORES_KEPT:
            _scores.popitem(last=False)
    return scores


def _compute_scores(session: Session, *, assessment: Assessment) -> AssessmentScores:
    framework = load_tree(session, framework_id=assessment.framework_id)
    codes = {
        q.id: q.code
        for pa in framework.practice_areas
        for se in pa.sub_elements
        for q in se.questions
    }
    ratings = session.execute(
        select(
            Rating.question_id,
            User.username,
            Rating.score,
            Rating.rationale,
            Rating.evidence_refs,
        )
        .join(User, User.id == Rating.assessor_id)
        .where(Rating.assessment_id == assessment.id, Rating.superseded_by_id.is_(None))
        .order_by(Rating.id)
    ).all()
    consensus = session.execute(
        select(
            ConsensusScore.question_id,
            ConsensusScore.score,
            ConsensusScore.rationale,
            User.username,
        )
        .join(User, User.id == ConsensusScore.recorded_by_id)
        .where(
            ConsensusScore.assessment_id == assessment.id,
            ConsensusScore.superseded_by_id.is_(None),
        )
    ).all()
    return roll_up(
        structure=_structure(framework),
        rule=Rule.from_json(framework.rollup),
        ratings=[
            RatingInput(
                question_code=codes[question_id],
                assessor=username,
                score=score,
                rationale=rationale,
                evidence_refs=tuple(evidence or ()),
            )
            for question_id, username, score, rationale, evidence in ratings
        ],
        consensus={
            codes[question_id]: ConsensusInput(
                question_code=codes[question_id],
                score=score,
                rationale=rationale,
                recorded_by=username,
            )
            for question_id, score, rationale, username in consensus
        },
        assessors=[m.user.username for m in assessment.team],
    )


@dataclass(frozen=True)
class _ParsedRating:
    assessor: User
    question: Question
    score: int | None
    rationale: str
    evidence: list[str]


def parse_score(text: str) -> int | None:
    """Read a score cell: a whole number 1-5, or NA for not applicable."""
    value = text.strip()
    if value.lower() in NOT_APPLICABLE:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 5:
        raise ValueError("must be a whole number from 1 to 5, or NA for not applicable")
    return int(value)


def import_ratings(session: Session, *, assessment: Assessment, path: Path) -> list[Rating]:
    """Record every rating in a CSV file, or none of them when any row is invalid."""
    _require_open(assessment)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in RATINGS_COLUMNS if c not in header]
    if missing:
        raise InvalidFile(
            str(path),
            [RowProblem(1, c, "", "required column is missing") for c in missing],
        )
    team = {m.user.username: m.user for m in assessment.team}
    problems: list[RowProblem] = []
    parsed: list[_ParsedRating] = []
    questions: dict[str, Question | None] = {}
    for line, raw in enumerate(reader, start=2):
        row: dict[str, Any] = {(k or "").strip(): (v or "") for k, v in raw.items()}
        if not any(str(v).strip() for v in row.values()):
            continue
        row_problems: list[RowProblem] = []
        username = row["assessor"].strip()
        assessor = team.get(username)
        if assessor is None:
            row_problems.append(
                RowProblem(
                    line, "assessor", username, f"not on the team of assessment {assessment.id}"
                )
            )
        code = row["question"].strip()
        if code not in questions:
            questions[code] = _question(session, assessment, code)
        question = questions[code]
        if question is None:
            row_problems.append(
                RowProblem(
                    line, "question", code, f"unknown question in {assessment.framework.ref}"
                )
            )
        score: int | None = None
        try:
            score = parse_score(row["score"])
        except ValueError as exc:
            row_problems.append(RowProblem(line, "score", row["score"], str(exc)))
        rationale = row["rationale"].strip()
        if not rationale:
            row_problems.append(RowProblem(line, "rationale", "", "a rating needs a rationale"))
        evidence = [e.strip() for e in str(row.get("evidence", "")).split(";") if e.strip()]
        if row_problems:
            problems += row_problems
            continue
        assert assessor is not None
        assert question is not None
        parsed.append(_ParsedRating(assessor, question, score, rationale, evidence))
    if problems:
        raise InvalidFile(str(path), problems)
    if not parsed:
        raise InvalidInput(
            f"{path}: no ratings found (expected columns {', '.join(RATINGS_COLUMNS)})"
        )
    return [
        record_rating(
            session,
            assessment=assessment,
            question=p.question,
            assessor=p.assessor,
            score=p.score,
            rationale=p.rationale,
            evidence_refs=p.evidence,
        )
        for p in parsed
    ]


@dataclass(frozen=True)
class Movement:
    code: str
    name: str
    level: str  # practice_area, sub_element or overall
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


def _score(item: PracticeAreaScore | SubElementScore | None) -> float | None:
    return item.score if item is not None else None


def compare_scores(before: AssessmentScores, after: AssessmentScores) -> list[Movement]:
    """What moved between two assessments, matched by code, largest movement first."""
    moves = [
        Movement(
            "overall",
            "Overall (computed by QMM Workbench)",
            "overall",
            before.overall,
            after.overall,
        )
    ]
    for code in dict.fromkeys([*before.practice_areas, *after.practice_areas]):
        pa_b, pa_a = before.practice_areas.get(code), after.practice_areas.get(code)
        pa_name = next(x.name for x in (pa_a, pa_b) if x is not None)
        moves.append(Movement(code, pa_name, "practice_area", _score(pa_b), _score(pa_a)))
    for code in dict.fromkeys([*before.sub_elements, *after.sub_elements]):
        se_b, se_a = before.sub_elements.get(code), after.sub_elements.get(code)
        se_name = next(x.name for x in (se_a, se_b) if x is not None)
        moves.append(Movement(code, se_name, "sub_element", _score(se_b), _score(se_a)))
    order = {"overall": 0, "practice_area": 1, "sub_element": 2}
    return sorted(moves, key=lambda m: (order[m.level], -abs(m.delta or 0.0)))


def compare_assessments(
    session: Session, *, before: Assessment, after: Assessment
) -> list[Movement]:
    """Compare two assessments of the same site."""
    if before.site_id != after.site_id:
        raise InvalidInput(
            f"assessments {before.id} and {after.id} are of different sites; compare one site's"
        )
    return compare_scores(
        compute_scores(session, assessment=before), compute_scores(session, assessment=after)
    )
