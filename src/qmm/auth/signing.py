"""Signing a record: the signer's password asked again and their right checked first."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qmm.audit.signatures import check_meaning, record_signature, signable_record
from qmm.auth.permissions import Permission
from qmm.auth.service import authenticate, authorize
from qmm.models import Signature, User


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
    check_meaning(meaning)
    authenticate(session, username=user.username, password=password, channel="signature")
    record = signable_record(session, record_type=record_type, record_id=record_id)
    authorize(session, user=user, permission=Permission.record_sign, site=record.site)
    return record_signature(
        session,
        signer=user,
        meaning=meaning,
        record_type=record_type,
        record_id=record_id,
        record=record,
    )
