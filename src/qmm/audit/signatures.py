"""Electronic signatures: password re-entry, printed name, meaning, bound to a record hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.audit.trail import Actor, acting, canonical_json, canonical_value
from qmm.auth.permissions import Permission
from qmm.auth.service import authenticate, authorize
from qmm.errors import InvalidInput, NotFound
from qmm.models import (
    Assessment,
    ConsensusScore,
    Question,
    Rating,
    Signature,
    SignatureMeaning,
    Site,
    User,
    utcnow,
)


@dataclass(frozen=True)
class SignableRecord:
    """A record's exact signable content, and the site whose signers may sign it."""

    content: dict[str, Any]
    site: Site


def _assessment_content(session: Session, record_id: str) -> SignableRecord:
    assessment = session.get(Assessment, int(record_id)) if record_id.isdigit() else None
    if assessment is None:
        raise NotFound(f"no assessment {record_id}")
    ratings = session.execute(
        select(Question.code, User.username, Rating.score, Rating.rationale, Rating.evidence_refs)
        .join(Question, Question.id == Rating.question_id)
        .join(User, User.id == Rating.assessor_id)
        .where(Rating.assessment_id == assessment.id, Rating.superseded_by_id.is_(None))
        .order_by(Question.code, User.username)
    ).all()
    consensus = session.execute(
        select(Question.code, ConsensusScore.score, ConsensusScore.rationale)
        .join(Question, Question.id == ConsensusScore.question_id)
        .where(
            ConsensusScore.assessment_id == assessment.id,
            ConsensusScore.superseded_by_id.is_(None),
        )
        .order_by(Question.code)
    ).all()
    content = {
        "assessment": assessment.id,
        "site": assessment.site.code,
        "framework": assessment.framework.ref,
        "framework_sha256": assessment.framework.content_sha256,
        "kind": assessment.kind,
        "title": assessment.title,
        "status": assessment.status,
        "started_on": canonical_value("", "", assessment.started_on),
        "closed_at": canonical_value("", "", assessment.closed_at),
        "ratings": [[*r[:4], list(r[4] or [])] for r in ratings],
        "consensus": [list(c) for c in consensus],
    }
    return SignableRecord(content, assessment.site)


def _decision_content(session: Session, record_id: str) -> SignableRecord:
    # Imported here: the program area builds on signatures, so it cannot be imported at the top.
    from qmm.program.decisions import decision_content, get_decision_by_id

    decision = get_decision_by_id(session, record_id=record_id)
    return SignableRecord(decision_content(decision), decision.site)


def _plan_content(session: Session, record_id: str) -> SignableRecord:
    from qmm.program.plan import get_plan_by_id, plan_content

    plan = get_plan_by_id(session, record_id=record_id)
    return SignableRecord(plan_content(plan), plan.site)


# Each signable record type: how to read its exact content, and the site it belongs to (the
# signer needs record:sign there).
SIGNABLE: Final[dict[str, Callable[[Session, str], SignableRecord]]] = {
    "assessment": _assessment_content,
    "decision": _decision_content,
    "readiness_plan": _plan_content,
}


def _decision_signed(session: Session, signature: Signature) -> None:
    from qmm.program.decisions import get_decision_by_id, record_signed

    record_signed(session, decision=get_decision_by_id(session, record_id=signature.record_id))


def _plan_signed(session: Session, signature: Signature) -> None:
    from qmm.program.plan import get_plan_by_id, record_approved

    record_approved(session, plan=get_plan_by_id(session, record_id=signature.record_id))


# What a record type does once signed, in the same transaction (a decision freezes and becomes
# evidence, a readiness plan is approved and frozen), whichever face the signature came through.
ON_SIGNED: Final[dict[str, Callable[[Session, Signature], None]]] = {
    "decision": _decision_signed,
    "readiness_plan": _plan_signed,
}


def record_hash(session: Session, *, record_type: str, record_id: str) -> str:
    """The SHA-256 of a record's canonical content: what a signature binds to."""
    record = _content(session, record_type, record_id)
    return _digest(record.content)


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _content(session: Session, record_type: str, record_id: str) -> SignableRecord:
    reader = SIGNABLE.get(record_type)
    if reader is None:
        raise InvalidInput(
            f"records of type {record_type!r} cannot be signed; signable: {', '.join(SIGNABLE)}"
        )
    return reader(session, record_id)


def sign(
    session: Session,
    *,
    user: User,
    password: str,
    meaning: str,
    record_type: str,
    record_id: str,
) -> Signature:
    """Sign a record: the password is asked again and the signature binds to its content."""
    if meaning not in SignatureMeaning.__members__:
        raise InvalidInput(
            f"meaning {meaning!r} is not one of {', '.join(m.value for m in SignatureMeaning)}"
        )
    authenticate(session, username=user.username, password=password, channel="signature")
    record = _content(session, record_type, record_id)
    authorize(session, user=user, permission=Permission.record_sign, site=record.site)
    signature = Signature(
        user_id=user.id,
        printed_name=user.full_name,
        meaning=meaning,
        record_type=record_type,
        record_id=record_id,
        record_hash=_digest(record.content),
        signed_at=utcnow(),
    )
    with acting(session, Actor(label=user.username, user_id=user.id)):
        session.add(signature)
        session.flush()
        after = ON_SIGNED.get(record_type)
        if after is not None:
            after(session, signature)
    return signature


@dataclass(frozen=True)
class SignatureStatus:
    """A signature as displayed: who, when, what it means, and whether it still holds."""

    id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: datetime
    record_hash: str
    valid: bool

    def line(self) -> str:
        state = "valid" if self.valid else "INVALID: the record changed after signing"
        return (
            f"{self.meaning.capitalize()} by {self.printed_name} ({self.username}) on "
            f"{self.signed_at:%Y-%m-%d %H:%M} UTC; record sha256 {self.record_hash[:16]}...; "
            f"{state}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "printed_name": self.printed_name,
            "username": self.username,
            "meaning": self.meaning,
            "signed_at": self.signed_at.isoformat(),
            "record_hash": self.record_hash,
            "valid": self.valid,
        }


def signatures_for(session: Session, *, record_type: str, record_id: str) -> list[SignatureStatus]:
    """Every signature on a record, each checked against the record as it is now."""
    signatures = session.scalars(
        select(Signature)
        .where(Signature.record_type == record_type, Signature.record_id == record_id)
        .order_by(Signature.id)
    ).all()
    if not signatures:
        return []
    current = record_hash(session, record_type=record_type, record_id=record_id)
    return [
        SignatureStatus(
            id=s.id,
            printed_name=s.printed_name,
            username=s.user.username,
            meaning=s.meaning,
            signed_at=s.signed_at,
            record_hash=s.record_hash,
            valid=s.record_hash == current,
        )
        for s in signatures
    ]
