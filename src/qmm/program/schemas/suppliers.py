"""A supplier agreement's one JSON shape: what the API returns and `qmm supplier --format json`
prints for an agreement with what is due, overdue and the SCAR timeliness on a day."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from qmm.models import SupplierAgreement
from qmm.program.suppliers import ScarTimeliness, SupplierStatus, next_drill_on, next_review_on


class ScarOut(BaseModel):
    """SCARs closed on time: the ratio with its numerator and denominator."""

    value: float | None
    numerator: int
    denominator: int
    period: str | None
    open_overdue: int | None

    @classmethod
    def of(cls, scar: ScarTimeliness | None) -> ScarOut | None:
        if scar is None:
            return None
        return cls(
            value=scar.value,
            numerator=scar.numerator,
            denominator=scar.denominator,
            period=scar.period,
            open_overdue=scar.open_overdue,
        )


class AgreementStatusOut(BaseModel):
    """What is due or overdue on an agreement today, and the SCAR timeliness."""

    today: date
    next_review_on: date
    review_overdue: bool
    next_drill_on: date
    drill_overdue: bool
    expired: bool
    expiring_soon: bool
    overdue: bool
    scar_target: float | None
    site_scar_on_time: ScarOut | None
    supplier_scar_on_time: ScarOut | None
    supplier_scar_below_target: bool

    @classmethod
    def of(cls, status: SupplierStatus) -> AgreementStatusOut:
        return cls(
            today=status.today,
            next_review_on=status.next_review_on,
            review_overdue=status.review_overdue,
            next_drill_on=status.next_drill_on,
            drill_overdue=status.drill_overdue,
            expired=status.expired,
            expiring_soon=status.expiring_soon,
            overdue=status.overdue,
            scar_target=status.scar_target,
            site_scar_on_time=ScarOut.of(status.site_scar),
            supplier_scar_on_time=ScarOut.of(status.supplier_scar),
            supplier_scar_below_target=status.supplier_scar_below_target,
        )


class AgreementOut(BaseModel):
    """A supplier quality agreement: its commitments, cycles and status."""

    id: int
    site: str
    supplier: str
    signed_on: date
    expires_on: date | None
    response_hours: float
    data_format: str
    participates_in_risk_reviews: bool
    review_every_months: int
    last_review_on: date | None
    next_review_on: date
    drill_every_months: int
    last_drill_on: date | None
    next_drill_on: date
    status: AgreementStatusOut

    @classmethod
    def of(cls, agreement: SupplierAgreement, status: SupplierStatus) -> AgreementOut:
        return cls(
            id=agreement.id,
            site=agreement.site.code,
            supplier=agreement.supplier,
            signed_on=agreement.signed_on,
            expires_on=agreement.expires_on,
            response_hours=agreement.response_hours,
            data_format=agreement.data_format,
            participates_in_risk_reviews=agreement.participates_in_risk_reviews,
            review_every_months=agreement.review_every_months,
            last_review_on=agreement.last_review_on,
            next_review_on=next_review_on(agreement),
            drill_every_months=agreement.drill_every_months,
            last_drill_on=agreement.last_drill_on,
            next_drill_on=next_drill_on(agreement),
            status=AgreementStatusOut.of(status),
        )
