"""The site's examples library: short stories of its practice (situation, what was done, the
measured result), each tied to practice areas, evidence and KPI series, reviewed by a second
person and approved before it is shared with FDA.

Why: FDA's pre-interview questionnaire helps a site decide which examples to share; candidates
are suggested from the records (a CAPA verified effective whose KPI improved, a drill that met
its target, a decision where quality won), and the user writes the story: nothing is invented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from statistics import fmean
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidFields, InvalidInput, NotFound, QMMError
from qmm.events.store import EventStore
from qmm.evidence.service import resolve_refs, site_framework
from qmm.framework.practice_areas import PRACTICE_AREA_CODES, PRACTICE_AREAS
from qmm.metrics.catalogue import Direction, get_kpi
from qmm.metrics.engine import KPIValue
from qmm.metrics.service import kpi_values, open_tables
from qmm.models import (
    ExampleSource,
    ExampleStatus,
    FdaAssessment,
    FdaAssessmentExample,
    Site,
    WeekExample,
    utcnow,
)
from qmm.program.common import (
    SHORT,
    InvalidProgramInput,
    Problems,
    actor_label,
    check_fields,
)
from qmm.program.continuity import drill_evidence, list_drills
from qmm.program.decisions import list_decisions, signed_copy

REF_PREFIX: Final = "EX-"
STORY_LIMIT: Final = 4000
EDITABLE: Final = frozenset(
    {
        "title",
        "situation",
        "action_taken",
        "result",
        "practice_areas",
        "sub_elements",
        "evidence_refs",
        "kpis",
        "owner",
    }
)
STATUSES: Final = tuple(s.value for s in ExampleStatus)
STATUS_LABELS: Final = {
    ExampleStatus.draft.value: "Draft",
    ExampleStatus.reviewed.value: "Reviewed",
    ExampleStatus.approved.value: "Approved for sharing",
}
#: The KPI a CAPA's effect shows in, by what the CAPA came from; anything else: repeat deviations.
CAPA_KPI_BY_SOURCE: Final = {
    "deviation": "deviation_repeat_rate",
    "em_excursion": "em_excursion_rate",
    "oos": "invalidated_oos_rate",
    "complaint": "complaint_rate_per_million",
}
CAPA_DEFAULT_KPI: Final = "deviation_repeat_rate"
#: Months compared before the CAPA opened and after its effectiveness was verified.
WINDOW_MONTHS: Final = 3


def app_path(example: WeekExample) -> str:
    """Where the example lives in the web app."""
    return f"/sites/{example.site.code}/examples/{example.ref}"


def _areas_of(session: Session, site: Site) -> dict[str, str]:
    """Each sub-element code of the site's framework, with the practice area it belongs to."""
    framework = site_framework(session, site=site)
    return {se.code: pa.code for pa in framework.practice_areas for se in pa.sub_elements}


def _check(session: Session, site: Site, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of an example checked at once; raises with all problems, stores nothing."""
    p = Problems()
    clean: dict[str, Any] = {
        "title": p.text("title", fields.get("title"), label="title", limit=SHORT),
        "situation": p.text(
            "situation", fields.get("situation"), label="the situation", limit=STORY_LIMIT
        ),
        "action_taken": p.text(
            "action_taken", fields.get("action_taken"), label="what was done", limit=STORY_LIMIT
        ),
        "result": p.text(
            "result", fields.get("result"), label="the measured result", limit=STORY_LIMIT
        ),
        "owner": p.text("owner", fields.get("owner"), label="owner", limit=SHORT),
        "sub_elements": p.sub_elements(
            session, site, "sub_elements", fields.get("sub_elements", ())
        ),
        "kpis": p.kpis("kpis", fields.get("kpis", ())),
    }
    areas = p.texts("practice_areas", fields.get("practice_areas", ()), label="practice area")
    unknown = [a for a in areas if a not in PRACTICE_AREAS]
    if unknown:
        p["practice_areas"] = (
            f"practice area {', '.join(unknown)} is not one of {', '.join(PRACTICE_AREA_CODES)}"
        )
    if "sub_elements" not in p:
        owning = _areas_of(session, site)
        areas = [*areas, *(owning[c] for c in clean["sub_elements"] if c in owning)]
    clean["practice_areas"] = [a for a in PRACTICE_AREA_CODES if a in areas]
    if not clean["practice_areas"] and "practice_areas" not in p and "sub_elements" not in p:
        p["practice_areas"] = "name at least one practice area or sub-element it demonstrates"
    refs = p.texts("evidence_refs", fields.get("evidence_refs", ()), label="evidence ref", limit=20)
    if "evidence_refs" not in p and refs:
        try:
            refs = [i.ref for i in resolve_refs(session, site=site, refs=refs)]
        except NotFound as exc:
            p["evidence_refs"] = str(exc)
    clean["evidence_refs"] = refs
    p.raise_any()
    return clean


def _source(p: Problems, kind: Any, ref: Any) -> tuple[str | None, str | None]:
    if kind in (None, "") and ref in (None, ""):
        return None, None
    known = [s.value for s in ExampleSource]
    if kind not in known:
        p["source_kind"] = f"source {kind!r} is not one of {', '.join(known)}"
    clean_ref = p.text("source_ref", ref, label="source record", limit=80)
    return (str(kind) if kind in known else None), clean_ref


def add_example(
    session: Session,
    *,
    site: Site,
    title: str,
    situation: str,
    action_taken: str,
    result: str,
    owner: str,
    practice_areas: Sequence[str] = (),
    sub_elements: Sequence[str] = (),
    evidence_refs: Sequence[str] = (),
    kpis: Sequence[str] = (),
    source_kind: str | None = None,
    source_ref: str | None = None,
) -> WeekExample:
    """Write an example as a draft under the site's next EX-nnn."""
    fields = {
        "title": title,
        "situation": situation,
        "action_taken": action_taken,
        "result": result,
        "owner": owner,
        "practice_areas": practice_areas,
        "sub_elements": sub_elements,
        "evidence_refs": evidence_refs,
        "kpis": kpis,
    }
    p = Problems()
    kind, ref = _source(p, source_kind, source_ref)
    try:
        clean = _check(session, site, fields)
    except InvalidFields as exc:
        raise InvalidProgramInput({**exc.problems, **p}) from None
    p.raise_any()
    session.execute(select(Site.id).where(Site.id == site.id).with_for_update())
    highest = session.scalar(
        select(func.max(WeekExample.number)).where(WeekExample.site_id == site.id)
    )
    example = WeekExample(
        site_id=site.id,
        number=(highest or 0) + 1,
        status=ExampleStatus.draft,
        source_kind=kind,
        source_ref=ref,
        created_by=actor_label(session),
        **clean,
    )
    session.add(example)
    session.flush()
    return example


def update_example(
    session: Session, *, example: WeekExample, changes: Mapping[str, Any]
) -> WeekExample:
    """Edit an example; a reviewed or approved one goes back to draft, to be checked again."""
    check_fields(changes, EDITABLE)
    current = example_values(example)
    clean = _check(session, example.site, {**current, **changes})
    changed = {k: v for k, v in clean.items() if v != current.get(k)}
    if not changed:
        return example
    for name, value in changed.items():
        setattr(example, name, value)
    if example.status != ExampleStatus.draft:
        example.status = ExampleStatus.draft
        example.reviewed_by = example.reviewed_at = None
        example.approved_by = example.approved_at = None
    session.flush()
    return example


def example_values(example: WeekExample) -> dict[str, Any]:
    """The editable fields as stored."""
    return {
        "title": example.title,
        "situation": example.situation,
        "action_taken": example.action_taken,
        "result": example.result,
        "owner": example.owner,
        "practice_areas": list(example.practice_areas),
        "sub_elements": list(example.sub_elements),
        "evidence_refs": list(example.evidence_refs),
        "kpis": list(example.kpis),
    }


def _second_person(example: WeekExample, who: str, step: str) -> None:
    if who == example.created_by:
        raise Conflict(f"{who} wrote {example.ref}; a second person {step} it, not its author")


def review_example(session: Session, *, example: WeekExample) -> WeekExample:
    """A second person checked the story against the records: draft becomes reviewed."""
    who = actor_label(session)
    if example.status != ExampleStatus.draft:
        raise Conflict(f"{example.ref} is {STATUS_LABELS[example.status].lower()} already")
    _second_person(example, who, "reviews")
    example.status = ExampleStatus.reviewed
    example.reviewed_by = who
    example.reviewed_at = utcnow()
    session.flush()
    return example


def approve_example(session: Session, *, example: WeekExample) -> WeekExample:
    """Approve a reviewed example for sharing with FDA (not by its author)."""
    who = actor_label(session)
    if example.status == ExampleStatus.approved:
        raise Conflict(f"{example.ref} is approved for sharing already")
    if example.status != ExampleStatus.reviewed:
        raise Conflict(f"{example.ref} is a draft; a second person reviews it before approval")
    _second_person(example, who, "approves")
    example.status = ExampleStatus.approved
    example.approved_by = who
    example.approved_at = utcnow()
    session.flush()
    return example


def get_example(session: Session, *, site: Site, ref: str) -> WeekExample:
    """One of the site's examples by its EX-nnn ref (case does not matter)."""
    text = ref.strip().upper()
    digits = text[len(REF_PREFIX) :] if text.startswith(REF_PREFIX) else text
    found = None
    if digits.isascii() and digits.isdigit() and len(digits) < 10:
        found = session.scalar(
            select(WeekExample).where(
                WeekExample.site_id == site.id, WeekExample.number == int(digits)
            )
        )
    if found is None:
        raise NotFound(
            f"no example {ref!r} at {site.code}; `qmm week examples list --site {site.code}` "
            "lists them"
        )
    return found


def list_examples(
    session: Session,
    *,
    site: Site,
    status: str | None = None,
    practice_area: str | None = None,
) -> list[WeekExample]:
    """The site's examples, newest first, filtered as asked."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if practice_area is not None and practice_area not in PRACTICE_AREAS:
        raise InvalidInput(
            f"practice area {practice_area!r} is not one of {', '.join(PRACTICE_AREA_CODES)}"
        )
    query = select(WeekExample).where(WeekExample.site_id == site.id)
    if status is not None:
        query = query.where(WeekExample.status == status)
    found = list(session.scalars(query.order_by(WeekExample.number.desc())))
    if practice_area is not None:
        found = [e for e in found if practice_area in e.practice_areas]
    return found


# --- examples chosen for an FDA assessment ---------------------------------------------------


def chosen_examples(session: Session, *, fda_assessment: FdaAssessment) -> list[WeekExample]:
    """The examples the site chose to share at this assessment, by ref."""
    return list(
        session.scalars(
            select(WeekExample)
            .join(FdaAssessmentExample, FdaAssessmentExample.example_id == WeekExample.id)
            .where(FdaAssessmentExample.fda_assessment_id == fda_assessment.id)
            .order_by(WeekExample.number)
        )
    )


def _refuse_if_signed(session: Session, fda_assessment: FdaAssessment) -> None:
    from qmm.models import Questionnaire, QuestionnaireStatus

    signed = session.scalar(
        select(Questionnaire).where(
            Questionnaire.fda_assessment_id == fda_assessment.id,
            Questionnaire.status == QuestionnaireStatus.signed,
        )
    )
    if signed is not None:
        raise Conflict(
            f"the questionnaire of FDA assessment {fda_assessment.id} is signed; the examples "
            "it shares can no longer change"
        )


def choose_example(
    session: Session, *, fda_assessment: FdaAssessment, example: WeekExample
) -> FdaAssessmentExample:
    """Choose an example of the site to share at this assessment."""
    if example.site_id != fda_assessment.site_id:
        raise InvalidInput(
            f"{example.ref} is an example of {example.site.code}, not of {fda_assessment.site.code}"
        )
    _refuse_if_signed(session, fda_assessment)
    existing = session.scalar(
        select(FdaAssessmentExample).where(
            FdaAssessmentExample.fda_assessment_id == fda_assessment.id,
            FdaAssessmentExample.example_id == example.id,
        )
    )
    if existing is not None:
        raise Conflict(f"{example.ref} is chosen for FDA assessment {fda_assessment.id} already")
    link = FdaAssessmentExample(
        fda_assessment_id=fda_assessment.id, example_id=example.id, chosen_by=actor_label(session)
    )
    session.add(link)
    session.flush()
    return link


def unchoose_example(
    session: Session, *, fda_assessment: FdaAssessment, example: WeekExample
) -> None:
    """Take an example off the list shared at this assessment."""
    _refuse_if_signed(session, fda_assessment)
    link = session.scalar(
        select(FdaAssessmentExample).where(
            FdaAssessmentExample.fda_assessment_id == fda_assessment.id,
            FdaAssessmentExample.example_id == example.id,
        )
    )
    if link is None:
        raise NotFound(f"{example.ref} is not chosen for FDA assessment {fda_assessment.id}")
    session.delete(link)
    session.flush()


# --- candidates suggested from the records ---------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A record that may make a good example, with its facts as recorded and the links it
    brings; the story itself is left to the person who picks it."""

    source_kind: str
    source_ref: str
    title: str
    on: date | None
    facts: tuple[str, ...]
    practice_areas: tuple[str, ...]
    sub_elements: tuple[str, ...]
    evidence_refs: tuple[str, ...] = ()
    kpis: tuple[str, ...] = ()
    href: str | None = None

    @property
    def key(self) -> str:
        """How a person names the candidate to pick it: kind:ref."""
        return f"{self.source_kind}:{self.source_ref}"


def _links(
    owning: Mapping[str, str], sub_elements: Sequence[str], kpis: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    codes = [c for c in dict.fromkeys(sub_elements) if c in owning]
    for kpi in kpis:
        codes.extend(c for c in get_kpi(kpi).sub_elements if c in owning and c not in codes)
    areas = {owning[c] for c in codes}
    return tuple(a for a in PRACTICE_AREA_CODES if a in areas), tuple(sorted(codes))


def _decision_candidates(
    session: Session, site: Site, owning: Mapping[str, str]
) -> list[Candidate]:
    out = []
    for decision in list_decisions(session, site=site, quality_won=True, status="signed"):
        areas, codes = _links(
            owning, [*decision.sub_elements, "quality_first_decisions"], decision.kpis
        )
        evidence = signed_copy(session, decision=decision)
        refs = [*decision.evidence_refs, *([evidence.ref] if evidence is not None else [])]
        out.append(
            Candidate(
                source_kind=ExampleSource.decision,
                source_ref=decision.ref,
                title=decision.title,
                on=decision.decided_on,
                facts=(
                    f"Decided on {decision.decided_on.isoformat()} by {decision.owner}: "
                    f"{decision.decision}",
                    f"Trade-off: {decision.trade_off}",
                    f"Quality won: yes; signed {decision.ref}",
                ),
                practice_areas=areas,
                sub_elements=codes,
                evidence_refs=tuple(dict.fromkeys(refs)),
                kpis=tuple(decision.kpis),
                href=f"/sites/{site.code}/decisions/{decision.ref}",
            )
        )
    return out


def _hours(value: float) -> str:
    return f"{value:g} h"


def _drill_candidates(session: Session, site: Site, owning: Mapping[str, str]) -> list[Candidate]:
    out = []
    for drill in list_drills(session, site=site):
        if drill.run_on is None or not drill.met:
            continue
        assert drill.achieved_hours is not None
        assert drill.target_hours is not None
        evidence = drill_evidence(session, drill=drill)
        areas, codes = _links(owning, ["drills_recovery", "continuity_planning"])
        facts = [
            f"Drill of '{drill.scenario.title}' run on {drill.run_on.isoformat()}: recovered in "
            f"{_hours(drill.achieved_hours)} against a target of {_hours(drill.target_hours)}",
        ]
        if drill.supplier:
            facts.append(f"Run with the supplier {drill.supplier}")
        if drill.lessons:
            facts.append(f"Lessons recorded: {drill.lessons}")
        out.append(
            Candidate(
                source_kind=ExampleSource.drill,
                source_ref=f"DRILL-{drill.id}",
                title=f"Continuity drill: {drill.scenario.title}",
                on=drill.run_on,
                facts=tuple(facts),
                practice_areas=areas,
                sub_elements=codes,
                evidence_refs=(evidence.ref,) if evidence is not None else (),
                href=f"/sites/{site.code}/continuity",
            )
        )
    return out


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months_back(day: date, n: int) -> list[str]:
    y, m = day.year, day.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return list(reversed(out))


def _months_after(day: date, n: int) -> list[str]:
    y, m = day.year, day.month
    out = []
    for _ in range(n):
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
        out.append(f"{y:04d}-{m:02d}")
    return out


@dataclass(frozen=True)
class KpiMove:
    """A KPI's mean over the months before a CAPA opened and after its effectiveness check."""

    kpi: str
    before: float
    after: float
    before_months: tuple[str, ...]
    after_months: tuple[str, ...]

    @property
    def improved(self) -> bool:
        if get_kpi(self.kpi).direction is Direction.higher_is_better:
            return self.after > self.before
        return self.after < self.before


def kpi_move(
    values: Sequence[KPIValue], *, kpi: str, site: str, opened_on: date, verified_on: date
) -> KpiMove | None:
    """How the KPI moved around a CAPA: up to three months to the month it opened against up
    to three complete months after the month its effectiveness was verified; None without both."""
    by_month = {
        v.period: v.value
        for v in values
        if v.kpi == kpi and v.site == site and v.group is None and v.complete
    }
    before_months = [
        m for m in _months_back(opened_on, WINDOW_MONTHS) if by_month.get(m) is not None
    ]
    after_months = [
        m for m in _months_after(verified_on, WINDOW_MONTHS) if by_month.get(m) is not None
    ]
    if not before_months or not after_months:
        return None
    return KpiMove(
        kpi=kpi,
        before=fmean(float(by_month[m] or 0.0) for m in before_months),
        after=fmean(float(by_month[m] or 0.0) for m in after_months),
        before_months=tuple(before_months),
        after_months=tuple(after_months),
    )


def _ratio_text(kpi: str, value: float) -> str:
    unit = get_kpi(kpi).unit
    return f"{value * 100:.1f} %" if unit == "ratio" else f"{value:.2f} {unit}"


def _capa_rows(session: Session, site: Site, store: EventStore | None) -> list[dict[str, Any]]:
    """The site's CAPAs verified effective, as recorded in the event store."""
    try:
        tables = open_tables(session, store)
    except QMMError:  # a store that cannot be read gives no CAPA candidates; the rest stand
        return []
    capa = tables.get("capa")
    if capa is None or "voe_result" not in capa.columns:
        return []
    expr = capa.filter(
        (capa.site == site.code)
        & (capa.voe_result == "effective")
        & capa.voe_done_on.notnull()
        & capa.opened_on.notnull()
    ).select(
        "capa_id", "opened_on", "closed_on", "source_type", "root_cause_category", "voe_done_on"
    )
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return sorted(rows, key=lambda r: (r["voe_done_on"], r["capa_id"]), reverse=True)


def _capa_candidates(
    session: Session, site: Site, owning: Mapping[str, str], store: EventStore | None
) -> list[Candidate]:
    rows = _capa_rows(session, site, store)
    if not rows:
        return []
    wanted = sorted(
        {CAPA_KPI_BY_SOURCE.get(r["source_type"] or "", CAPA_DEFAULT_KPI) for r in rows}
    )
    values = kpi_values(session, store=store, kpis=wanted, sites=[site.code], period="month")
    out = []
    for row in rows:
        kpi = CAPA_KPI_BY_SOURCE.get(row["source_type"] or "", CAPA_DEFAULT_KPI)
        move = kpi_move(
            values,
            kpi=kpi,
            site=site.code,
            opened_on=row["opened_on"],
            verified_on=row["voe_done_on"],
        )
        if move is None or not move.improved:
            continue
        name = get_kpi(kpi).name
        areas, codes = _links(owning, ["capa_effectiveness"], [kpi])
        facts = [
            f"CAPA {row['capa_id']} opened {row['opened_on'].isoformat()}"
            + (f" from a {row['source_type'].replace('_', ' ')}" if row["source_type"] else "")
            + f", root cause category {row['root_cause_category']}",
            f"Effectiveness verified {row['voe_done_on'].isoformat()}: effective",
            f"{name}: {_ratio_text(kpi, move.before)} in {move.before_months[0]} to "
            f"{move.before_months[-1]}, {_ratio_text(kpi, move.after)} in "
            f"{move.after_months[0]} to {move.after_months[-1]}",
        ]
        if row["closed_on"] is not None:
            facts.insert(1, f"Closed {row['closed_on'].isoformat()}")
        out.append(
            Candidate(
                source_kind=ExampleSource.capa,
                source_ref=str(row["capa_id"]),
                title=f"CAPA {row['capa_id']} ({row['root_cause_category']})",
                on=row["voe_done_on"],
                facts=tuple(facts),
                practice_areas=areas,
                sub_elements=codes,
                kpis=(kpi,),
                href=f"/sites/{site.code}/kpis/{kpi}?period=month",
            )
        )
    return out


def candidates(
    session: Session, *, site: Site, store: EventStore | None = None, include_used: bool = False
) -> list[Candidate]:
    """Records that may make good examples: CAPAs verified effective whose KPI improved, drills
    that met their recovery target, signed decisions where quality won; newest first, each
    record once, leaving out those an example was written from already."""
    owning = _areas_of(session, site)
    found = [
        *_capa_candidates(session, site, owning, store),
        *_drill_candidates(session, site, owning),
        *_decision_candidates(session, site, owning),
    ]
    if not include_used:
        used = {
            (kind, ref)
            for kind, ref in session.execute(
                select(WeekExample.source_kind, WeekExample.source_ref).where(
                    WeekExample.site_id == site.id, WeekExample.source_kind.is_not(None)
                )
            )
        }
        found = [c for c in found if (c.source_kind, c.source_ref) not in used]
    return sorted(found, key=lambda c: (c.on or date.min, c.key), reverse=True)


def get_candidate(
    session: Session, *, site: Site, key: str, store: EventStore | None = None
) -> Candidate:
    """One candidate by its kind:ref key, or a NotFound naming how to list them."""
    for candidate in candidates(session, site=site, store=store, include_used=True):
        if candidate.key.lower() == key.strip().lower():
            return candidate
    raise NotFound(
        f"no candidate {key!r} at {site.code}; `qmm week examples candidates --site {site.code}` "
        "lists them"
    )


@dataclass(frozen=True)
class ExampleDraft:
    """What a new example's form starts with: the picked candidate's links, the story empty."""

    values: dict[str, Any] = field(default_factory=dict)
    facts: tuple[str, ...] = ()


def prefill(candidate: Candidate, *, owner: str = "") -> ExampleDraft:
    """The links a candidate brings (areas, sub-elements, evidence, KPIs, its source); the
    situation, action and result stay empty for the person to write."""
    return ExampleDraft(
        values={
            "title": "",
            "situation": "",
            "action_taken": "",
            "result": "",
            "owner": owner,
            "practice_areas": list(candidate.practice_areas),
            "sub_elements": list(candidate.sub_elements),
            "evidence_refs": list(candidate.evidence_refs),
            "kpis": list(candidate.kpis),
            "source_kind": candidate.source_kind,
            "source_ref": candidate.source_ref,
        },
        facts=candidate.facts,
    )


# --- for the demo ------------------------------------------------------------------------------


def demo_examples(
    session: Session, *, site: Site, stories: Sequence[Mapping[str, Any]]
) -> list[WeekExample]:
    """Write the examples the demo gives (each a mapping of add_example's fields; a `status`
    of reviewed or approved is reached through the review steps under the actors named
    `reviewed_by` and `approved_by`), for the lead's demo of the assessment week."""
    from qmm.audit.trail import Actor, acting

    made = []
    for story in stories:
        fields = {
            k: v for k, v in story.items() if k not in {"status", "reviewed_by", "approved_by"}
        }
        example = add_example(session, site=site, **fields)
        wanted = story.get("status", ExampleStatus.draft)
        if wanted in (ExampleStatus.reviewed, ExampleStatus.approved):
            with acting(session, Actor(label=str(story.get("reviewed_by", "demo-reviewer")))):
                review_example(session, example=example)
        if wanted == ExampleStatus.approved:
            with acting(session, Actor(label=str(story.get("approved_by", "demo-approver")))):
                approve_example(session, example=example)
        made.append(example)
    return made


#: The demo's eight examples (demo text for the lead's demo workspace, not drawn from records):
#: title, situation, action, result, owner, sub-elements, KPIs, the status the demo gives it.
DEMO_EXAMPLES: Final[
    tuple[tuple[str, str, str, str, str, tuple[str, ...], tuple[str, ...], str], ...]
] = (
    (
        "Filling line 2 air handler: repeat deviations stopped",
        "Three EM deviations in one quarter traced to the same air handler on filling line 2.",
        "CAPA replaced the filters, moved them to a quarterly change and added a pressure alarm.",
        "No repeat deviation on line 2 in the six months after the effectiveness check.",
        "QA Engineer, sterile operations",
        ("capa_effectiveness", "contamination_control"),
        ("capa_recurrence_rate", "em_excursion_rate"),
        "approved",
    ),
    (
        "Lot held until the filling deviation closed",
        "A filling deviation was open two days before a lot was due to ship to a key customer.",
        "The site quality head held the lot until the investigation closed, and signed it.",
        "Shipped one week late with the root cause closed; no complaint on the lot since.",
        "Site Quality Head",
        ("quality_first_decisions",),
        (),
        "approved",
    ),
    (
        "Stopper supplier outage drill inside target",
        "The only qualified stopper supplier could stop shipping for six weeks.",
        "A joint drill released safety stock and called off the backup supplier.",
        "Recovered in 60 hours against a 72-hour target.",
        "Supply Quality Lead",
        ("drills_recovery", "continuity_planning"),
        (),
        "approved",
    ),
    (
        "Effectiveness checks on every CAPA",
        "CAPAs used to close without a planned check that they worked.",
        "Every CAPA now plans an effectiveness check 90 days after closure, tracked monthly.",
        "CAPA effectiveness verification on time rose month on month (see the KPI trend).",
        "QA Systems Lead",
        ("capa_effectiveness",),
        ("capa_voe_on_time", "capa_effectiveness"),
        "reviewed",
    ),
    (
        "Change controls by risk tier",
        "High-risk changes waited as long as low-risk ones for approval.",
        "Change control triage by risk tier, with a weekly review of high-risk changes.",
        "High-risk change cycle time is tracked against its 90-day target each month.",
        "Change Control Manager",
        ("change_management",),
        ("change_cycle_time_days",),
        "reviewed",
    ),
    (
        "Stop-and-fix forum for batch record review",
        "Batch record review waited days for a single signer.",
        "The stop-and-fix forum cut the checklist to one page and named a second signer.",
        "Review waits no longer appear on the forum's open list.",
        "Head of QA Operations",
        ("empowerment_problem_solving",),
        (),
        "draft",
    ),
    (
        "Training effectiveness checked on the floor",
        "Read-and-understood training did not show whether operators could do the task.",
        "Effectiveness checks by observation for aseptic interventions.",
        "Training effectiveness is measured per month from the checks recorded.",
        "Training Lead",
        ("training_competency",),
        ("training_effectiveness",),
        "draft",
    ),
    (
        "Supplier corrective actions on time",
        "Supplier corrective action requests stayed open past their due dates.",
        "Monthly supplier quality review of every open SCAR with the supplier present.",
        "SCAR on-time closure is reviewed against its target each month.",
        "Supplier Quality Manager",
        ("supplier_oversight",),
        ("scar_on_time_closure",),
        "draft",
    ),
)
