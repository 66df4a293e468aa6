"""Supplier quality agreements: commitments, maturity reviews and joint drills kept on a cycle.

Why here: the seeds ask agreements to set response times, data formats, participation in risk
reviews, periodic maturity reviews and joint drills; what is overdue, and how fast the supplier
closes its corrective actions (from the KPI engine), is what an assessor checks.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import ibis  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.errors import NotFound
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.service import kpi_values, open_tables
from qmm.models import Site, SupplierAgreement
from qmm.program.common import SHORT, Problems, check_fields

#: An agreement expiring within this many days is flagged as expiring soon.
EXPIRY_WARNING_DAYS: Final = 90
#: The supplier's own SCAR timeliness counts SCARs closed within this many days up to today.
SCAR_WINDOW_DAYS: Final = 365
SCAR_KPI: Final = "scar_on_time_closure"
#: The site's SCAR KPI is read for this period length, the latest period with a value.
SCAR_PERIOD: Final = "quarter"
EDITABLE: Final = frozenset(
    {
        "signed_on",
        "expires_on",
        "response_hours",
        "data_format",
        "participates_in_risk_reviews",
        "review_every_months",
        "drill_every_months",
    }
)


@dataclass(frozen=True)
class ScarTimeliness:
    """Supplier corrective actions closed on time: a ratio with its numerator and denominator."""

    value: float | None
    numerator: int
    denominator: int
    period: str | None = None
    open_overdue: int | None = None


@dataclass(frozen=True)
class SupplierStatus:
    """Where an agreement stands today: what is due or overdue and the SCAR timeliness."""

    agreement_id: int
    supplier: str
    today: date
    next_review_on: date
    review_overdue: bool
    next_drill_on: date
    drill_overdue: bool
    expired: bool
    expiring_soon: bool
    site_scar: ScarTimeliness | None
    supplier_scar: ScarTimeliness | None
    scar_target: float | None

    @property
    def overdue(self) -> bool:
        """Anything overdue: the maturity review, the joint drill, or the agreement itself."""
        return self.review_overdue or self.drill_overdue or self.expired

    @property
    def supplier_scar_below_target(self) -> bool:
        scar = self.supplier_scar
        return (
            scar is not None
            and scar.value is not None
            and self.scar_target is not None
            and scar.value < self.scar_target
        )


def months_after(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day if shorter (31 Jan + 1: 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _check(session: Session, site: Site, fields: Mapping[str, Any]) -> dict[str, Any]:
    p = Problems()
    signed = p.day("signed_on", fields.get("signed_on"), label="date signed")
    expires = p.day("expires_on", fields.get("expires_on"), label="expiry date", required=False)
    if signed is not None and expires is not None and expires <= signed:
        p["expires_on"] = f"the agreement expires ({expires}) before it is signed ({signed})"
    hours = p.number(
        "response_hours", fields.get("response_hours"), label="response-time commitment (hours)"
    )
    if hours is not None and hours <= 0:
        p["response_hours"] = "response-time commitment (hours) must be more than 0"
    review = p.number(
        "review_every_months",
        fields.get("review_every_months"),
        label="maturity review every (months)",
        minimum=1,
        maximum=120,
        whole=True,
    )
    drill = p.number(
        "drill_every_months",
        fields.get("drill_every_months"),
        label="joint drill every (months)",
        minimum=1,
        maximum=120,
        whole=True,
    )
    clean: dict[str, Any] = {
        "signed_on": signed,
        "expires_on": expires,
        "response_hours": hours,
        "data_format": p.text(
            "data_format", fields.get("data_format"), label="data-format commitment"
        ),
        "participates_in_risk_reviews": p.flag(
            "participates_in_risk_reviews",
            fields.get("participates_in_risk_reviews"),
            label="participates in risk reviews",
        ),
        "review_every_months": int(review) if review is not None else None,
        "drill_every_months": int(drill) if drill is not None else None,
    }
    if "supplier" in fields:
        name = p.text("supplier", fields["supplier"], label="supplier", limit=SHORT)
        if name is not None and find_agreement(session, site=site, supplier=name) is not None:
            p["supplier"] = f"{site.code} already has an agreement with {name}; change that one"
        clean["supplier"] = name
    for field, label in (
        ("last_review_on", "last maturity review"),
        ("last_drill_on", "last drill"),
    ):
        if field in fields:
            clean[field] = p.past_day(field, fields[field], label=label, required=False)
    p.raise_any()
    return clean


def add_agreement(
    session: Session,
    *,
    site: Site,
    supplier: str,
    signed_on: date,
    response_hours: float,
    data_format: str,
    participates_in_risk_reviews: bool,
    review_every_months: int,
    drill_every_months: int,
    expires_on: date | None = None,
    last_review_on: date | None = None,
    last_drill_on: date | None = None,
) -> SupplierAgreement:
    """Record a supplier quality agreement and its review and joint-drill cycles."""
    clean = _check(
        session,
        site,
        {
            "supplier": supplier,
            "signed_on": signed_on,
            "expires_on": expires_on,
            "response_hours": response_hours,
            "data_format": data_format,
            "participates_in_risk_reviews": participates_in_risk_reviews,
            "review_every_months": review_every_months,
            "drill_every_months": drill_every_months,
            "last_review_on": last_review_on,
            "last_drill_on": last_drill_on,
        },
    )
    agreement = SupplierAgreement(site_id=site.id, **clean)
    session.add(agreement)
    session.flush()
    return agreement


def update_agreement(
    session: Session, *, agreement: SupplierAgreement, changes: Mapping[str, Any]
) -> SupplierAgreement:
    """Change an agreement's terms (a renewal, a new commitment); every term is checked again."""
    check_fields(changes, EDITABLE)
    current = {name: getattr(agreement, name) for name in EDITABLE}
    clean = _check(session, agreement.site, {**current, **changes})
    for name in changes:
        setattr(agreement, name, clean[name])
    session.flush()
    return agreement


def _record_cycle(
    session: Session, agreement: SupplierAgreement, field: str, day: date, label: str
) -> SupplierAgreement:
    p = Problems()
    clean = p.past_day(field, day, label=f"date of the {label}")
    last: date | None = getattr(agreement, field)
    if clean is not None and last is not None and clean < last:
        p[field] = f"the {label} on {clean} is before the last one ({last})"
    p.raise_any()
    setattr(agreement, field, clean)
    session.flush()
    return agreement


def record_review(
    session: Session, *, agreement: SupplierAgreement, reviewed_on: date
) -> SupplierAgreement:
    """Record a periodic maturity review with the supplier; the next is due a cycle later."""
    return _record_cycle(session, agreement, "last_review_on", reviewed_on, "maturity review")


def record_joint_drill(
    session: Session, *, agreement: SupplierAgreement, drilled_on: date
) -> SupplierAgreement:
    """Record a joint drill with the supplier; the next is due a cycle later."""
    return _record_cycle(session, agreement, "last_drill_on", drilled_on, "joint drill")


def note_joint_drill(session: Session, *, site: Site, supplier: str, drilled_on: date) -> None:
    """A continuity drill run with a supplier counts as the agreement's joint drill."""
    agreement = find_agreement(session, site=site, supplier=supplier)
    if agreement is not None and (
        agreement.last_drill_on is None or drilled_on > agreement.last_drill_on
    ):
        agreement.last_drill_on = drilled_on
        session.flush()


def find_agreement(session: Session, *, site: Site, supplier: str) -> SupplierAgreement | None:
    """The site's agreement with a supplier (case and surrounding spaces do not matter)."""
    return session.scalar(
        select(SupplierAgreement).where(
            SupplierAgreement.site_id == site.id,
            func.lower(SupplierAgreement.supplier) == supplier.strip().lower(),
        )
    )


def get_agreement(session: Session, *, site: Site, agreement: int | str) -> SupplierAgreement:
    """An agreement of the site by its id or its supplier's name."""
    found: SupplierAgreement | None
    if isinstance(agreement, int) or str(agreement).strip().isdigit():
        found = session.get(SupplierAgreement, int(agreement))
        if found is not None and found.site_id != site.id:
            found = None
    else:
        found = find_agreement(session, site=site, supplier=str(agreement))
    if found is None:
        raise NotFound(
            f"no supplier agreement {agreement} at {site.code}; "
            f"`qmm supplier list {site.code}` lists them"
        )
    return found


def list_agreements(session: Session, *, site: Site) -> list[SupplierAgreement]:
    """The site's agreements by supplier."""
    return list(
        session.scalars(
            select(SupplierAgreement)
            .where(SupplierAgreement.site_id == site.id)
            .order_by(func.lower(SupplierAgreement.supplier), SupplierAgreement.id)
        )
    )


def next_review_on(agreement: SupplierAgreement) -> date:
    """A review cycle after the last maturity review, or after signing when none was held."""
    return months_after(
        agreement.last_review_on or agreement.signed_on, agreement.review_every_months
    )


def next_drill_on(agreement: SupplierAgreement) -> date:
    """A drill cycle after the last joint drill, or after signing when none was run."""
    return months_after(
        agreement.last_drill_on or agreement.signed_on, agreement.drill_every_months
    )


def _site_scar(
    session: Session, site: Site, today: date, store: EventStore | None
) -> ScarTimeliness | None:
    values = [
        v
        for v in kpi_values(
            session,
            store=store,
            kpis=[SCAR_KPI],
            sites=[site.code],
            period=SCAR_PERIOD,
            as_of=today,
        )
        if v.value is not None
    ]
    if not values:
        return None
    latest = max(values, key=lambda v: v.period)
    return ScarTimeliness(
        value=latest.value,
        numerator=latest.numerator or 0,
        denominator=latest.denominator or 0,
        period=latest.period,
    )


def _fetch(expr: Any) -> list[dict[str, Any]]:
    """Run an Ibis expression on a cursor of its own (the store's tables are shared)."""
    backend = ibis.get_backend(expr)
    if getattr(backend, "name", "") == "duckdb":
        cursor = backend.con.cursor()
        try:
            rows: list[dict[str, Any]] = (
                cursor.execute(str(backend.compile(expr))).to_arrow_table().to_pylist()
            )
        finally:
            cursor.close()
        return rows
    found: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return found


def supplier_scar(
    session: Session, *, agreement: SupplierAgreement, today: date, store: EventStore | None = None
) -> ScarTimeliness | None:
    """The supplier's own SCARs at the site: closed on time over the last year, open overdue.

    Read from the current supplier_car records of the event store (the KPI engine's tables):
    SCARs closed in the 365 days up to today, on time when closed on or before due; open
    SCARs issued by today and past their due date are counted as open overdue. None when the
    store has no SCAR of the supplier at the site.
    """
    table = open_tables(session, store).get("supplier_car")
    if table is None:
        return None
    start = today - timedelta(days=SCAR_WINDOW_DAYS)
    s = table.filter(
        (table.site == agreement.site.code)
        & (table.supplier.strip().lower() == agreement.supplier.strip().lower())
        & (table.issued_on <= today)
    )
    closed = s.closed_on.notnull() & (s.closed_on > start) & (s.closed_on <= today)
    on_time = closed & (s.closed_on <= s.due_on)
    open_overdue = (s.closed_on.isnull() | (s.closed_on > today)) & (s.due_on < today)
    [row] = _fetch(
        s.aggregate(
            records=s.count(),
            closed=closed.ifelse(1, 0).sum(),
            on_time=on_time.ifelse(1, 0).sum(),
            open_overdue=open_overdue.ifelse(1, 0).sum(),
        )
    )
    if not row["records"]:
        return None
    denominator = int(row["closed"] or 0)
    numerator = int(row["on_time"] or 0)
    return ScarTimeliness(
        value=numerator / denominator if denominator else None,
        numerator=numerator,
        denominator=denominator,
        period=f"{start + timedelta(days=1)}..{today}",
        open_overdue=int(row["open_overdue"] or 0),
    )


def supplier_status(
    session: Session, *, agreement: SupplierAgreement, today: date, store: EventStore | None = None
) -> SupplierStatus:
    """What is due or overdue today, with the site's and the supplier's SCAR timeliness.

    Overdue means the due date has passed (due today is not overdue); an agreement is expired
    the day after its expiry date.
    """
    review = next_review_on(agreement)
    drill = next_drill_on(agreement)
    expires = agreement.expires_on
    expired = expires is not None and expires < today
    return SupplierStatus(
        agreement_id=agreement.id,
        supplier=agreement.supplier,
        today=today,
        next_review_on=review,
        review_overdue=review < today,
        next_drill_on=drill,
        drill_overdue=drill < today,
        expired=expired,
        expiring_soon=(
            expires is not None and not expired and (expires - today).days <= EXPIRY_WARNING_DAYS
        ),
        site_scar=_site_scar(session, agreement.site, today, store),
        supplier_scar=supplier_scar(session, agreement=agreement, today=today, store=store),
        scar_target=get_kpi(SCAR_KPI).target(None),
    )
