"""A decision's one JSON shape: what the API returns, `qmm decision --format json` prints and the
log's JSON and CSV exports hold."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from qmm.audit.schemas import SignatureOut
from qmm.audit.signatures import signatures_for
from qmm.audit.trail import canonical_value
from qmm.errors import InvalidInput
from qmm.models import Decision
from qmm.program.decisions import (
    RECORD_TYPE,
    app_path,
    decision_content,
    decision_status,
    signed_copy,
    successor_of,
    supersession_chain,
)
from qmm.spreadsheet_text import neutralise
from qmm.text_rules import has_nul

#: The CSV export's columns, in order, before the signatures.
EXPORT_COLUMNS: Final = (
    "ref",
    "status",
    "decided_on",
    "title",
    "owner",
    "quality_won",
    "trade_off",
    "decision",
    "rationale",
    "context",
    "options",
    "sub_elements",
    "kpis",
    "evidence_refs",
    "record_links",
    "supersedes",
    "superseded_by",
    "signed_at",
    "evidence_item",
)


class DecisionIn(BaseModel):
    """A decision to log as a draft (sign it in the web app or with `qmm decision sign`)."""

    model_config = ConfigDict(extra="forbid")

    title: str
    context: str
    options: list[str]
    decision: str
    quality_won: bool
    trade_off: str
    rationale: str
    owner: str
    decided_on: date
    sub_elements: list[str] = Field(default_factory=list)
    record_links: list[str] = Field(default_factory=list)
    kpis: list[str] = Field(default_factory=list)
    evidence_refs: list[str] = Field(default_factory=list)

    @field_validator(
        "title",
        "context",
        "options",
        "decision",
        "trade_off",
        "rationale",
        "owner",
        "sub_elements",
        "record_links",
        "kpis",
        "evidence_refs",
    )
    @classmethod
    def no_nul(cls, value: Any) -> Any:
        """NUL characters fit in no database column; refuse them by field."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and has_nul(t) for t in texts):
            raise ValueError("must not contain a NUL character")
        return value


class DecisionOut(BaseModel):
    """A decision of the log: draft, signed (frozen, filed as evidence) or superseded, with its
    supersession chain (the first decision first) and every signature checked."""

    id: int
    ref: str
    site: str
    status: str
    title: str
    context: str
    options: list[str]
    decision: str
    quality_won: bool
    trade_off: str
    rationale: str
    owner: str
    decided_on: str
    sub_elements: list[str]
    record_links: list[str]
    kpis: list[str]
    evidence_refs: list[str]
    supersedes: str | None
    superseded_by: str | None
    chain: list[str]
    signed_at: str | None
    evidence_item: str | None
    created_at: str | None
    created_by: str
    path: str
    signatures: list[SignatureOut]

    @classmethod
    def of(cls, session: Session, decision: Decision) -> DecisionOut:
        successor = successor_of(session, decision=decision)
        evidence = signed_copy(session, decision=decision)
        return cls.model_validate(
            {
                **decision_content(decision),
                "id": decision.id,
                "status": decision_status(session, decision=decision).value,
                "superseded_by": successor.ref if successor is not None else None,
                "chain": [d.ref for d in supersession_chain(session, decision=decision)],
                "signed_at": canonical_value("", "", decision.signed_at),
                "evidence_item": evidence.ref if evidence is not None else None,
                "created_at": canonical_value("", "", decision.created_at),
                "path": app_path(decision),
                "signatures": [
                    SignatureOut.of(s)
                    for s in signatures_for(
                        session, record_type=RECORD_TYPE, record_id=str(decision.id)
                    )
                ],
            }
        )


def export_decisions(session: Session, *, decisions: Sequence[Decision], fmt: str) -> str:
    """The decisions as CSV (one row each, lists joined by ' | ') or as a JSON array."""
    if fmt not in {"csv", "json"}:
        raise InvalidInput(f"export format {fmt!r} is not one of csv, json")
    rows = [DecisionOut.of(session, d).model_dump(mode="json") for d in decisions]
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*EXPORT_COLUMNS, "signatures"])
    for row in rows:
        cells = []
        for column in EXPORT_COLUMNS:
            value = row[column]
            if isinstance(value, list):
                value = " | ".join(value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            cells.append("" if value is None else neutralise(str(value)))
        signatures = " | ".join(
            f"{s['meaning']} by {s['printed_name']} at {s['signed_at']}"
            f"{'' if s['valid'] else ' (INVALID)'}"
            for s in row["signatures"]
        )
        writer.writerow([*cells, neutralise(signatures)])
    return out.getvalue()
