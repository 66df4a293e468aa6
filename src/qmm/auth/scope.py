"""Which assessments a person may read: the assessment-level scope every listing and lookup keeps.

A grant can name assessments (an outside assessor sees only the one they assess), so the site
alone does not decide. An assessment one may not read is answered exactly as one that does not
exist: the same error, the same words, so neither its existence nor its site leaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from qmm.assessment.service import get_assessment, list_assessments, no_such_assessment
from qmm.auth.permissions import Permission
from qmm.auth.service import can, list_users
from qmm.errors import NotFound
from qmm.models import Assessment, AssessmentStatus, Site, User


class Reader(Protocol):
    """Whoever reads (a signed-in principal, a CLI's acting user): asked before anything shows."""

    def may(
        self,
        db: Session,
        permission: Permission,
        *,
        site: Site | None = None,
        assessment: Assessment | None = None,
    ) -> bool: ...


@dataclass(frozen=True)
class UserReader:
    """A user reading with every right their grants give (no token narrowing them)."""

    user: User

    def may(
        self,
        db: Session,
        permission: Permission,
        *,
        site: Site | None = None,
        assessment: Assessment | None = None,
    ) -> bool:
        """Whether the user's grants allow this here."""
        return can(db, user=self.user, permission=permission, site=site, assessment=assessment)


@dataclass(frozen=True)
class Operator:
    """Whoever runs the command line without naming a user: the database's own authority."""

    def may(
        self,
        db: Session,
        permission: Permission,
        *,
        site: Site | None = None,
        assessment: Assessment | None = None,
    ) -> bool:
        """Everything: the operator could read the database directly anyway."""
        return True


def may_read_assessment(session: Session, *, reader: Reader, assessment: Assessment) -> bool:
    """Whether the reader may see this assessment: its scores, its title, that it exists."""
    return reader.may(session, Permission.assessment_read, assessment=assessment)


def readable_assessments(session: Session, *, reader: Reader, site: Site) -> list[Assessment]:
    """The site's assessments the reader may read, newest first (for lists and pickers)."""
    return [
        a
        for a in list_assessments(session, site=site)
        if may_read_assessment(session, reader=reader, assessment=a)
    ]


def readable_assessment(session: Session, *, reader: Reader, assessment_id: int) -> Assessment:
    """An assessment by id if the reader may read it; otherwise exactly the not-found answer."""
    found = get_assessment(session, assessment_id=assessment_id)
    if not may_read_assessment(session, reader=reader, assessment=found):
        raise no_such_assessment(assessment_id)
    return found


def latest_readable_assessment(session: Session, *, reader: Reader, site: Site) -> Assessment:
    """The newest closed assessment the reader may read, else their newest; none is not found."""
    readable = readable_assessments(session, reader=reader, site=site)
    if not readable:
        raise NotFound(
            f"{site.code} has no assessment yet that you may read; "
            "create one with `qmm assess create`"
        )
    closed = [a for a in readable if a.status == AssessmentStatus.closed.value]
    return (closed or readable)[0]


def team_candidates(session: Session, *, site: Site) -> list[User]:
    """The active people who may rate at a site: whom a lead can put on an assessment's team."""
    return [
        user
        for user in list_users(session)
        if user.is_active
        and can(session, user=user, permission=Permission.assessment_rate, site=site)
    ]
