"""QMM written into project artifacts: the clause library and the vendor documents that carry it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.evidence import EvidenceItem
from qmm.models.site import Site


class Clause(Base):
    """A QMM clause for URS, RFPs, contracts or quality agreements; no site = the default set.

    A site's clause starts as a copy of a default one (same code) and is edited in place; each
    edit keeps the earlier wording as a ClauseVersion.
    """

    __tablename__ = "qmm_clauses"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    document_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    practice_areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    sub_elements: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    site: Mapped[Site | None] = relationship()
    versions: Mapped[list[ClauseVersion]] = relationship(
        back_populates="clause", order_by="ClauseVersion.version"
    )


class ClauseVersion(Base):
    """An earlier wording of a site's clause, kept when it was edited."""

    __tablename__ = "qmm_clause_versions"
    __table_args__ = (UniqueConstraint("clause_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clause_id: Mapped[int] = mapped_column(ForeignKey("qmm_clauses.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    document_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    sub_elements: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(Text)
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_by: Mapped[str] = mapped_column(String(120))

    clause: Mapped[Clause] = relationship(back_populates="versions")


class VendorDocument(Base):
    """A URS, RFP, contract or quality agreement with a vendor: which QMM clauses it carries."""

    __tablename__ = "vendor_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    document_type: Mapped[str] = mapped_column(String(40))
    vendor: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    effective_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    link: Mapped[str] = mapped_column(String(2000))
    clauses: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: A signed quality agreement's entry in the evidence index.
    evidence_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    site: Mapped[Site] = relationship()
    evidence_item: Mapped[EvidenceItem | None] = relationship()
