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
from qmm.models.evidence import (
    EvidenceFile,
    EvidenceItem,
    EvidenceItemKind,
    EvidenceItemSubElement,
)
from qmm.models.framework import Framework, FrameworkStatus, PracticeArea, Question, SubElement
from qmm.models.program import (
    Decision,
    DecisionStatus,
    ForumItem,
    QualityObjective,
    SteeringAction,
    SteeringCadence,
    SteeringMeeting,
)
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
    "Decision",
    "DecisionStatus",
    "EvidenceFile",
    "EvidenceItem",
    "EvidenceItemKind",
    "EvidenceItemSubElement",
    "ForumItem",
    "Framework",
    "FrameworkStatus",
    "ImportBatch",
    "LoginAttempt",
    "PracticeArea",
    "QualityObjective",
    "Question",
    "Rating",
    "Role",
    "RoleGrant",
    "Signature",
    "SignatureMeaning",
    "Site",
    "SiteType",
    "SteeringAction",
    "SteeringCadence",
    "SteeringMeeting",
    "SubElement",
    "TeamRole",
    "User",
    "WebSession",
    "utcnow",
]
