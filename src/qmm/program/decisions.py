"""The decision log: what leadership decided, against what, and why; frozen once signed.

Why here and not in the eQMS: the log is the proof assessors ask for that quality wins
trade-offs, so every entry names the trade-off, is signed, and becomes an evidence item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qmm.audit.signatures import (
    SignableKind,
    SignableRecord,
    register_signable,
)
from qmm.audit.trail import canonical_json, canonical_value
from qmm.auth.service import CheckedPassword
from qmm.auth.signing import sign
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.service import (
    add_evidence,
    known_sub_element_codes,
    resolve_refs,
    retire_evidence,
)
from qmm.models import Decision, DecisionStatus, EvidenceItem, Signature, Site, User, utcnow
from qmm.program.common import SHORT, Problems, actor_label, check_fields

REF_PREFIX: Final = "DEC-"
RECORD_TYPE: Final = "decision"
#: Every signed decision is evidence of this sub-element, besides the ones it names.
DECISION_SUB_ELEMENT: Final = "quality_first_decisions"
EDITABLE: Final = frozenset(
    {
        "title",
        "context",
        "options",
        "decision",
        "quality_won",
        "trade_off",
        "rationale",
        "owner",
        "decided_on",
        "sub_elements",
        "record_links",
        "kpis",
        "evidence_refs",
    }
)
STATUSES: Final = tuple(s.value for s in DecisionStatus)


def app_path(decision: Decision) -> str:
    """Where the decision lives in the web app."""
    return f"/sites/{decision.site.code}/decisions/{decision.ref}"


def _check(session: Session, site: Site, fields: dict[str, Any]) -> dict[str, Any]:
    """Every field of a decision checked at once; raises with all problems, stores nothing."""
    p = Problems()
    clean = {
        "title": p.text("title", fields.get("title"), label="title", limit=SHORT),
        "context": p.text("context", fields.get("context"), label="context"),
        "options": p.texts(
            "options", fields.get("options", ()), label="options considered", at_least=2
        ),
        "decision": p.text("decision", fields.get("decision"), label="the decision"),
        "quality_won": p.flag("quality_won", fields.get("quality_won"), label="quality won"),
        "trade_off": p.text(
            "trade_off",
            fields.get("trade_off"),
            label="trade-off (what quality was weighed against)",
        ),
        "rationale": p.text("rationale", fields.get("rationale"), label="rationale"),
        "owner": p.text("owner", fields.get("owner"), label="owner", limit=SHORT),
        "decided_on": p.day("decided_on", fields.get("decided_on"), label="decision date"),
        "sub_elements": p.sub_elements(
            session, site, "sub_elements", fields.get("sub_elements", ())
        ),
        "record_links": p.texts(
            "record_links", fields.get("record_links", ()), label="linked record", limit=2000
        ),
        "kpis": p.kpis("kpis", fields.get("kpis", ())),
    }
    refs = p.texts("evidence_refs", fields.get("evidence_refs", ()), label="evidence ref", limit=20)
    if "evidence_refs" not in p and refs:
        try:
            refs = [i.ref for i in resolve_refs(session, site=site, refs=refs)]
        except NotFound as exc:
            p["evidence_refs"] = str(exc)
    clean["evidence_refs"] = refs
    p.raise_any()
    return clean


def _next_number(session: Session, site: Site) -> int:
    # Serialise numbering per site on PostgreSQL; SQLite writers are serialised already.
    session.execute(select(Site.id).where(Site.id == site.id).with_for_update())
    highest = session.scalar(select(func.max(Decision.number)).where(Decision.site_id == site.id))
    return (highest or 0) + 1


def add_decision(
    session: Session,
    *,
    site: Site,
    title: str,
    context: str,
    decision: str,
    quality_won: bool,
    trade_off: str,
    rationale: str,
    owner: str,
    decided_on: date,
    options: Sequence[str] = (),
    sub_elements: Sequence[str] = (),
    record_links: Sequence[str] = (),
    kpis: Sequence[str] = (),
    evidence_refs: Sequence[str] = (),
    supersedes: Decision | None = None,
) -> Decision:
    """Log a decision as a draft under the site's next DEC-nnnn; it counts once signed."""
    clean = _check(
        session,
        site,
        {
            "title": title,
            "context": context,
            "options": options,
            "decision": decision,
            "quality_won": quality_won,
            "trade_off": trade_off,
            "rationale": rationale,
            "owner": owner,
            "decided_on": decided_on,
            "sub_elements": sub_elements,
            "record_links": record_links,
            "kpis": kpis,
            "evidence_refs": evidence_refs,
        },
    )
    if supersedes is not None:
        _check_supersedable(session, site, supersedes)
    number = _next_number(session, site)
    entry = Decision(
        site_id=site.id,
        number=number,
        ref=f"{REF_PREFIX}{number:04d}",
        supersedes_id=supersedes.id if supersedes is not None else None,
        created_at=utcnow(),
        created_by=actor_label(session),
        **clean,
    )
    session.add(entry)
    session.flush()
    return entry


def _check_supersedable(session: Session, site: Site, old: Decision) -> None:
    if old.site_id != site.id:
        raise InvalidInput(f"{old.ref} is a decision of another site; supersede within one site")
    if not old.is_signed:
        raise Conflict(f"{old.ref} is a draft; edit it instead of superseding it")
    successor = successor_of(session, decision=old)
    if successor is not None:
        raise Conflict(
            f"{old.ref} is already superseded by {successor.ref}; supersede {successor.ref} "
            "(the chain has one entry per step)"
            if successor.is_signed
            else f"{old.ref} already has a draft successor {successor.ref}; edit and sign that"
        )


def supersede_decision(
    session: Session, *, decision: Decision, changes: Mapping[str, Any] | None = None
) -> Decision:
    """Replace a signed decision by a new draft entry that points back at it.

    Fields not in `changes` are carried over from the decision superseded.
    """
    fields = dict(changes or {})
    check_fields(fields, EDITABLE)
    carried = {name: getattr(decision, name) for name in EDITABLE}
    return add_decision(session, site=decision.site, supersedes=decision, **{**carried, **fields})


def update_decision(
    session: Session, *, decision: Decision, changes: Mapping[str, Any]
) -> Decision:
    """Edit a draft decision; a signed one is refused (supersede it instead)."""
    check_fields(changes, EDITABLE)
    _require_draft(decision)
    current = {name: getattr(decision, name) for name in EDITABLE}
    clean = _check(session, decision.site, {**current, **changes})
    for name in changes:
        setattr(decision, name, clean[name])
    session.flush()
    return decision


def _require_draft(decision: Decision) -> None:
    if decision.is_discarded:
        raise Conflict(f"{decision.ref} was discarded; it stays on record but no longer changes")
    if decision.is_signed:
        raise Conflict(
            f"{decision.ref} is signed and can no longer be changed; supersede it with a new "
            "entry instead"
        )


def discard_decision(session: Session, *, decision: Decision) -> Decision:
    """Set a draft aside for good: it keeps its ref (never reused) and stays in the log as
    discarded. A discarded successor no longer holds the decision it meant to supersede."""
    _require_draft(decision)
    decision.discarded_at = utcnow()
    decision.supersedes_id = None
    session.flush()
    return decision


def _refuse_discarded(decision: Decision) -> None:
    if decision.is_discarded:
        raise Conflict(f"{decision.ref} was discarded; it cannot be signed")


def sign_decision(
    session: Session,
    *,
    decision: Decision,
    user: User,
    password: str | CheckedPassword,
    meaning: str = "approved",
) -> Signature:
    """Sign a decision (password again); it freezes and becomes an evidence item."""
    _refuse_discarded(decision)
    return sign(
        session,
        user=user,
        password=password,
        meaning=meaning,
        record_type=RECORD_TYPE,
        record_id=str(decision.id),
    )


def record_signed(session: Session, *, decision: Decision) -> None:
    """After the first signature: freeze the decision and file it in the evidence index.

    A later signature (a reviewer's, say) changes nothing: the record is frozen already.
    """
    if decision.is_signed:
        return
    _refuse_discarded(decision)
    site = decision.site
    text = decision_text(decision)
    codes = set(decision.sub_elements)
    if DECISION_SUB_ELEMENT in known_sub_element_codes(session, site=site):
        codes.add(DECISION_SUB_ELEMENT)
    item = add_evidence(
        session,
        site=site,
        title=f"Decision {decision.ref}: {decision.title}"[:200],
        kind="decision_record",
        owner=decision.owner,
        effective_on=utcnow().date(),
        description=f"Signed decision {decision.ref} of the decision log ({app_path(decision)}).",
        sub_elements=sorted(codes),
        files=[(f"{decision.ref}.txt", text.encode("utf-8"))],
    )
    decision.signed_at = utcnow()
    decision.evidence_item_id = item.id
    session.flush()
    old = decision.supersedes
    if old is not None and old.evidence_item_id is not None:
        old_item = session.get(EvidenceItem, old.evidence_item_id)
        if old_item is not None and old_item.retired_at is None:
            retire_evidence(session, item=old_item, reason=f"superseded by {decision.ref}")


# ---------------------------------------------------------------------------- reading


def get_decision(session: Session, *, site: Site, ref: str) -> Decision:
    """A decision of the site by its DEC-nnnn ref (case does not matter)."""
    wanted = ref.strip().upper()
    found = session.scalar(
        select(Decision).where(Decision.site_id == site.id, Decision.ref == wanted)
    )
    if found is None:
        raise NotFound(
            f"no decision {wanted} at {site.code}; `qmm decision list {site.code}` lists them"
        )
    return found


def get_decision_by_id(session: Session, *, record_id: str) -> Decision:
    """A decision by its database id (as signatures name it)."""
    found = session.get(Decision, int(record_id)) if str(record_id).isdigit() else None
    if found is None:
        raise NotFound(f"no decision {record_id}")
    return found


def successor_of(session: Session, *, decision: Decision) -> Decision | None:
    """The entry that supersedes this one (signed or draft), if any."""
    return session.scalar(select(Decision).where(Decision.supersedes_id == decision.id))


def signed_copy(session: Session, *, decision: Decision) -> EvidenceItem | None:
    """The evidence item holding the signed entry's frozen copy, once it is signed."""
    if decision.evidence_item_id is None:
        return None
    return session.get(EvidenceItem, decision.evidence_item_id)


def decision_status(session: Session, *, decision: Decision) -> DecisionStatus:
    """Draft until signed (or discarded); superseded once a signed entry points back at it."""
    if decision.is_discarded:
        return DecisionStatus.discarded
    if not decision.is_signed:
        return DecisionStatus.draft
    successor = successor_of(session, decision=decision)
    if successor is not None and successor.is_signed:
        return DecisionStatus.superseded
    return DecisionStatus.signed


def supersession_chain(session: Session, *, decision: Decision) -> list[Decision]:
    """Every entry of the decision's chain, the first decision first, the newest last."""
    first = decision
    seen = {first.id}
    while first.supersedes is not None and first.supersedes.id not in seen:
        first = first.supersedes
        seen.add(first.id)
    chain = [first]
    while (nxt := successor_of(session, decision=chain[-1])) is not None and nxt not in chain:
        chain.append(nxt)
    return chain


def list_decisions(
    session: Session,
    *,
    site: Site,
    owner: str | None = None,
    decided_from: date | None = None,
    decided_to: date | None = None,
    quality_won: bool | None = None,
    status: str | None = None,
) -> list[Decision]:
    """The site's decision log, newest decision first, filtered as asked."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if decided_from is not None and decided_to is not None and decided_to < decided_from:
        raise InvalidInput(f"the date range ends ({decided_to}) before it starts ({decided_from})")
    query = select(Decision).where(Decision.site_id == site.id)
    if owner:
        query = query.where(func.lower(Decision.owner).contains(owner.strip().lower()))
    if decided_from is not None:
        query = query.where(Decision.decided_on >= decided_from)
    if decided_to is not None:
        query = query.where(Decision.decided_on <= decided_to)
    if quality_won is not None:
        query = query.where(Decision.quality_won.is_(quality_won))
    found = list(
        session.scalars(query.order_by(Decision.decided_on.desc(), Decision.number.desc()))
    )
    if status is None:
        return found
    return [d for d in found if decision_status(session, decision=d).value == status]


# ---------------------------------------------------------------------------- output


def decision_content(decision: Decision) -> dict[str, Any]:
    """The exact content a signature binds to: everything decided, nothing about signing."""
    return {
        "site": decision.site.code,
        "ref": decision.ref,
        "title": decision.title,
        "context": decision.context,
        "options": list(decision.options),
        "decision": decision.decision,
        "quality_won": decision.quality_won,
        "trade_off": decision.trade_off,
        "rationale": decision.rationale,
        "owner": decision.owner,
        "decided_on": canonical_value("", "", decision.decided_on),
        "sub_elements": list(decision.sub_elements),
        "record_links": list(decision.record_links),
        "kpis": list(decision.kpis),
        "evidence_refs": list(decision.evidence_refs),
        "supersedes": decision.supersedes.ref if decision.supersedes else None,
        "created_by": decision.created_by,
    }


def decision_text(decision: Decision) -> str:
    """The decision as a plain-text record, filed with its evidence item."""
    lines = [
        f"{decision.site.code} {decision.ref}: {decision.title}",
        f"Decided on {decision.decided_on.isoformat()} by {decision.owner}",
        "",
        f"Context: {decision.context}",
        "Options considered:",
        *(f"  - {o}" for o in decision.options),
        f"Decision: {decision.decision}",
        f"Quality won: {'yes' if decision.quality_won else 'no'}",
        f"Trade-off: {decision.trade_off}",
        f"Rationale: {decision.rationale}",
    ]
    if decision.supersedes is not None:
        lines.append(f"Supersedes: {decision.supersedes.ref}")
    for label, values in (
        ("Sub-elements", decision.sub_elements),
        ("KPIs", decision.kpis),
        ("Evidence", decision.evidence_refs),
        ("Records", decision.record_links),
    ):
        if values:
            lines.append(f"{label}: {', '.join(values)}")
    lines.append("")
    lines.append("Signed content (canonical JSON):")
    lines.append(canonical_json(decision_content(decision)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- signable


def _signable_decision(session: Session, record_id: str) -> SignableRecord:
    decision = get_decision_by_id(session, record_id=record_id)
    return SignableRecord(
        decision_content(decision),
        decision.site,
        author=decision.created_by,
        awaiting_approval=not decision.is_signed,
    )


def _decision_signed(session: Session, signature: Signature) -> None:
    record_signed(session, decision=get_decision_by_id(session, record_id=signature.record_id))


register_signable(SignableKind(RECORD_TYPE, read=_signable_decision, on_signed=_decision_signed))
