"""Benchmarks that need stored assessments: a site against a cohort, the workspace as one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from qmm.assessment.service import compute_scores, latest_assessment
from qmm.benchmark.cohort import CohortSite, read_cohort_csv, shipped_fda_cohort_path
from qmm.benchmark.statistics import Placement, place_scores
from qmm.errors import InvalidInput, NotFound
from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.models import Assessment, Site
from qmm.sites.service import list_sites


def load_cohort(path: Path | None) -> list[CohortSite]:
    """A cohort file, or the FDA 2024 cohort that ships with the product."""
    return read_cohort_csv(path or shipped_fda_cohort_path())


def practice_area_scores(session: Session, *, assessment: Assessment) -> dict[str, float]:
    """The five practice-area scores of an assessment, refusing one that is incomplete."""
    scores = compute_scores(session, assessment=assessment)
    missing = [c for c in PRACTICE_AREA_CODES if scores.practice_areas[c].score is None]
    if missing:
        raise InvalidInput(
            f"assessment {assessment.id} of {assessment.site.code} has no score yet for "
            f"{', '.join(missing)}; rate those practice areas before benchmarking"
        )
    return {c: float(scores.practice_areas[c].score or 0.0) for c in PRACTICE_AREA_CODES}


def place_site(
    session: Session, *, site: Site, cohort: list[CohortSite]
) -> tuple[Assessment, Placement]:
    """Place a site's latest assessment against a cohort."""
    assessment = latest_assessment(session, site=site)
    return assessment, place_scores(practice_area_scores(session, assessment=assessment), cohort)


def workspace_cohort(session: Session) -> list[CohortSite]:
    """The workspace's own sites as a cohort, each by its latest assessment."""
    cohort = []
    for site in list_sites(session):
        try:
            assessment = latest_assessment(session, site=site)
        except NotFound:
            continue
        cohort.append(
            CohortSite(site=site.code, scores=practice_area_scores(session, assessment=assessment))
        )
    return cohort
