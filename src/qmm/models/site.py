"""Manufacturing sites (establishments) that are assessed and benchmarked."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from qmm.models.base import Base, UTCDateTime, utcnow


class SiteType(StrEnum):
    fdf = "fdf"
    api = "api"
    packager = "packager"
    lab = "lab"
    biologics = "biologics"


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (CheckConstraint("headcount IS NULL OR headcount > 0", name="headcount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    fei: Mapped[str | None] = mapped_column(String(20))
    duns: Mapped[str | None] = mapped_column(String(20))
    site_type: Mapped[str | None] = mapped_column(String(20))
    headcount: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A decision or plan is approved by someone other than its author (on unless turned off).
    two_person_rule: Mapped[bool] = mapped_column(default=True, server_default=true())
