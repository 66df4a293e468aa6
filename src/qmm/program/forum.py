"""The stop-and-fix forum: roadblocks raised, who removes them, and how fast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, NotFound
from qmm.models import ForumItem, Site
from qmm.program.common import SHORT, Problems


@dataclass(frozen=True)
class ForumSummary:
    """Open roadblocks with their age, and time to removal over the removed ones."""

    open_items: tuple[tuple[ForumItem, int], ...]
    removed: int
    median_days_to_removal: float | None
    mean_days_to_removal: float | None


def raise_roadblock(
    session: Session, *, site: Site, roadblock: str, raised_by: str, raised_on: date, owner: str
) -> ForumItem:
    """Record a roadblock raised at the forum and the leader who owns removing it."""
    p = Problems()
    text = p.text("roadblock", roadblock, label="roadblock", limit=SHORT)
    by = p.text("raised_by", raised_by, label="raised by", limit=SHORT)
    day = p.day("raised_on", raised_on, label="date raised")
    who = p.text("owner", owner, label="owner", limit=SHORT)
    p.raise_any()
    assert text is not None
    assert by is not None
    assert day is not None
    assert who is not None
    item = ForumItem(site_id=site.id, roadblock=text, raised_by=by, raised_on=day, owner=who)
    session.add(item)
    session.flush()
    return item


def remove_roadblock(
    session: Session, *, item: ForumItem, removed_on: date, resolution: str
) -> ForumItem:
    """Record that the roadblock was removed, when and how."""
    if item.removed_on is not None:
        raise Conflict(f"roadblock {item.id} was removed on {item.removed_on}")
    p = Problems()
    day = p.day("removed_on", removed_on, label="date removed")
    how = p.text("resolution", resolution, label="resolution")
    if day is not None and day < item.raised_on:
        p["removed_on"] = f"removed on {day} is before it was raised ({item.raised_on})"
    p.raise_any()
    item.removed_on = day
    item.resolution = how
    session.flush()
    return item


def days_to_removal(item: ForumItem) -> int | None:
    """Whole days from raised to removed; None while open."""
    return None if item.removed_on is None else (item.removed_on - item.raised_on).days


def get_forum_item(session: Session, *, site: Site, item_id: int) -> ForumItem:
    found = session.get(ForumItem, item_id)
    if found is None or found.site_id != site.id:
        raise NotFound(f"no forum item {item_id} at {site.code}")
    return found


def list_forum_items(session: Session, *, site: Site, open_only: bool = False) -> list[ForumItem]:
    """The site's roadblocks, oldest raised first."""
    query = select(ForumItem).where(ForumItem.site_id == site.id)
    if open_only:
        query = query.where(ForumItem.removed_on.is_(None))
    return list(session.scalars(query.order_by(ForumItem.raised_on, ForumItem.id)))


def forum_summary(session: Session, *, site: Site, today: date) -> ForumSummary:
    """Open roadblocks with their age in days today; time to removal as a measure."""
    items = list_forum_items(session, site=site)
    days = [d for d in (days_to_removal(i) for i in items) if d is not None]
    return ForumSummary(
        open_items=tuple((i, (today - i.raised_on).days) for i in items if i.removed_on is None),
        removed=len(days),
        median_days_to_removal=float(median(days)) if days else None,
        mean_days_to_removal=sum(days) / len(days) if days else None,
    )
