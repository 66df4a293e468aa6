"""Every table of the app database, imported here so metadata and migrations see them all."""

from qmm.models.assessment import (
    Assessment,
    AssessmentKind,
    AssessmentMember,
    AssessmentStatus,
    ConsensusScore,
    Rating,
    TeamRole,
)
from qmm.models.audit import AuditAction, AuditEntry, Signature, SignatureMeaning
from qmm.models.base import Base, utcnow
from qmm.models.events import ImportBatch
from qmm.models.framework import Framework, FrameworkStatus, PracticeArea, Question, SubElement
from qmm.models.site import Site, SiteType
from qmm.models.user import ApiToken, LoginAttempt, Role, RoleGrant, User, WebSession

__all__ = [
    "ApiToken",
    "Assessment",
    "AssessmentKind",
    "AssessmentMember",
    "AssessmentStatus",
    "AuditAction",
    "AuditEntry",
    "Base",
    "ConsensusScore",
    "Framework",
    "FrameworkStatus",
    "ImportBatch",
    "LoginAttempt",
    "PracticeArea",
    "Question",
    "Rating",
    "Role",
    "RoleGrant",
    "Signature",
    "SignatureMeaning",
    "Site",
    "SiteType",
    "SubElement",
    "TeamRole",
    "User",
    "WebSession",
    "utcnow",
]
