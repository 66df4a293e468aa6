"""A realistic demo workspace: three sites, their teams and completed self-assessments."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.assessment.service import (
    close_assessment,
    create_assessment,
    record_consensus,
    record_rating,
)
from qmm.audit.signatures import sign, signatures_for
from qmm.auth.service import active_grants, create_user, grant_role
from qmm.framework.service import install_default
from qmm.models import Assessment, Framework, Site, User, utcnow
from qmm.sites.service import create_site


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    fei: str
    site_type: str
    headcount: int
    maturity: float
    team: tuple[str, str, str]


# A demo workspace only: every demo user signs in with this password, printed by `qmm demo`.
DEMO_PASSWORD = "qmm-demo-2026!"

DEMO_USERS: dict[str, str] = {
    "admin": "Quality Systems Administrator",
    "alice": "Alice Moreau",
    "bob": "Bob Okafor",
    "carol": "Carol Nguyen",
    "dmitri": "Dmitri Volkov",
    "erin": "Erin Walsh",
    "farah": "Farah Haddad",
    "xavier": "Xavier Lindqvist (external assessor)",
}

# (user, role, site code or None for every site, days the grant lasts or None)
DEMO_GRANTS: tuple[tuple[str, str, str | None, int | None], ...] = (
    ("admin", "administrator", None, None),
    ("alice", "site_quality_lead", "SITE-A", None),
    ("dmitri", "site_quality_lead", "SITE-B", None),
    ("farah", "site_quality_lead", "SITE-C", None),
    ("bob", "contributor", "SITE-A", None),
    ("bob", "contributor", "SITE-C", None),
    ("carol", "contributor", "SITE-A", None),
    ("erin", "contributor", "SITE-B", None),
    ("erin", "contributor", "SITE-C", None),
    ("alice", "contributor", "SITE-B", None),
    ("xavier", "assessor", "SITE-A", 30),
)

DEMO_SITES: tuple[DemoSite, ...] = (
    DemoSite(
        "SITE-A",
        "Riverside Sterile Injectables",
        "3001234567",
        "fdf",
        640,
        3.9,
        ("alice", "bob", "carol"),
    ),
    DemoSite(
        "SITE-B",
        "Northfield Oral Solids",
        "3007654321",
        "fdf",
        410,
        3.2,
        ("dmitri", "erin", "alice"),
    ),
    DemoSite(
        "SITE-C", "Lakeshore API Synthesis", "3005550123", "api", 220, 2.5, ("farah", "bob", "erin")
    ),
)

# The 2024 FDA cohort was weakest on these two sub-elements; the demo sites share that pattern.
WEAK_SUB_ELEMENTS = {"quality_risk_management": -0.7, "data_excellence": -0.8}
EVIDENCE_PREFIX = {
    "management_commitment": "POL-QA",
    "business_continuity": "BCP",
    "advanced_pqs": "SOP-QA",
    "technical_excellence": "SOP-TE",
    "employee_engagement": "HR-TRN",
}
DEMO_YEAR_TITLE = "FY2026 QMM readiness self-assessment"
BASELINE_TITLE = "FY2025 baseline mock assessment"


def _users(session: Session) -> dict[str, User]:
    users = {u.username: u for u in session.scalars(select(User)).all()}
    for username, name in DEMO_USERS.items():
        if username not in users:
            users[username] = create_user(
                session,
                username=username,
                full_name=name,
                email=f"{username}@demo.qmm.example",
                password=DEMO_PASSWORD,
            )
    return users


def _site(session: Session, spec: DemoSite) -> Site:
    site = session.scalar(select(Site).where(Site.code == spec.code))
    if site is None:
        site = create_site(
            session,
            code=spec.code,
            name=spec.name,
            fei=spec.fei,
            site_type=spec.site_type,
            headcount=spec.headcount,
        )
    return site


def _rate_all(
    session: Session,
    *,
    assessment: Assessment,
    framework: Framework,
    team: Sequence[User],
    maturity: float,
    rng: random.Random,
) -> None:
    # A site's profile across areas is its own and stable; assessors add their bias and noise.
    profile = random.Random(assessment.site.code)
    bias = {u.username: rng.uniform(-0.2, 0.2) for u in team}
    lead = team[0]
    for pa in framework.practice_areas:
        pa_offset = profile.uniform(-0.35, 0.35)
        for se in pa.sub_elements:
            se_level = maturity + pa_offset + WEAK_SUB_ELEMENTS.get(se.code, 0.0)
            se_level += profile.uniform(-0.6, 0.6)
            for n, question in enumerate(se.questions):
                scores = []
                for user in team:
                    raw = se_level + bias[user.username] + rng.gauss(0, 0.3)
                    score = min(5, max(1, round(raw)))
                    scores.append(score)
                    anchor = question.anchors[str(score)]
                    record_rating(
                        session,
                        assessment=assessment,
                        question=question,
                        assessor=user,
                        score=score,
                        rationale=f"Observed level {score}: {anchor}",
                        evidence_refs=[f"{EVIDENCE_PREFIX[pa.code]}-{100 + se.position * 10 + n}"],
                    )
                if max(scores) - min(scores) >= 2:
                    agreed = sorted(scores)[len(scores) // 2]
                    record_consensus(
                        session,
                        assessment=assessment,
                        question=question,
                        lead=lead,
                        score=float(agreed),
                        rationale=(
                            f"Calibration session: assessors rated {sorted(scores)}; agreed "
                            f"{agreed} after reviewing the evidence against the level "
                            f"{agreed} anchor."
                        ),
                    )


def _assessment(
    session: Session,
    *,
    site: Site,
    framework: Framework,
    team: Sequence[User],
    title: str,
    kind: str,
    started_on: date,
    maturity: float,
    seed: int,
) -> Assessment:
    existing = session.scalar(
        select(Assessment).where(Assessment.site_id == site.id, Assessment.title == title)
    )
    if existing is not None:
        return existing
    assessment = create_assessment(
        session,
        site=site,
        framework=framework,
        kind=kind,
        title=title,
        lead=team[0],
        assessors=team[1:],
        started_on=started_on,
    )
    _rate_all(
        session,
        assessment=assessment,
        framework=framework,
        team=team,
        maturity=maturity,
        rng=random.Random(seed),
    )
    close_assessment(session, assessment=assessment, by=team[0])
    return assessment


def _grants(session: Session, users: dict[str, User], sites: dict[str, Site]) -> None:
    for username, role, site_code, days in DEMO_GRANTS:
        user = users[username]
        site = sites[site_code] if site_code else None
        held = {(g.role, g.site_id) for g in active_grants(session, user=user)}
        if (role, site.id if site else None) in held:
            continue
        grant_role(
            session,
            user=user,
            role=role,
            site=site,
            expires_at=utcnow() + timedelta(days=days) if days else None,
        )


def _sign(session: Session, assessment: Assessment, lead: User) -> None:
    existing = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
    if not existing:
        sign(
            session,
            user=lead,
            password=DEMO_PASSWORD,
            meaning="approved",
            record_type="assessment",
            record_id=str(assessment.id),
        )


def load_demo(session: Session, *, seed: int = 2026) -> list[Assessment]:
    """Load the demo workspace; loading it again changes nothing."""
    framework = install_default(session)
    users = _users(session)
    sites = {spec.code: _site(session, spec) for spec in DEMO_SITES}
    _grants(session, users, sites)
    loaded = []
    for index, spec in enumerate(DEMO_SITES):
        site = sites[spec.code]
        team = [users[u] for u in spec.team]
        if index == 0:
            loaded.append(
                _assessment(
                    session,
                    site=site,
                    framework=framework,
                    team=team,
                    title=BASELINE_TITLE,
                    kind="mock",
                    started_on=date(2025, 9, 15),
                    maturity=spec.maturity - 0.45,
                    seed=seed + 100,
                )
            )
        current = _assessment(
            session,
            site=site,
            framework=framework,
            team=team,
            title=DEMO_YEAR_TITLE,
            kind="self",
            started_on=date(2026, 9, 14),
            maturity=spec.maturity,
            seed=seed + index,
        )
        _sign(session, current, team[0])
        loaded.append(current)
    return loaded
