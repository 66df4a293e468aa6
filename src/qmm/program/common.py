"""What the program's services share: field checks that collect every problem before storing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from qmm.audit.trail import system_actor
from qmm.errors import InvalidFields, InvalidInput
from qmm.evidence.service import known_sub_element_codes
from qmm.metrics.catalogue import KPI_IDS
from qmm.models import Site, utcnow
from qmm.text_rules import has_nul, nul_message

#: The longest short text (a title, an owner, a material) the program stores.
SHORT: Final = 200


class InvalidProgramInput(InvalidFields):
    """Program fields that cannot be stored; `problems` maps each field to what is wrong."""


class Problems(dict[str, str]):
    """Every problem found in one input, by field; raised together so nothing half-stores."""

    def text(
        self, field: str, value: Any, *, label: str, required: bool = True, limit: int | None = None
    ) -> str | None:
        if value is None:
            if required:
                self[field] = f"{label} is required"
            return None
        if not isinstance(value, str):
            self[field] = f"{label} must be text"
            return None
        if has_nul(value):
            self[field] = nul_message(label)
            return None
        clean = value.strip()
        if not clean:
            if required:
                self[field] = f"{label} must not be empty"
            return None
        if limit is not None and len(clean) > limit:
            self[field] = f"{label} is {len(clean)} characters; at most {limit} are allowed"
            return None
        return clean

    def day(self, field: str, value: Any, *, label: str, required: bool = True) -> date | None:
        if value is None:
            if required:
                self[field] = f"{label} is required (a date)"
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            self[field] = f"{label} {value!r} must be a date (YYYY-MM-DD)"
            return None
        return value

    def past_day(self, field: str, value: Any, *, label: str, required: bool = True) -> date | None:
        """The date of something that happened (a count, a run, a review): not after today."""
        day = self.day(field, value, label=label, required=required)
        today = utcnow().date()
        if day is not None and day > today:
            self[field] = f"{label} {day} is in the future (today is {today}); record it once done"
        return day

    def flag(self, field: str, value: Any, *, label: str) -> bool | None:
        if value is None:
            self[field] = f"{label} is required (yes or no)"
            return None
        if not isinstance(value, bool):
            self[field] = f"{label} must be yes or no (true or false), not {value!r}"
            return None
        return value

    def number(
        self,
        field: str,
        value: Any,
        *,
        label: str,
        minimum: float | None = None,
        maximum: float | None = None,
        required: bool = True,
        whole: bool = False,
    ) -> float | None:
        if value is None:
            if required:
                self[field] = f"{label} is required (a number)"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self[field] = f"{label} {value!r} must be a number"
            return None
        if whole and not float(value).is_integer():
            self[field] = f"{label} {value!r} must be a whole number"
            return None
        if value != value or value in (float("inf"), float("-inf")):
            self[field] = f"{label} must be a finite number"
            return None
        if minimum is not None and value < minimum:
            self[field] = f"{label} {value:g} is below {minimum:g}"
            return None
        if maximum is not None and value > maximum:
            self[field] = f"{label} {value:g} is above {maximum:g}"
            return None
        return float(value)

    def texts(
        self, field: str, values: Any, *, label: str, limit: int = SHORT, at_least: int = 0
    ) -> list[str]:
        """A list of short texts, trimmed, empty ones dropped, repeats kept once."""
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, Iterable):
            self[field] = f"{label} must be a list of texts"
            return []
        clean: list[str] = []
        for value in values:
            if not isinstance(value, str):
                self[field] = f"{label} must be texts; {value!r} is not"
                return []
            if has_nul(value):
                self[field] = nul_message(label)
                return []
            one = value.strip()
            if not one:
                continue
            if len(one) > limit:
                self[field] = f"{label} {one[:40]!r}... is longer than {limit} characters"
                return []
            if one not in clean:
                clean.append(one)
        if len(clean) < at_least:
            self[field] = f"{label}: give at least {at_least}; {len(clean)} given"
        return clean

    def sub_elements(
        self, session: Session, site: Site, field: str, codes: Any, *, label: str = "sub-element"
    ) -> list[str]:
        wanted = self.texts(field, codes, label=label, limit=80)
        unknown = sorted(set(wanted) - known_sub_element_codes(session, site=site))
        if unknown:
            self[field] = (
                f"{label} {', '.join(unknown)} is not in any published framework of {site.code}; "
                "`qmm framework show` lists the codes"
            )
        return sorted(wanted)

    def kpis(self, field: str, ids: Any) -> list[str]:
        wanted = self.texts(field, ids, label="KPI", limit=80)
        unknown = [k for k in wanted if k not in KPI_IDS]
        if unknown:
            self[field] = (
                f"KPI {', '.join(unknown)} is not in the KPI catalogue "
                "(docs/metrics.md lists the ids)"
            )
        return wanted

    def raise_any(self) -> None:
        if self:
            raise InvalidProgramInput(dict(self))


def actor_label(session: Session) -> str:
    """Who is acting, as recorded beside a record (the audit trail has the full story)."""
    actor = session.info.get("audit_actor") or system_actor()
    return str(actor.label)[:120]


def check_fields(changes: Mapping[str, Any], editable: Iterable[str]) -> None:
    """Refuse a change to a field that is not editable, naming the ones that are."""
    allowed = sorted(editable)
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{', '.join(unknown)} cannot be changed here; editable: {', '.join(allowed)}"
        )
