"""FDA's feedback after the week, the calibration gap against the self-assessment (self minus
FDA per practice area) for a site's history and across sites, and the 90-day plan it feeds.

Why: the gap says where the site's own scoring runs high or low against the agency's view;
the next plan should start where FDA saw less than the site claimed, with the source named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores
from qmm.assessment_week.mock import check_practice_area, practice_areas_of, self_assessment_of
from qmm.assessment_week.service import self_assessment_readable
from qmm.auth.permissions import Permission
from qmm.auth.scope import Reader
from qmm.errors import Conflict, InvalidFields, NotFound
from qmm.events.store import EventStore
from qmm.evidence.service import add_evidence, get_evidence
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.models import (
    Assessment,
    EvidenceItem,
    EvidenceItemKind,
    FdaAreaScore,
    FdaAssessment,
    FdaAssessmentStatus,
    FdaFeedback,
    FdaFinding,
    FdaFindingKind,
    FdaMilestoneKind,
    ReadinessPlan,
    Site,
    utcnow,
)
from qmm.program.common import SHORT, Problems, actor_label
from qmm.program.plan import (
    AREA_WORKSTREAM,
    FDA_GAP,
    FDA_OPPORTUNITY,
    SYSTEMS,
    PlannedAction,
    generate_plan,
)

FINDING_LIMIT: Final = 1000
#: Scores print to two decimals: a gap smaller than half a hundredth is no gap either way.
GAP_NOISE: Final = 0.005
#: Actions answering FDA's view are due by day 60, as the plan's low scores are.
FEEDBACK_DUE_DAY: Final = 60


@dataclass(frozen=True)
class FindingIn:
    """An observation, strength or opportunity as typed: its kind, practice area and text."""

    kind: str
    practice_area: str
    text: str


def _known_areas(session: Session, fda_assessment: FdaAssessment) -> dict[str, str]:
    if fda_assessment.self_assessment_id is None:
        return dict(PRACTICE_AREAS)
    chosen = self_assessment_of(fda_assessment, session)
    return practice_areas_of(session, framework_id=chosen.framework_id)


def _check_scores(
    p: Problems, scores: Mapping[str, Any], known: dict[str, str]
) -> dict[str, float]:
    clean: dict[str, float] = {}
    for code, value in scores.items():
        field = f"score_{code}"
        area = check_practice_area(p, field, code, known)
        number = p.number(
            field, value, label=f"FDA's score for {code}", minimum=1, maximum=5, required=False
        )
        if area is not None and number is not None:
            clean[area] = number
    return clean


def _check_findings(
    p: Problems, findings: Sequence[FindingIn], known: dict[str, str]
) -> list[FindingIn]:
    kinds = [k.value for k in FdaFindingKind]
    clean = []
    for index, finding in enumerate(findings, start=1):
        field = f"finding_{index}"
        if finding.kind not in kinds:
            p[field] = f"finding {index}: kind {finding.kind!r} is not one of {', '.join(kinds)}"
            continue
        area = check_practice_area(p, field, finding.practice_area, known)
        if area is None:
            continue
        text = p.text(field, finding.text, label=f"{finding.kind} {index}", limit=FINDING_LIMIT)
        if text is not None:
            clean.append(FindingIn(finding.kind, area, text))
    return clean


def _document(
    session: Session,
    p: Problems,
    fda_assessment: FdaAssessment,
    evidence_ref: str | None,
    document: tuple[str, bytes] | None,
) -> EvidenceItem | None:
    """The evidence item named by ref, if one is; a new file is stored only once all else holds."""
    ref = p.text("document", evidence_ref, label="evidence ref", required=False, limit=20)
    if ref is not None and document is not None:
        p["document"] = "give either FDA's document as a file or an evidence ref, not both"
        return None
    if ref is None and document is None and "document" not in p:
        p["document"] = (
            "attach FDA's feedback document: a file, or the ref (EV-nnnn) of the evidence item "
            "that holds it"
        )
        return None
    if ref is None:
        return None
    try:
        return get_evidence(session, site=fda_assessment.site, ref=ref)
    except NotFound as exc:
        p["document"] = str(exc)
        return None


def record_feedback(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    received_on: date | None,
    area_scores: Mapping[str, Any] | None = None,
    findings: Sequence[FindingIn] = (),
    summary: str | None = "",
    evidence_ref: str | None = None,
    document: tuple[str, bytes] | None = None,
    today: date | None = None,
) -> FdaFeedback:
    """Record what FDA returned (recording again replaces it); the document becomes evidence.

    The assessment is then marked feedback_received and its feedback milestone done.
    """
    day = today or utcnow().date()
    if fda_assessment.status == FdaAssessmentStatus.cancelled:
        raise Conflict(f"FDA assessment {fda_assessment.id} was cancelled; it has no feedback")
    known = _known_areas(session, fda_assessment)
    p = Problems()
    received = p.day("received_on", received_on, label="day received")
    if received is not None and received < fda_assessment.ends_on:
        p["received_on"] = (
            f"feedback received {received} is before the week ends ({fda_assessment.ends_on}); "
            "FDA gives its feedback after the assessment"
        )
    elif received is not None and received > day:
        p["received_on"] = f"day received {received} is in the future (today is {day})"
    scores = _check_scores(p, area_scores or {}, known)
    clean_findings = _check_findings(p, findings, known)
    clean_summary = p.text("summary", summary, label="summary", required=False, limit=4000)
    existing_item = _document(session, p, fda_assessment, evidence_ref, document)
    p.raise_any()
    assert received is not None
    if existing_item is None:
        assert document is not None
        try:
            existing_item = add_evidence(
                session,
                site=fda_assessment.site,
                title=f"FDA's feedback: {fda_assessment.title}"[:SHORT],
                kind=EvidenceItemKind.other.value,
                owner=actor_label(session),
                effective_on=received,
                description=f"FDA's feedback on assessment {fda_assessment.id}, received "
                f"{received}",
                files=[document],
            )
        except InvalidFields as exc:
            raise InvalidFields({"document": "; ".join(exc.problems.values())}) from None
    feedback = session.scalar(
        select(FdaFeedback).where(FdaFeedback.fda_assessment_id == fda_assessment.id)
    )
    if feedback is None:
        feedback = FdaFeedback(fda_assessment_id=fda_assessment.id, created_by=actor_label(session))
        session.add(feedback)
    feedback.received_on = received
    feedback.evidence_item_id = existing_item.id
    feedback.summary = clean_summary or ""
    feedback.area_scores.clear()
    feedback.findings.clear()
    session.flush()
    feedback.area_scores.extend(FdaAreaScore(practice_area=c, score=s) for c, s in scores.items())
    feedback.findings.extend(
        FdaFinding(position=n, kind=f.kind, practice_area=f.practice_area, text=f.text)
        for n, f in enumerate(clean_findings, start=1)
    )
    fda_assessment.status = FdaAssessmentStatus.feedback_received
    for milestone in fda_assessment.milestones:
        if milestone.kind == FdaMilestoneKind.feedback and milestone.done_on is None:
            milestone.done_on = received
    session.flush()
    session.refresh(feedback, ["area_scores", "findings", "document"])
    return feedback


def feedback_of(session: Session, *, fda_assessment: FdaAssessment) -> FdaFeedback | None:
    """FDA's feedback on this assessment, if recorded."""
    return session.scalar(
        select(FdaFeedback).where(FdaFeedback.fda_assessment_id == fda_assessment.id)
    )


def get_feedback(session: Session, *, fda_assessment: FdaAssessment) -> FdaFeedback:
    """FDA's feedback on this assessment, or a NotFound saying how to record it."""
    found = feedback_of(session, fda_assessment=fda_assessment)
    if found is None:
        raise NotFound(
            f"FDA assessment {fda_assessment.id} has no feedback recorded yet; "
            "`qmm week feedback record` records it"
        )
    return found


# --- the calibration gap -------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaGap:
    """One practice area: the self-assessment's score, FDA's, and self minus FDA."""

    practice_area: str
    name: str
    self_score: float | None
    fda_score: float | None

    @property
    def gap(self) -> float | None:
        if self.self_score is None or self.fda_score is None:
            return None
        return self.self_score - self.fda_score


@dataclass(frozen=True)
class Calibration:
    """One FDA assessment with feedback set beside the self-assessment chosen for it."""

    fda_assessment: FdaAssessment
    feedback: FdaFeedback
    self_assessment: Assessment | None
    areas: tuple[AreaGap, ...]

    @property
    def site_code(self) -> str:
        return self.fda_assessment.site.code

    @property
    def rated_too_high(self) -> tuple[AreaGap, ...]:
        """Areas FDA scored below the self-assessment, the largest gap first."""
        high = [a for a in self.areas if a.gap is not None and a.gap >= GAP_NOISE]
        return tuple(sorted(high, key=lambda a: (-(a.gap or 0.0), a.practice_area)))


def _self_assessment_read(
    session: Session, fda_assessment: FdaAssessment, reader: Reader
) -> Assessment | None:
    if fda_assessment.self_assessment_id is None or not self_assessment_readable(
        session, fda_assessment=fda_assessment, reader=reader
    ):
        return None
    return session.get(Assessment, fda_assessment.self_assessment_id)


def calibration_of(
    session: Session, *, fda_assessment: FdaAssessment, reader: Reader
) -> Calibration | None:
    """Self minus FDA per practice area, using the self-assessment's practice-area scores as
    the report computes them; None when FDA's feedback is not recorded yet. A self-assessment
    the reader may not read shows no self scores."""
    feedback = feedback_of(session, fda_assessment=fda_assessment)
    if feedback is None:
        return None
    chosen = _self_assessment_read(session, fda_assessment, reader)
    fda = {s.practice_area: s.score for s in feedback.area_scores}
    if chosen is not None:
        rolled = compute_scores(session, assessment=chosen).practice_areas
        names = {code: pa.name for code, pa in rolled.items()}
        own: dict[str, float | None] = {code: pa.score for code, pa in rolled.items()}
    else:
        names = dict(PRACTICE_AREAS)
        own = {}
    codes = list(dict.fromkeys([*names, *fda]))
    areas = tuple(
        AreaGap(code, names.get(code, PRACTICE_AREAS.get(code, code)), own.get(code), fda.get(code))
        for code in codes
    )
    return Calibration(fda_assessment, feedback, chosen, areas)


def site_calibration(session: Session, *, site: Site, reader: Reader) -> list[Calibration]:
    """The site's history: every FDA assessment with feedback, the oldest first."""
    if not reader.may(session, Permission.site_read, site=site):
        return []
    visits = session.scalars(
        select(FdaAssessment)
        .join(FdaFeedback, FdaFeedback.fda_assessment_id == FdaAssessment.id)
        .where(FdaAssessment.site_id == site.id)
        .order_by(FdaAssessment.starts_on, FdaAssessment.id)
    )
    found = [calibration_of(session, fda_assessment=v, reader=reader) for v in visits]
    return [c for c in found if c is not None]


@dataclass(frozen=True)
class AreaAcrossSites:
    """One practice area across sites: each site's latest gap, and their mean."""

    practice_area: str
    name: str
    gaps: dict[str, float | None]

    @property
    def mean_gap(self) -> float | None:
        known = [g for g in self.gaps.values() if g is not None]
        return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class WorkspaceCalibration:
    """Every readable site's latest calibration, and the gap per practice area across them."""

    latest: tuple[Calibration, ...]
    areas: tuple[AreaAcrossSites, ...]

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(c.site_code for c in self.latest)


def workspace_calibration(
    session: Session, *, reader: Reader, sites: Iterable[Site]
) -> WorkspaceCalibration:
    """Across the sites the reader may see: each one's latest FDA feedback against its self."""
    latest = []
    for site in sites:
        history = site_calibration(session, site=site, reader=reader)
        if history:
            latest.append(history[-1])
    codes: dict[str, str] = {}
    for calibration in latest:
        for area in calibration.areas:
            codes.setdefault(area.practice_area, area.name)
    rows = tuple(
        AreaAcrossSites(
            code,
            name,
            {
                c.site_code: next((a.gap for a in c.areas if a.practice_area == code), None)
                for c in latest
            },
        )
        for code, name in codes.items()
    )
    return WorkspaceCalibration(tuple(latest), rows)


# --- the next 90-day plan -------------------------------------------------------------------------


def feedback_actions(
    session: Session, *, calibration: Calibration, assessment: Assessment
) -> list[PlannedAction]:
    """Plan actions for the areas FDA scored below self (largest gap first), then FDA's
    opportunities; each aimed at the area's lowest-scoring sub-element, its source recorded."""
    scores = compute_scores(session, assessment=assessment)
    visit, feedback = calibration.fda_assessment, calibration.feedback
    where = f"FDA assessment {visit.id} ({visit.title}), feedback received {feedback.received_on}"

    def lowest(area: str) -> str | None:
        subs = [s for s in scores.sub_elements.values() if s.practice_area == area]
        scored = [s for s in subs if s.score is not None]
        pick = min(scored, key=lambda s: s.score or 0.0) if scored else (subs[0] if subs else None)
        return pick.code if pick is not None else None

    actions = []
    for area in calibration.rated_too_high:
        assert area.self_score is not None
        assert area.fda_score is not None
        actions.append(
            PlannedAction(
                title=(
                    f"Close the gap FDA found in {area.name}: self {area.self_score:.2f}, "
                    f"FDA {area.fda_score:.2f}"
                )[:SHORT],
                workstream=AREA_WORKSTREAM.get(area.practice_area, SYSTEMS),
                due_day=FEEDBACK_DUE_DAY,
                sub_element=lowest(area.practice_area),
                evidence=(
                    f"Evidence that {area.name} works at the level claimed, and the next "
                    "self-assessment scored against FDA's view"
                ),
                evidence_kind=EvidenceItemKind.other.value,
                source=FDA_GAP,
                source_detail=(
                    f"{where}: self {area.self_score:.2f} - FDA {area.fda_score:.2f} = "
                    f"gap {area.gap:+.2f} in {area.practice_area}"
                ),
            )
        )
    for finding in feedback.findings:
        if finding.kind != FdaFindingKind.opportunity:
            continue
        name = scores.practice_areas.get(finding.practice_area)
        area_name = name.name if name is not None else finding.practice_area
        actions.append(
            PlannedAction(
                title=f"Act on FDA's opportunity in {area_name}: {finding.text}"[:SHORT],
                workstream=AREA_WORKSTREAM.get(finding.practice_area, SYSTEMS),
                due_day=FEEDBACK_DUE_DAY,
                sub_element=lowest(finding.practice_area),
                evidence=f"What the site did about FDA's opportunity: {finding.text}",
                evidence_kind=EvidenceItemKind.other.value,
                source=FDA_OPPORTUNITY,
                source_detail=f"{where}: opportunity {finding.position} in "
                f"{finding.practice_area}: {finding.text}",
            )
        )
    return actions


def plan_from_feedback(
    session: Session,
    *,
    fda_assessment: FdaAssessment,
    reader: Reader,
    owner: str,
    start_on: date | None,
    store: EventStore | None = None,
    supersede: bool = False,
    today: date | None = None,
) -> ReadinessPlan:
    """Draft the next 90-day plan from the self-assessment, with FDA's gaps and opportunities."""
    calibration = calibration_of(session, fda_assessment=fda_assessment, reader=reader)
    if calibration is None:
        get_feedback(session, fda_assessment=fda_assessment)  # raises, naming how to record it
        raise AssertionError  # pragma: no cover
    assessment = self_assessment_of(fda_assessment, session)
    if calibration.self_assessment is None:
        raise NotFound(
            f"you may not read the self-assessment of FDA assessment {fda_assessment.id}"
        )
    return generate_plan(
        session,
        assessment=assessment,
        owner=owner,
        start_on=start_on,  # type: ignore[arg-type]  # generate_plan names a missing date
        today=today,
        store=store,
        supersede=supersede,
        additions=feedback_actions(session, calibration=calibration, assessment=assessment),
    )
