"""Which site (and assessment) an audited record belongs to, so its history is shown by scope."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from qmm.audit.trail import audited_tables
from qmm.errors import NotFound
from qmm.models import Assessment, Base, Site
from qmm.record_ids import parse_record_id

AUDITED_TABLES: Final = frozenset(t.name for t in audited_tables())

# How a child record reaches the record that names its site: the relationship to follow.
AUDIT_PARENT: Final = {
    "evidence_files": "item",
    "steering_meetings": "cadence",
    "steering_actions": "meeting",
    "plan_actions": "plan",
    "inventory_levels": "trigger",
    "drill_actions": "drill",
    "qmm_clause_versions": "clause",
    "fda_assessment_milestones": "fda_assessment",
    "fda_agendas": "fda_assessment",
    "fda_agenda_sessions": "agenda",
    "fda_agenda_attendees": "session",
    "site_person_practice_areas": "person",
    "fda_assessment_examples": "fda_assessment",
    "pre_interview_questionnaires": "fda_assessment",
    "pre_interview_answers": "questionnaire",
    "mock_interviews": "fda_assessment",
    "mock_answers": "interview",
    "fda_feedback": "fda_assessment",
    "fda_area_scores": "feedback",
    "fda_findings": "feedback",
}
# Records that belong to an assessment: its site grants, and an assessor's named assessments.
ASSESSMENT_OWNED: Final = frozenset({"ratings", "consensus_scores", "assessment_members"})


def _mapped_class(table: str) -> type[Any] | None:
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table:
            return mapper.class_
    return None


def audit_scope(
    session: Session, *, table: str | None, record_id: str | None
) -> tuple[Site | None, Assessment | None]:
    """The site (and assessment) an audited record belongs to; no site: administrators only."""
    if table is None:
        return None, None
    if table not in AUDITED_TABLES:
        raise NotFound(f"no audited table {table!r}; audited: {', '.join(sorted(AUDITED_TABLES))}")
    number = parse_record_id(record_id)
    if number is None:
        return None, None
    model = _mapped_class(table)
    record = session.get(model, number) if model is not None else None
    if record is None:
        return None, None
    if table == "sites":
        return record, None
    if table == "assessments":
        return record.site, record
    if table in ASSESSMENT_OWNED:
        assessment = session.get(Assessment, record.assessment_id)
        return (assessment.site, assessment) if assessment is not None else (None, None)
    while table in AUDIT_PARENT:
        parent = AUDIT_PARENT[table]
        record = getattr(record, parent)
        table = record.__table__.name
    owner = getattr(record, "assessment_id", None)  # a plan answers one assessment
    if isinstance(owner, int) and (assessment := session.get(Assessment, owner)) is not None:
        return assessment.site, assessment
    site = getattr(record, "site", None)
    return (site, None) if isinstance(site, Site) else (None, None)


def record_label(session: Session, *, table: str, record_id: str) -> str:
    """A human name for the record whose history is shown, when we know one."""
    number = parse_record_id(record_id)
    if number is not None:
        if table == "sites" and (site := session.get(Site, number)) is not None:
            return f"site {site.code} ({site.name})"
        if table == "assessments" and (found := session.get(Assessment, number)) is not None:
            return f"assessment {found.id}: {found.title} ({found.site.code})"
    return f"{table} #{record_id}"
