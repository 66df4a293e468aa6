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
from qmm.models.base import Base, utcnow
from qmm.models.framework import Framework, FrameworkStatus, PracticeArea, Question, SubElement
from qmm.models.site import Site, SiteType
from qmm.models.user import User

__all__ = [
    "Assessment",
    "AssessmentKind",
    "AssessmentMember",
    "AssessmentStatus",
    "Base",
    "ConsensusScore",
    "Framework",
    "FrameworkStatus",
    "PracticeArea",
    "Question",
    "Rating",
    "Site",
    "SiteType",
    "SubElement",
    "TeamRole",
    "User",
    "utcnow",
]
