"""The five FDA CDER QMM practice areas, whose codes every file and table shares."""

from __future__ import annotations

from typing import Final

PRACTICE_AREAS: Final[dict[str, str]] = {
    "management_commitment": "Management Commitment to Quality",
    "business_continuity": "Business Continuity",
    "advanced_pqs": "Advanced Pharmaceutical Quality System",
    "technical_excellence": "Technical Excellence",
    "employee_engagement": "Employee Engagement and Empowerment",
}

PRACTICE_AREA_CODES: Final[tuple[str, ...]] = tuple(PRACTICE_AREAS)
