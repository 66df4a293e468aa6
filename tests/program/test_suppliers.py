"""Supplier quality agreements: review and drill cycles, overdue flags, SCAR timeliness."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import write_csv
from factories import create_agreement, create_site_a, create_site_b
from qmm.errors import InvalidInput, NotFound
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import Site, SupplierAgreement, utcnow
from qmm.program.common import InvalidProgramInput
from qmm.program.schemas.suppliers import AgreementOut
from qmm.program.suppliers import (
    get_agreement,
    list_agreements,
    months_after,
    next_drill_on,
    next_review_on,
    record_joint_drill,
    record_review,
    supplier_status,
    update_agreement,
)

SCAR_HEADER = ["scar_id", "site", "supplier", "issued_on", "due_on", "closed_on", "effective"]
BRIGHTSEAL = "Brightseal Elastomers Inc."


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


def agreements(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SupplierAgreement)) or 0)


def test_months_after_clamps_to_the_end_of_a_short_month() -> None:
    assert months_after(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert months_after(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert months_after(date(2027, 11, 15), 3) == date(2028, 2, 15)
    assert months_after(date(2026, 3, 1), 12) == date(2027, 3, 1)


class TestAgreements:
    def test_next_due_counts_from_the_last_one_or_from_signing(self, session, site) -> None:
        agreement = create_agreement(session, site)
        assert (next_review_on(agreement), next_drill_on(agreement)) == (
            date(2026, 7, 1),
            date(2027, 1, 1),
        )
        record_review(session, agreement=agreement, reviewed_on=date(2026, 6, 20))
        record_joint_drill(session, agreement=agreement, drilled_on=date(2026, 5, 5))
        assert (next_review_on(agreement), next_drill_on(agreement)) == (
            date(2026, 12, 20),
            date(2027, 5, 5),
        )

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("supplier", "", "supplier must not be empty"),
            ("signed_on", None, "date signed is required"),
            ("expires_on", date(2025, 12, 31), "expires (2025-12-31) before it is signed"),
            ("expires_on", date(2026, 1, 1), "before it is signed"),
            ("response_hours", 0, "must be more than 0"),
            ("response_hours", True, "must be a number"),
            ("data_format", None, "data-format commitment is required"),
            ("participates_in_risk_reviews", "yes", "must be yes or no"),
            ("participates_in_risk_reviews", None, "is required (yes or no)"),
            ("review_every_months", 0, "below 1"),
            ("review_every_months", 1.5, "whole number"),
            ("drill_every_months", 121, "above 120"),
            ("last_review_on", "June", "must be a date"),
        ],
    )
    def test_bad_input_is_named_and_nothing_stored(
        self, session, site, field, value, message
    ) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            create_agreement(session, site, **{field: value})
        assert message in caught.value.problems[field]
        assert agreements(session) == 0

    def test_one_agreement_per_supplier_and_site(self, session, site) -> None:
        create_agreement(session, site)
        with pytest.raises(InvalidProgramInput, match="already has an agreement"):
            create_agreement(session, site, supplier=" brightseal elastomers inc. ")
        create_agreement(session, create_site_b(session))
        assert agreements(session) == 2

    def test_a_review_or_drill_before_the_last_one_is_refused(self, session, site) -> None:
        agreement = create_agreement(
            session, site, last_review_on=date(2026, 6, 1), last_drill_on=date(2026, 6, 1)
        )
        with pytest.raises(InvalidProgramInput, match="before the last one"):
            record_review(session, agreement=agreement, reviewed_on=date(2026, 5, 31))
        with pytest.raises(InvalidProgramInput, match="before the last one"):
            record_joint_drill(session, agreement=agreement, drilled_on=date(2026, 5, 31))
        with pytest.raises(InvalidProgramInput, match="must be a date"):
            record_review(session, agreement=agreement, reviewed_on="soon")  # type: ignore[arg-type]
        assert (agreement.last_review_on, agreement.last_drill_on) == (
            date(2026, 6, 1),
            date(2026, 6, 1),
        )

    def test_a_review_or_drill_after_today_is_refused(self, session, site) -> None:
        tomorrow = utcnow().date() + timedelta(days=1)
        agreement = create_agreement(session, site)
        with pytest.raises(InvalidProgramInput, match="is in the future"):
            record_review(session, agreement=agreement, reviewed_on=tomorrow)
        with pytest.raises(InvalidProgramInput, match="is in the future"):
            record_joint_drill(session, agreement=agreement, drilled_on=tomorrow)
        with pytest.raises(InvalidProgramInput) as caught:
            create_agreement(
                session, site, supplier="Other", last_review_on=tomorrow, last_drill_on=tomorrow
            )
        assert set(caught.value.problems) == {"last_review_on", "last_drill_on"}
        assert (agreement.last_review_on, agreement.last_drill_on) == (None, None)
        assert agreements(session) == 1
        record_review(session, agreement=agreement, reviewed_on=utcnow().date())  # today is fine

    def test_update_checks_again(self, session, site) -> None:
        agreement = create_agreement(session, site)
        update_agreement(
            session, agreement=agreement, changes={"review_every_months": 3, "response_hours": 8}
        )
        assert (next_review_on(agreement), agreement.response_hours) == (date(2026, 4, 1), 8)
        with pytest.raises(InvalidProgramInput, match="before it is signed"):
            update_agreement(session, agreement=agreement, changes={"signed_on": date(2029, 1, 1)})
        assert agreement.signed_on == date(2026, 1, 1)
        with pytest.raises(InvalidInput, match="supplier cannot be changed"):
            update_agreement(session, agreement=agreement, changes={"supplier": "Other"})

    def test_found_by_id_or_supplier_and_listed_by_supplier(self, session, site) -> None:
        b = create_agreement(session, site)
        a = create_agreement(session, site, supplier="Aldon Glass Tubing GmbH")
        assert get_agreement(session, site=site, agreement=b.id) is b
        assert get_agreement(session, site=site, agreement="aldon glass tubing gmbh") is a
        assert list_agreements(session, site=site) == [a, b]
        with pytest.raises(NotFound, match="no supplier agreement Nobody at SITE-A"):
            get_agreement(session, site=site, agreement="Nobody")
        other = create_agreement(session, create_site_b(session))
        with pytest.raises(NotFound):
            get_agreement(session, site=site, agreement=other.id)


class TestOverdue:
    def test_due_today_is_not_overdue_the_day_after_is(self, session, site, store) -> None:
        agreement = create_agreement(session, site, last_review_on=date(2026, 5, 20))
        due = supplier_status(session, agreement=agreement, today=date(2026, 11, 20), store=store)
        assert (due.next_review_on, due.review_overdue, due.overdue) == (
            date(2026, 11, 20),
            False,
            False,
        )
        late = supplier_status(session, agreement=agreement, today=date(2026, 11, 21), store=store)
        assert (late.review_overdue, late.drill_overdue, late.overdue) == (True, False, True)

    def test_a_joint_drill_never_run_is_due_a_cycle_after_signing(
        self, session, site, store
    ) -> None:
        agreement = create_agreement(session, site, drill_every_months=6)
        status = supplier_status(session, agreement=agreement, today=date(2026, 7, 2), store=store)
        assert (status.next_drill_on, status.drill_overdue) == (date(2026, 7, 1), True)
        record_joint_drill(session, agreement=agreement, drilled_on=date(2026, 7, 2))
        status = supplier_status(session, agreement=agreement, today=date(2026, 7, 2), store=store)
        assert (status.next_drill_on, status.drill_overdue) == (date(2027, 1, 2), False)

    def test_expiry(self, session, site, store) -> None:
        agreement = create_agreement(session, site, expires_on=date(2026, 12, 31))

        def flags(today: date) -> tuple[bool, bool]:
            s = supplier_status(session, agreement=agreement, today=today, store=store)
            return s.expired, s.expiring_soon

        assert flags(date(2026, 10, 1)) == (False, False)
        assert flags(date(2026, 10, 2)) == (False, True)
        assert flags(date(2026, 12, 31)) == (False, True)
        assert flags(date(2027, 1, 1)) == (True, False)

    def test_no_expiry_date_never_expires(self, session, site, store) -> None:
        agreement = create_agreement(session, site, expires_on=None)
        status = supplier_status(session, agreement=agreement, today=date(2040, 1, 1), store=store)
        assert (status.expired, status.expiring_soon) == (False, False)


class TestScarTimeliness:
    def import_scars(self, session: Session, store: EventStore, folder: Path) -> None:
        rows = [
            # Brightseal at SITE-A: two on time (one closed on its due date), one late.
            ["S-1", "SITE-A", BRIGHTSEAL, "2026-07-01", "2026-08-01", "2026-07-20", "yes"],
            ["S-2", "SITE-A", BRIGHTSEAL, "2026-08-01", "2026-09-01", "2026-09-01", "yes"],
            ["S-3", "SITE-A", BRIGHTSEAL, "2026-08-01", "2026-09-01", "2026-10-15", "no"],
            # open and past due; open and not yet due
            ["S-4", "SITE-A", BRIGHTSEAL, "2026-09-01", "2026-10-01", "", ""],
            ["S-5", "SITE-A", BRIGHTSEAL, "2026-11-01", "2026-12-01", "", ""],
            # closed more than a year before today: outside the window
            ["S-6", "SITE-A", BRIGHTSEAL, "2025-09-01", "2025-10-01", "2025-11-01", "yes"],
            # another supplier and another site: not Brightseal's at SITE-A
            [
                "S-7",
                "SITE-A",
                "Aldon Glass Tubing GmbH",
                "2026-07-01",
                "2026-08-01",
                "2026-09-20",
                "no",
            ],
            ["S-8", "SITE-B", BRIGHTSEAL, "2026-07-01", "2026-08-01", "2026-09-20", "no"],
        ]
        folder.mkdir(parents=True, exist_ok=True)
        path = write_csv(folder / "supplier_car.csv", SCAR_HEADER, rows)
        import_files(session, paths=[path], store=store)

    def test_the_suppliers_own_and_the_sites_ratio(self, session, site, store, tmp_path) -> None:
        create_site_b(session)
        agreement = create_agreement(session, site)
        empty = supplier_status(session, agreement=agreement, today=date(2026, 11, 20), store=store)
        assert (empty.site_scar, empty.supplier_scar) == (None, None)
        self.import_scars(session, store, tmp_path / "scars")
        status = supplier_status(
            session, agreement=agreement, today=date(2026, 11, 20), store=store
        )
        own = status.supplier_scar
        assert own is not None
        assert (own.numerator, own.denominator, own.open_overdue) == (2, 3, 1)
        assert own.value == pytest.approx(2 / 3)
        assert status.scar_target == 0.9
        assert status.supplier_scar_below_target
        site_scar = status.site_scar
        assert site_scar is not None
        # The site's KPI for its latest quarter with a value (2026-Q4: S-3 late, S-4 open).
        assert (site_scar.period, site_scar.numerator, site_scar.denominator) == (
            "2026-Q4",
            0,
            1,
        )
        data = AgreementOut.of(agreement, status).model_dump(mode="json")["status"]
        assert data["supplier_scar_on_time"]["denominator"] == 3
        assert data["site_scar_on_time"]["period"] == "2026-Q4"

    def test_a_supplier_without_scars_has_no_ratio(self, session, site, store, tmp_path) -> None:
        self.import_scars(session, store, tmp_path / "scars")
        agreement = create_agreement(session, site, supplier="Juniper Label & Print")
        status = supplier_status(
            session, agreement=agreement, today=date(2026, 11, 20), store=store
        )
        assert status.supplier_scar is None
        assert not status.supplier_scar_below_target
        assert status.site_scar is not None
