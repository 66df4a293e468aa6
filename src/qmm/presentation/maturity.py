"""Maturity scores as people compare them: sites side by side, each beside the FDA 2024 cohort."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from sqlalchemy.orm import Session

from qmm.assessment.scoring import AssessmentScores
from qmm.assessment.service import compute_scores, list_assessments
from qmm.auth.permissions import Permission
from qmm.auth.scope import Reader, latest_readable_assessment
from qmm.benchmark.cohort import FDA_COHORT_CITATION, MAX_SCORE, MIN_SCORE
from qmm.benchmark.service import load_cohort
from qmm.benchmark.statistics import CohortSummary, Placement, place_scores, summarise_cohort
from qmm.errors import NotFound
from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.models import Assessment, AssessmentStatus, Site

COHORT_NAME: Final = "FDA 2024 cohort"
COHORT_SOURCE: Final = FDA_COHORT_CITATION


@lru_cache(maxsize=1)
def fda_cohort() -> CohortSummary:
    """The FDA 2024 cohort's statistics; the shipped file never changes while the app runs."""
    return summarise_cohort(load_cohort(None))


@dataclass(frozen=True)
class Band:
    """A cohort's spread on one scale (min to max, and mean) to place a score against."""

    low: float
    high: float
    mean: float

    def position(self, score: float | None) -> str:
        """Where a score sits against the band, in words (never by colour alone)."""
        if score is None:
            return "not scored"
        if score < self.low:
            return "below the cohort's range"
        if score > self.high:
            return "above the cohort's range"
        return "above the cohort mean" if score >= self.mean else "below the cohort mean"


def area_bands() -> dict[str, Band]:
    """Each practice area's band in the FDA cohort."""
    summary = fda_cohort()
    return {
        code: Band(area.min, area.max, area.mean) for code, area in summary.practice_areas.items()
    }


def overall_band() -> Band:
    """The band of the cohort sites' means over the five areas (a mean FDA does not publish)."""
    means = [site.mean for site in fda_cohort().sites]
    return Band(min(means), max(means), math.fsum(means) / len(means))


def scale_x(score: float, width: float = 200.0) -> float:
    """A 1-5 score as an x coordinate on a scale drawn `width` wide."""
    clamped = min(MAX_SCORE, max(MIN_SCORE, score))
    return round((clamped - MIN_SCORE) / (MAX_SCORE - MIN_SCORE) * width, 2)


def heat_class(score: float | None) -> str:
    """A heat-map cell's shade by whole level (1-5); the number is always printed in it."""
    if score is None:
        return "heat-none"
    return f"heat-{min(5, max(1, math.floor(score)))}"


def latest_completed(session: Session, *, site: Site) -> Assessment | None:
    """The site's most recent closed assessment: the scores the portfolio compares."""
    closed = [
        a for a in list_assessments(session, site=site) if a.status == AssessmentStatus.closed.value
    ]
    return closed[0] if closed else None


def overall_of(scores: AssessmentScores) -> float | None:
    """The mean of the five practice areas, as the cohort's site means are taken (ours)."""
    values = [scores.practice_areas[c].score for c in PRACTICE_AREA_CODES]
    present = [v for v in values if v is not None]
    if len(present) != len(values):
        return None
    return math.fsum(present) / len(present)


def placement_of(scores: AssessmentScores) -> Placement | None:
    """The site's place in the FDA cohort, when all five practice areas have a score."""
    values = {c: scores.practice_areas[c].score for c in PRACTICE_AREA_CODES}
    if any(v is None for v in values.values()):
        return None
    return place_scores({c: float(v or 0.0) for c, v in values.items()}, fda_cohort().sites)


@dataclass(frozen=True)
class PlacedSite:
    """One site's assessment, scored and placed in the FDA cohort; None where there is none."""

    site: Site
    assessment: Assessment | None
    scores: AssessmentScores | None
    overall: float | None
    placement: Placement | None


def _placed(session: Session, site: Site, assessment: Assessment | None) -> PlacedSite:
    if assessment is None:
        return PlacedSite(site, None, None, None, None)
    scores = compute_scores(session, assessment=assessment)
    return PlacedSite(site, assessment, scores, overall_of(scores), placement_of(scores))


def portfolio(session: Session, sites: Sequence[Site], reader: Reader) -> list[PlacedSite]:
    """Each site's latest completed assessment the person may read, scored; or a note."""
    rows = []
    for site in sites:
        assessment = latest_completed(session, site=site)
        readable = assessment is not None and reader.may(
            session, Permission.assessment_read, assessment=assessment
        )
        rows.append(_placed(session, site, assessment if readable else None))
    return rows


def shown_assessment(db: Session, reader: Reader, site: Site) -> Assessment | None:
    """The assessment the dashboard answers from: the latest closed, else the latest, of those
    the reader may read."""
    try:
        return latest_readable_assessment(db, reader=reader, site=site)
    except NotFound:
        return None


def benchmark_placements(
    session: Session, sites: Sequence[Site], reader: Reader
) -> list[PlacedSite]:
    """Each site placed in the cohort by the assessment its dashboard shows (page and API)."""
    return [_placed(session, site, shown_assessment(session, reader, site)) for site in sites]


def cohort_caveat(placed: Sequence[PlacedSite]) -> str:
    """The first placed site's caveat (it is the cohort's), else the cohort's own."""
    for row in placed:
        if row.placement is not None:
            return row.placement.caveat
    return small_cohort_caveat()


def small_cohort_caveat() -> str:
    """The caveat a cohort of nine deserves, for pages that place no site."""
    n = len(fda_cohort().sites)
    return (
        f"The cohort has only {n} sites, so each site above or below a score moves a percentile "
        f"by 100/{n} = {100 / n:.1f} points and the interval for the cohort mean is wide. Read "
        "ranks and percentiles as rough positions, not precise standings."
    )
