"""The day each extract was taken: checked at import, and read back as the data's own date,
which KPIs are computed as of when no other date is asked for."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.errors import InvalidInput
from qmm.models import ImportBatch


def check_extract_date(extracted_on: date | None) -> date:
    """The day an extract was taken: today (UTC) when not given; a later day is refused.

    A day ahead of UTC is allowed, for sites east of Greenwich importing early in their day.
    """
    today = datetime.now(UTC).date()
    if extracted_on is None:
        return today
    if extracted_on > today + timedelta(days=1):
        raise InvalidInput(
            f"extracted_on {extracted_on.isoformat()} is after today ({today.isoformat()}): "
            "give the day the extract was taken from the source system"
        )
    return extracted_on


def latest_extract_dates(session: Session) -> dict[str, date]:
    """The latest extract date of each record type that has batches, by type name."""
    rows = session.execute(
        select(ImportBatch.record_type, func.max(ImportBatch.extracted_on)).group_by(
            ImportBatch.record_type
        )
    ).all()
    return {str(record_type): day for record_type, day in rows if day is not None}


def site_data_as_of(
    session: Session, site: str, record_types: Iterable[str] | None = None
) -> date | None:
    """The date a site's data is as of: the earliest of the latest extract dates of the record
    types holding its records (optionally only some types); None when it has none."""
    wanted = None if record_types is None else set(record_types)
    latest = latest_extract_dates(session)
    held: set[str] = set()
    for record_type, sites in session.execute(select(ImportBatch.record_type, ImportBatch.sites)):
        if site in (sites or []) and (wanted is None or record_type in wanted):
            held.add(str(record_type))
    days = [latest[t] for t in held if t in latest]
    return min(days) if days else None
