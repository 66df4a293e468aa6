"""The readiness report's content: every figure taken from the services the web app uses, for
one site, one assessment and one period, so the report says what the pages say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from qmm.assessment.scoring import OVERALL_LABEL, AssessmentScores, SubElementScore
from qmm.assessment.service import compute_scores, get_assessment, list_assessments
from qmm.assessment_week.week_summary import WeekSection, week_section
from qmm.audit.signatures import SignatureStatus, record_hash, signatures_for
from qmm.auth.scope import Operator, Reader, latest_readable_assessment, readable_assessment
from qmm.benchmark.cohort import FDA_COHORT_CITATION
from qmm.benchmark.statistics import Placement
from qmm.errors import InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.evidence.service import EvidenceCoverage, coverage, list_evidence
from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.metrics.catalogue import KPIS, KPIDefinition, Provenance
from qmm.metrics.service import kpi_values
from qmm.models import (
    Assessment,
    AssessmentStatus,
    Decision,
    Drill,
    EvidenceItem,
    Framework,
    InventoryTrigger,
    PlanAction,
    ReadinessPlan,
    Site,
    SteeringMeeting,
)
from qmm.presentation.charts import PDF_CHART_WIDTH
from qmm.presentation.formatting import format_value
from qmm.presentation.kpis import ChartView, Tile, chart_view
from qmm.presentation.maturity import (
    Band,
    area_bands,
    fda_cohort,
    overall_band,
    overall_of,
    placement_of,
    small_cohort_caveat,
)
from qmm.program.continuity import breaches, drill_state, list_drills
from qmm.program.decisions import decision_status, list_decisions
from qmm.program.plan import PlanProgress, list_plans, plan_progress, readable_plans
from qmm.program.steering import CadenceStatus, cadence_status, list_cadences
from qmm.reports.exports import kpi_as_of
from qmm.threads.service import Broken, Completeness, broken_threads, thread_completeness

#: How far back the decision log, steering record and drills reach when no start is given.
DEFAULT_PERIOD_DAYS: Final = 365
#: Krippendorff's alpha from which the assessors' agreement reads as reliable.
RELIABLE_ALPHA: Final = 0.8

#: The KPI trends are monthly, as on the dashboard's default chart.
KPI_PERIOD: Final = "month"
#: At most this many strengths and opportunities are discussed.
FINDINGS: Final = 3


@dataclass(frozen=True)
class Finding:
    """A strength or an opportunity: the sub-element's score and the evidence behind it."""

    score: SubElementScore
    practice_area_name: str
    #: Items the ratings cite, then current items the index maps to the sub-element.
    evidence: tuple[EvidenceItem, ...]
    cited: frozenset[str]
    missing_refs: tuple[str, ...]


@dataclass(frozen=True)
class KPISection:
    """One KPI (and group) over time: the latest value against target, the chart, its signals."""

    definition: KPIDefinition
    group: str | None
    view: ChartView

    @property
    def tile(self) -> Tile:
        return self.view.latest

    @property
    def anchor(self) -> str:
        return f"kpi-{self.definition.id}" + (f"-{self.group}" if self.group else "")


@dataclass(frozen=True)
class DecisionRow:
    decision: Decision
    status: str


@dataclass(frozen=True)
class CadenceRow:
    name: str
    chair: str
    every_days: int
    status: CadenceStatus
    held: tuple[SteeringMeeting, ...]


@dataclass(frozen=True)
class DrillRow:
    drill: Drill
    scenario: str
    state: str


@dataclass(frozen=True)
class PlanSection:
    plan: ReadinessPlan
    progress: PlanProgress
    actions: tuple[PlanAction, ...]


@dataclass(frozen=True)
class SignedRecord:
    """A signed record, the hash of its content now, and each signature with the hash it binds."""

    kind: str
    ref: str
    title: str
    current_hash: str
    signatures: tuple[SignatureStatus, ...]


@dataclass(frozen=True)
class ThreadSection:
    """Whether events lead to decisions: the site's thread completeness and oldest gaps."""

    completeness: Completeness
    broken_total: int
    oldest: tuple[Broken, ...]


@dataclass(frozen=True)
class ReadinessReport:
    """Everything the report shows, gathered once; rendering adds no figures of its own."""

    site: Site
    assessment: Assessment
    framework: Framework
    as_of: date
    since: date
    generated_at: datetime
    #: The date the site's KPIs are as of: the report date, or the site's extract date when
    #: the data is older (None when nothing was imported).
    data_as_of: date | None
    scores: AssessmentScores
    overall: float | None
    placement: Placement | None
    bands: dict[str, Band]
    overall_band: Band
    caveat: str
    summary: tuple[str, ...]
    strengths: tuple[Finding, ...]
    opportunities: tuple[Finding, ...]
    kpis: tuple[KPISection, ...]
    coverage: EvidenceCoverage
    decisions: tuple[DecisionRow, ...]
    cadences: tuple[CadenceRow, ...]
    drills: tuple[DrillRow, ...]
    breaches: tuple[InventoryTrigger, ...]
    plan: PlanSection | None
    signed: tuple[SignedRecord, ...]
    threads: ThreadSection | None = None
    #: FDA's assessment week: dates, timeline, mock interviews, feedback, calibration gap.
    week: WeekSection | None = None
    kpi_catalogue: tuple[KPIDefinition, ...] = field(default=KPIS)
    cohort_citation: str = FDA_COHORT_CITATION
    overall_label: str = OVERALL_LABEL

    @property
    def partial_month(self) -> str | None:
        """The month holding the KPIs' as-of date when that date is before its last day."""
        day = self.data_as_of or self.as_of
        if (day + timedelta(days=1)).month == day.month:
            return day.strftime("%Y-%m")
        return None

    @property
    def calibration_questions(self) -> tuple[str, ...]:
        """The questions to calibrate, agreeing with the reliability statement: those two or
        more levels apart, else, when agreement is below reliable, the questions where the
        assessors differ at all (largest spread first), which are what lowers alpha."""
        agreement = self.scores.agreement
        if agreement.questions_flagged:
            return tuple(agreement.questions_flagged)
        if agreement.value is None or agreement.value >= RELIABLE_ALPHA:
            return ()
        split = [q for q in self.scores.questions.values() if q.spread]
        split.sort(key=lambda q: (-(q.spread or 0), q.code))
        return tuple(q.code for q in split)

    @property
    def cohort_size(self) -> int:
        return len(fda_cohort().sites)

    @property
    def off_target(self) -> tuple[KPISection, ...]:
        return tuple(k for k in self.kpis if k.tile.met is False)


def choose_assessment(
    session: Session, *, site: Site, assessment_id: int | None, reader: Reader | None = None
) -> Assessment:
    """The assessment asked for (it must be the site's), else the latest closed, else the latest.

    With a reader, only assessments they may read are chosen; any other is answered as missing.
    """
    if assessment_id is not None:
        assessment = (
            get_assessment(session, assessment_id=assessment_id)
            if reader is None
            else readable_assessment(session, reader=reader, assessment_id=assessment_id)
        )
        if assessment.site_id != site.id:
            raise InvalidInput(
                f"assessment {assessment_id} is of site {assessment.site.code}, not {site.code}"
            )
        return assessment
    if reader is not None:
        return latest_readable_assessment(session, reader=reader, site=site)
    assessments = list(list_assessments(session, site=site))
    if not assessments:
        raise NotFound(
            f"{site.code} has no assessment yet; start one with `qmm assess create` first"
        )
    closed = [a for a in assessments if a.status == AssessmentStatus.closed.value]
    return (closed or assessments)[0]


def check_period(as_of: date, since: date | None, *, today: date) -> date:
    """The period's first day: a year before `as_of` unless asked; no report of the future."""
    if as_of > today:
        raise InvalidInput(f"the report date {as_of} is after today ({today})")
    start = since if since is not None else as_of - timedelta(days=DEFAULT_PERIOD_DAYS)
    if start > as_of:
        raise InvalidInput(f"the period's first day {start} is after the report date {as_of}")
    return start


def _findings(
    session: Session, site: Site, scores: AssessmentScores, chosen: Sequence[SubElementScore]
) -> tuple[Finding, ...]:
    everything = list_evidence(session, site=site, include_retired=True)
    by_ref = {item.ref: item for item in everything}
    found = []
    for sub in chosen[:FINDINGS]:
        cited = [by_ref[r] for r in sub.evidence_refs if r in by_ref]
        mapped = [
            item
            for item in everything
            if item.retired_at is None and sub.code in item.sub_element_codes
        ]
        items = tuple(dict.fromkeys([*cited, *mapped]))
        missing = tuple(r for r in sub.evidence_refs if r not in by_ref)
        name = scores.practice_areas[sub.practice_area].name
        found.append(Finding(sub, name, items, frozenset(i.ref for i in cited), missing))
    return tuple(found)


def _kpi_sections(
    session: Session, store: EventStore | None, site: Site, as_of: date
) -> tuple[KPISection, ...]:
    values = kpi_values(
        session,
        store=store,
        sites=[site.code],
        period=KPI_PERIOD,
        end=as_of.isoformat(),
        as_of=kpi_as_of(session, site.code, as_of),
    )
    sections = []
    for definition in KPIS:
        for group in definition.groups or (None,):
            view = chart_view(
                values,
                site=site.code,
                kpi=definition.id,
                group=group,
                period=KPI_PERIOD,
                width=PDF_CHART_WIDTH,
            )
            if view is not None:
                sections.append(KPISection(definition, group, view))
    return tuple(sections)


def _cadences(session: Session, site: Site, since: date, as_of: date) -> tuple[CadenceRow, ...]:
    rows = []
    for cadence in list_cadences(session, site=site):
        held = tuple(
            m
            for m in sorted(cadence.meetings, key=lambda m: (m.held_on or m.planned_on, m.id))
            if m.held_on is not None and since <= m.held_on <= as_of
        )
        status = cadence_status(session, cadence=cadence, today=as_of)
        rows.append(CadenceRow(cadence.name, cadence.chair, cadence.cadence_days, status, held))
    return tuple(rows)


def _drills(session: Session, site: Site, since: date, as_of: date) -> tuple[DrillRow, ...]:
    rows = []
    for drill in reversed(list_drills(session, site=site)):
        day = drill.run_on or drill.planned_on
        if since <= day <= as_of or (drill.run_on is None and drill.planned_on < since):
            rows.append(DrillRow(drill, drill.scenario.title, drill_state(drill, today=as_of)))
    return tuple(rows)


def _plan(session: Session, site: Site, as_of: date, reader: Reader | None) -> PlanSection | None:
    """The newest approved plan by the day (else the newest), of those the reader may read."""
    shown = (
        list_plans(session, site=site)
        if reader is None
        else readable_plans(session, reader=reader, site=site)
    )
    plans = [p for p in shown if p.generated_on <= as_of]
    if not plans:
        return None
    approved = [p for p in plans if p.status != "draft"]
    plan = (approved or plans)[0]
    progress = plan_progress(session, plan=plan, today=as_of)
    return PlanSection(plan, progress, tuple(plan.actions))


def _signed(
    session: Session,
    assessment: Assessment,
    plan: PlanSection | None,
    decisions: Sequence[DecisionRow],
) -> tuple[SignedRecord, ...]:
    wanted = [("assessment", str(assessment.id), f"A-{assessment.id}", assessment.title)]
    if plan is not None:
        p = plan.plan
        wanted.append(("readiness_plan", str(p.id), p.ref, f"90-day readiness plan {p.ref}"))
    for row in sorted(decisions, key=lambda r: r.decision.number):
        d = row.decision
        wanted.append(("decision", str(d.id), d.ref, d.title))
    records = []
    for record_type, record_id, ref, title in wanted:
        statuses = signatures_for(session, record_type=record_type, record_id=record_id)
        if statuses:
            # A valid signature's hash is the record's hash now; hash it again only when none is.
            current = next((s.record_hash for s in statuses if s.valid), None) or record_hash(
                session, record_type=record_type, record_id=record_id
            )
            records.append(SignedRecord(record_type, ref, title, current, tuple(statuses)))
    return tuple(records)


def _name(scores: AssessmentScores, code: str) -> str:
    return scores.practice_areas[code].name


def _summary(
    site: Site,
    assessment: Assessment,
    scores: AssessmentScores,
    overall: float | None,
    placement: Placement | None,
    kpis: Sequence[KPISection],
    found: EvidenceCoverage,
    decisions: Sequence[DecisionRow],
    drills: Sequence[DrillRow],
    breached: Sequence[InventoryTrigger],
    plan: PlanSection | None,
) -> tuple[str, ...]:
    """The executive summary in plain sentences, each built from a figure shown later."""
    lines = []
    state = "closed" if assessment.status == AssessmentStatus.closed.value else "still open"
    if overall is not None and placement is not None:
        lines.append(
            f"In {assessment.title} ({state}) {site.code} scored {overall:.2f} of 5 overall, "
            f"placing it {placement.overall.rank} of {placement.overall.of} beside the "
            f"FDA 2024 cohort's {placement.n_cohort} sites; with so few sites read the rank "
            "as a rough position."
        )
    else:
        lines.append(
            f"In {assessment.title} ({state}) not every practice area has a score yet, so "
            f"{site.code} is not placed against the FDA 2024 cohort."
        )
    scored = [
        (scores.practice_areas[c].score, c)
        for c in PRACTICE_AREA_CODES
        if scores.practice_areas[c].score is not None
    ]
    if len(scored) >= 2:
        high = max(scored, key=lambda s: s[0] or 0.0)
        low = min(scored, key=lambda s: s[0] or 0.0)
        lines.append(
            f"Strongest practice area: {_name(scores, high[1])} ({high[0]:.2f}); weakest: "
            f"{_name(scores, low[1])} ({low[0]:.2f})."
        )
    if scores.opportunities:
        named = ", ".join(
            f"{s.name} ({s.score:.2f})"
            for s in scores.opportunities[:FINDINGS]
            if s.score is not None
        )
        lines.append(f"The lowest-scoring sub-elements are {named}.")
    agreement = scores.agreement
    if agreement.value is not None:
        lines.append(
            f"Assessors' agreement ({agreement.statistic}) is {agreement.value:.2f}: "
            f"{agreement.reading}."
        )
    if kpis:
        judged = [k for k in kpis if k.tile.met is not None]
        met = sum(1 for k in judged if k.tile.met)
        off = [k.tile.title for k in kpis if k.tile.met is False]
        text = (
            f"{met} of {len(judged)} KPIs with a target and enough records meet it in the "
            "latest month with a value"
        )
        lines.append(text + (f"; off target: {', '.join(off)}." if off else "."))
        signalled = [k.tile.title for k in kpis if k.tile.signal_at_latest]
        if signalled:
            lines.append(
                "Control charts signal a special cause at the latest month for "
                f"{', '.join(signalled)}."
            )
    else:
        lines.append("No eQMS extracts have been imported, so no KPI can be reported.")
    lines.append(
        f"{len(found.sub_elements_without_evidence)} of {found.sub_element_count} "
        "sub-elements have no current evidence; "
        f"{len(found.unsupported_ratings)} ratings of 3 or more cite none; "
        f"{len(found.overdue_reviews)} evidence items are past their review date."
    )
    if decisions:
        won = sum(1 for d in decisions if d.decision.quality_won)
        signed = sum(1 for d in decisions if d.decision.signed_at is not None)
        lines.append(
            f"Leadership logged {len(decisions)} decisions in the period, {signed} signed; "
            f"quality won the trade-off in {won}."
        )
    else:
        lines.append("No decision was logged in the period.")
    run = [d for d in drills if d.drill.run_on is not None]
    met_drills = sum(1 for d in run if d.state == "met")
    lines.append(
        f"{len(run)} continuity drills were run in the period, {met_drills} within their "
        f"recovery-time target; {len(breached)} inventory triggers are below their minimum."
    )
    if plan is None:
        lines.append("No 90-day readiness plan has been generated yet.")
    else:
        progress = plan.progress
        overdue = len(progress.overdue_actions)
        lines.append(
            f"Readiness plan {plan.plan.ref} ({plan.plan.status}) is on day {progress.day} of "
            f"90: {progress.done} of {progress.total} actions done, {overdue} overdue."
        )
    return tuple(lines)


def build_report(
    session: Session,
    *,
    site: Site,
    store: EventStore | None,
    assessment_id: int | None = None,
    as_of: date,
    since: date | None = None,
    generated_at: datetime | None = None,
    reader: Reader | None = None,
) -> ReadinessReport:
    """Gather the report for a site as of a day; nothing is written.

    With a reader, the report holds only the assessments and plans they may read.
    """
    moment = generated_at or datetime.now(UTC)
    start = check_period(as_of, since, today=moment.astimezone(UTC).date())
    assessment = choose_assessment(session, site=site, assessment_id=assessment_id, reader=reader)
    scores = compute_scores(session, assessment=assessment)
    overall = overall_of(scores)
    placement = placement_of(scores)
    kpis = _kpi_sections(session, store, site, as_of)
    found = coverage(session, assessment=assessment, today=as_of)
    decisions = tuple(
        DecisionRow(d, decision_status(session, decision=d).value)
        for d in reversed(list_decisions(session, site=site, decided_from=start, decided_to=as_of))
    )
    drills = _drills(session, site, start, as_of)
    breached = tuple(breaches(session, site=site))
    plan = _plan(session, site, as_of, reader)
    return ReadinessReport(
        site=site,
        assessment=assessment,
        framework=assessment.framework,
        as_of=as_of,
        since=start,
        generated_at=moment,
        data_as_of=kpi_as_of(session, site.code, as_of) if kpis else None,
        scores=scores,
        overall=overall,
        placement=placement,
        bands=area_bands(),
        overall_band=overall_band(),
        caveat=placement.caveat if placement is not None else small_cohort_caveat(),
        summary=_summary(
            site,
            assessment,
            scores,
            overall,
            placement,
            kpis,
            found,
            decisions,
            drills,
            breached,
            plan,
        ),
        strengths=_findings(session, site, scores, scores.strengths),
        opportunities=_findings(session, site, scores, scores.opportunities),
        kpis=kpis,
        coverage=found,
        decisions=decisions,
        cadences=_cadences(session, site, start, as_of),
        drills=drills,
        breaches=breached,
        plan=plan,
        signed=_signed(session, assessment, plan, decisions),
        threads=_threads(session, store, site),
        week=week_section(session, site=site, as_of=as_of, reader=reader or Operator()),
    )


#: How many broken threads the report lists, oldest first.
OLDEST_BROKEN: Final = 10


def _threads(session: Session, store: EventStore | None, site: Site) -> ThreadSection:
    chosen = store or EventStore.from_settings()
    broken = broken_threads(session, site=site, store=chosen)
    (completeness,) = thread_completeness(session, sites=[site], store=chosen)
    return ThreadSection(completeness, len(broken), tuple(broken[:OLDEST_BROKEN]))


def provenance_words(provenance: Provenance) -> str:
    """Who stands behind a KPI's definition, in words an assessor can check."""
    return {
        Provenance.fda: "FDA quality metric",
        Provenance.industry: "industry practice",
        Provenance.ours: "defined by QMM Workbench",
    }[provenance]


def target_words(definition: KPIDefinition, group: str | None) -> str:
    """A KPI's default target in its unit, or that it has none."""
    target = definition.target(group)
    return "no default target" if target is None else format_value(definition, target)
