"""The permission table: what each role may do, and where."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from qmm.models import Role


class Permission(StrEnum):
    site_read = "site:read"
    site_manage = "site:manage"
    assessment_read = "assessment:read"
    assessment_rate = "assessment:rate"
    assessment_manage = "assessment:manage"
    framework_manage = "framework:manage"
    evidence_manage = "evidence:manage"
    record_sign = "record:sign"
    program_manage = "program:manage"
    audit_read = "audit:read"
    user_manage = "user:manage"
    site_settings = "site:settings"


READ_PERMISSIONS: Final = frozenset(
    {Permission.site_read, Permission.assessment_read, Permission.audit_read}
)

ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.administrator: frozenset(Permission),
    Role.site_quality_lead: frozenset(
        {
            Permission.site_read,
            Permission.site_manage,
            Permission.assessment_read,
            Permission.assessment_rate,
            Permission.assessment_manage,
            Permission.framework_manage,
            Permission.evidence_manage,
            Permission.record_sign,
            Permission.program_manage,
            Permission.audit_read,
        }
    ),
    Role.contributor: frozenset(
        {
            Permission.site_read,
            Permission.assessment_read,
            Permission.assessment_rate,
            Permission.evidence_manage,
            Permission.record_sign,
            Permission.program_manage,
            Permission.audit_read,
        }
    ),
    Role.assessor: frozenset(
        {Permission.site_read, Permission.assessment_read, Permission.audit_read}
    ),
    Role.viewer: frozenset({Permission.site_read, Permission.assessment_read}),
}

# Roles that a grant must limit in time: outside assessors see a site only for a while.
TIME_LIMITED_ROLES: Final = frozenset({Role.assessor})


def role_allows(role: Role, permission: Permission) -> bool:
    """Whether a role carries a permission at all (scope is checked separately)."""
    return permission in ROLE_PERMISSIONS[role]
