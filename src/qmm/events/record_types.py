"""The record types of the data contract: columns, keys, types and allowed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


class ColumnType(StrEnum):
    """How a column's text is read and stored in the event store."""

    string = "string"
    date = "date"  # YYYY-MM-DD
    timestamp = "timestamp"  # ISO 8601; no offset means UTC; stored as UTC
    integer = "integer"
    number = "number"
    boolean = "boolean"  # true/false, yes/no, 1/0, any case
    month = "month"  # YYYY-MM


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordType:
    """One kind of eQMS extract: its key, its columns, and the date-order rules it must obey."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # (earlier, later): a row where later < earlier is invalid (closed before opened).
    date_order: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


S, D, T, INT, N, B, M = (
    ColumnType.string,
    ColumnType.date,
    ColumnType.timestamp,
    ColumnType.integer,
    ColumnType.number,
    ColumnType.boolean,
    ColumnType.month,
)
SEVERITY = ("critical", "major", "minor")

RECORD_TYPES: Final[dict[str, RecordType]] = {
    rt.name: rt
    for rt in (
        RecordType(
            "site",
            ("site",),
            (
                Column("site", S, True),
                Column("name", S, True),
                Column("fei", S),
                Column("duns", S),
                Column("site_type", S, allowed=("fdf", "api", "packager", "lab", "biologics")),
                Column("headcount", INT),
            ),
        ),
        RecordType(
            "capa",
            ("site", "capa_id"),
            (
                Column("capa_id", S, True),
                Column("site", S, True),
                Column("opened_on", D, True),
                Column("due_on", D, True),
                Column("root_cause_category", S, True),
                Column("closed_on", D),
                Column(
                    "source_type",
                    S,
                    allowed=(
                        "deviation",
                        "complaint",
                        "audit",
                        "em_excursion",
                        "oos",
                        "supplier",
                        "other",
                    ),
                ),
                Column("source_id", S),
                Column("severity", S, allowed=SEVERITY),
                Column("voe_due_on", D),
                Column("voe_done_on", D),
                Column("voe_result", S, allowed=("effective", "not_effective")),
            ),
            (("opened_on", "due_on"), ("opened_on", "closed_on"), ("opened_on", "voe_done_on")),
        ),
        RecordType(
            "deviation",
            ("site", "deviation_id"),
            (
                Column("deviation_id", S, True),
                Column("site", S, True),
                Column("opened_on", D, True),
                Column("root_cause_category", S, True),
                Column("due_on", D),
                Column("closed_on", D),
                Column("severity", S, allowed=SEVERITY),
                Column("process_area", S),
                Column("recurrence_key", S),
                Column("capa_id", S),
            ),
            (("opened_on", "closed_on"), ("opened_on", "due_on")),
        ),
        RecordType(
            "change_control",
            ("site", "change_id"),
            (
                Column("change_id", S, True),
                Column("site", S, True),
                Column("opened_on", D, True),
                Column("risk_tier", S, True, allowed=("high", "medium", "low")),
                Column("closed_on", D),
                Column("target_days", INT),
                Column("risk_assessment_done", B),
            ),
            (("opened_on", "closed_on"),),
        ),
        RecordType(
            "em_sample",
            ("site", "sample_id"),
            (
                Column("sample_id", S, True),
                Column("site", S, True),
                Column("room", S, True),
                Column("grade", S, True, allowed=("A", "B", "C", "D")),
                Column(
                    "method",
                    S,
                    True,
                    allowed=("active_air", "settle_plate", "contact_plate", "glove"),
                ),
                Column("sampled_at", T, True),
                Column("cfu", N, True),
                Column("alert_limit", N, True),
                Column("action_limit", N, True),
                Column("result_at", T),
                Column("response_at", T),
                Column("deviation_id", S),
            ),
            (("sampled_at", "result_at"), ("result_at", "response_at")),
        ),
        RecordType(
            "training",
            ("site", "record_id"),
            (
                Column("record_id", S, True),
                Column("site", S, True),
                Column("employee_id", S, True),
                Column("course", S, True),
                Column("completed_on", D, True),
                Column("role", S),
                Column("effectiveness_checked_on", D),
                Column("effectiveness_passed", B),
            ),
            (("completed_on", "effectiveness_checked_on"),),
        ),
        RecordType(
            "supplier_car",
            ("site", "scar_id"),
            (
                Column("scar_id", S, True),
                Column("site", S, True),
                Column("supplier", S, True),
                Column("issued_on", D, True),
                Column("due_on", D, True),
                Column("closed_on", D),
                Column("effective", B),
            ),
            (("issued_on", "due_on"), ("issued_on", "closed_on")),
        ),
        RecordType(
            "lot",
            ("site", "lot_id"),
            (
                Column("lot_id", S, True),
                Column("site", S, True),
                Column("product", S, True),
                Column("started_on", D, True),
                Column("dispositioned_on", D),
                Column("disposition", S, allowed=("released", "rejected", "pending")),
            ),
            (("started_on", "dispositioned_on"),),
        ),
        RecordType(
            "complaint",
            ("site", "complaint_id"),
            (
                Column("complaint_id", S, True),
                Column("site", S, True),
                Column("product", S, True),
                Column("received_on", D, True),
                Column("quality_related", B, True),
                Column("lot_id", S),
            ),
        ),
        RecordType(
            "distribution",
            ("site", "product", "month"),
            (
                Column("site", S, True),
                Column("product", S, True),
                Column("month", M, True),
                Column("units", N, True),
            ),
        ),
        RecordType(
            "oos",
            ("site", "oos_id"),
            (
                Column("oos_id", S, True),
                Column("site", S, True),
                Column("test_type", S, True, allowed=("release", "stability")),
                Column("reported_on", D, True),
                Column("invalidated", B, True),
                Column("lot_id", S),
            ),
        ),
        RecordType(
            "suggestion",
            ("site", "suggestion_id"),
            (
                Column("suggestion_id", S, True),
                Column("site", S, True),
                Column("submitted_on", D, True),
                Column("decided_on", D),
                Column("decision", S, allowed=("accepted", "rejected")),
                Column("implemented_on", D),
            ),
            (("submitted_on", "decided_on"), ("decided_on", "implemented_on")),
        ),
    )
}


def get_record_type(name: str) -> RecordType:
    """A record type by name, refusing unknown ones with the list of known ones."""
    try:
        return RECORD_TYPES[name]
    except KeyError:
        raise KeyError(
            f"unknown record type {name!r}; known: {', '.join(sorted(RECORD_TYPES))}"
        ) from None


#: What may follow a record type's name at the start of a file name (`capa-2025-11.csv`).
NAME_SEPARATORS: Final = ("-", "_", ".")


def record_type_from_name(file_name: str) -> str | None:
    """The record type a file's name starts with, as periodic extracts are named
    (`capa-2025-11.csv`, `em_sample_2021-01.parquet`); the longest type name wins, so
    `change_control_2025.csv` is a change control and `site_list.csv` a site."""
    name = file_name.strip().lower()
    found = [
        rt
        for rt in RECORD_TYPES
        if name.startswith(rt) and name[len(rt) : len(rt) + 1] in NAME_SEPARATORS
    ]
    return max(found, key=len) if found else None
