"""An import batch's one JSON shape: what the API returns and `qmm import --format json` prints
for each imported file, and the problems of a refused one."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from qmm.errors import InvalidInput
from qmm.events.uploads import problems_of
from qmm.models import ImportBatch


class ImportBatchOut(BaseModel):
    """One imported file: its rows compared with the records already stored."""

    id: int
    record_type: str
    source_name: str
    source_sha256: str
    profile: str | None
    rows: int
    rows_new: int
    rows_changed: int
    rows_unchanged: int
    sites: list[str]
    imported_by: str
    imported_at: datetime
    #: The day the extract was taken from the source system; KPIs are as of it by default.
    extracted_on: date

    @classmethod
    def of(cls, batch: ImportBatch) -> ImportBatchOut:
        return cls(
            id=batch.id,
            record_type=batch.record_type,
            source_name=batch.source_name,
            source_sha256=batch.source_sha256,
            profile=batch.profile,
            rows=batch.rows,
            rows_new=batch.rows_new,
            rows_changed=batch.rows_changed,
            rows_unchanged=batch.rows_unchanged,
            sites=list(batch.sites or []),
            imported_by=batch.imported_by,
            imported_at=batch.imported_at,
            extracted_on=batch.extracted_on,
        )


class RowProblemOut(BaseModel):
    """One problem in one row of a refused file (the header is row 1)."""

    row: int
    column: str
    value: str
    reason: str


class ImportRefusedOut(BaseModel):
    """A refused import: nothing was stored; every problem found is listed."""

    detail: str
    problems: list[RowProblemOut]
    problems_total: int

    @classmethod
    def of(cls, error: InvalidInput) -> ImportRefusedOut:
        problems, total = problems_of(error)
        return cls(
            detail=str(error).split("\n", 1)[0] if problems else str(error),
            problems=[RowProblemOut(**vars(p)) for p in problems],
            problems_total=total,
        )
