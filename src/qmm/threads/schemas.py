"""A thread's one JSON shape: what the API returns and `qmm thread show --format json` prints."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

from pydantic import BaseModel

from qmm.threads.service import (
    BROKEN_LABELS,
    LABELS,
    Broken,
    KPIContext,
    Thread,
    ThreadLink,
    ThreadRecord,
)


def thread_path(site: str, record_type: str, record_id: str) -> str:
    """Where a record's thread lives in the web app."""
    return f"/sites/{site}/threads/{record_type}/{record_id}"


THREAD_PATH: Final = re.compile(r"^/sites/([^/]+)/threads/([a-z_]+)/([^/]+)$")


def cited_thread(site: str, link: str | None, eqms_id: str | None) -> str | None:
    """The thread an evidence item cites: its link when that is a thread page of the site,
    else the lookup of the eQMS id it names (an imported record's id opens its thread)."""
    if link:
        found = THREAD_PATH.match(urlsplit(link).path)
        if found is not None and found.group(1) == site:
            return found.group(0)
    if eqms_id and eqms_id.strip():
        return f"/sites/{site}/threads?record={quote(eqms_id.strip(), safe='')}"
    return None


class KPIContextOut(BaseModel):
    """How a record reads against a KPI and its target."""

    kpi: str
    name: str
    value: float | None
    unit: str
    target: float | None
    meets: bool | None
    text: str

    @classmethod
    def of(cls, context: KPIContext) -> KPIContextOut:
        return cls(**context.__dict__)


class ThreadRecordOut(BaseModel):
    """One record of a thread; `found` false when a link names a record the store lacks."""

    record_type: str
    label: str
    record_id: str
    site: str
    found: bool
    starts: datetime | None
    ends: datetime | None
    owner: str | None
    status: str
    summary: str
    path: str
    kpis: list[KPIContextOut]
    fields: dict[str, Any]

    @classmethod
    def of(cls, record: ThreadRecord) -> ThreadRecordOut:
        return cls(
            record_type=record.record_type,
            label=LABELS.get(record.record_type, record.record_type),
            record_id=record.record_id,
            site=record.site,
            found=record.found,
            starts=record.starts,
            ends=record.ends,
            owner=record.owner,
            status=record.status,
            summary=record.summary,
            path=thread_path(record.site, record.record_type, record.record_id),
            kpis=[KPIContextOut.of(k) for k in record.kpis],
            fields=record.fields,
        )


class ThreadLinkOut(BaseModel):
    """A link between two records, the field naming it, and the hours from one to the other."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str
    via: str
    from_at: datetime | None
    to_at: datetime | None
    took_hours: float | None
    found: bool

    @classmethod
    def of(cls, link: ThreadLink) -> ThreadLinkOut:
        return cls(
            from_type=link.from_type,
            from_id=link.from_id,
            to_type=link.to_type,
            to_id=link.to_id,
            via=link.via,
            from_at=link.from_at,
            to_at=link.to_at,
            took_hours=link.took_hours,
            found=link.found,
        )


class BrokenOut(BaseModel):
    """A missing step of a thread, named as the readiness plan names it."""

    kind: str
    label: str
    record_type: str
    record_id: str
    site: str
    since: date | None
    message: str
    path: str

    @classmethod
    def of(cls, broken: Broken) -> BrokenOut:
        return cls(
            kind=broken.kind,
            label=BROKEN_LABELS[broken.kind],
            record_type=broken.record_type,
            record_id=broken.record_id,
            site=broken.site,
            since=broken.since,
            message=broken.message,
            path=thread_path(broken.site, broken.record_type, broken.record_id),
        )


class ThreadOut(BaseModel):
    """A record's thread: its records in date order, the links, and what is broken."""

    site: str
    record_type: str
    record_id: str
    complete: bool
    truncated: bool
    records: list[ThreadRecordOut]
    links: list[ThreadLinkOut]
    broken: list[BrokenOut]

    @classmethod
    def of(cls, thread: Thread) -> ThreadOut:
        return cls(
            site=thread.site,
            record_type=thread.record_type,
            record_id=thread.record_id,
            complete=thread.complete,
            truncated=thread.truncated,
            records=[ThreadRecordOut.of(r) for r in thread.records],
            links=[ThreadLinkOut.of(link) for link in thread.links],
            broken=[BrokenOut.of(b) for b in thread.broken],
        )
