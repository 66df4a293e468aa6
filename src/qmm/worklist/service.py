"""Needs attention: everything due or overdue at the sites a person may read, in one list.

Why one list: reviews, plan actions, drafts to sign, meetings, drills and supplier reviews each
live on their own page, and nobody is told anything unless they open it. The worklist gathers
them with an owner, a due date, an age and a link, so the first page after sign-in says what next.
Broken threads and KPIs that keep missing their target or signal join them: the extracts say
something needs a person, and nobody is told unless it is on this list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment_week.service import list_fda_assessments, milestone_views
from qmm.auth.permissions import Permission
from qmm.auth.scope import Reader
from qmm.events.store import EventStore
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.engine import KPIValue, period_last_day
from qmm.metrics.kpis import Period
from qmm.models import (
    Decision,
    Drill,
    EvidenceItem,
    ReadinessPlan,
    ReadinessPlanStatus,
    Site,
    SteeringAction,
    SteeringCadence,
    SteeringMeeting,
    SupplierAgreement,
)
from qmm.presentation.kpis import (
    DASHBOARD_KPIS,
    DASHBOARD_TILES,
    SMALL_N,
    KPIRequest,
    meets,
    series_for,
    tile,
)
from qmm.program.plan import may_read_plan, running_plan
from qmm.program.suppliers import next_drill_on, next_review_on
from qmm.threads.schemas import thread_path
from qmm.threads.service import BROKEN_LABELS, LABELS, broken_threads

#: Something due within this many days shows as "due"; past its date, as "overdue".
DUE_WITHIN_DAYS: Final = 14
OVERDUE: Final = "overdue"
DUE: Final = "due"
WAITING: Final = "waiting"
#: A broken thread or a KPI signal: no due date, it needs a person from the day it shows.
ATTENTION: Final = "attention"
#: The oldest broken threads of a site shown one by one; the rest are counted and linked.
BROKEN_SHOWN: Final = 10
#: A KPI that missed its target in this many complete periods running is on the list.
MISSED_RUNNING: Final = 2
#: The KPI period the worklist judges by, as the dashboard shows by default.
KPI_PERIOD: Final[Period] = "month"

#: What each kind of item is, in words.
KINDS: Final = {
    "plan_action": "Plan action",
    "evidence_review": "Evidence review",
    "draft_signature": "Draft awaiting a signature",
    "steering_meeting": "Steering meeting",
    "steering_action": "Steering action",
    "drill": "Continuity drill",
    "supplier_review": "Supplier maturity review",
    "supplier_drill": "Joint drill with a supplier",
    "broken_thread": "Broken thread",
    "broken_threads_more": "More broken threads",
    "kpi_signal": "KPI signal",
    "kpi_missed": "KPI missing its target",
    "fda_milestone": "FDA assessment milestone",
}


@dataclass(frozen=True)
class WorkItem:
    """One thing that needs attention: what, where, who owns it, by when, and where to act."""

    kind: str
    site: str
    title: str
    owner: str
    due_on: date | None
    state: str
    age_days: int
    path: str
    #: How many records the item stands for (the "more broken threads" item counts the rest).
    count: int = 1

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class Worklist:
    """A person's worklist on a day: the items, most overdue first, and the sites it covers."""

    today: date
    sites: tuple[str, ...]
    items: tuple[WorkItem, ...]

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.state == OVERDUE)

    @property
    def due(self) -> int:
        return sum(1 for i in self.items if i.state == DUE)

    @property
    def waiting(self) -> int:
        return sum(1 for i in self.items if i.state == WAITING)

    @property
    def attention(self) -> int:
        return sum(1 for i in self.items if i.state == ATTENTION)


def _dated(
    kind: str, site: Site, title: str, owner: str, due_on: date, today: date, path: str
) -> WorkItem | None:
    """An item with a due date: overdue once past it, due when within the window, else none."""
    if due_on < today:
        state = OVERDUE
    elif due_on <= today + timedelta(days=DUE_WITHIN_DAYS):
        state = DUE
    else:
        return None
    return WorkItem(kind, site.code, title, owner, due_on, state, (today - due_on).days, path)


def _plan_actions(session: Session, reader: Reader, site: Site, today: date) -> list[WorkItem]:
    plan = running_plan(session, site, today)
    if plan is None or not may_read_plan(session, reader=reader, plan=plan):
        return []
    found = []
    for action in plan.actions:
        if action.status != "open":
            continue
        item = _dated(
            "plan_action",
            site,
            f"{plan.ref} action {action.number}: {action.title}",
            action.owner,
            action.due_on,
            today,
            f"/sites/{site.code}/plans/{plan.ref}#action-{action.number}",
        )
        if item is not None:
            found.append(item)
    return found


def _evidence_reviews(session: Session, site: Site, today: date) -> list[WorkItem]:
    found = []
    for entry in session.scalars(
        select(EvidenceItem).where(
            EvidenceItem.site_id == site.id,
            EvidenceItem.retired_at.is_(None),
            EvidenceItem.review_by.is_not(None),
        )
    ):
        assert entry.review_by is not None
        item = _dated(
            "evidence_review",
            site,
            f"Review {entry.ref}: {entry.title}",
            entry.owner,
            entry.review_by,
            today,
            f"/sites/{site.code}/evidence/{entry.ref}",
        )
        if item is not None:
            found.append(item)
    return found


def _drafts(
    session: Session, reader: Reader, site: Site, today: date, username: str | None
) -> list[WorkItem]:
    """Drafts this reader could sign: not their own where the two-person rule holds."""
    if not reader.may(session, Permission.record_sign, site=site):
        return []
    found = []

    def mine(author: str) -> bool:
        return site.two_person_rule and username is not None and author == username

    for decision in session.scalars(
        select(Decision).where(
            Decision.site_id == site.id,
            Decision.signed_at.is_(None),
            Decision.discarded_at.is_(None),
        )
    ):
        if mine(decision.created_by):
            continue
        since = decision.created_at.date()
        found.append(
            WorkItem(
                "draft_signature",
                site.code,
                f"Sign {decision.ref}: {decision.title}",
                decision.owner,
                None,
                WAITING,
                (today - since).days,
                f"/sites/{site.code}/decisions/{decision.ref}#sign-title",
            )
        )
    for plan in session.scalars(
        select(ReadinessPlan).where(
            ReadinessPlan.site_id == site.id,
            ReadinessPlan.status == ReadinessPlanStatus.draft.value,
        )
    ):
        if mine(plan.created_by) or not may_read_plan(session, reader=reader, plan=plan):
            continue
        found.append(
            WorkItem(
                "draft_signature",
                site.code,
                f"Approve {plan.ref}: the 90-day plan from {plan.start_on}",
                plan.owner,
                None,
                WAITING,
                (today - plan.generated_on).days,
                f"/sites/{site.code}/plans/{plan.ref}#sign-title",
            )
        )
    return found


def _steering(session: Session, site: Site, today: date) -> list[WorkItem]:
    found: list[WorkItem | None] = []
    path = f"/sites/{site.code}/program#steering"
    for meeting in session.scalars(
        select(SteeringMeeting)
        .join(SteeringCadence)
        .where(SteeringCadence.site_id == site.id, SteeringMeeting.held_on.is_(None))
    ):
        cadence = meeting.cadence
        found.append(
            _dated(
                "steering_meeting",
                site,
                f"Hold {cadence.name} (planned {meeting.planned_on})",
                cadence.chair,
                meeting.planned_on,
                today,
                path,
            )
        )
    for action in session.scalars(
        select(SteeringAction)
        .join(SteeringMeeting)
        .join(SteeringCadence)
        .where(SteeringCadence.site_id == site.id, SteeringAction.done_on.is_(None))
    ):
        found.append(
            _dated("steering_action", site, action.title, action.owner, action.due_on, today, path)
        )
    return [i for i in found if i is not None]


def _continuity(session: Session, site: Site, today: date) -> list[WorkItem]:
    found: list[WorkItem | None] = []
    for drill in session.scalars(
        select(Drill).where(Drill.site_id == site.id, Drill.run_on.is_(None))
    ):
        found.append(
            _dated(
                "drill",
                site,
                f"Run the drill of {drill.scenario.title}",
                drill.supplier or "the site's continuity lead",
                drill.planned_on,
                today,
                f"/sites/{site.code}/continuity#drill-{drill.id}",
            )
        )
    for agreement in session.scalars(
        select(SupplierAgreement).where(SupplierAgreement.site_id == site.id)
    ):
        path = f"/sites/{site.code}/continuity#agreement-{agreement.id}"
        found.append(
            _dated(
                "supplier_review",
                site,
                f"Review the maturity of {agreement.supplier}",
                agreement.supplier,
                next_review_on(agreement),
                today,
                path,
            )
        )
        found.append(
            _dated(
                "supplier_drill",
                site,
                f"Run the joint drill with {agreement.supplier}",
                agreement.supplier,
                next_drill_on(agreement),
                today,
                path,
            )
        )
    return [i for i in found if i is not None]


def _fda_milestones(session: Session, site: Site, today: date) -> list[WorkItem]:
    """The timeline of FDA's assessments not cancelled: steps late or due soon, with owners."""
    found: list[WorkItem | None] = []
    for visit in list_fda_assessments(session, site=site):
        if visit.status == "cancelled":
            continue
        for step in milestone_views(visit, today=today):
            if step.done_on is not None:
                continue
            found.append(
                _dated(
                    "fda_milestone",
                    site,
                    f"{step.label}: {visit.title}",
                    step.owner,
                    step.due_on,
                    today,
                    f"/fda-assessments/{visit.id}#milestone-{step.kind}",
                )
            )
    return [i for i in found if i is not None]


def _broken_threads(
    session: Session, store: EventStore, site: Site, today: date, *, older_ok: bool = False
) -> list[WorkItem]:
    """The site's ten oldest broken threads, then one item counting the rest."""
    broken = broken_threads(session, site=site, store=store, older_ok=older_ok)
    found = [
        WorkItem(
            "broken_thread",
            site.code,
            f"{LABELS.get(b.record_type, b.record_type)} {b.record_id}: "
            f"{BROKEN_LABELS.get(b.kind, b.kind)}",
            b.owner or "no owner in the extract",
            b.since,
            ATTENTION,
            (today - b.since).days if b.since is not None else 0,
            thread_path(site.code, b.record_type, b.record_id),
        )
        for b in broken[:BROKEN_SHOWN]
    ]
    rest = broken[BROKEN_SHOWN:]
    if rest:
        newest = rest[0].since
        found.append(
            WorkItem(
                "broken_threads_more",
                site.code,
                f"and {len(rest)} more broken threads",
                "the site's quality lead",
                None,
                ATTENTION,
                (today - newest).days if newest is not None else 0,
                f"/sites/{site.code}/threads",
                len(rest),
            )
        )
    return found


def _missed_running(
    values: Sequence[KPIValue], *, site: str, kpi: str, group: str | None
) -> list[KPIValue]:
    """The latest complete periods, if each of the last two missed its target on enough records."""
    series = series_for(values, kpi=kpi, site=site, group=group)
    if series is None:
        return []
    complete = [v for v in series.values if v.complete]
    last = complete[-MISSED_RUNNING:]
    if len(last) < MISSED_RUNNING:
        return []
    definition = get_kpi(kpi)
    target = definition.target(group)
    for value in last:
        small = value.denominator is not None and value.denominator < SMALL_N
        if small or meets(definition, value.value, target) is not False:
            return []
    return last


def _kpi_signals(kpi_request: KPIRequest, site: Site, today: date) -> list[WorkItem]:
    """The dashboard's KPIs that signal in their latest period or missed target twice running."""
    values = kpi_request.values(site=site.code, kpis=DASHBOARD_KPIS, period=KPI_PERIOD)
    found = []
    for kpi, group in DASHBOARD_TILES:
        shown = tile(values, site=site.code, kpi=kpi, group=group, period=KPI_PERIOD)
        if shown.latest is None:
            continue
        missed = _missed_running(values, site=site.code, kpi=kpi, group=group)
        if missed:
            since = period_last_day(missed[0].period, KPI_PERIOD)
            found.append(
                WorkItem(
                    "kpi_missed",
                    site.code,
                    f"{shown.title} missed its target ({shown.target_text}) in "
                    f"{' and '.join(v.period for v in missed)}",
                    "the site's quality lead",
                    since,
                    ATTENTION,
                    (today - since).days,
                    shown.href,
                )
            )
        if shown.signal_at_latest:
            rules = ", ".join(str(r) for r in shown.signal_at_latest)
            since = min(period_last_day(shown.latest.period, KPI_PERIOD), today)
            found.append(
                WorkItem(
                    "kpi_signal",
                    site.code,
                    f"{shown.title}: Nelson rule {rules} signals in {shown.latest.period}",
                    "the site's quality lead",
                    since,
                    ATTENTION,
                    (today - since).days,
                    shown.href,
                )
            )
    return found


def _order(item: WorkItem) -> tuple[int, int, str, str]:
    rank = {OVERDUE: 0, WAITING: 1, ATTENTION: 2, DUE: 3}[item.state]
    return (rank, -item.age_days, item.site, item.title)


def worklist(
    session: Session,
    *,
    reader: Reader,
    sites: Iterable[Site],
    store: EventStore,
    today: date,
    username: str | None = None,
    threads_may_lag: bool = False,
) -> Worklist:
    """What needs attention at the given sites that the reader may read, most overdue first.

    Sites the reader may not read are left out, and so are plans of assessments they may not
    read; drafts to sign show only to those who may sign them (and, under the two-person rule,
    not to their author, named by `username`). Broken threads and KPI signals come from the
    extracts in `store`; the KPI signals from the values stored at import. With
    `threads_may_lag` (pages), the broken threads right after an import may be those of the
    store before it for the seconds the new thread index takes to build beside the request.
    """
    readable: Sequence[Site] = [
        s for s in sites if reader.may(session, Permission.site_read, site=s)
    ]
    items: list[WorkItem] = []
    kpi_request = KPIRequest(session, store)
    for site in readable:
        items += _plan_actions(session, reader, site, today)
        items += _evidence_reviews(session, site, today)
        items += _drafts(session, reader, site, today, username)
        items += _steering(session, site, today)
        items += _continuity(session, site, today)
        items += _fda_milestones(session, site, today)
        items += _broken_threads(session, store, site, today, older_ok=threads_may_lag)
        items += _kpi_signals(kpi_request, site, today)
    return Worklist(
        today=today,
        sites=tuple(s.code for s in readable),
        items=tuple(sorted(items, key=_order)),
    )
