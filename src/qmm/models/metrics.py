"""KPI values as computed, kept so pages read them instead of recomputing after every import."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Double, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qmm.models.base import Base, UTCDateTime, utcnow


class StoredKPIValue(Base):
    """One KPI value per (KPI, site, period, group, options), with the store version it came from.

    Derived data: every value can be computed again from the audited import batches, so the
    table is not audited (see ``qmm.audit.trail.NOT_AUDITED``).
    """

    __tablename__ = "kpi_values"
    __table_args__ = (
        UniqueConstraint("options_key", "period_kind", "kpi", "site", "period", "group_key"),
        Index("ix_kpi_values_site_period_kind", "site", "period_kind", "options_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which options the value was computed with ("default": the catalogue's own).
    options_key: Mapped[str] = mapped_column(String(64))
    #: month, quarter or year.
    period_kind: Mapped[str] = mapped_column(String(8))
    kpi: Mapped[str] = mapped_column(String(80))
    site: Mapped[str] = mapped_column(String(40))
    #: The period's label (2026-03, 2026-Q1, 2026).
    period: Mapped[str] = mapped_column(String(10))
    #: The group (risk tier, grade), "" for an ungrouped KPI (a unique key cannot hold NULL).
    group_key: Mapped[str] = mapped_column(String(80))
    value: Mapped[float | None] = mapped_column(Double, nullable=True)
    numerator: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    denominator: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    complete: Mapped[bool] = mapped_column(Boolean)
    as_of: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: The latest import batch the store held when the value was computed (its store version).
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KPIValueSet(Base):
    """Which store state the stored values of one options key are current for.

    The values are fresh when ``store_state`` equals the digest of the store's state now (its
    batches and the app's sites); otherwise they are older than the store and shown as
    refreshing until a refresh brings them up to date.
    """

    __tablename__ = "kpi_value_sets"

    options_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The digest of the store state (batches, sites) every stored value is current for.
    store_state: Mapped[str] = mapped_column(String(64))
    #: The latest import batch of that state (None when the store had none).
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When a refresh of stale values started in the background (None when none runs): the
    #: claim that lets one worker refresh while the others show the older values.
    refreshing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
