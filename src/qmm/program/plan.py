"""The 90-day readiness plan: generated from an assessment, approved by signature, tracked.

Why generated: the seeds' plan is the same eight-step checklist at every site plus the site's
own gaps (lowest scores, missing evidence, KPIs off target); generating it keeps the plan tied
to the assessment it answers, and the signature freezes what leadership committed to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.assessment.scoring import SubElementScore
from qmm.assessment.service import compute_scores, get_assessment
from qmm.audit.signatures import (
    SignableKind,
    SignableRecord,
    register_signable,
)
from qmm.audit.trail import canonical_value
from qmm.auth.scope import Reader, may_read_assessment
from qmm.auth.service import CheckedPassword
from qmm.auth.signing import check_signer_password, sign
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.evidence.service import coverage
from qmm.metrics.catalogue import KPIS, Direction, KPIDefinition
from qmm.metrics.service import kpi_values
from qmm.models import (
    Assessment,
    EvidenceItemKind,
    PlanAction,
    ReadinessPlan,
    ReadinessPlanStatus,
    Signature,
    Site,
    SubElement,
    User,
    utcnow,
)
from qmm.program.common import SHORT, Problems, actor_label

REF_PREFIX: Final = "PLAN-"
RECORD_TYPE: Final = "readiness_plan"
DAYS: Final = 90

GOVERNANCE: Final = "governance_and_evidence"
SYSTEMS: Final = "systems_and_process_maturity"
PEOPLE: Final = "people_and_culture"
#: The seeds' three workstreams, in their order, with their names.
WORKSTREAMS: Final = {
    GOVERNANCE: "Governance and evidence",
    SYSTEMS: "Systems and process maturity",
    PEOPLE: "People and culture",
}
#: The workstream that lifts a practice area's sub-elements (low scores, KPIs off target).
#: Missing evidence is always mapped in "governance and evidence" (the seeds' workstream A).
AREA_WORKSTREAM: Final = {
    "management_commitment": GOVERNANCE,
    "business_continuity": SYSTEMS,
    "advanced_pqs": SYSTEMS,
    "technical_excellence": SYSTEMS,
    "employee_engagement": PEOPLE,
}

SKELETON_SOURCE: Final = "skeleton"
LOW_SCORE: Final = "low_score"
MISSING_EVIDENCE: Final = "missing_evidence"
KPI_OFF_TARGET: Final = "kpi_off_target"
CARRIED_OVER: Final = "carried_over"
#: Actions from FDA's week: a practice area FDA scored below the self-assessment, an
#: opportunity FDA named, and a mock interview's follow-up.
FDA_GAP: Final = "fda_gap"
FDA_OPPORTUNITY: Final = "fda_opportunity"
MOCK_FOLLOW_UP: Final = "mock_follow_up"
SOURCES: Final = (
    SKELETON_SOURCE,
    LOW_SCORE,
    MISSING_EVIDENCE,
    KPI_OFF_TARGET,
    CARRIED_OVER,
    FDA_GAP,
    FDA_OPPORTUNITY,
    MOCK_FOLLOW_UP,
)

#: A sub-element scoring below this is a low score; at most LOW_SCORES of them get an action.
LOW_SCORE_BELOW: Final = 3.5
LOW_SCORES: Final = 5
#: The 30/60/90 milestones: evidence mapped by day 30, low scores lifted by day 60, KPIs back
#: on target (a trend to show) by day 90.
DUE_DAY: Final = {MISSING_EVIDENCE: 30, LOW_SCORE: 60, KPI_OFF_TARGET: 90}
#: The period whose latest value is compared with a KPI's default target.
KPI_PERIOD: Final = "quarter"
#: How far from today a plan may start, either way: a year, a leap year's included.
START_WITHIN_DAYS: Final = 366
#: The latest start date whose day 90 is still a calendar date.
LAST_START: Final = date.max - timedelta(days=DAYS - 1)


@dataclass(frozen=True)
class SkeletonStep:
    """One item of the seeds' "next 90 days" checklist, as a plan action."""

    title: str
    workstream: str
    due_day: int
    sub_element: str
    evidence: str
    evidence_kind: str


#: The seeds' "Make the next 90 days count" checklist, every plan's first eight actions.
SKELETON: Final[tuple[SkeletonStep, ...]] = (
    SkeletonStep(
        "Name an executive owner of the QMM program",
        GOVERNANCE,
        7,
        "resourcing_for_quality",
        "Role charter naming the executive owner and the program's resources",
        EvidenceItemKind.policy.value,
    ),
    SkeletonStep(
        "Publish two quality objectives site-wide",
        GOVERNANCE,
        14,
        "quality_policy_objectives",
        "The two published objectives, each measured by a KPI (the program page lists them)",
        EvidenceItemKind.policy.value,
    ),
    SkeletonStep(
        "Stand up the steering cadence and hold its first meeting",
        GOVERNANCE,
        21,
        "management_review",
        "Minutes of the first steering meeting (recorded on the program page)",
        EvidenceItemKind.steering_minutes.value,
    ),
    SkeletonStep(
        "Open the QMM evidence index in the eQMS",
        GOVERNANCE,
        30,
        "knowledge_management",
        "Evidence index covering every practice area (its coverage is on the evidence page)",
        EvidenceItemKind.other.value,
    ),
    SkeletonStep(
        "Close the first CAPA effectiveness review",
        SYSTEMS,
        60,
        "capa_effectiveness",
        "CAPA effectiveness review with its verification result",
        EvidenceItemKind.capa_analytics.value,
    ),
    SkeletonStep(
        "Run a continuity drill with a supplier",
        SYSTEMS,
        75,
        "drills_recovery",
        "Drill report with the supplier's participation, results and restore steps",
        EvidenceItemKind.drill_report.value,
    ),
    SkeletonStep(
        "Show the dashboard trend",
        GOVERNANCE,
        90,
        "process_performance_monitoring",
        "Dashboard trend of the site's KPIs over the 90 days",
        EvidenceItemKind.trend_report.value,
    ),
    SkeletonStep(
        "Show the decision log that proves leadership acted",
        GOVERNANCE,
        90,
        "quality_first_decisions",
        "Signed decisions of the decision log (the decision log lists them)",
        EvidenceItemKind.decision_record.value,
    ),
)

PLANNED_ACTION_FIELDS: Final = (
    "number",
    "title",
    "workstream",
    "owner",
    "due_day",
    "due_on",
    "sub_element",
    "evidence",
    "evidence_kind",
    "source",
    "source_detail",
)
EDITABLE_ACTION_FIELDS: Final = frozenset({"title", "owner", "due_day"})


@dataclass(frozen=True)
class PlannedAction:
    """An action before it is stored; other areas hand their own (FDA's gaps) to generate_plan."""

    title: str
    workstream: str
    due_day: int
    sub_element: str | None
    evidence: str
    evidence_kind: str
    source: str
    source_detail: str


# ---------------------------------------------------------------------------- generating


def _evidence_kind(sub_element: SubElement | None) -> str:
    """The first of the sub-element's expected evidence kinds that the index knows."""
    known = {k.value for k in EvidenceItemKind}
    for kind in sub_element.evidence_kinds if sub_element is not None else []:
        if kind in known:
            return str(kind)
    return EvidenceItemKind.other.value


def _off_target(
    session: Session, site: Site, today: date, store: EventStore | None
) -> dict[str, list[str]]:
    """KPIs whose latest quarter is off their default target: KPI id -> the details."""
    targeted: dict[str, KPIDefinition] = {
        k.id: k for k in KPIS if k.default_target is not None or k.group_targets
    }
    latest: dict[tuple[str, str | None], Any] = {}
    for value in kpi_values(
        session,
        store=store,
        kpis=sorted(targeted),
        sites=[site.code],
        period=KPI_PERIOD,
        as_of=today,
    ):
        if value.value is None:
            continue
        key = (value.kpi, value.group)
        if key not in latest or value.period > latest[key].period:
            latest[key] = value
    found: dict[str, list[str]] = {}
    for (kpi_id, group), value in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        definition = targeted[kpi_id]
        target = definition.target(group)
        if target is None:
            continue
        good = (
            value.value >= target
            if definition.direction is Direction.higher_is_better
            else value.value <= target
        )
        if not good:
            label = f"{kpi_id}[{group}]" if group else kpi_id
            found.setdefault(kpi_id, []).append(
                f"{label} {value.value:.4g} in {value.period} against target {target:g} "
                f"({'higher' if definition.direction is Direction.higher_is_better else 'lower'}"
                " is better)"
            )
    return found


def _plan_actions(
    session: Session,
    *,
    assessment: Assessment,
    scores: dict[str, SubElementScore],
    today: date,
    store: EventStore | None,
) -> list[PlannedAction]:
    framework_subs = {
        se.code: se
        for se in session.scalars(
            select(SubElement)
            .where(SubElement.framework_id == assessment.framework_id)
            .order_by(SubElement.id)
        )
    }
    order = {code: index for index, code in enumerate(scores)}
    planned: list[PlannedAction] = []
    seen: set[tuple[str, str | None]] = set()

    def add(action: PlannedAction) -> None:
        key = (action.source, action.sub_element)
        if action.sub_element is not None and key in seen:
            return
        seen.add(key)
        planned.append(action)

    for step in SKELETON:
        code = step.sub_element if step.sub_element in framework_subs else None
        add(
            PlannedAction(
                step.title,
                step.workstream,
                step.due_day,
                code,
                step.evidence,
                step.evidence_kind,
                SKELETON_SOURCE,
                "the seeds' next-90-days checklist",
            )
        )
    scored = [s for s in scores.values() if s.score is not None and s.score < LOW_SCORE_BELOW]
    lowest = sorted(scored, key=lambda s: (s.score, order[s.code]))[:LOW_SCORES]
    for rank, sub in enumerate(lowest, start=1):
        assert sub.score is not None
        add(
            PlannedAction(
                f"Lift {sub.name} from {sub.score:.2f}: act on the assessment's findings"[:SHORT],
                AREA_WORKSTREAM.get(sub.practice_area, SYSTEMS),
                DUE_DAY[LOW_SCORE],
                sub.code,
                f"Evidence that {sub.name} reached the next level",
                _evidence_kind(framework_subs.get(sub.code)),
                LOW_SCORE,
                f"score {sub.score:.2f} < {LOW_SCORE_BELOW}, lowest #{rank} of the assessment",
            )
        )
    for code, name in coverage(
        session, assessment=assessment, today=today
    ).sub_elements_without_evidence:
        add(
            PlannedAction(
                f"Map evidence for {name}"[:SHORT],
                GOVERNANCE,
                DUE_DAY[MISSING_EVIDENCE],
                code,
                f"At least one current evidence item mapped to {code}",
                _evidence_kind(framework_subs.get(code)),
                MISSING_EVIDENCE,
                "no current evidence item in the site's index",
            )
        )
    by_sub: dict[str, list[str]] = {}
    for kpi_id, details in _off_target(session, assessment.site, today, store).items():
        target = _kpi_sub_element(kpi_id, scores, framework_subs)
        if target is not None:
            by_sub.setdefault(target, []).extend(details)
    for code in sorted(by_sub, key=lambda c: order.get(c, len(order))):
        kpi_sub = scores.get(code)
        name = kpi_sub.name if kpi_sub is not None else framework_subs[code].name
        area = kpi_sub.practice_area if kpi_sub is not None else ""
        add(
            PlannedAction(
                f"Bring {name} KPIs back on target"[:SHORT],
                AREA_WORKSTREAM.get(area, SYSTEMS),
                DUE_DAY[KPI_OFF_TARGET],
                code,
                "KPI trend back on target (a trend report of the KPI chart)",
                EvidenceItemKind.trend_report.value,
                KPI_OFF_TARGET,
                "; ".join(by_sub[code]),
            )
        )
    return planned


def _kpi_sub_element(
    kpi_id: str, scores: dict[str, SubElementScore], framework_subs: dict[str, SubElement]
) -> str | None:
    """The sub-element an off-target KPI lifts: the lowest-scoring one it evidences."""
    definition = next(k for k in KPIS if k.id == kpi_id)
    candidates = [c for c in definition.sub_elements if c in framework_subs]
    if not candidates:
        return None
    unscored = 6.0

    def score(code: str) -> float:
        found = scores.get(code)
        return found.score if found is not None and found.score is not None else unscored

    return min(candidates, key=lambda c: (score(c), candidates.index(c)))


def running_plan(session: Session, site: Site, today: date) -> ReadinessPlan | None:
    """The site's approved plan whose 90 days have not ended, if any; the web pages mark it too."""
    for plan in session.scalars(
        select(ReadinessPlan)
        .where(
            ReadinessPlan.site_id == site.id,
            ReadinessPlan.status == ReadinessPlanStatus.approved.value,
        )
        .order_by(ReadinessPlan.number.desc())
    ):
        if today <= end_on(plan):
            return plan
    return None


def end_on(plan: ReadinessPlan) -> date:
    """The plan's last day (day 90)."""
    return plan.start_on + timedelta(days=DAYS - 1)


def _next_number(session: Session, site: Site) -> int:
    # Serialise numbering per site on PostgreSQL; SQLite writers are serialised already.
    session.execute(select(Site.id).where(Site.id == site.id).with_for_update())
    highest = session.scalar(
        select(func.max(ReadinessPlan.number)).where(ReadinessPlan.site_id == site.id)
    )
    return (highest or 0) + 1


def _check_start(p: Problems, start: date, today: date) -> None:
    """A start date's day 90 must be a date, and a plan starts within a year of today."""
    away = (start - today).days
    if start > LAST_START:
        p["start_on"] = (
            f"start date {start} is too far in the future: its day {DAYS} must be a calendar date"
        )
    elif abs(away) > START_WITHIN_DAYS:
        side = "after" if away > 0 else "before"
        p["start_on"] = (
            f"start date {start} is more than a year {side} today ({today}); "
            "a plan starts within a year of today"
        )


def generate_plan(
    session: Session,
    *,
    assessment: Assessment,
    owner: str,
    start_on: date,
    today: date | None = None,
    store: EventStore | None = None,
    supersede: bool = False,
    additions: Sequence[PlannedAction] = (),
) -> ReadinessPlan:
    """Draft a site's 90-day plan: the seeds' checklist plus the assessment's own gaps, and any
    `additions` another area found (FDA's calibration gaps), each with its source."""
    day = today or utcnow().date()
    p = Problems()
    clean_owner = p.text("owner", owner, label="owner", limit=SHORT)
    start = p.day("start_on", start_on, label="start date")
    if start is not None:
        _check_start(p, start, day)
    p.raise_any()
    assert clean_owner is not None
    assert start is not None
    site = assessment.site
    scores = compute_scores(session, assessment=assessment).sub_elements
    if all(s.score is None for s in scores.values()):
        raise InvalidInput(
            f"assessment {assessment.id} of {site.code} has no scores yet; rate it before "
            "generating a plan from it"
        )
    running = running_plan(session, site, day)
    if running is not None and not supersede:
        raise Conflict(
            f"{site.code} already runs approved plan {running.ref} (to {end_on(running)}); "
            "generate with --supersede to replace it"
        )
    if running is None and supersede:
        raise Conflict(f"{site.code} has no running approved plan to supersede")
    planned = _plan_actions(session, assessment=assessment, scores=scores, today=day, store=store)
    planned += list(additions)
    number = _next_number(session, site)
    plan = ReadinessPlan(
        site_id=site.id,
        number=number,
        ref=f"{REF_PREFIX}{number:04d}",
        assessment_id=assessment.id,
        generated_on=day,
        start_on=start,
        owner=clean_owner,
        baseline={code: round(s.score, 4) for code, s in scores.items() if s.score is not None},
        supersedes_id=running.id if running is not None else None,
        status=ReadinessPlanStatus.draft.value,
        created_by=actor_label(session),
    )
    session.add(plan)
    session.flush()
    ordered = sorted(enumerate(planned), key=lambda ip: (ip[1].due_day, ip[0]))
    for number_in_plan, (_, action) in enumerate(ordered, start=1):
        session.add(
            PlanAction(
                plan_id=plan.id,
                number=number_in_plan,
                title=action.title,
                workstream=action.workstream,
                owner=clean_owner,
                due_day=action.due_day,
                due_on=start + timedelta(days=action.due_day - 1),
                sub_element=action.sub_element,
                evidence=action.evidence,
                evidence_kind=action.evidence_kind,
                source=action.source,
                source_detail=action.source_detail,
                status="open",
            )
        )
    session.flush()
    session.refresh(plan, ["actions"])
    carry_open_actions(session, plan=plan)
    return plan


def _carried_due_day(plan: ReadinessPlan, origin: PlanAction) -> int:
    """The new plan's day the carried action keeps its date on; overdue ones are due on day 1."""
    return min(DAYS, max(1, (origin.due_on - plan.start_on).days + 1))


def carry_open_actions(session: Session, *, plan: ReadinessPlan) -> list[PlanAction]:
    """Bring a draft's carried actions in line with its predecessor's open actions.

    Every action still open in the plan being superseded gets a carried copy (same title,
    owner, sub-element, evidence); a carried copy whose origin was done meanwhile leaves the
    draft. Nothing open is ever dropped silently. Returns the carried actions added.
    """
    old = plan.supersedes
    if plan.is_approved or old is None:
        return []
    session.refresh(plan, ["actions"])
    open_origins = {a.id: a for a in old.actions if a.status == "open"}
    carried = {a.carried_from_id: a for a in plan.actions if a.carried_from_id is not None}
    for origin_id, action in carried.items():
        if origin_id not in open_origins:
            session.delete(action)
    number = max((a.number for a in plan.actions), default=0)
    added = []
    for origin in sorted(open_origins.values(), key=lambda a: (a.due_on, a.number)):
        if origin.id in carried:
            continue
        number += 1
        due_day = _carried_due_day(plan, origin)
        detail = f"{old.ref} action {origin.number}, due {origin.due_on}, still open"
        action = PlanAction(
            plan_id=plan.id,
            number=number,
            title=origin.title,
            workstream=origin.workstream,
            owner=origin.owner,
            due_day=due_day,
            due_on=plan.start_on + timedelta(days=due_day - 1),
            sub_element=origin.sub_element,
            evidence=origin.evidence,
            evidence_kind=origin.evidence_kind,
            source=CARRIED_OVER,
            source_detail=detail + (f"; note: {origin.note}" if origin.note else ""),
            status="open",
            carried_from_id=origin.id,
        )
        session.add(action)
        added.append(action)
    session.flush()
    session.refresh(plan, ["actions"])
    return added


def uncarried_actions(plan: ReadinessPlan) -> list[PlanAction]:
    """The predecessor's open actions that this draft does not carry over (none may be left)."""
    old = plan.supersedes
    if old is None:
        return []
    carried = {a.carried_from_id for a in plan.actions}
    return [a for a in old.actions if a.status == "open" and a.id not in carried]


# ---------------------------------------------------------------------------- editing a draft


def _require_draft(plan: ReadinessPlan) -> None:
    if plan.status == ReadinessPlanStatus.discarded.value:
        raise Conflict(f"{plan.ref} was discarded; it stays on record but no longer changes")
    if plan.is_approved:
        raise Conflict(
            f"{plan.ref} is approved and its plan is frozen; only progress is tracked "
            "(an action marked done, or opened again)"
        )


def update_action(session: Session, *, action: PlanAction, **changes: Any) -> PlanAction:
    """Change a draft plan's action (title, owner, due day); an approved plan is frozen."""
    _require_draft(action.plan)
    unknown = sorted(set(changes) - EDITABLE_ACTION_FIELDS)
    if unknown:
        raise InvalidInput(
            f"{', '.join(unknown)} cannot be changed here; editable: "
            f"{', '.join(sorted(EDITABLE_ACTION_FIELDS))}"
        )
    p = Problems()
    title = p.text("title", changes.get("title", action.title), label="title", limit=SHORT)
    owner = p.text("owner", changes.get("owner", action.owner), label="owner", limit=SHORT)
    due_day = p.number(
        "due_day",
        changes.get("due_day", action.due_day),
        label="due day",
        minimum=1,
        maximum=DAYS,
        whole=True,
    )
    p.raise_any()
    assert title is not None
    assert owner is not None
    assert due_day is not None
    action.title, action.owner, action.due_day = title, owner, int(due_day)
    action.due_on = action.plan.start_on + timedelta(days=int(due_day) - 1)
    session.flush()
    return action


def add_action(session: Session, *, plan: ReadinessPlan, action: PlannedAction) -> PlanAction:
    """Add one action to a draft plan (a mock interview's follow-up); approved plans are frozen."""
    _require_draft(plan)
    p = Problems()
    title = p.text("title", action.title, label="title", limit=SHORT)
    if action.source not in SOURCES:
        p["source"] = f"source {action.source!r} is not one of {', '.join(SOURCES)}"
    if action.workstream not in WORKSTREAMS:
        p["workstream"] = f"workstream {action.workstream!r} is not one of {', '.join(WORKSTREAMS)}"
    due_day = p.number(
        "due_day", action.due_day, label="due day", minimum=1, maximum=DAYS, whole=True
    )
    p.raise_any()
    assert title is not None
    assert due_day is not None
    number = max((a.number for a in plan.actions), default=0) + 1
    added = PlanAction(
        plan_id=plan.id,
        number=number,
        title=title,
        workstream=action.workstream,
        owner=plan.owner,
        due_day=int(due_day),
        due_on=plan.start_on + timedelta(days=int(due_day) - 1),
        sub_element=action.sub_element,
        evidence=action.evidence,
        evidence_kind=action.evidence_kind,
        source=action.source,
        source_detail=action.source_detail,
        status="open",
    )
    session.add(added)
    session.flush()
    session.refresh(plan, ["actions"])
    return added


# ---------------------------------------------------------------------------- approval


def discard_plan(session: Session, *, plan: ReadinessPlan) -> ReadinessPlan:
    """Set a draft plan aside for good: it keeps its ref and stays on record as discarded; the
    plan it was to supersede runs on with its actions untouched."""
    _require_draft(plan)
    plan.status = ReadinessPlanStatus.discarded.value
    session.flush()
    return plan


def approve_plan(
    session: Session,
    *,
    plan: ReadinessPlan,
    user: User,
    password: str | CheckedPassword,
    meaning: str = "approved",
) -> Signature:
    """Approve a draft plan by e-signature (password again); its plan is then frozen.

    The predecessor's open actions are carried over first, as they stand at approval; a typed
    password is checked (argon2, slow) before that first write.
    """
    _check_approvable(session, plan)
    checked = (
        check_signer_password(session, user=user, password=password)
        if isinstance(password, str)
        else password
    )
    carry_open_actions(session, plan=plan)
    return sign(
        session,
        user=user,
        password=checked,
        meaning=meaning,
        record_type=RECORD_TYPE,
        record_id=str(plan.id),
    )


def _check_approvable(session: Session, plan: ReadinessPlan) -> None:
    if plan.status == ReadinessPlanStatus.discarded.value:
        raise Conflict(f"{plan.ref} was discarded and cannot be approved")
    if plan.status == ReadinessPlanStatus.superseded.value:
        raise Conflict(f"{plan.ref} was superseded and cannot be approved")
    if plan.is_approved:
        return
    running = running_plan(session, plan.site, utcnow().date())
    if running is not None and running.id != plan.supersedes_id:
        raise Conflict(
            f"{plan.site.code} already runs approved plan {running.ref} (to {end_on(running)}); "
            f"{plan.ref} does not supersede it: generate a new plan with --supersede"
        )


def record_approved(session: Session, *, plan: ReadinessPlan) -> None:
    """After the first signature: the plan is approved, frozen, and supersedes its predecessor."""
    if plan.is_approved:
        return
    _check_approvable(session, plan)
    left = uncarried_actions(plan)
    if left and plan.supersedes is not None:
        numbers = ", ".join(str(a.number) for a in left)
        raise Conflict(
            f"{plan.ref} does not carry over the open actions {numbers} of "
            f"{plan.supersedes.ref}; approve it from its plan page, which carries them over"
        )
    plan.status = ReadinessPlanStatus.approved.value
    plan.approved_at = utcnow()
    old = plan.supersedes
    if old is not None and old.status == ReadinessPlanStatus.approved.value:
        old.status = ReadinessPlanStatus.superseded.value
    session.flush()


def plan_content(plan: ReadinessPlan) -> dict[str, Any]:
    """What an approval signature binds to: the plan as planned, not its progress."""
    return {
        "site": plan.site.code,
        "ref": plan.ref,
        "assessment": plan.assessment_id,
        "generated_on": canonical_value("", "", plan.generated_on),
        "start_on": canonical_value("", "", plan.start_on),
        "owner": plan.owner,
        "baseline": dict(sorted(plan.baseline.items())),
        "supersedes": plan.supersedes.ref if plan.supersedes else None,
        "created_by": plan.created_by,
        "actions": [
            {f: canonical_value("", "", getattr(a, f)) for f in PLANNED_ACTION_FIELDS}
            for a in plan.actions
        ],
    }


# ---------------------------------------------------------------------------- tracking


def complete_action(
    session: Session, *, action: PlanAction, done_on: date, note: str | None = None
) -> PlanAction:
    """Record an approved plan's action as done, on a date not in the future."""
    plan = action.plan
    if not plan.is_approved:
        raise Conflict(f"{plan.ref} is a draft; approve it before tracking its actions")
    if action.status == "done":
        raise Conflict(
            f"action {action.number} of {plan.ref} was done on {action.done_on}; reopen it first"
        )
    p = Problems()
    day = p.day("done_on", done_on, label="done date")
    clean_note = p.text("note", note, label="note", required=False, limit=2000)
    if day is not None and day > utcnow().date():
        p["done_on"] = f"done date {day} is in the future"
    elif day is not None and day < plan.generated_on:
        p["done_on"] = f"done date {day} is before the plan was generated ({plan.generated_on})"
    p.raise_any()
    action.status, action.done_on = "done", day
    if clean_note is not None:
        action.note = clean_note
    session.flush()
    return action


def reopen_action(session: Session, *, action: PlanAction, note: str | None = None) -> PlanAction:
    """Open a done action again (it was not really done); the audit trail keeps the story."""
    if action.status != "done":
        raise Conflict(f"action {action.number} of {action.plan.ref} is not done")
    p = Problems()
    clean_note = p.text("note", note, label="note", required=False, limit=2000)
    p.raise_any()
    action.status, action.done_on = "open", None
    if clean_note is not None:
        action.note = clean_note
    session.flush()
    return action


@dataclass(frozen=True)
class WorkstreamProgress:
    """One workstream's actions: done, open (not yet due), overdue (open past due)."""

    workstream: str
    name: str
    done: int
    open: int
    overdue: int

    @property
    def total(self) -> int:
        return self.done + self.open + self.overdue


@dataclass(frozen=True)
class PlanProgress:
    """Where a plan stands on a day: day N of 90, counts per workstream, what is overdue."""

    plan_ref: str
    status: str
    today: date
    day: int
    start_on: date
    end_on: date
    workstreams: tuple[WorkstreamProgress, ...]
    overdue_actions: tuple[PlanAction, ...] = field(default=())

    @property
    def done(self) -> int:
        return sum(w.done for w in self.workstreams)

    @property
    def total(self) -> int:
        return sum(w.total for w in self.workstreams)


def is_overdue(action: PlanAction, today: date) -> bool:
    """Open past its due date (due today is not overdue)."""
    return action.status == "open" and action.due_on < today


def plan_day(plan: ReadinessPlan, today: date) -> int:
    """Day N of the plan: 0 before it starts, 1 on its start date, up to 90 and past it."""
    return max(0, (today - plan.start_on).days + 1)


def plan_progress(session: Session, *, plan: ReadinessPlan, today: date) -> PlanProgress:
    """Done, open and overdue actions per workstream on a day, and which are overdue."""
    session.refresh(plan, ["actions"])
    counts = {w: [0, 0, 0] for w in WORKSTREAMS}
    overdue = []
    for action in plan.actions:
        slot = counts.setdefault(action.workstream, [0, 0, 0])
        if action.status == "done":
            slot[0] += 1
        elif is_overdue(action, today):
            slot[2] += 1
            overdue.append(action)
        else:
            slot[1] += 1
    return PlanProgress(
        plan_ref=plan.ref,
        status=plan.status,
        today=today,
        day=plan_day(plan, today),
        start_on=plan.start_on,
        end_on=end_on(plan),
        workstreams=tuple(
            WorkstreamProgress(w, WORKSTREAMS.get(w, w), *c) for w, c in counts.items()
        ),
        overdue_actions=tuple(sorted(overdue, key=lambda a: (a.due_on, a.number))),
    )


@dataclass(frozen=True)
class SubElementChange:
    """A sub-element's baseline score against a later assessment's, and the plan's actions."""

    code: str
    name: str
    baseline: float | None
    score: float | None
    actions: tuple[int, ...]

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.score is None:
            return None
        return round(self.score - self.baseline, 4)

    def to_json(self) -> dict[str, Any]:
        return {
            "sub_element": self.code,
            "name": self.name,
            "baseline": self.baseline,
            "score": self.score,
            "delta": self.delta,
            "actions": list(self.actions),
        }


def compare_plan(
    session: Session, *, plan: ReadinessPlan, assessment: Assessment
) -> list[SubElementChange]:
    """Baseline against a later assessment, the sub-elements the plan acts on first."""
    if assessment.site_id != plan.site_id:
        raise InvalidInput(
            f"assessment {assessment.id} is of {assessment.site.code}, not of {plan.site.code}"
        )
    if assessment.id == plan.assessment_id:
        raise InvalidInput(
            f"assessment {assessment.id} is the one {plan.ref} was generated from; "
            "compare with a later assessment"
        )
    later = compute_scores(session, assessment=assessment).sub_elements
    acted: dict[str, list[int]] = {}
    for action in plan.actions:
        if action.sub_element is not None:
            acted.setdefault(action.sub_element, []).append(action.number)
    names = {code: s.name for code, s in later.items()}
    for se in session.scalars(
        select(SubElement).where(SubElement.code.in_(list(plan.baseline) + list(acted)))
    ):
        names.setdefault(se.code, se.name)
    codes = list(acted) + [c for c in [*later, *plan.baseline] if c not in acted]
    changes = []
    for code in dict.fromkeys(codes):
        after = later.get(code)
        changes.append(
            SubElementChange(
                code=code,
                name=names.get(code, code),
                baseline=plan.baseline.get(code),
                score=round(after.score, 4)
                if after is not None and after.score is not None
                else None,
                actions=tuple(acted.get(code, ())),
            )
        )
    return changes


# ---------------------------------------------------------------------------- reading


def get_plan(session: Session, *, site: Site, ref: str) -> ReadinessPlan:
    """A plan of the site by its PLAN-nnnn ref (case does not matter)."""
    wanted = ref.strip().upper()
    found = session.scalar(
        select(ReadinessPlan).where(ReadinessPlan.site_id == site.id, ReadinessPlan.ref == wanted)
    )
    if found is None:
        raise no_such_plan(site, wanted)
    return found


def no_such_plan(site: Site, ref: str) -> NotFound:
    """The one answer for a plan that is not there, or that the asker may not read."""
    return NotFound(f"no plan {ref} at {site.code}; `qmm plan list {site.code}` lists them")


def may_read_plan(session: Session, *, reader: Reader, plan: ReadinessPlan) -> bool:
    """A plan carries its assessment's scores (baseline, low-score actions): read it with them."""
    source = get_assessment(session, assessment_id=plan.assessment_id)
    return may_read_assessment(session, reader=reader, assessment=source)


def readable_plans(session: Session, *, reader: Reader, site: Site) -> list[ReadinessPlan]:
    """The site's plans, newest first, that the reader may read."""
    plans = list_plans(session, site=site)
    return [p for p in plans if may_read_plan(session, reader=reader, plan=p)]


def get_readable_plan(session: Session, *, reader: Reader, site: Site, ref: str) -> ReadinessPlan:
    """A plan by ref if the reader may read it; otherwise exactly the answer for no such plan."""
    plan = get_plan(session, site=site, ref=ref)
    if not may_read_plan(session, reader=reader, plan=plan):
        raise no_such_plan(site, plan.ref)
    return plan


def get_plan_by_id(session: Session, *, record_id: str) -> ReadinessPlan:
    """A plan by its database id (as signatures name it)."""
    found = session.get(ReadinessPlan, int(record_id)) if str(record_id).isdigit() else None
    if found is None:
        raise NotFound(f"no readiness plan {record_id}")
    return found


def get_action(session: Session, *, plan: ReadinessPlan, number: int) -> PlanAction:
    """An action of a plan by its number."""
    found = session.scalar(
        select(PlanAction).where(PlanAction.plan_id == plan.id, PlanAction.number == number)
    )
    if found is None:
        raise NotFound(f"{plan.ref} has no action {number}; it has 1 to {len(plan.actions)}")
    return found


def list_plans(session: Session, *, site: Site) -> Sequence[ReadinessPlan]:
    """The site's plans, newest first."""
    return session.scalars(
        select(ReadinessPlan)
        .where(ReadinessPlan.site_id == site.id)
        .order_by(ReadinessPlan.number.desc())
    ).all()


def current_readable_plan(
    session: Session, *, reader: Reader, site: Site, today: date
) -> ReadinessPlan | None:
    """The running approved plan, else the newest, of those the reader may read; or None."""
    running = running_plan(session, site, today)
    if running is not None and may_read_plan(session, reader=reader, plan=running):
        return running
    plans = [
        p
        for p in readable_plans(session, reader=reader, site=site)
        if p.status != ReadinessPlanStatus.discarded.value
    ]
    return plans[0] if plans else None


def current_plan(session: Session, *, site: Site, today: date) -> ReadinessPlan:
    """The site's running approved plan, else its newest plan."""
    running = running_plan(session, site, today)
    if running is not None:
        return running
    plans = list_plans(session, site=site)
    if not plans:
        raise NotFound(f"{site.code} has no readiness plan; `qmm plan generate` drafts one")
    return plans[0]


# ---------------------------------------------------------------------------- signable


def _signable_plan(session: Session, record_id: str) -> SignableRecord:
    plan = get_plan_by_id(session, record_id=record_id)
    return SignableRecord(
        plan_content(plan),
        plan.site,
        author=plan.created_by,
        awaiting_approval=not plan.is_approved,
    )


def _plan_signed(session: Session, signature: Signature) -> None:
    record_approved(session, plan=get_plan_by_id(session, record_id=signature.record_id))


register_signable(SignableKind(RECORD_TYPE, read=_signable_plan, on_signed=_plan_signed))
