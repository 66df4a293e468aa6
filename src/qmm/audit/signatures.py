"""Electronic signatures: printed name and meaning, bound to the hash of a record's content.

The areas that own signable records register each kind here (how to read its content, what
happens once signed); the password and rights checks before a signature live in auth.signing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.audit.trail import Actor, acting, canonical_json
from qmm.errors import InvalidInput
from qmm.models import Signature, SignatureMeaning, Site, User, utcnow


@dataclass(frozen=True)
class SignableRecord:
    """A record's exact signable content, and the site whose signers may sign it.

    `author` (a username) and `awaiting_approval` (the next signature approves it) let the
    site's two-person rule keep an author from approving their own record.
    """

    content: dict[str, Any]
    site: Site
    author: str | None = None
    awaiting_approval: bool = False


@dataclass(frozen=True)
class SignableKind:
    """A record type that can be signed, as registered by the area that owns its table.

    `read` loads a record by id (NotFound when there is none) with its signable content;
    `on_signed` runs in the same transaction once a signature is stored (a decision freezes
    and becomes evidence, a readiness plan is approved), whichever face the signature came
    through.
    """

    name: str
    read: Callable[[Session, str], SignableRecord]
    on_signed: Callable[[Session, Signature], None] | None = None


class NotSignable(InvalidInput):
    """No area registered this record type: it cannot be signed, nor its signatures checked."""

    def __init__(self, record_type: str) -> None:
        known = ", ".join(sorted(_KINDS)) or "none registered"
        super().__init__(f"records of type {record_type!r} cannot be signed; signable: {known}")


_KINDS: dict[str, SignableKind] = {}


def register_signable(kind: SignableKind) -> None:
    """Make a record type signable; its owning area calls this when it is imported."""
    known = _KINDS.get(kind.name)
    if known is not None and known.read.__module__ != kind.read.__module__:
        raise ValueError(
            f"record type {kind.name!r} is registered by {known.read.__module__} already"
        )
    _KINDS[kind.name] = kind


def signable_kinds() -> frozenset[str]:
    """The record types registered as signable in this process."""
    return frozenset(_KINDS)


def _kind(record_type: str) -> SignableKind:
    kind = _KINDS.get(record_type)
    if kind is None:
        raise NotSignable(record_type)
    return kind


def signable_record(session: Session, *, record_type: str, record_id: str) -> SignableRecord:
    """A record's signable content and site; an unregistered record type is refused."""
    return _kind(record_type).read(session, record_id)


def record_hash(session: Session, *, record_type: str, record_id: str) -> str:
    """The SHA-256 of a record's canonical content: what a signature binds to."""
    return _digest(signable_record(session, record_type=record_type, record_id=record_id).content)


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def check_meaning(meaning: str) -> None:
    """Refuse a signature meaning that is not one of the defined ones."""
    if meaning not in SignatureMeaning.__members__:
        raise InvalidInput(
            f"meaning {meaning!r} is not one of {', '.join(m.value for m in SignatureMeaning)}"
        )


def record_signature(
    session: Session,
    *,
    signer: User,
    meaning: str,
    record_type: str,
    record_id: str,
    record: SignableRecord,
) -> Signature:
    """Store a signature on a record as read, then run its kind's after-signing step.

    Only for a signer already checked: auth.signing.sign asks for the password and the right.
    """
    check_meaning(meaning)
    kind = _kind(record_type)
    signature = Signature(
        user_id=signer.id,
        printed_name=signer.full_name,
        meaning=meaning,
        record_type=record_type,
        record_id=record_id,
        record_hash=_digest(record.content),
        signed_at=utcnow(),
    )
    with acting(session, Actor(label=signer.username, user_id=signer.id)):
        session.add(signature)
        session.flush()
        if kind.on_signed is not None:
            kind.on_signed(session, signature)
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


def signatures_for(session: Session, *, record_type: str, record_id: str) -> list[SignatureStatus]:
    """Every signature on a record, each checked against the record as it is now.

    An unregistered record type is refused even when it has no signatures, so a kind whose
    area was never imported fails loudly instead of looking unsigned.
    """
    kind = _kind(record_type)
    signatures = session.scalars(
        select(Signature)
        .where(Signature.record_type == record_type, Signature.record_id == record_id)
        .order_by(Signature.id)
    ).all()
    if not signatures:
        return []
    current = _digest(kind.read(session, record_id).content)
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
