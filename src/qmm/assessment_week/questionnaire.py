"""FDA's pre-interview questionnaire as a workspace: per practice area the site's pre-interview
questions and its answer, drafted from the chosen self-assessment and examples, then edited,
reviewed by a second person and signed off by the site head.

Why: FDA sends sample questions per practice area before the week; the answers tell the
assessors what to look at, so they are drafted from what the site recorded (nothing invented),
checked by someone who did not write them, and signed like the other records that commit the
site.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.assessment_week.examples import STATUS_LABELS, chosen_examples
from qmm.assessment_week.service import choose_self_assessment, self_assessment_readable
from qmm.audit.signatures import SignableKind, SignableRecord, register_signable
from qmm.auth.scope import Reader
from qmm.auth.service import CheckedPassword
from qmm.auth.signing import sign
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.service import site_framework
from qmm.framework.service import load_tree
from qmm.models import (
    Assessment,
    ExampleStatus,
    FdaAssessment,
    Framework,
    PreInterviewQuestion,
    Questionnaire,
    QuestionnaireAnswer,
    QuestionnaireStatus,
    Signature,
    Site,
    User,
    WeekExample,
    utcnow,
)
from qmm.program.common import Problems, actor_label

RECORD_TYPE: Final = "pre_interview_questionnaire"
ANSWER_LIMIT: Final = 20000
#: Sub-elements FDA named in public (CDER's 2026 cohort update): two default questions each.
FDA_NAMED_SUB_ELEMENTS: Final = frozenset(
    {
        "quality_risk_management",
        "continual_improvement",
        "data_excellence",
        "knowledge_management",
        "technological_advancement",
        "rewards_recognition",
    }
)
STATUS_LABELS_Q: Final = {
    QuestionnaireStatus.drafting.value: "Drafting",
    QuestionnaireStatus.reviewed.value: "Reviewed, awaiting the site head's signature",
    QuestionnaireStatus.signed.value: "Signed off",
}


# --- the site's pre-interview questions --------------------------------------------------------


@dataclass(frozen=True)
class PreInterviewItem:
    """A framework question as a pre-interview question, with where it sits in the framework."""

    code: str
    text: str
    sub_element: str
    sub_element_name: str
    practice_area: str


def questions_framework(
    session: Session, *, site: Site, fda_assessment: FdaAssessment | None = None
) -> Framework:
    """The framework the questions come from: the chosen self-assessment's, else the site's."""
    if fda_assessment is not None and fda_assessment.self_assessment_id is not None:
        assessment = session.get(Assessment, fda_assessment.self_assessment_id)
        if assessment is not None:
            return load_tree(session, framework_id=assessment.framework_id)
    return load_tree(session, framework_id=site_framework(session, site=site).id)


def default_question_codes(framework: Framework) -> list[str]:
    """The shipped default: each sub-element's first question, and its second as well for the
    six sub-elements FDA named in public."""
    codes: list[str] = []
    for pa in framework.practice_areas:
        for se in pa.sub_elements:
            take = 2 if se.code in FDA_NAMED_SUB_ELEMENTS else 1
            codes.extend(q.code for q in se.questions[:take])
    return codes


def _site_codes(session: Session, site: Site) -> list[str]:
    return list(
        session.scalars(
            select(PreInterviewQuestion.question_code)
            .where(PreInterviewQuestion.site_id == site.id)
            .order_by(PreInterviewQuestion.id)
        )
    )


def is_edited(session: Session, *, site: Site) -> bool:
    """Whether the site edited its set (else the shipped default applies)."""
    return bool(_site_codes(session, site))


def pre_interview_questions(
    session: Session, *, site: Site, framework: Framework
) -> list[PreInterviewItem]:
    """The site's pre-interview questions in framework order: its own set once edited, the
    shipped default until then; codes the framework lacks are left out."""
    wanted = set(_site_codes(session, site) or default_question_codes(framework))
    return [
        PreInterviewItem(q.code, q.text, se.code, se.name, pa.code)
        for pa in framework.practice_areas
        for se in pa.sub_elements
        for q in se.questions
        if q.code in wanted
    ]


def _all_codes(framework: Framework) -> dict[str, str]:
    return {
        q.code: pa.code
        for pa in framework.practice_areas
        for se in pa.sub_elements
        for q in se.questions
    }


def _materialise(session: Session, site: Site, framework: Framework) -> list[str]:
    codes = _site_codes(session, site)
    if codes:
        return codes
    who = actor_label(session)
    codes = default_question_codes(framework)
    for code in codes:
        session.add(PreInterviewQuestion(site_id=site.id, question_code=code, added_by=who))
    session.flush()
    return codes


def tag_question(session: Session, *, site: Site, code: str) -> PreInterviewQuestion:
    """Tag a framework question as one of the site's pre-interview questions."""
    framework = questions_framework(session, site=site)
    clean = code.strip() if isinstance(code, str) else ""
    if clean not in _all_codes(framework):
        raise InvalidInput(
            f"question {code!r} is not in {framework.ref}; `qmm framework show {framework.ref}` "
            "lists the question codes"
        )
    if clean in _materialise(session, site, framework):
        raise Conflict(f"{clean} is one of {site.code}'s pre-interview questions already")
    row = PreInterviewQuestion(site_id=site.id, question_code=clean, added_by=actor_label(session))
    session.add(row)
    session.flush()
    return row


def untag_question(session: Session, *, site: Site, code: str) -> None:
    """Take a question off the site's pre-interview set (at least one must stay)."""
    framework = questions_framework(session, site=site)
    clean = code.strip() if isinstance(code, str) else ""
    codes = _materialise(session, site, framework)
    if clean not in codes:
        raise NotFound(
            f"{code!r} is not one of {site.code}'s pre-interview questions; "
            f"`qmm week questionnaire questions --site {site.code}` lists them"
        )
    if len(codes) == 1:
        raise Conflict("a site keeps at least one pre-interview question")
    row = session.scalar(
        select(PreInterviewQuestion).where(
            PreInterviewQuestion.site_id == site.id, PreInterviewQuestion.question_code == clean
        )
    )
    assert row is not None
    session.delete(row)
    session.flush()


def reset_questions(session: Session, *, site: Site) -> None:
    """Go back to the shipped default set."""
    rows = session.scalars(
        select(PreInterviewQuestion).where(PreInterviewQuestion.site_id == site.id)
    ).all()
    for row in rows:  # one by one, so the audit trail records each removal
        session.delete(row)
    session.flush()


# --- drafting ----------------------------------------------------------------------------------


def _score_text(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.1f} of 5"


def _example_line(example: WeekExample) -> str:
    return f"- {example.ref} {example.title}: {example.result}"


def draft_answer(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    practice_area: str,
    questions: Sequence[PreInterviewItem],
) -> str:
    """The draft of one practice area's answer, composed only from the records: the chosen
    self-assessment's score, consensus scores and rationales for each question, and the
    chosen examples of the area."""
    lines: list[str] = []
    assessment = (
        session.get(Assessment, fda_assessment.self_assessment_id)
        if fda_assessment.self_assessment_id is not None
        else None
    )
    if assessment is None:
        lines.append(
            "No self-assessment is chosen for this FDA assessment yet; choose one to draft "
            "from its consensus scores and rationales."
        )
    else:
        scores = compute_scores(session, assessment=assessment)
        area = scores.practice_areas.get(practice_area)
        lines.append(
            f"Self-assessment '{assessment.title}' ({assessment.framework.ref}): practice area "
            f"score {_score_text(area.score if area else None)}."
        )
        for item in questions:
            lines.append("")
            lines.append(f"{item.code}: {item.text}")
            found = scores.questions.get(item.code)
            if found is None or found.consensus_source == "unrated":
                lines.append("Not rated in the self-assessment.")
                continue
            if found.consensus_source == "not_applicable":
                lines.append("Rated not applicable.")
            else:
                source = "consensus" if found.consensus_source == "lead" else "assessors' mean"
                lines.append(f"Score {_score_text(found.consensus)} ({source}).")
            rationales = [found.consensus_rationale] if found.consensus_rationale else []
            if not rationales:
                rationales = [r.rationale for r in found.ratings if r.rationale]
            lines.extend(dict.fromkeys(r.strip() for r in rationales if r.strip()))
    examples = [
        e
        for e in chosen_examples(session, fda_assessment=fda_assessment)
        if practice_area in e.practice_areas
    ]
    lines.append("")
    if examples:
        lines.append("Examples we will share:")
        lines.extend(_example_line(e) for e in examples)
    else:
        lines.append("No example of this practice area is chosen yet.")
    return "\n".join(lines).strip() + "\n"


def _area_questions(
    session: Session, fda_assessment: FdaAssessment
) -> tuple[Framework, dict[str, list[PreInterviewItem]]]:
    framework = questions_framework(
        session, site=fda_assessment.site, fda_assessment=fda_assessment
    )
    items = pre_interview_questions(session, site=fda_assessment.site, framework=framework)
    by_area: dict[str, list[PreInterviewItem]] = {pa.code: [] for pa in framework.practice_areas}
    for item in items:
        by_area[item.practice_area].append(item)
    return framework, by_area


def start_questionnaire(session: Session, *, fda_assessment: FdaAssessment) -> Questionnaire:
    """Open the questionnaire of an FDA assessment, every practice area's answer drafted."""
    existing = session.scalar(
        select(Questionnaire).where(Questionnaire.fda_assessment_id == fda_assessment.id)
    )
    if existing is not None:
        raise Conflict(f"FDA assessment {fda_assessment.id} has its questionnaire already; edit it")
    questionnaire = Questionnaire(
        fda_assessment_id=fda_assessment.id,
        status=QuestionnaireStatus.drafting,
        created_by=actor_label(session),
    )
    session.add(questionnaire)
    session.flush()
    framework, by_area = _area_questions(session, fda_assessment)
    for position, pa in enumerate(framework.practice_areas):
        items = by_area[pa.code]
        text = draft_answer(
            session, fda_assessment=fda_assessment, practice_area=pa.code, questions=items
        )
        session.add(
            QuestionnaireAnswer(
                questionnaire_id=questionnaire.id,
                position=position,
                practice_area=pa.code,
                practice_area_name=pa.name,
                questions=[{"code": i.code, "text": i.text} for i in items],
                drafted=text,
                answer=text,
            )
        )
    session.flush()
    session.refresh(questionnaire, ["answers"])
    return questionnaire


def check_source_readable(
    session: Session, *, fda_assessment: FdaAssessment, reader: Reader
) -> None:
    """The questionnaire quotes its self-assessment's scores and rationales: only a reader who
    may read that self-assessment sees it; to others it is not found."""
    if not self_assessment_readable(session, fda_assessment=fda_assessment, reader=reader):
        raise NotFound(
            f"FDA assessment {fda_assessment.id}'s questionnaire is drafted from a "
            "self-assessment you may not read"
        )


def get_questionnaire(session: Session, *, fda_assessment: FdaAssessment) -> Questionnaire:
    """The assessment's questionnaire, or a NotFound saying how to start it."""
    found = session.scalar(
        select(Questionnaire).where(Questionnaire.fda_assessment_id == fda_assessment.id)
    )
    if found is None:
        raise NotFound(
            f"FDA assessment {fda_assessment.id} has no questionnaire yet; "
            f"`qmm week questionnaire start {fda_assessment.id}` opens it"
        )
    return found


def find_questionnaire(session: Session, *, fda_assessment: FdaAssessment) -> Questionnaire | None:
    """The assessment's questionnaire, or None before it is started."""
    return session.scalar(
        select(Questionnaire).where(Questionnaire.fda_assessment_id == fda_assessment.id)
    )


def get_answer(questionnaire: Questionnaire, *, practice_area: str) -> QuestionnaireAnswer:
    """One practice area's answer, or a NotFound naming the areas."""
    for answer in questionnaire.answers:
        if answer.practice_area == practice_area:
            return answer
    areas = ", ".join(a.practice_area for a in questionnaire.answers)
    raise NotFound(f"practice area {practice_area!r} is not in the questionnaire; it has {areas}")


def _refuse_signed(questionnaire: Questionnaire) -> None:
    if questionnaire.status == QuestionnaireStatus.signed:
        raise Conflict(
            f"the questionnaire of FDA assessment {questionnaire.fda_assessment_id} is signed "
            "off and can no longer change"
        )


def _reopen(questionnaire: Questionnaire) -> None:
    """An edit after the review makes the review lapse: it reviewed other words."""
    if questionnaire.status == QuestionnaireStatus.reviewed:
        questionnaire.status = QuestionnaireStatus.drafting
        questionnaire.reviewed_by = None
        questionnaire.reviewed_at = None
        questionnaire.review_note = None


def edit_answer(
    session: Session, *, questionnaire: Questionnaire, practice_area: str, answer: Any
) -> QuestionnaireAnswer:
    """Replace a practice area's answer with the edited text."""
    _refuse_signed(questionnaire)
    found = get_answer(questionnaire, practice_area=practice_area)
    p = Problems()
    text = p.text("answer", answer, label="answer", limit=ANSWER_LIMIT)
    p.raise_any()
    assert text is not None
    if text == found.answer.strip():
        return found
    found.answer = text + "\n"
    found.edited_by = actor_label(session)
    found.edited_at = utcnow()
    _reopen(questionnaire)
    session.flush()
    return found


def redraft_answer(
    session: Session, *, questionnaire: Questionnaire, practice_area: str
) -> QuestionnaireAnswer:
    """Draft one area again from the records as they are now (the site's questions, the
    self-assessment, the chosen examples); the answer is replaced by the new draft."""
    _refuse_signed(questionnaire)
    found = get_answer(questionnaire, practice_area=practice_area)
    fda_assessment = questionnaire.fda_assessment
    _, by_area = _area_questions(session, fda_assessment)
    items = by_area.get(practice_area, [])
    text = draft_answer(
        session, fda_assessment=fda_assessment, practice_area=practice_area, questions=items
    )
    found.questions = [{"code": i.code, "text": i.text} for i in items]
    found.drafted = text
    found.answer = text
    found.edited_by = actor_label(session)
    found.edited_at = utcnow()
    _reopen(questionnaire)
    session.flush()
    return found


def draft_from(
    session: Session, *, fda_assessment: FdaAssessment, assessment: Assessment
) -> FdaAssessment:
    """Choose the self-assessment the answers are drafted from; once the questionnaire is open,
    every answer nobody edited yet is drafted again from it (edited answers are left alone)."""
    questionnaire = find_questionnaire(session, fda_assessment=fda_assessment)
    if questionnaire is not None:
        _refuse_signed(questionnaire)
    choose_self_assessment(session, fda_assessment=fda_assessment, assessment=assessment)
    if questionnaire is None:
        return fda_assessment
    _, by_area = _area_questions(session, fda_assessment)
    for answer in questionnaire.answers:
        if answer.edited_by is not None:
            continue
        items = by_area.get(answer.practice_area, [])
        text = draft_answer(
            session,
            fda_assessment=fda_assessment,
            practice_area=answer.practice_area,
            questions=items,
        )
        answer.questions = [{"code": i.code, "text": i.text} for i in items]
        answer.drafted = text
        answer.answer = text
    _reopen(questionnaire)
    session.flush()
    return fda_assessment


def writers(questionnaire: Questionnaire) -> list[str]:
    """Everyone who wrote the questionnaire: who opened it and who edited an answer."""
    names = [questionnaire.created_by, *(a.edited_by for a in questionnaire.answers if a.edited_by)]
    return list(dict.fromkeys(names))


def review_questionnaire(
    session: Session, *, questionnaire: Questionnaire, note: str | None = None
) -> Questionnaire:
    """A second person, who wrote none of it, reviewed the answers."""
    _refuse_signed(questionnaire)
    if questionnaire.status == QuestionnaireStatus.reviewed:
        raise Conflict("the questionnaire is reviewed already; an edit opens it again")
    p = Problems()
    clean_note = p.text("note", note, label="review note", required=False, limit=4000)
    p.raise_any()
    who = actor_label(session)
    if who in writers(questionnaire):
        raise Conflict(
            f"{who} wrote part of the questionnaire; a second person who wrote none of it "
            f"reviews it (writers: {', '.join(writers(questionnaire))})"
        )
    questionnaire.status = QuestionnaireStatus.reviewed
    questionnaire.reviewed_by = who
    questionnaire.reviewed_at = utcnow()
    questionnaire.review_note = clean_note
    session.flush()
    return questionnaire


def unapproved_examples(session: Session, *, questionnaire: Questionnaire) -> list[WeekExample]:
    """Chosen examples not yet approved for sharing: they hold the sign-off back."""
    return [
        e
        for e in chosen_examples(session, fda_assessment=questionnaire.fda_assessment)
        if e.status != ExampleStatus.approved
    ]


def check_signable(session: Session, *, questionnaire: Questionnaire) -> None:
    """Refuse a sign-off before the review, or while a chosen example is not approved."""
    _refuse_signed(questionnaire)
    if questionnaire.status != QuestionnaireStatus.reviewed:
        raise Conflict(
            "the questionnaire is not reviewed yet; a second person reviews it before the "
            "site head signs it off"
        )
    waiting = unapproved_examples(session, questionnaire=questionnaire)
    if waiting:
        raise Conflict(
            "chosen examples not approved for sharing: "
            + ", ".join(f"{e.ref} ({STATUS_LABELS[e.status].lower()})" for e in waiting)
        )


def sign_questionnaire(
    session: Session,
    *,
    questionnaire: Questionnaire,
    user: User,
    password: str | CheckedPassword,
    meaning: str = "approved",
) -> Signature:
    """The site head signs the reviewed questionnaire off (password again); it is then frozen."""
    check_signable(session, questionnaire=questionnaire)
    return sign(
        session,
        user=user,
        password=password,
        meaning=meaning,
        record_type=RECORD_TYPE,
        record_id=str(questionnaire.id),
    )


def questionnaire_content(session: Session, questionnaire: Questionnaire) -> dict[str, Any]:
    """What the sign-off binds to: every question and answer, the review, the chosen examples."""
    visit = questionnaire.fda_assessment
    return {
        "site": visit.site.code,
        "fda_assessment": visit.id,
        "ref": f"questionnaire of FDA assessment {visit.id}",
        "self_assessment": visit.self_assessment_id,
        "created_by": questionnaire.created_by,
        "reviewed_by": questionnaire.reviewed_by,
        "answers": [
            {
                "practice_area": a.practice_area,
                "questions": [q["code"] for q in a.questions],
                "answer": a.answer,
            }
            for a in questionnaire.answers
        ],
        "examples": [
            {"ref": e.ref, "title": e.title, "result": e.result}
            for e in chosen_examples(session, fda_assessment=visit)
        ],
    }


def get_questionnaire_by_id(session: Session, *, record_id: str) -> Questionnaire:
    """A questionnaire by its database id (as signatures name it)."""
    found = session.get(Questionnaire, int(record_id)) if str(record_id).isdigit() else None
    if found is None:
        raise NotFound(f"no questionnaire {record_id}")
    return found


def _signable(session: Session, record_id: str) -> SignableRecord:
    questionnaire = get_questionnaire_by_id(session, record_id=record_id)
    return SignableRecord(
        questionnaire_content(session, questionnaire),
        questionnaire.fda_assessment.site,
        author=questionnaire.created_by,
        awaiting_approval=questionnaire.status != QuestionnaireStatus.signed,
    )


def _signed(session: Session, signature: Signature) -> None:
    questionnaire = get_questionnaire_by_id(session, record_id=signature.record_id)
    if questionnaire.status == QuestionnaireStatus.signed:
        return
    questionnaire.status = QuestionnaireStatus.signed
    questionnaire.signed_at = utcnow()
    session.flush()


register_signable(SignableKind(RECORD_TYPE, read=_signable, on_signed=_signed))


# --- for the demo ------------------------------------------------------------------------------


def demo_week_preparation(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    author: str,
    reviewer: str,
    approver: str,
) -> Questionnaire:
    """The lead's demo hook: eight examples of the assessment's site (three approved, two
    reviewed, three drafts; written by AUTHOR, reviewed by REVIEWER, approved by APPROVER, all
    usernames), the five reviewed or approved ones chosen to share, and a half-finished
    questionnaire: every area drafted from the records, two of five edited, not yet reviewed."""
    from qmm.assessment_week.examples import (
        DEMO_EXAMPLES,
        add_example,
        approve_example,
        choose_example,
        review_example,
    )
    from qmm.audit.trail import Actor, acting

    site = fda_assessment.site
    for title, situation, action, result, owner, codes, kpis, status in DEMO_EXAMPLES:
        with acting(session, Actor(label=author)):
            example = add_example(
                session,
                site=site,
                title=title,
                situation=situation,
                action_taken=action,
                result=result,
                owner=owner,
                sub_elements=codes,
                kpis=kpis,
            )
        if status in (ExampleStatus.reviewed, ExampleStatus.approved):
            with acting(session, Actor(label=reviewer)):
                review_example(session, example=example)
            with acting(session, Actor(label=author)):
                choose_example(session, fda_assessment=fda_assessment, example=example)
        if status == ExampleStatus.approved:
            with acting(session, Actor(label=approver)):
                approve_example(session, example=example)
    with acting(session, Actor(label=author)):
        return demo_questionnaire(
            session,
            fda_assessment=fda_assessment,
            answers={
                "management_commitment": (
                    "Quality leads every trade-off: the decision log records each one, signed, "
                    "and the steering forum reviews them monthly.\n\nExample to share: the lot "
                    "held until the filling deviation closed."
                ),
                "business_continuity": (
                    "Each supply risk scenario has a recovery target and is drilled with the "
                    "supplier.\n\nExample to share: the stopper supplier outage drill, recovered "
                    "in 60 hours against a 72-hour target."
                ),
            },
        )


def demo_questionnaire(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    answers: dict[str, str] | None = None,
) -> Questionnaire:
    """A half-finished questionnaire for the lead's demo: started (every area drafted from the
    records), the areas named in ANSWERS edited with the given text, not yet reviewed."""
    questionnaire = start_questionnaire(session, fda_assessment=fda_assessment)
    for area, text in (answers or {}).items():
        edit_answer(session, questionnaire=questionnaire, practice_area=area, answer=text)
    return questionnaire
