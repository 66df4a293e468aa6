"""The clause library's and vendor documents' one JSON shape: the API and `--format json`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from qmm.models import ClauseVersion, VendorDocument
from qmm.program.clauses import DOCUMENT_TYPES, ClauseView, CoverageRow


class ClauseVersionOut(BaseModel):
    """An earlier wording of a site's clause."""

    version: int
    title: str
    text: str
    replaced_at: datetime
    replaced_by: str

    @classmethod
    def of(cls, v: ClauseVersion) -> ClauseVersionOut:
        return cls(
            version=v.version,
            title=v.title,
            text=v.text,
            replaced_at=v.replaced_at,
            replaced_by=v.replaced_by,
        )


class ClauseOut(BaseModel):
    """A clause of a site's library: the site's own copy, or the default it has not copied."""

    code: str
    title: str
    text: str
    purpose: str
    document_types: list[str]
    practice_areas: list[str]
    sub_elements: list[str]
    source: str
    version: int
    site_copy: bool
    history: list[ClauseVersionOut]

    @classmethod
    def of(cls, c: ClauseView) -> ClauseOut:
        return cls(
            code=c.code,
            title=c.title,
            text=c.text,
            purpose=c.purpose,
            document_types=list(c.document_types),
            practice_areas=list(c.practice_areas),
            sub_elements=list(c.sub_elements),
            source=c.source,
            version=c.version,
            site_copy=c.site_copy,
            history=[ClauseVersionOut.of(v) for v in c.history],
        )


class VendorDocumentIn(BaseModel):
    """A URS, RFP, contract or quality agreement to record, with the clauses it carries."""

    model_config = ConfigDict(extra="forbid")

    document_type: str
    vendor: str
    title: str
    owner: str
    effective_on: date
    link: str
    clauses: list[str] = Field(default_factory=list)
    expires_on: date | None = None


class VendorDocumentOut(BaseModel):
    """A recorded vendor document."""

    id: int
    site: str
    document_type: str
    document_type_name: str
    vendor: str
    title: str
    owner: str
    effective_on: date
    expires_on: date | None
    link: str
    clauses: list[str]
    #: A signed quality agreement's evidence item (EV-nnnn), else null.
    evidence_ref: str | None

    @classmethod
    def of(cls, d: VendorDocument) -> VendorDocumentOut:
        return cls(
            id=d.id,
            site=d.site.code,
            document_type=d.document_type,
            document_type_name=DOCUMENT_TYPES.get(d.document_type, d.document_type),
            vendor=d.vendor,
            title=d.title,
            owner=d.owner,
            effective_on=d.effective_on,
            expires_on=d.expires_on,
            link=d.link,
            clauses=list(d.clauses),
            evidence_ref=d.evidence_item.ref if d.evidence_item is not None else None,
        )


class ClauseCoverageOut(BaseModel):
    """One vendor and document type: the expected clauses carried and missing."""

    vendor: str
    document_type: str
    documents: list[int]
    expected: list[str]
    included: list[str]
    missing: list[str]

    @classmethod
    def of(cls, row: CoverageRow) -> ClauseCoverageOut:
        return cls(
            vendor=row.vendor,
            document_type=row.document_type,
            documents=[d.id for d in row.documents],
            expected=list(row.expected),
            included=list(row.included),
            missing=list(row.missing),
        )


class ClauseEditIn(BaseModel):
    """A change to a clause's wording for the site; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    text: str | None = None
    purpose: str | None = None
    source: str | None = None
    document_types: list[str] | None = None
    sub_elements: list[str] | None = None


class MissingClauseIn(BaseModel):
    """A missing clause to make an action of the site's draft 90-day plan."""

    model_config = ConfigDict(extra="forbid")

    vendor: str
    document_type: str
    clause: str
    owner: str | None = None
