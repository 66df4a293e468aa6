"""A record's thread: the records before and after it, linked by the extracts and the decision log.

Why: an assessor asks "show me what happened after this excursion"; the answer is the chain of
records the extracts' link columns and the decisions' linked records already name, with the time
each step took, and a plain statement of every step that is missing.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from qmm.errors import InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.metrics.catalogue import DEFAULT_CHANGE_TARGET_DAYS, get_kpi
from qmm.models import Decision, Site
from qmm.program.decisions import decision_status, get_decision, list_decisions
from qmm.threads.index import KEYS, ThreadIndex, thread_index

#: Every record type a thread can start from, in the order a thread usually runs.
RECORD_TYPES: Final[tuple[str, ...]] = (
    "em_sample",
    "complaint",
    "oos",
    "deviation",
    "capa",
    "change_control",
    "decision",
)
LABELS: Final[dict[str, str]] = {
    "em_sample": "EM sample",
    "complaint": "Complaint",
    "oos": "OOS result",
    "deviation": "Deviation",
    "capa": "CAPA",
    "change_control": "Change control",
    "decision": "Decision",
}
#: A CAPA's source_type, and the record type its source_id names (others are not extracts).
CAPA_SOURCES: Final[dict[str, str]] = {
    "deviation": "deviation",
    "em_excursion": "em_sample",
    "complaint": "complaint",
    "oos": "oos",
}
SERIOUS: Final = ("major", "critical")
#: At most this many records in one thread: a thread is read by a person.
MAX_RECORDS: Final = 60


class BrokenKind:
    """The ways a thread breaks, named as the readiness plan names them."""

    no_deviation = "action_excursion_without_deviation"
    no_capa = "serious_deviation_without_capa"
    no_voe = "capa_closed_without_effectiveness_check"
    missing = "link_to_missing_record"


BROKEN_LABELS: Final[dict[str, str]] = {
    BrokenKind.no_deviation: "action-level excursion with no deviation",
    BrokenKind.no_capa: "serious deviation with no CAPA",
    BrokenKind.no_voe: "CAPA closed with no effectiveness check planned",
    BrokenKind.missing: "link to a record not in the store",
}


@dataclass(frozen=True)
class KPIContext:
    """How one record reads against a KPI's target (e.g. EM response hours against 24 h)."""

    kpi: str
    name: str
    value: float | None
    unit: str
    target: float | None
    meets: bool | None
    text: str


@dataclass(frozen=True)
class Broken:
    """One missing step of a thread: what is missing, where, and since when."""

    kind: str
    record_type: str
    record_id: str
    site: str
    since: date | None
    message: str
    owner: str | None = None


@dataclass
class ThreadRecord:
    """One record in a thread, with the dates and fields that place it."""

    record_type: str
    record_id: str
    site: str
    found: bool
    starts: datetime | None = None
    ends: datetime | None = None
    owner: str | None = None
    status: str = ""
    summary: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    kpis: list[KPIContext] = field(default_factory=list)

    @property
    def node(self) -> tuple[str, str]:
        return (self.record_type, self.record_id)


@dataclass(frozen=True)
class ThreadLink:
    """A link between two records: which field names it, and the time from one to the other."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str
    via: str
    from_at: datetime | None
    to_at: datetime | None
    found: bool

    @property
    def took_hours(self) -> float | None:
        if self.from_at is None or self.to_at is None:
            return None
        return (self.to_at - self.from_at).total_seconds() / 3600


@dataclass
class Thread:
    """A record's thread: every record linked to it, the links, and what is broken."""

    site: str
    record_type: str
    record_id: str
    records: list[ThreadRecord]
    links: list[ThreadLink]
    broken: list[Broken]
    truncated: bool = False

    @property
    def complete(self) -> bool:
        return not self.broken


# --- helpers -------------------------------------------------------------------------------


def check_record_type(record_type: str) -> str:
    """A record type a thread can start from, or a refusal naming the choices."""
    name = record_type.strip().lower()
    if name not in RECORD_TYPES:
        raise InvalidInput(
            f"record type {record_type!r} has no thread; choose one of {', '.join(RECORD_TYPES)}"
        )
    return name


def _moment(value: Any) -> datetime | None:
    """Dates and naive UTC timestamps as aware UTC datetimes, so they order and subtract."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    try:
        found = json.loads(row.get("_extra") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _days(first: Any, last: Any) -> int | None:
    if first is None or last is None:
        return None
    return int((last - first).days)


def _count(value: Any) -> str:
    """A cfu count or limit as people write it: 15, not 15.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _hours_text(hours: float) -> str:
    if abs(hours) < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.0f} days"


# --- records as a thread shows them -------------------------------------------------------


def _em_record(row: dict[str, Any]) -> ThreadRecord:
    result_at = row.get("result_at") or row.get("sampled_at")
    cfu, alert, action = row.get("cfu"), row.get("alert_limit"), row.get("action_limit")
    level = (
        "action-level excursion"
        if cfu is not None and action is not None and cfu > action
        else "alert-level excursion"
        if cfu is not None and alert is not None and cfu > alert
        else "within limits"
    )
    record = ThreadRecord(
        "em_sample",
        str(row["sample_id"]),
        str(row["site"]),
        True,
        starts=_moment(result_at),
        ends=_moment(row.get("response_at")),
        status=level,
        summary=f"{row.get('room')} grade {row.get('grade')}, {row.get('method')}: "
        f"{_count(cfu)} cfu (alert {_count(alert)}, action {_count(action)})",
    )
    if level != "within limits":
        target = get_kpi("em_response_hours").default_target
        response = _moment(row.get("response_at"))
        hours = (
            (response - record.starts).total_seconds() / 3600
            if response is not None and record.starts is not None
            else None
        )
        meets = None if hours is None or target is None else hours <= target
        text = (
            "no documented response"
            if hours is None
            else f"response in {_hours_text(hours)} (target {target:g} h)"
        )
        record.kpis.append(
            KPIContext(
                "em_response_hours",
                "EM excursion to documented response",
                hours,
                "hours",
                target,
                meets,
                text,
            )
        )
    return record


def _deviation_record(row: dict[str, Any]) -> ThreadRecord:
    days = _days(row.get("opened_on"), row.get("closed_on"))
    record = ThreadRecord(
        "deviation",
        str(row["deviation_id"]),
        str(row["site"]),
        True,
        starts=_moment(row.get("opened_on")),
        ends=_moment(row.get("closed_on")),
        status="closed" if row.get("closed_on") else "open",
        summary=f"{row.get('severity') or 'unrated'} deviation, root cause "
        f"{row.get('root_cause_category')}"
        + (f", {row.get('process_area')}" if row.get("process_area") else ""),
    )
    if row.get("severity") in SERIOUS and row.get("closed_on"):
        linked = bool(row.get("capa_id"))
        record.kpis.append(
            KPIContext(
                "deviation_capa_linked",
                "Major and critical deviations with a CAPA",
                1.0 if linked else 0.0,
                "ratio",
                None,
                linked,
                "CAPA linked" if linked else "closed with no CAPA",
            )
        )
    if days is not None:
        record.fields["days_open"] = days
    return record


def _capa_record(row: dict[str, Any]) -> ThreadRecord:
    closed, due = row.get("closed_on"), row.get("due_on")
    record = ThreadRecord(
        "capa",
        str(row["capa_id"]),
        str(row["site"]),
        True,
        starts=_moment(row.get("opened_on")),
        ends=_moment(closed),
        status="closed" if closed else "open",
        summary=f"{row.get('severity') or 'unrated'} CAPA from {row.get('source_type') or '?'}, "
        f"root cause {row.get('root_cause_category')}",
    )
    if closed is not None and due is not None:
        on_time = closed <= due
        record.kpis.append(
            KPIContext(
                "capa_on_time_closure",
                "CAPA on-time closure",
                float(_days(due, closed) or 0),
                "days",
                0.0,
                on_time,
                "closed on time"
                if on_time
                else f"closed {_days(due, closed)} days after its due date",
            )
        )
    if closed is not None:
        planned = row.get("voe_due_on") is not None
        record.kpis.append(
            KPIContext(
                "capa_voe_planned",
                "CAPAs closed with an effectiveness check planned",
                1.0 if planned else 0.0,
                "ratio",
                None,
                planned,
                f"effectiveness check due {row['voe_due_on']}"
                if planned
                else "no effectiveness check planned",
            )
        )
    if row.get("voe_result"):
        effective = row["voe_result"] == "effective"
        record.kpis.append(
            KPIContext(
                "capa_effectiveness",
                "CAPA effectiveness",
                1.0 if effective else 0.0,
                "ratio",
                None,
                effective,
                f"verified {row['voe_result'].replace('_', ' ')} on {row.get('voe_done_on')}",
            )
        )
    return record


def _change_record(row: dict[str, Any]) -> ThreadRecord:
    days = _days(row.get("opened_on"), row.get("closed_on"))
    tier = row.get("risk_tier")
    target = row.get("target_days") or DEFAULT_CHANGE_TARGET_DAYS.get(str(tier))
    record = ThreadRecord(
        "change_control",
        str(row["change_id"]),
        str(row["site"]),
        True,
        starts=_moment(row.get("opened_on")),
        ends=_moment(row.get("closed_on")),
        status="closed" if row.get("closed_on") else "open",
        summary=f"{tier}-risk change control",
    )
    if days is not None and target is not None:
        record.kpis.append(
            KPIContext(
                "change_within_target",
                "Change controls closed within target",
                float(days),
                "days",
                float(target),
                days <= target,
                f"closed in {days} days (target {target})",
            )
        )
    return record


def _complaint_record(row: dict[str, Any]) -> ThreadRecord:
    return ThreadRecord(
        "complaint",
        str(row["complaint_id"]),
        str(row["site"]),
        True,
        starts=_moment(row.get("received_on")),
        status="quality-related" if row.get("quality_related") else "not quality-related",
        summary=f"complaint on {row.get('product')}"
        + (f", lot {row['lot_id']}" if row.get("lot_id") else ""),
    )


def _oos_record(row: dict[str, Any]) -> ThreadRecord:
    return ThreadRecord(
        "oos",
        str(row["oos_id"]),
        str(row["site"]),
        True,
        starts=_moment(row.get("reported_on")),
        status="invalidated" if row.get("invalidated") else "confirmed",
        summary=f"{row.get('test_type')} OOS"
        + (f", lot {row['lot_id']}" if row.get("lot_id") else ""),
    )


_SHAPERS: Final = {
    "em_sample": _em_record,
    "deviation": _deviation_record,
    "capa": _capa_record,
    "change_control": _change_record,
    "complaint": _complaint_record,
    "oos": _oos_record,
}


def _record_of(record_type: str, row: dict[str, Any]) -> ThreadRecord:
    record = _SHAPERS[record_type](row)
    extra = _extra(row)
    owner = extra.get("owner")
    record.owner = str(owner) if owner not in (None, "") else None
    record.fields.update(
        {k: _plain(v) for k, v in row.items() if k != "_extra" and not k.startswith("link_")}
    )
    return record


def _decision_record(decision: Decision, status: str) -> ThreadRecord:
    return ThreadRecord(
        "decision",
        decision.ref,
        decision.site.code,
        True,
        starts=_moment(decision.decided_on),
        owner=decision.owner,
        status=status,
        summary=decision.title,
        fields={
            "decision": decision.decision,
            "quality_won": decision.quality_won,
            "decided_on": decision.decided_on.isoformat(),
            "record_links": list(decision.record_links),
        },
    )


# --- following the links -------------------------------------------------------------------


class _Walker:
    """Follows links outward from one record, reading each record once."""

    def __init__(self, session: Session, site: Site, index: ThreadIndex) -> None:
        self.session = session
        self.site = site
        self.index = index
        self.rows: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._decisions: list[tuple[Decision, str]] | None = None
        self._resolved: dict[str, tuple[str, str] | None] = {}

    @property
    def decisions(self) -> list[tuple[Decision, str]]:
        """The site's standing decisions (drafts and signed; superseded ones are history)."""
        if self._decisions is None:
            found = []
            for d in list_decisions(self.session, site=self.site):
                status = decision_status(self.session, decision=d).value
                if status != "superseded":
                    found.append((d, status))
            self._decisions = found
        return self._decisions

    def row(self, record_type: str, record_id: str) -> dict[str, Any] | None:
        key = (record_type, record_id)
        if key not in self.rows:
            self.rows[key] = self.index.one(record_type, self.site.code, record_id)
        return self.rows[key]

    def _remember(self, record_type: str, rows: Iterable[dict[str, Any]]) -> list[str]:
        ids = []
        for r in rows:
            rid = str(r[KEYS[record_type]])
            self.rows[(record_type, rid)] = r
            ids.append(rid)
        return ids

    def referring(self, record_type: str, column: str, value: str) -> list[str]:
        """Records of a type whose link column names a value, at the site."""
        rows = self.index.rows(record_type, column, value, site=self.site.code, limit=MAX_RECORDS)
        return self._remember(record_type, rows)

    def capas_from(self, source_type: str, source_id: str) -> list[str]:
        rows = self.index.rows(
            "capa", "source_id", source_id, site=self.site.code, limit=MAX_RECORDS
        )
        return self._remember("capa", [r for r in rows if r.get("source_type") == source_type])

    def resolve(self, text: str) -> tuple[str, str] | None:
        """What a decision's linked-record text names: `type:ID` or a bare id of any type."""
        value = text.strip()
        if value not in self._resolved:
            self._resolved[value] = self._resolve(value)
        return self._resolved[value]

    def _resolve(self, value: str) -> tuple[str, str] | None:
        if not value:
            return None
        kind, sep, rest = value.partition(":")
        if sep and kind.strip().lower() in KEYS:
            return (kind.strip().lower(), rest.strip())
        for record_type in KEYS:
            if self.row(record_type, value) is not None:
                return (record_type, value)
        return None

    def links_of(self, node: tuple[str, str]) -> list[tuple[str, str, str, str, str]]:
        """(from type, from id, to type, to id, via) for every link touching a record."""
        record_type, rid = node
        out: list[tuple[str, str, str, str, str]] = []
        if record_type == "decision":
            for d, _ in self.decisions:
                if d.ref == rid:
                    for text in d.record_links:
                        target = self.resolve(text)
                        if target is None:
                            out.append(("?", text.strip(), "decision", rid, "record_links"))
                        else:
                            out.append((*target, "decision", rid, "record_links"))
            return out
        row = self.row(record_type, rid)
        if row is not None:
            if record_type == "em_sample":
                if row.get("deviation_id"):
                    out.append((*node, "deviation", str(row["deviation_id"]), "deviation_id"))
                for capa in self.capas_from("em_excursion", rid):
                    out.append((*node, "capa", capa, "capa.source_id"))
            elif record_type == "deviation":
                for sample in self.referring("em_sample", "deviation_id", rid):
                    out.append(("em_sample", sample, *node, "deviation_id"))
                if row.get("capa_id"):
                    out.append((*node, "capa", str(row["capa_id"]), "capa_id"))
                for capa in self.capas_from("deviation", rid):
                    out.append((*node, "capa", capa, "capa.source_id"))
                for change in self.referring("change_control", "link_deviation_id", rid):
                    out.append((*node, "change_control", change, "change_control.deviation_id"))
            elif record_type == "capa":
                source = CAPA_SOURCES.get(str(row.get("source_type") or ""))
                if source is not None and row.get("source_id"):
                    out.append((source, str(row["source_id"]), *node, "capa.source_id"))
                for deviation in self.referring("deviation", "capa_id", rid):
                    out.append(("deviation", deviation, *node, "capa_id"))
                for change in self.referring("change_control", "link_capa_id", rid):
                    out.append((*node, "change_control", change, "change_control.capa_id"))
            elif record_type == "change_control":
                extra = _extra(row)
                if extra.get("capa_id"):
                    out.append(("capa", str(extra["capa_id"]), *node, "change_control.capa_id"))
                if extra.get("deviation_id"):
                    out.append(
                        (
                            "deviation",
                            str(extra["deviation_id"]),
                            *node,
                            "change_control.deviation_id",
                        )
                    )
            elif record_type in ("complaint", "oos"):
                for capa in self.capas_from(record_type, rid):
                    out.append((*node, "capa", capa, "capa.source_id"))
        for d, _ in self.decisions:
            for text in d.record_links:
                if self.resolve(text) == node:
                    out.append((*node, "decision", d.ref, "record_links"))
        return out

    def record(self, node: tuple[str, str]) -> ThreadRecord:
        record_type, rid = node
        if record_type == "decision":
            for d, status in self.decisions:
                if d.ref == rid:
                    return _decision_record(d, status)
            return ThreadRecord("decision", rid, self.site.code, False)
        if record_type not in KEYS:
            return ThreadRecord(record_type, rid, self.site.code, False)
        row = self.row(record_type, rid)
        if row is None:
            return ThreadRecord(record_type, rid, self.site.code, False)
        return _record_of(record_type, row)


def _problems(record: ThreadRecord) -> list[Broken]:
    """What is broken at one record, by the rules the readiness plan names."""
    f = record.fields
    since = record.starts.date() if record.starts else None
    out: list[Broken] = []

    def add(kind: str, message: str) -> None:
        out.append(Broken(kind, record.record_type, record.record_id, record.site, since, message))

    if record.record_type == "em_sample":
        cfu, action = f.get("cfu"), f.get("action_limit")
        if cfu is not None and action is not None and cfu > action and not f.get("deviation_id"):
            add(
                BrokenKind.no_deviation,
                f"EM sample {record.record_id} exceeded its action limit "
                f"({_count(cfu)} > {_count(action)} cfu) "
                "and names no deviation",
            )
    elif record.record_type == "deviation":
        if f.get("severity") in SERIOUS and f.get("closed_on") and not f.get("capa_id"):
            add(
                BrokenKind.no_capa,
                f"{f['severity']} deviation {record.record_id} was closed on {f['closed_on']} "
                "with no CAPA",
            )
    elif record.record_type == "capa" and f.get("closed_on") and not f.get("voe_due_on"):
        add(
            BrokenKind.no_voe,
            f"CAPA {record.record_id} was closed on {f['closed_on']} with no effectiveness "
            "check planned (no voe_due_on)",
        )
    return out


def _missing(link: ThreadLink, site: str) -> Broken:
    since = link.from_at.date() if link.from_at else None
    to = f"{LABELS.get(link.to_type, link.to_type)} {link.to_id}"
    fro = f"{LABELS.get(link.from_type, link.from_type)} {link.from_id}"
    if link.to_type == "decision":
        # A decision's own link text that names no stored record.
        return Broken(
            BrokenKind.missing,
            "decision",
            link.to_id,
            site,
            link.to_at.date() if link.to_at else None,
            f"decision {link.to_id} links {link.from_id!r}, which is no record in the store",
        )
    return Broken(
        BrokenKind.missing,
        link.from_type,
        link.from_id,
        site,
        since,
        f"{fro} names {to} ({link.via}), which is not in the store",
    )


def build_thread(
    session: Session,
    *,
    site: Site,
    record_type: str,
    record_id: str,
    store: EventStore,
) -> Thread:
    """The thread of one record of a site; NotFound when the site has no such record."""
    kind = check_record_type(record_type)
    rid = record_id.strip()
    if not rid:
        raise InvalidInput("a record id is required")
    walker = _Walker(session, site, thread_index(session, store))
    if kind == "decision":
        get_decision(session, site=site, ref=rid)
        rid = rid.upper()
    elif walker.row(kind, rid) is None:
        raise NotFound(
            f"no {LABELS[kind]} {rid} at {site.code} in the event store; import its extract "
            "first (qmm import)"
        )
    start = (kind, rid)
    seen: dict[tuple[str, str], ThreadRecord] = {}
    links: dict[tuple[str, str, str, str], ThreadLink] = {}
    queue: deque[tuple[str, str]] = deque([start])
    truncated = False
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        if len(seen) >= MAX_RECORDS:
            truncated = True
            break
        record = walker.record(node)
        seen[node] = record
        if not record.found:
            continue
        for from_type, from_id, to_type, to_id, via in walker.links_of(node):
            key = (from_type, from_id, to_type, to_id)
            if key in links:
                continue
            links[key] = ThreadLink(from_type, from_id, to_type, to_id, via, None, None, True)
            other = (to_type, to_id) if (from_type, from_id) == node else (from_type, from_id)
            if other not in seen and other[0] != "?":
                queue.append(other)
    dated: list[ThreadLink] = []
    broken: list[Broken] = []
    for link in links.values():
        a = seen.get((link.from_type, link.from_id))
        b = seen.get((link.to_type, link.to_id))
        found = a is not None and a.found and b is not None and b.found
        made = ThreadLink(
            link.from_type,
            link.from_id,
            link.to_type,
            link.to_id,
            link.via,
            a.starts if a else None,
            b.starts if b else None,
            found,
        )
        dated.append(made)
        unresolved = link.from_type == "?"
        # A record the walk stopped before reading is not a missing one.
        if not found and (unresolved or (a is not None and b is not None)):
            broken.append(_missing(made, site.code))
    for record in seen.values():
        broken.extend(_problems(record))
    far = datetime.max.replace(tzinfo=UTC)
    records = sorted(
        seen.values(),
        key=lambda r: (r.starts or far, RECORD_TYPES.index(r.record_type), r.record_id),
    )
    dated.sort(key=lambda link: (link.from_at or far, link.to_at or far, link.from_id, link.to_id))
    return Thread(site.code, kind, rid, records, dated, broken, truncated)


# --- broken threads of a site --------------------------------------------------------------


_BROKEN_SQL: Final[tuple[tuple[str, str], ...]] = (
    (
        BrokenKind.no_deviation,
        "SELECT 'em_sample', sample_id, CAST(coalesce(result_at, sampled_at) AS DATE), "
        "cfu, action_limit, json_extract_string(_extra, '$.owner') FROM em_sample "
        "WHERE site = ? AND cfu > action_limit "
        "AND deviation_id IS NULL",
    ),
    (
        BrokenKind.no_capa,
        "SELECT 'deviation', deviation_id, opened_on, severity, closed_on, "
        "json_extract_string(_extra, '$.owner') FROM deviation "
        "WHERE site = ? AND severity IN ('major', 'critical') AND closed_on IS NOT NULL "
        "AND capa_id IS NULL",
    ),
    (
        BrokenKind.no_voe,
        "SELECT 'capa', capa_id, opened_on, closed_on, NULL, "
        "json_extract_string(_extra, '$.owner') FROM capa WHERE site = ? "
        "AND closed_on IS NOT NULL AND voe_due_on IS NULL",
    ),
    (
        BrokenKind.missing,
        "SELECT 'em_sample', e.sample_id, CAST(coalesce(e.result_at, e.sampled_at) AS DATE), "
        "'deviation', e.deviation_id, json_extract_string(e._extra, '$.owner') "
        "FROM em_sample e LEFT JOIN deviation d "
        "ON d.deviation_id = e.deviation_id AND d.site = e.site "
        "WHERE e.site = ? AND e.deviation_id IS NOT NULL AND d.deviation_id IS NULL",
    ),
    (
        BrokenKind.missing,
        "SELECT 'deviation', v.deviation_id, v.opened_on, 'capa', v.capa_id, "
        "json_extract_string(v._extra, '$.owner') FROM deviation v "
        "LEFT JOIN capa c ON c.capa_id = v.capa_id AND c.site = v.site "
        "WHERE v.site = ? AND v.capa_id IS NOT NULL AND c.capa_id IS NULL",
    ),
    (
        BrokenKind.missing,
        "SELECT 'change_control', h.change_id, h.opened_on, 'capa', h.link_capa_id, "
        "json_extract_string(h._extra, '$.owner') FROM change_control h "
        "LEFT JOIN capa c ON c.capa_id = h.link_capa_id "
        "AND c.site = h.site WHERE h.site = ? AND h.link_capa_id IS NOT NULL "
        "AND c.capa_id IS NULL",
    ),
)
_CAPA_SOURCE_SQL: Final = (
    "SELECT 'capa', c.capa_id, c.opened_on, '{target}', c.source_id, "
    "json_extract_string(c._extra, '$.owner') FROM capa c "
    "LEFT JOIN {target} t ON t.{key} = c.source_id AND t.site = c.site "
    "WHERE c.site = ? AND c.source_type = '{source}' AND c.source_id IS NOT NULL "
    "AND t.{key} IS NULL"
)


def _broken_row(kind: str, row: tuple[Any, ...], site: str) -> Broken:
    record_type, rid, since, a, b, owner = row
    rid = str(rid)
    if kind == BrokenKind.no_deviation:
        message = (
            f"EM sample {rid} exceeded its action limit ({_count(a)} > {_count(b)} cfu) "
            "and names no deviation"
        )
    elif kind == BrokenKind.no_capa:
        message = f"{a} deviation {rid} was closed on {b} with no CAPA"
    elif kind == BrokenKind.no_voe:
        message = (
            f"CAPA {rid} was closed on {a} with no effectiveness check planned (no voe_due_on)"
        )
    else:
        message = f"{LABELS[record_type]} {rid} names {LABELS[a]} {b}, which is not in the store"
    return Broken(kind, record_type, rid, site, since, message, owner or None)


def broken_threads(
    session: Session,
    *,
    site: Site,
    store: EventStore,
    limit: int | None = None,
    older_ok: bool = False,
) -> list[Broken]:
    """Every broken thread of a site, oldest first (the longest-standing gap leads).

    With OLDER_OK, right after an import they may be those of the store before it, while the
    new thread index is built beside the caller (see :func:`thread_index`).
    """
    index = thread_index(session, store, older_ok=older_ok)
    found: list[Broken] = []
    queries = [*_BROKEN_SQL]
    for source, target in CAPA_SOURCES.items():
        queries.append(
            (
                BrokenKind.missing,
                _CAPA_SOURCE_SQL.format(target=target, key=KEYS[target], source=source),
            )
        )
    for kind, sql in queries:
        for row in index.query(sql, [site.code]):
            found.append(_broken_row(kind, row, site.code))
    walker = _Walker(session, site, index)
    for decision, _ in walker.decisions:
        for text in decision.record_links:
            if text.strip() and walker.resolve(text) is None:
                found.append(
                    Broken(
                        BrokenKind.missing,
                        "decision",
                        decision.ref,
                        site.code,
                        decision.decided_on,
                        f"decision {decision.ref} links {text.strip()!r}, which is no record "
                        "in the store",
                        decision.owner,
                    )
                )
            elif (named := walker.resolve(text)) is not None and walker.row(*named) is None:
                found.append(
                    Broken(
                        BrokenKind.missing,
                        "decision",
                        decision.ref,
                        site.code,
                        decision.decided_on,
                        f"decision {decision.ref} links {LABELS[named[0]]} {named[1]}, "
                        "which is not in the store",
                        decision.owner,
                    )
                )
    found.sort(key=lambda b: (b.since or date.max, b.record_type, b.record_id, b.kind))
    return found if limit is None else found[:limit]


@dataclass(frozen=True)
class Completeness:
    """How many of a site's thread starts are whole: the links the thread KPIs count."""

    site: str
    checked: int
    broken: int

    @property
    def ratio(self) -> float | None:
        return None if self.checked == 0 else (self.checked - self.broken) / self.checked


_CHECKED_SQL: Final = (
    "SELECT (SELECT count(*) FROM em_sample WHERE site = ? AND cfu > action_limit) "
    "+ (SELECT count(*) FROM deviation WHERE site = ? AND severity IN ('major', 'critical') "
    "AND closed_on IS NOT NULL) + (SELECT count(*) FROM capa WHERE site = ? "
    "AND closed_on IS NOT NULL)"
)


def thread_completeness(
    session: Session, *, sites: Sequence[Site], store: EventStore
) -> list[Completeness]:
    """Per site: the records that must carry a link (action excursions, closed serious
    deviations, closed CAPAs) and how many of them break their thread."""
    index = thread_index(session, store)
    out = []
    for site in sites:
        checked = int(index.query(_CHECKED_SQL, [site.code] * 3)[0][0] or 0)
        gaps = {
            (b.record_type, b.record_id)
            for b in broken_threads(session, site=site, store=store)
            if b.kind != BrokenKind.missing
        }
        out.append(Completeness(site.code, checked, len(gaps)))
    return out


def find_record(
    session: Session, *, site: Site, record_id: str, store: EventStore
) -> tuple[str, str]:
    """Which record an id names at a site (an eQMS id cited by evidence, a DEC- ref)."""
    rid = record_id.strip()
    if not rid:
        raise InvalidInput("a record id is required")
    walker = _Walker(session, site, thread_index(session, store))
    if rid.upper().startswith("DEC-"):
        return ("decision", get_decision(session, site=site, ref=rid).ref)
    found = walker.resolve(rid)
    if found is None or walker.row(*found) is None:
        raise NotFound(f"no record {rid} at {site.code} in the event store")
    return found
