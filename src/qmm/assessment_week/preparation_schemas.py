"""The one JSON shape of an example, a candidate and the questionnaire, shared by the API and
`--format json`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from qmm.assessment_week.examples import Candidate, app_path, chosen_examples
from qmm.assessment_week.questionnaire import RECORD_TYPE, PreInterviewItem
from qmm.audit.schemas import SignatureOut
from qmm.audit.signatures import signatures_for
from qmm.models import Questionnaire, QuestionnaireAnswer, WeekExample


class ExampleOut(BaseModel):
    """An example of the site's practice."""

    ref: str
    site: str
    title: str
    situation: str
    action_taken: str
    result: str
    practice_areas: list[str]
    sub_elements: list[str]
    evidence_refs: list[str]
    kpis: list[str]
    owner: str
    status: str
    source_kind: str | None
    source_ref: str | None
    created_at: datetime
    created_by: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    url: str

    @classmethod
    def of(cls, example: WeekExample) -> ExampleOut:
        return cls(
            ref=example.ref,
            site=example.site.code,
            title=example.title,
            situation=example.situation,
            action_taken=example.action_taken,
            result=example.result,
            practice_areas=list(example.practice_areas),
            sub_elements=list(example.sub_elements),
            evidence_refs=list(example.evidence_refs),
            kpis=list(example.kpis),
            owner=example.owner,
            status=example.status,
            source_kind=example.source_kind,
            source_ref=example.source_ref,
            created_at=example.created_at,
            created_by=example.created_by,
            reviewed_by=example.reviewed_by,
            reviewed_at=example.reviewed_at,
            approved_by=example.approved_by,
            approved_at=example.approved_at,
            url=app_path(example),
        )


class CandidateOut(BaseModel):
    """A record suggested as an example, with its facts as recorded and the links it brings."""

    key: str
    source_kind: str
    source_ref: str
    title: str
    on: date | None
    facts: list[str]
    practice_areas: list[str]
    sub_elements: list[str]
    evidence_refs: list[str]
    kpis: list[str]

    @classmethod
    def of(cls, candidate: Candidate) -> CandidateOut:
        return cls(
            key=candidate.key,
            source_kind=candidate.source_kind,
            source_ref=candidate.source_ref,
            title=candidate.title,
            on=candidate.on,
            facts=list(candidate.facts),
            practice_areas=list(candidate.practice_areas),
            sub_elements=list(candidate.sub_elements),
            evidence_refs=list(candidate.evidence_refs),
            kpis=list(candidate.kpis),
        )


class PreInterviewQuestionOut(BaseModel):
    """One of the site's pre-interview questions."""

    code: str
    text: str
    sub_element: str
    practice_area: str

    @classmethod
    def of(cls, item: PreInterviewItem) -> PreInterviewQuestionOut:
        return cls(
            code=item.code,
            text=item.text,
            sub_element=item.sub_element,
            practice_area=item.practice_area,
        )


class QuestionOut(BaseModel):
    code: str
    text: str


class AnswerOut(BaseModel):
    """One practice area's questions and the site's answer."""

    practice_area: str
    practice_area_name: str
    questions: list[QuestionOut]
    answer: str
    drafted: str
    edited_by: str | None
    edited_at: datetime | None

    @classmethod
    def of(cls, answer: QuestionnaireAnswer) -> AnswerOut:
        return cls(
            practice_area=answer.practice_area,
            practice_area_name=answer.practice_area_name,
            questions=[QuestionOut(code=q["code"], text=q["text"]) for q in answer.questions],
            answer=answer.answer,
            drafted=answer.drafted,
            edited_by=answer.edited_by,
            edited_at=answer.edited_at,
        )


class QuestionnaireOut(BaseModel):
    """The pre-interview questionnaire of an FDA assessment."""

    id: int
    fda_assessment_id: int
    site: str
    status: str
    self_assessment_id: int | None
    created_by: str
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    signed_at: datetime | None
    answers: list[AnswerOut]
    examples: list[str]
    signatures: list[SignatureOut]

    @classmethod
    def of(cls, session: Session, questionnaire: Questionnaire) -> QuestionnaireOut:
        visit = questionnaire.fda_assessment
        return cls(
            id=questionnaire.id,
            fda_assessment_id=visit.id,
            site=visit.site.code,
            status=questionnaire.status,
            self_assessment_id=visit.self_assessment_id,
            created_by=questionnaire.created_by,
            created_at=questionnaire.created_at,
            reviewed_by=questionnaire.reviewed_by,
            reviewed_at=questionnaire.reviewed_at,
            review_note=questionnaire.review_note,
            signed_at=questionnaire.signed_at,
            answers=[AnswerOut.of(a) for a in questionnaire.answers],
            examples=[e.ref for e in chosen_examples(session, fda_assessment=visit)],
            signatures=[
                SignatureOut.of(s)
                for s in signatures_for(
                    session, record_type=RECORD_TYPE, record_id=str(questionnaire.id)
                )
            ],
        )
