"""Words for the codes the database stores, so no page shows a raw code where words exist."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.models.site import SiteType

SITE_TYPE_LABELS: Final[dict[str, str]] = {
    SiteType.fdf: "Finished dosage form",
    SiteType.api: "Active pharmaceutical ingredient",
    SiteType.packager: "Packager",
    SiteType.lab: "Testing laboratory",
    SiteType.biologics: "Biologics",
}

#: The tables of the audit trail, as a person names the record they hold.
TABLE_LABELS: Final[dict[str, str]] = {
    "sites": "Site",
    "assessments": "Assessment",
    "assessment_members": "Assessment team member",
    "ratings": "Rating",
    "consensus_scores": "Consensus score",
    "evidence_items": "Evidence item",
    "evidence_files": "Evidence file",
    "evidence_item_sub_elements": "Evidence link to a sub-element",
    "kpi_values": "KPI value",
    "kpi_value_sets": "KPI value set",
    "frameworks": "Framework",
    "decisions": "Decision",
    "quality_objectives": "Quality objective",
    "forum_items": "Forum item",
    "steering_cadences": "Steering cadence",
    "steering_meetings": "Steering meeting",
    "steering_actions": "Steering action",
    "readiness_plans": "Readiness plan",
    "plan_actions": "Plan action",
    "continuity_scenarios": "Continuity scenario",
    "inventory_triggers": "Inventory trigger",
    "inventory_levels": "Inventory level",
    "drills": "Drill",
    "drill_actions": "Drill action",
    "supplier_agreements": "Supplier agreement",
    "signatures": "Signature",
    "import_batches": "Import",
    "users": "User",
    "role_grants": "Role grant",
    "api_tokens": "API token",
    "fda_assessments": "FDA assessment",
    "fda_assessment_milestones": "FDA assessment milestone",
    "fda_agendas": "FDA assessment agenda",
    "fda_agenda_sessions": "Agenda session",
    "fda_feedback": "FDA feedback",
    "fda_findings": "FDA finding",
    "site_people": "Site person",
    "mock_interviews": "Mock interview",
    "qmm_clauses": "Vendor clause",
    "vendor_documents": "Vendor document",
    "week_examples": "Example",
    "pre_interview_questions": "Pre-interview question",
}

#: Column labels where the column's name alone reads badly; per table, then for any table.
COLUMN_LABELS: Final[dict[str, dict[str, str]]] = {
    "*": {
        "id": "Record number",
        "ref": "Reference",
        "fei": "FDA Establishment Identifier (FEI)",
        "site_id": "Site",
        "assessment_id": "Assessment",
        "framework_id": "Framework",
        "user_id": "User",
        "created_at": "Created",
        "updated_at": "Last changed",
        "kpi_code": "KPI",
        "sub_element_code": "Sub-element",
        "practice_area": "Practice area",
        "practice_area_code": "Practice area",
        "question_code": "Question",
        "risk_tier": "Risk tier",
        "capa_id": "CAPA",
        "sha256": "Checksum (SHA-256)",
        "content_sha256": "Content checksum (SHA-256)",
        "na": "Not applicable",
        "na_reason": "Why not applicable",
    },
    "sites": {"code": "Site code", "site_type": "Site type", "headcount": "Headcount"},
    "ratings": {"question": "Question", "assessor": "Assessor", "score": "Score"},
    "kpi_values": {"group_key": "Group (risk tier, grade)", "period": "Period"},
    "users": {"username": "User name", "full_name": "Full name", "password_hash": "Password"},
    "api_tokens": {"token_hash": "Token (hashed)"},
}

_SUFFIXES: Final[tuple[tuple[str, str], ...]] = (("_at", ""), ("_on", " on"), ("_id", ""))
_ACRONYMS: Final[dict[str, str]] = {
    "kpi": "KPI",
    "capa": "CAPA",
    "fda": "FDA",
    "qmm": "QMM",
    "api": "API",
    "url": "URL",
    "utc": "UTC",
    "icc": "ICC",
    "sop": "SOP",
}
_QUESTION_CODE = re.compile(r"^(?P<sub_element>[a-z0-9_]+)\.q(?P<number>\d+)$")


def site_type_label(code: str | None) -> str:
    """'fdf' -> 'Finished dosage form'; 'not recorded' for none; an unknown code as it is."""
    if not code:
        return "not recorded"
    return SITE_TYPE_LABELS.get(code, code)


def _words(name: str) -> str:
    words = [_ACRONYMS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def table_label(table: str) -> str:
    """A table's record as a person names it: 'supplier_agreements' -> 'Supplier agreement'."""
    if table in TABLE_LABELS:
        return TABLE_LABELS[table]
    return _words(table.removesuffix("s"))


def column_label(table: str, column: str) -> str:
    """A column as a person reads it: the registry's label, else its name in words."""
    for scope in (table, "*"):
        label = COLUMN_LABELS.get(scope, {}).get(column)
        if label is not None:
            return label
    name = column
    for suffix, replacement in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name.removesuffix(suffix) + replacement.replace(" ", "_")
            break
    return _words(name)


def value_label(table: str, column: str, value: Any) -> Any:
    """A stored value in words where it is a code with a name (a site type); else as stored."""
    if column == "site_type" and isinstance(value, str):
        return site_type_label(value)
    if column in {"question", "question_code"} and isinstance(value, str):
        return question_label(value)
    if column in {"practice_area", "practice_area_code"} and isinstance(value, str):
        return PRACTICE_AREAS.get(value, value)
    return value


@lru_cache(maxsize=1)
def _default_sub_element_names() -> Mapping[str, str]:
    """The shipped framework's sub-element names, read once."""
    from qmm.framework.service import DEFAULT_FRAMEWORK_PATH, load_document

    document = load_document(DEFAULT_FRAMEWORK_PATH)
    return {se.code: se.name for pa in document.practice_areas for se in pa.sub_elements}


def question_label(code: str, sub_element_names: Mapping[str, str] | None = None) -> str:
    """'rewards_recognition.q1' -> 'Rewards and Recognition, question 1'."""
    match = _QUESTION_CODE.match(code or "")
    if match is None:
        return code
    sub_element = match["sub_element"]
    names = sub_element_names if sub_element_names is not None else _default_sub_element_names()
    name = names.get(sub_element) or _words(sub_element)
    return f"{name}, question {int(match['number'])}"


def question_number(code: str) -> str:
    """'rewards_recognition.q1' -> 'Question 1': the short label inside its sub-element."""
    match = _QUESTION_CODE.match(code or "")
    return f"Question {int(match['number'])}" if match else code


#: What a reliability statistic means, in plain words, for the hint beside it.
STATISTIC_HINTS: Final[dict[str, str]] = {
    "icc1": (
        "Intraclass correlation: how much of the spread in scores lies between sites rather than "
        "within a site. From 0 to 1; above 0.75 is good, below 0.5 poor."
    ),
    "krippendorff_alpha": (
        "How far the assessors agree beyond chance, from 0 (no better than chance) to 1 (they "
        "always agree); 0.8 or more is reliable, below 0.667 the team should calibrate."
    ),
    "cronbach_alpha": (
        "Cronbach's alpha: how consistently the practice areas measure the same underlying "
        "maturity. From 0 to 1; 0.7 or more is acceptable, above 0.9 the areas may overlap."
    ),
}
