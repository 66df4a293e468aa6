"""Signing a record: the signer's password asked again and their right checked first."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from qmm.audit.signatures import (
    SignableRecord,
    check_meaning,
    record_signature,
    signable_record,
)
from qmm.auth.permissions import Permission
from qmm.auth.service import CheckedPassword, authorize, check_own_password, confirm_password
from qmm.errors import Forbidden
from qmm.models import Signature, SignatureMeaning, User


class SecondPersonRequired(Forbidden):
    """The site's two-person rule: the author of a record may not be the one who approves it."""


def check_second_person(record: SignableRecord, *, user: User, meaning: str) -> None:
    """Refuse the author's approving signature where the site keeps the two-person rule."""
    if not record.site.two_person_rule or record.author != user.username:
        return
    if meaning != SignatureMeaning.approved.value and not record.awaiting_approval:
        return
    ref = record.content.get("ref") or "this record"
    raise SecondPersonRequired(
        f"two-person rule at {record.site.code}: {user.username} drafted {ref} and may not "
        "approve it; a second person with the right to sign approves it"
        + (", after which the author may add a signature" if record.awaiting_approval else "")
    )


#: The channel a signer's password check is recorded under.
SIGNATURE: Final = "signature"


def check_signer_password(session: Session, *, user: User, password: str) -> CheckedPassword:
    """The slow part of a signature (argon2), to run before the write transaction begins."""
    return check_own_password(session, user=user, password=password, channel=SIGNATURE)


def sign(
    session: Session,
    *,
    user: User,
    password: str | CheckedPassword,
    meaning: str,
    record_type: str,
    record_id: str,
) -> Signature:
    """Sign a record: the password is asked again and the signature binds to its content.

    PASSWORD may be checked already (check_signer_password, before the write transaction): it is
    confirmed here while the stored hash is still the one checked. The right to sign and the
    two-person rule are checked here, in the write step.
    """
    check_meaning(meaning)
    confirm_password(session, user=user, password=password, channel=SIGNATURE)
    record = signable_record(session, record_type=record_type, record_id=record_id)
    authorize(session, user=user, permission=Permission.record_sign, site=record.site)
    check_second_person(record, user=user, meaning=meaning)
    return record_signature(
        session,
        signer=user,
        meaning=meaning,
        record_type=record_type,
        record_id=record_id,
        record=record,
    )


def second_person_notice(
    session: Session, *, user: User, record_type: str, record_id: str
) -> str | None:
    """What to tell an author before they try: under the two-person rule, someone else approves."""
    record = signable_record(session, record_type=record_type, record_id=record_id)
    try:
        check_second_person(record, user=user, meaning=SignatureMeaning.approved.value)
    except SecondPersonRequired as exc:
        return str(exc)
    return None
