"""Mock interviews: an internal assessor walks a practice area's questions before FDA does,
scoring each 1-5 with notes and follow-ups; where the mock scores fall below the self-assessment.

Why: a self-assessment scored by the team that runs the system tends to run high; a mock
interview asked the way FDA asks shows where the story does not yet hold, while there is time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.auth.scope import Reader, may_read_assessment
from qmm.errors import Conflict, NotFound
from qmm.models import (
    Assessment,
    EvidenceItemKind,
    FdaAssessment,
    FdaAssessmentStatus,
    MockAnswer,
    MockInterview,
    PlanAction,
    PracticeArea,
    Question,
    ReadinessPlan,
    ReadinessPlanStatus,
    SubElement,
    utcnow,
)
from qmm.program.common import SHORT, Problems, actor_label
from qmm.program.plan import (
    AREA_WORKSTREAM,
    MOCK_FOLLOW_UP,
    SYSTEMS,
    PlannedAction,
    add_action,
    get_readable_plan,
    readable_plans,
)

#: A follow-up becomes a plan action due by this day of the plan (before FDA's week, usually).
FOLLOW_UP_DUE_DAY: Final = 30
NOTES_LIMIT: Final = 4000


def self_assessment_of(fda_assessment: FdaAssessment, session: Session) -> Assessment:
    """The self-assessment chosen for the week, or a Conflict saying to choose one."""
    chosen = (
        session.get(Assessment, fda_assessment.self_assessment_id)
        if fda_assessment.self_assessment_id is not None
        else None
    )
    if chosen is None:
        raise Conflict(
            f"FDA assessment {fda_assessment.id} has no self-assessment chosen yet; choose the "
            "self-assessment FDA's view is prepared from and compared with first"
        )
    return chosen


def practice_areas_of(session: Session, *, framework_id: int) -> dict[str, str]:
    """A framework's practice areas, code to name, in the framework's order."""
    return {
        pa.code: pa.name
        for pa in session.scalars(
            select(PracticeArea)
            .where(PracticeArea.framework_id == framework_id)
            .order_by(PracticeArea.position)
        )
    }


def area_questions(session: Session, *, framework_id: int, practice_area: str) -> list[Question]:
    """A practice area's questions in the framework's order: what the mock assessor walks."""
    return list(
        session.scalars(
            select(Question)
            .join(SubElement, Question.sub_element_id == SubElement.id)
            .join(PracticeArea, SubElement.practice_area_id == PracticeArea.id)
            .where(PracticeArea.framework_id == framework_id, PracticeArea.code == practice_area)
            .order_by(SubElement.position, Question.position)
        )
    )


def check_practice_area(p: Problems, field: str, code: Any, known: dict[str, str]) -> str | None:
    """A practice area code of the framework, or a problem naming the codes there are."""
    clean = p.text(field, code, label="practice area", limit=80)
    if clean is not None and clean not in known:
        p[field] = f"practice area {clean!r} is not one of {', '.join(known)}"
        return None
    return clean


def start_mock_interview(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    practice_area: str,
    assessor: str,
    held_on: date | None,
    session_label: str | None = None,
) -> MockInterview:
    """Open a mock interview of one practice area, held by an internal assessor on a day."""
    if fda_assessment.status == FdaAssessmentStatus.cancelled:
        raise Conflict(f"FDA assessment {fda_assessment.id} was cancelled; nothing to rehearse")
    chosen = self_assessment_of(fda_assessment, session)
    known = practice_areas_of(session, framework_id=chosen.framework_id)
    p = Problems()
    area = check_practice_area(p, "practice_area", practice_area, known)
    clean_assessor = p.text("assessor", assessor, label="mock assessor", limit=SHORT)
    day = p.past_day("held_on", held_on, label="day held")
    label = p.text("session_label", session_label, label="session", required=False, limit=SHORT)
    p.raise_any()
    assert area is not None
    assert clean_assessor is not None
    assert day is not None
    interview = MockInterview(
        fda_assessment_id=fda_assessment.id,
        practice_area=area,
        session_label=label,
        assessor=clean_assessor,
        held_on=day,
        created_by=actor_label(session),
    )
    session.add(interview)
    session.flush()
    return interview


def list_mock_interviews(session: Session, *, fda_assessment: FdaAssessment) -> list[MockInterview]:
    """The assessment's mock interviews, the latest first."""
    return list(
        session.scalars(
            select(MockInterview)
            .where(MockInterview.fda_assessment_id == fda_assessment.id)
            .order_by(MockInterview.held_on.desc(), MockInterview.id.desc())
        )
    )


def get_mock_interview(
    session: Session, *, fda_assessment: FdaAssessment, mock_id: int
) -> MockInterview:
    """One mock interview of this FDA assessment, or a NotFound naming it."""
    found = session.get(MockInterview, mock_id)
    if found is None or found.fda_assessment_id != fda_assessment.id:
        raise NotFound(
            f"FDA assessment {fda_assessment.id} has no mock interview {mock_id}; "
            "`qmm week mock list` lists them"
        )
    return found


def record_mock_answer(
    session: Session,
    *,
    interview: MockInterview,
    question_code: str,
    score: Any,
    notes: str | None = "",
    follow_up: str | None = None,
) -> MockAnswer:
    """Score one question 1-5 with notes and any follow-up; scoring it again replaces the last."""
    chosen = self_assessment_of(interview.fda_assessment, session)
    codes = [
        q.code
        for q in area_questions(
            session, framework_id=chosen.framework_id, practice_area=interview.practice_area
        )
    ]
    p = Problems()
    code = p.text("question", question_code, label="question", limit=120)
    if code is not None and code not in codes:
        p["question"] = (
            f"question {code!r} is not one of the {len(codes)} questions of "
            f"{interview.practice_area} in the self-assessment's framework"
        )
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        p["score"] = f"score {score!r} must be a whole number from 1 to 5"
    clean_notes = p.text("notes", notes, label="notes", required=False, limit=NOTES_LIMIT)
    clean_follow_up = p.text(
        "follow_up", follow_up, label="follow-up", required=False, limit=NOTES_LIMIT
    )
    p.raise_any()
    answer = session.scalar(
        select(MockAnswer).where(
            MockAnswer.mock_interview_id == interview.id, MockAnswer.question_code == code
        )
    )
    if answer is None:
        answer = MockAnswer(mock_interview_id=interview.id, question_code=code)
        session.add(answer)
    answer.score = score
    answer.notes = clean_notes or ""
    answer.follow_up = clean_follow_up
    answer.recorded_at = utcnow()
    session.flush()
    session.refresh(interview, ["answers"])
    return answer


def follow_up_to_plan(session: Session, *, answer: MockAnswer, plan: ReadinessPlan) -> PlanAction:
    """Make a mock interview's follow-up an action of a draft readiness plan of the same site."""
    interview = answer.interview
    visit = interview.fda_assessment
    if not answer.follow_up:
        raise Conflict(f"question {answer.question_code} has no follow-up to plan")
    if answer.plan_action_id is not None:
        raise Conflict(
            f"the follow-up of question {answer.question_code} is already plan action "
            f"{answer.plan_action_id}"
        )
    if plan.site_id != visit.site_id:
        raise Conflict(f"{plan.ref} is a plan of another site than {visit.site.code}")
    question = next(
        q
        for q in area_questions(
            session,
            framework_id=self_assessment_of(visit, session).framework_id,
            practice_area=interview.practice_area,
        )
        if q.code == answer.question_code
    )
    action = add_action(
        session,
        plan=plan,
        action=PlannedAction(
            title=f"Mock interview follow-up: {answer.follow_up}"[:SHORT],
            workstream=AREA_WORKSTREAM.get(interview.practice_area, SYSTEMS),
            due_day=FOLLOW_UP_DUE_DAY,
            sub_element=question.sub_element.code,
            evidence=f"What answers question {answer.question_code} when FDA asks it",
            evidence_kind=EvidenceItemKind.other.value,
            source=MOCK_FOLLOW_UP,
            source_detail=(
                f"mock interview {interview.id} of {interview.practice_area} on "
                f"{interview.held_on} by {interview.assessor}: question {answer.question_code} "
                f"scored {answer.score}"
            ),
        ),
    )
    answer.plan_action_id = action.id
    session.flush()
    return action


# --- where the mock scores fall below the self-assessment ---------------------------------------


@dataclass(frozen=True)
class QuestionBelow:
    """A question the mock assessor scored below the self-assessment's consensus."""

    code: str
    text: str
    sub_element: str
    practice_area: str
    mock_score: int
    self_score: float
    mock_interview_id: int

    @property
    def gap(self) -> float:
        return self.self_score - self.mock_score


@dataclass(frozen=True)
class SubElementBelow:
    """A sub-element whose mean mock score is below its self-assessment score."""

    code: str
    name: str
    practice_area: str
    mock_score: float
    self_score: float
    questions_mocked: int

    @property
    def gap(self) -> float:
        return self.self_score - self.mock_score


@dataclass(frozen=True)
class MockGaps:
    """Where the rehearsal says the self-assessment runs high, largest gap first."""

    self_assessment: Assessment
    questions: tuple[QuestionBelow, ...]
    sub_elements: tuple[SubElementBelow, ...]
    questions_mocked: int


def latest_mock_scores(
    interviews: Sequence[MockInterview],
) -> dict[str, tuple[int, MockInterview]]:
    """Each question's latest mock score (the latest interview that scored it)."""
    latest: dict[str, tuple[int, MockInterview]] = {}
    for interview in sorted(interviews, key=lambda i: (i.held_on, i.id)):
        for answer in interview.answers:
            latest[answer.question_code] = (answer.score, interview)
    return latest


def mock_gaps(session: Session, *, fda_assessment: FdaAssessment, reader: Reader) -> MockGaps:
    """Per question and per sub-element, where the mock scores fall below the consensus (for a
    reader who may read the self-assessment; to others it is not found)."""
    chosen = self_assessment_of(fda_assessment, session)
    if not may_read_assessment(session, reader=reader, assessment=chosen):
        raise NotFound(
            f"you may not read the self-assessment of FDA assessment {fda_assessment.id}, "
            "so its scores are not compared here"
        )
    scores = compute_scores(session, assessment=chosen)
    latest = latest_mock_scores(list_mock_interviews(session, fda_assessment=fda_assessment))
    questions = []
    by_sub: dict[str, list[int]] = {}
    for code, (mock, interview) in latest.items():
        q = scores.questions.get(code)
        if q is None:
            continue
        by_sub.setdefault(q.sub_element, []).append(mock)
        if q.consensus is not None and mock < q.consensus:
            questions.append(
                QuestionBelow(
                    code,
                    q.text,
                    q.sub_element,
                    interview.practice_area,
                    mock,
                    q.consensus,
                    interview.id,
                )
            )
    subs = []
    for code, mocks in by_sub.items():
        sub = scores.sub_elements[code]
        mean = sum(mocks) / len(mocks)
        if sub.score is not None and mean < sub.score:
            subs.append(
                SubElementBelow(code, sub.name, sub.practice_area, mean, sub.score, len(mocks))
            )
    return MockGaps(
        chosen,
        tuple(sorted(questions, key=lambda q: (-q.gap, q.code))),
        tuple(sorted(subs, key=lambda s: (-s.gap, s.code))),
        len(latest),
    )


@dataclass(frozen=True)
class SheetRow:
    """One question of the interview's practice area: the consensus to beat and the mock's."""

    code: str
    text: str
    sub_element: str
    self_score: float | None
    answer: MockAnswer | None

    @property
    def below_self(self) -> bool:
        return (
            self.answer is not None
            and self.self_score is not None
            and self.answer.score < self.self_score
        )


def interview_sheet(
    session: Session, *, interview: MockInterview, reader: Reader
) -> list[SheetRow]:
    """The questions the mock assessor walks, in order, with the self-assessment's consensus
    (shown only to a reader who may read the self-assessment) and the mock's answer."""
    chosen = self_assessment_of(interview.fda_assessment, session)
    readable = may_read_assessment(session, reader=reader, assessment=chosen)
    consensus = compute_scores(session, assessment=chosen).questions if readable else {}
    answers = {a.question_code: a for a in interview.answers}
    rows = []
    for question in area_questions(
        session, framework_id=chosen.framework_id, practice_area=interview.practice_area
    ):
        own = consensus.get(question.code)
        rows.append(
            SheetRow(
                question.code,
                question.text,
                question.sub_element.code,
                own.consensus if own is not None else None,
                answers.get(question.code),
            )
        )
    return rows


def mock_practice_areas(session: Session, *, fda_assessment: FdaAssessment) -> dict[str, str]:
    """The practice areas a mock interview may cover: those of the self-assessment's framework."""
    chosen = self_assessment_of(fda_assessment, session)
    return practice_areas_of(session, framework_id=chosen.framework_id)


def plan_follow_up(
    session: Session, *, interview: MockInterview, question_code: str, plan_ref: str, reader: Reader
) -> PlanAction:
    """The follow-up of a scored question, made an action of a draft plan the reader may read."""
    answer = next((a for a in interview.answers if a.question_code == question_code), None)
    if answer is None:
        raise NotFound(f"mock interview {interview.id} has not scored question {question_code!r}")
    plan = get_readable_plan(
        session, reader=reader, site=interview.fda_assessment.site, ref=plan_ref
    )
    return follow_up_to_plan(session, answer=answer, plan=plan)


def draft_plans(
    session: Session, *, fda_assessment: FdaAssessment, reader: Reader
) -> list[ReadinessPlan]:
    """The site's draft plans the reader may read: where a follow-up may go."""
    return [
        p
        for p in readable_plans(session, reader=reader, site=fda_assessment.site)
        if p.status == ReadinessPlanStatus.draft
    ]
