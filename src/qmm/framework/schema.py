"""The framework document: the shape a QMM framework file must have to be loaded or published."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.metrics.catalogue import KPI_IDS


class Provenance(StrEnum):
    """Where an item of the framework comes from."""

    fda = "fda"
    ich = "ich"
    industry = "industry"
    ours = "ours"


class EvidenceKind(StrEnum):
    """The kinds of evidence that can substantiate a sub-element."""

    policy = "policy"
    sop = "sop"
    role_charter = "role_charter"
    training_record = "training_record"
    trend_report = "trend_report"
    capa_analytics = "capa_analytics"
    continuity_plan = "continuity_plan"
    drill_report = "drill_report"
    decision_record = "decision_record"
    metric_snapshot = "metric_snapshot"
    meeting_minutes = "meeting_minutes"
    risk_assessment = "risk_assessment"
    supplier_file = "supplier_file"
    audit_report = "audit_report"
    investigation_report = "investigation_report"
    change_record = "change_record"
    validation_report = "validation_report"
    survey_result = "survey_result"
    other = "other"


class RollupMethod(StrEnum):
    """How child scores combine into a parent score."""

    mean = "mean"
    weighted_mean = "weighted_mean"
    median = "median"
    minimum = "minimum"


Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$", max_length=80)]
Text = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(_Strict):
    id: Code
    citation: Text
    provenance: Provenance


class RollupRule(_Strict):
    """The versioned rule that turns question scores into sub-element, area and overall scores."""

    version: int = Field(ge=1)
    question_to_sub_element: RollupMethod = RollupMethod.mean
    sub_element_to_practice_area: RollupMethod = RollupMethod.mean
    practice_area_to_overall: RollupMethod = RollupMethod.mean


class Question(_Strict):
    code: Code
    text: Text
    provenance: Provenance
    guidance: str = ""
    weight: float = Field(default=1.0, gt=0)
    anchors: dict[int, Text]

    @field_validator("anchors")
    @classmethod
    def _five_levels(cls, anchors: dict[int, str]) -> dict[int, str]:
        if sorted(anchors) != [1, 2, 3, 4, 5]:
            raise ValueError("anchors must describe each of the levels 1 to 5")
        return anchors


class SubElement(_Strict):
    code: Code
    name: Text
    description: Text
    provenance: Provenance
    sources: list[Code] = Field(min_length=1)
    references: str = ""
    weight: float = Field(default=1.0, gt=0)
    evidence_kinds: list[EvidenceKind] = Field(min_length=1)
    kpis: list[str] = Field(default_factory=list)
    questions: list[Question] = Field(min_length=2)

    @field_validator("kpis")
    @classmethod
    def _known_kpis(cls, kpis: list[str]) -> list[str]:
        unknown = sorted(set(kpis) - KPI_IDS)
        if unknown:
            raise ValueError(f"unknown KPI ids {unknown}; known: {sorted(KPI_IDS)}")
        return kpis


class PracticeArea(_Strict):
    code: str
    name: Text
    description: Text
    provenance: Provenance
    sources: list[Code] = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    sub_elements: list[SubElement] = Field(min_length=1)


class FrameworkDocument(_Strict):
    """A whole framework as it is stored in a file, exported or published."""

    schema_version: Literal[1] = 1
    code: Code
    name: Text
    description: Text
    provenance: Provenance
    level_names: dict[int, Text]
    rollup: RollupRule
    sources: list[Source] = Field(min_length=1)
    practice_areas: list[PracticeArea]

    @model_validator(mode="after")
    def _consistent(self) -> FrameworkDocument:
        problems: list[str] = []
        codes = [pa.code for pa in self.practice_areas]
        if sorted(codes) != sorted(PRACTICE_AREA_CODES):
            problems.append(
                f"practice areas must be exactly {list(PRACTICE_AREA_CODES)}, got {codes}"
            )
        source_ids = {s.id for s in self.sources}
        seen: set[str] = set()
        for pa in self.practice_areas:
            items: list[tuple[str, list[str]]] = [(pa.code, pa.sources)]
            for se in pa.sub_elements:
                items.append((se.code, se.sources))
                for code in [se.code, *(q.code for q in se.questions)]:
                    if code in seen:
                        problems.append(f"code {code!r} is used more than once")
                    seen.add(code)
            for code, refs in items:
                missing = sorted(set(refs) - source_ids)
                if missing:
                    problems.append(f"{code}: sources {missing} are not declared under sources")
        if sorted(self.level_names) != [1, 2, 3, 4, 5]:
            problems.append("level_names must name each of the levels 1 to 5")
        if problems:
            raise ValueError("; ".join(problems))
        return self
