"""The evidence index's one JSON shape: what the API returns and `qmm evidence --format json`
prints for an item and for an assessment's coverage."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qmm.evidence.service import EvidenceCoverage, review_overdue
from qmm.models import EvidenceItem
from qmm.text_rules import has_nul


class EvidenceIn(BaseModel):
    """An evidence item to add (files are attached in the web app or with `qmm evidence`)."""

    model_config = ConfigDict(extra="forbid")

    title: str
    kind: str
    owner: str
    effective_on: date
    review_by: date | None = None
    link: str | None = None
    eqms_id: str | None = None
    description: str = ""
    sub_elements: list[str] = Field(default_factory=list)

    @field_validator("title", "kind", "owner", "link", "eqms_id", "description", "sub_elements")
    @classmethod
    def no_nul(cls, value: Any) -> Any:
        """NUL characters fit in no database column; refuse them by field."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and has_nul(t) for t in texts):
            raise ValueError("must not contain a NUL character")
        return value


class EvidenceFileOut(BaseModel):
    """A file attached to an evidence item, and where to download it."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    download: str


class EvidenceOut(BaseModel):
    """An evidence item of a site's index; `overdue` when its review-by date has passed."""

    ref: str
    site: str
    title: str
    kind: str
    link: str | None
    eqms_id: str | None
    owner: str
    effective_on: date
    review_by: date | None
    overdue: bool
    description: str
    sub_elements: list[str]
    files: list[EvidenceFileOut]
    created_at: datetime
    created_by: str
    retired_at: datetime | None
    retired_reason: str | None

    @classmethod
    def of(cls, item: EvidenceItem, *, today: date) -> EvidenceOut:
        """The item as of a day (which decides whether its review is overdue)."""
        base = f"/sites/{item.site.code}/evidence/{item.ref}/files"
        return cls(
            ref=item.ref,
            site=item.site.code,
            title=item.title,
            kind=item.kind,
            link=item.link,
            eqms_id=item.eqms_id,
            owner=item.owner,
            effective_on=item.effective_on,
            review_by=item.review_by,
            overdue=review_overdue(item, today),
            description=item.description or "",
            sub_elements=item.sub_element_codes,
            files=[
                EvidenceFileOut(
                    id=f.id,
                    filename=f.filename,
                    content_type=f.content_type,
                    size=f.size,
                    sha256=f.sha256,
                    download=f"{base}/{f.id}",
                )
                for f in item.files
            ],
            created_at=item.created_at,
            created_by=item.created_by,
            retired_at=item.retired_at,
            retired_reason=item.retired_reason,
        )


class CodeNameOut(BaseModel):
    """A sub-element by code and name."""

    code: str
    name: str


class OverdueOut(BaseModel):
    """A current item whose review-by date has passed."""

    ref: str
    title: str
    owner: str
    review_by: str


class UnsupportedRatingOut(BaseModel):
    """A current rating of 3 or more that cites no current item of the site's index."""

    rating: int
    question: str
    sub_element: str
    assessor: str
    score: int
    refs: list[str]
    unknown_refs: list[str]
    retired_refs: list[str]


class CoverageOut(BaseModel):
    """An assessment's evidence coverage against its site's current index."""

    assessment: int
    site: str
    framework: str
    today: str
    sub_elements: int
    sub_elements_without_evidence: list[CodeNameOut]
    overdue_reviews: list[OverdueOut]
    unsupported_ratings: list[UnsupportedRatingOut]
    unknown_refs: list[str]

    @classmethod
    def of(cls, result: EvidenceCoverage) -> CoverageOut:
        return cls(
            assessment=result.assessment_id,
            site=result.site_code,
            framework=result.framework_ref,
            today=result.today.isoformat(),
            sub_elements=result.sub_element_count,
            sub_elements_without_evidence=[
                CodeNameOut(code=code, name=name)
                for code, name in result.sub_elements_without_evidence
            ],
            overdue_reviews=[
                OverdueOut(ref=i.ref, title=i.title, owner=i.owner, review_by=str(i.review_by))
                for i in result.overdue_reviews
            ],
            unsupported_ratings=[
                UnsupportedRatingOut(
                    rating=r.rating_id,
                    question=r.question_code,
                    sub_element=r.sub_element_code,
                    assessor=r.assessor,
                    score=r.score,
                    refs=list(r.refs),
                    unknown_refs=list(r.unknown_refs),
                    retired_refs=list(r.retired_refs),
                )
                for r in result.unsupported_ratings
            ],
            unknown_refs=list(result.unknown_refs),
        )
