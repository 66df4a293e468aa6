"""Cohort statistics that let a reader test claims about a QMM benchmark, not just trust them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from qmm.benchmark.cohort import MAX_SCORE, MIN_SCORE, MIN_SITES, CohortSite
from qmm.errors import InvalidInput
from qmm.framework.practice_areas import PRACTICE_AREA_CODES, PRACTICE_AREAS

Matrix = npt.NDArray[np.float64]

CONFIDENCE: Final[float] = 0.95
ONE_SCALE_ALPHA: Final[float] = 0.9
LOOSE_SCALE_ALPHA: Final[float] = 0.7
MAJORITY_BETWEEN_SITES: Final[float] = 0.5
CLAIMED_MULTIPLE: Final[float] = 4.0
OVERALL_LABEL: Final[str] = "computed by QMM Workbench, not by FDA"
_TIE_TOLERANCE: Final[float] = 1e-9


@dataclass(frozen=True)
class PracticeAreaSummary:
    """How one practice area spreads across the cohort, to compare with spread within sites."""

    mean: float
    min: float
    max: float
    range: float
    range_to_within_ratio: float | None
    sd: float
    between_site_variance: float

    def to_json(self) -> dict[str, Any]:
        """Plain values, unrounded, so a reader can recompute every figure."""
        return asdict(self)


@dataclass(frozen=True)
class CohortSummary:
    """Every cohort statistic and the plain-language findings drawn from them, kept together."""

    sites: list[CohortSite]
    practice_areas: dict[str, PracticeAreaSummary]
    within_site_range_mean: float
    within_site_variance_mean: float
    icc1: float
    icc1_interval: tuple[float, float]
    cronbach_alpha: float
    cronbach_alpha_interval: tuple[float, float]
    first_component_share: float
    eigenvalues: list[float]
    findings: list[str]

    def to_json(self) -> dict[str, Any]:
        """Plain values, unrounded, so the figures survive a trip through JSON unchanged."""
        return {
            "sites": [
                {"site": site.site, "scores": dict(site.scores), "mean": site.mean}
                for site in self.sites
            ],
            "practice_areas": {
                code: summary.to_json() for code, summary in self.practice_areas.items()
            },
            "within_site_range_mean": self.within_site_range_mean,
            "within_site_variance_mean": self.within_site_variance_mean,
            "icc1": self.icc1,
            "icc1_interval": list(self.icc1_interval),
            "cronbach_alpha": self.cronbach_alpha,
            "cronbach_alpha_interval": list(self.cronbach_alpha_interval),
            "first_component_share": self.first_component_share,
            "eigenvalues": list(self.eigenvalues),
            "n_sites": len(self.sites),
            "findings": list(self.findings),
        }


@dataclass(frozen=True)
class AreaPlacement:
    """Where one score sits in the cohort, with the uncertainty of the cohort mean beside it."""

    score: float
    rank: int
    of: int
    percentile: float
    cohort_mean: float
    cohort_mean_interval: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        """Plain values, unrounded, so a report can format them as it needs."""
        return {
            "score": self.score,
            "rank": self.rank,
            "of": self.of,
            "percentile": self.percentile,
            "cohort_mean": self.cohort_mean,
            "cohort_mean_interval": list(self.cohort_mean_interval),
        }


@dataclass(frozen=True)
class Placement:
    """A site's scores placed against a cohort, with the caveat a small cohort demands."""

    practice_areas: dict[str, AreaPlacement]
    overall: AreaPlacement
    n_cohort: int
    caveat: str

    def to_json(self) -> dict[str, Any]:
        """Plain values, with the overall labelled as ours because FDA publishes no such mean."""
        return {
            "practice_areas": {
                code: placement.to_json() for code, placement in self.practice_areas.items()
            },
            "overall": {**self.overall.to_json(), "label": OVERALL_LABEL},
            "n_cohort": self.n_cohort,
            "caveat": self.caveat,
        }


def summarise_cohort(sites: list[CohortSite]) -> CohortSummary:
    """Compute the cohort statistics and findings so claims about the cohort can be checked."""
    _require_cohort_size(sites)
    scores = _score_matrix(sites)
    n_sites, k = scores.shape
    area_variances = scores.var(axis=0, ddof=1)
    for code, variance in zip(PRACTICE_AREA_CODES, area_variances, strict=True):
        if variance == 0.0:
            raise InvalidInput(
                f"practice area {code!r} ({PRACTICE_AREAS[code]}) has the same score at every "
                "site, so its correlation with the other areas is undefined"
            )

    within_ranges = scores.max(axis=1) - scores.min(axis=1)
    within_range_mean = float(within_ranges.mean())
    within_variance_mean = float(scores.var(axis=1, ddof=1).mean())

    practice_areas: dict[str, PracticeAreaSummary] = {}
    for index, code in enumerate(PRACTICE_AREA_CODES):
        column = scores[:, index]
        area_range = float(column.max() - column.min())
        practice_areas[code] = PracticeAreaSummary(
            mean=float(column.mean()),
            min=float(column.min()),
            max=float(column.max()),
            range=area_range,
            range_to_within_ratio=_ratio(area_range, within_range_mean),
            sd=float(math.sqrt(area_variances[index])),
            between_site_variance=float(area_variances[index]),
        )

    icc1, icc1_interval = _icc1(scores)
    alpha, alpha_interval = _cronbach_alpha(scores)
    eigenvalues = [float(value) for value in sorted(np.linalg.eigvalsh(np.corrcoef(scores.T)))]
    eigenvalues.reverse()
    first_component_share = eigenvalues[0] / k

    findings = _consistency_findings(
        n_sites, icc1, icc1_interval, alpha, alpha_interval, first_component_share
    ) + _spread_findings(practice_areas, within_range_mean, within_variance_mean)
    return CohortSummary(
        sites=list(sites),
        practice_areas=practice_areas,
        within_site_range_mean=within_range_mean,
        within_site_variance_mean=within_variance_mean,
        icc1=icc1,
        icc1_interval=icc1_interval,
        cronbach_alpha=alpha,
        cronbach_alpha_interval=alpha_interval,
        first_component_share=first_component_share,
        eigenvalues=eigenvalues,
        findings=findings,
    )


def place_scores(scores: dict[str, float], cohort: list[CohortSite]) -> Placement:
    """Place a site against a cohort, keeping the small-cohort uncertainty in view."""
    _require_cohort_size(cohort)
    own = CohortSite("(placed site)", scores)
    for code, value in own.scores.items():
        if not math.isfinite(value) or not MIN_SCORE <= value <= MAX_SCORE:
            raise InvalidInput(
                f"score {value!r} for {code!r} is outside {MIN_SCORE:g} to {MAX_SCORE:g}"
            )
    n_cohort = len(cohort)
    areas = {
        code: _place(own.scores[code], [site.scores[code] for site in cohort])
        for code in PRACTICE_AREA_CODES
    }
    overall = _place(own.mean, [site.mean for site in cohort])
    step = 100.0 / n_cohort
    low, high = overall.cohort_mean_interval
    caveat = (
        f"The cohort has only {n_cohort} sites, so the {CONFIDENCE:.0%} interval for its mean is "
        f"wide (overall {low:.2f} to {high:.2f}), and each cohort site above or below a score "
        f"moves its percentile by 100/{n_cohort} = {step:.1f} points. Read ranks and percentiles "
        "as rough positions, not precise standings."
    )
    return Placement(practice_areas=areas, overall=overall, n_cohort=n_cohort, caveat=caveat)


def _require_cohort_size(sites: list[CohortSite]) -> None:
    """Refuse a cohort too small for a variance, an interval or a correlation to mean anything."""
    if len(sites) < MIN_SITES:
        raise InvalidInput(
            f"the cohort has {len(sites)} site{'' if len(sites) == 1 else 's'}; "
            f"the cohort statistics need at least {MIN_SITES} sites"
        )


def _score_matrix(sites: list[CohortSite]) -> Matrix:
    """Sites as rows and practice areas as columns, in the shared practice-area order."""
    return np.array(
        [[site.scores[code] for code in PRACTICE_AREA_CODES] for site in sites], dtype=np.float64
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    """A ratio, or None when the denominator is zero and the ratio does not exist."""
    return None if denominator == 0.0 else numerator / denominator


def _icc1(scores: Matrix) -> tuple[float, tuple[float, float]]:
    """ICC(1) with its F-based interval: the share of score variance that lies between sites."""
    n, k = scores.shape
    site_means = scores.mean(axis=1)
    grand_mean = scores.mean()
    ms_between = k * float(((site_means - grand_mean) ** 2).sum()) / (n - 1)
    ms_within = float(((scores - site_means[:, None]) ** 2).sum()) / (n * (k - 1))
    icc = (ms_between - ms_within) / (ms_between + (k - 1) * ms_within)
    if ms_within == 0.0:
        return icc, (1.0, 1.0)
    # Shrout & Fleiss (1979); McGraw & Wong (1996), case 1.
    from scipy import stats  # here, not at the top: SciPy takes a second to import

    f_observed = ms_between / ms_within
    tail = 1.0 - (1.0 - CONFIDENCE) / 2.0
    df_between, df_within = n - 1, n * (k - 1)
    f_lower = f_observed / float(stats.f.ppf(tail, df_between, df_within))
    f_upper = f_observed * float(stats.f.ppf(tail, df_within, df_between))
    return icc, ((f_lower - 1.0) / (f_lower + k - 1), (f_upper - 1.0) / (f_upper + k - 1))


def _cronbach_alpha(scores: Matrix) -> tuple[float, tuple[float, float]]:
    """Cronbach's alpha with the Feldt interval: how far the five areas act as one scale."""
    n, k = scores.shape
    total_variance = float(scores.sum(axis=1).var(ddof=1))
    if total_variance == 0.0:
        raise InvalidInput(
            "every site has the same total over the five practice areas, so Cronbach's alpha "
            "is undefined"
        )
    item_variance_sum = float(scores.var(axis=0, ddof=1).sum())
    alpha = k / (k - 1) * (1.0 - item_variance_sum / total_variance)
    # Feldt (1965): (1 - alpha) / (1 - alpha_hat) follows F(n - 1, (n - 1)(k - 1)).
    from scipy import stats  # here, not at the top: SciPy takes a second to import

    half = (1.0 - CONFIDENCE) / 2.0
    df_sites, df_residual = n - 1, (n - 1) * (k - 1)
    lower = 1.0 - (1.0 - alpha) * float(stats.f.ppf(1.0 - half, df_sites, df_residual))
    upper = 1.0 - (1.0 - alpha) * float(stats.f.ppf(half, df_sites, df_residual))
    return alpha, (lower, upper)


def _consistency_findings(
    n_sites: int,
    icc1: float,
    icc1_interval: tuple[float, float],
    alpha: float,
    alpha_interval: tuple[float, float],
    first_component_share: float,
) -> list[str]:
    """Sentences that test the claim that maturity behaves like one property of a site."""
    k = len(PRACTICE_AREA_CODES)
    if icc1 > 0:
        icc_reading = (
            f"about {icc1:.0%} of the variance in a single practice-area score lies between "
            f"sites and {1 - icc1:.0%} between the areas of the same site"
        )
    else:
        icc_reading = "sites differ no more than the practice areas within a site do"
    if alpha >= ONE_SCALE_ALPHA:
        alpha_reading = "the five areas behave as one scale"
    elif alpha >= LOOSE_SCALE_ALPHA:
        alpha_reading = "the five areas largely move together but fall short of one scale"
    else:
        alpha_reading = "the five areas do not behave as one scale"
    findings = [
        f"ICC(1) is {icc1:.2f} ({CONFIDENCE:.0%} CI {icc1_interval[0]:.2f} to "
        f"{icc1_interval[1]:.2f}): {icc_reading}.",
        f"Cronbach's alpha over the five practice areas is {alpha:.2f} ({CONFIDENCE:.0%} Feldt "
        f"CI {alpha_interval[0]:.2f} to {alpha_interval[1]:.2f}): {alpha_reading} "
        f"(threshold {ONE_SCALE_ALPHA:g}).",
        f"The first principal component of the five areas' correlations carries "
        f"{first_component_share:.0%} of their standardised variance; if the areas were "
        f"unrelated each component would carry about {1 / k:.0%}.",
    ]
    holds = icc1 > MAJORITY_BETWEEN_SITES and alpha >= ONE_SCALE_ALPHA
    robust = icc1_interval[0] > MAJORITY_BETWEEN_SITES and alpha_interval[0] >= ONE_SCALE_ALPHA
    rule = (
        f"counting the claim as holding when more than {MAJORITY_BETWEEN_SITES:.0%} of the "
        f"variance lies between sites and alpha is at least {ONE_SCALE_ALPHA:g}"
    )
    if holds and robust:
        verdict = (
            "The claim that quality maturity behaves like a single property of a site holds for "
            f"this cohort ({rule}), and the lower ends of both intervals also meet those "
            "thresholds."
        )
    elif holds:
        verdict = (
            "The claim that quality maturity behaves like a single property of a site holds for "
            f"this cohort on the point estimates ({rule}), but the lower end of at least one "
            f"interval does not meet its threshold, so {n_sites} sites cannot rule out a "
            "weaker link."
        )
    else:
        verdict = (
            "The claim that quality maturity behaves like a single property of a site does not "
            f"hold for this cohort ({rule})."
        )
    findings.append(
        f"{verdict} With only {n_sites} sites the intervals are wide, and these statistics show "
        "that the five scores rise and fall together, not why: a shared impression of the "
        "assessors would produce the same pattern as a shared organisational property."
    )
    return findings


def _spread_findings(
    practice_areas: dict[str, PracticeAreaSummary],
    within_range_mean: float,
    within_variance_mean: float,
) -> list[str]:
    """Sentences that test the claim that one area's spread is over four times within-site."""
    widest = max(summary.range for summary in practice_areas.values())
    code = next(
        code for code, summary in practice_areas.items() if summary.range >= widest - _TIE_TOLERANCE
    )
    area = practice_areas[code]
    name = PRACTICE_AREAS[code]
    multiple = f"{CLAIMED_MULTIPLE:g}"
    findings = [
        f"{name} has the widest between-site range: {area.min:g} to {area.max:g}, a range of "
        f"{area.range:.2f} points. The average within-site range (highest minus lowest of a "
        f"site's five scores) is {within_range_mean:.4f} points and the average within-site "
        f"variance is {within_variance_mean:.4f} squared points."
    ]
    range_ratio = _ratio(area.range, within_range_mean)
    mixed_ratio = _ratio(area.range, within_variance_mean)
    variance_ratio = _ratio(area.between_site_variance, within_variance_mean)
    if range_ratio is None or mixed_ratio is None or variance_ratio is None:
        findings.append(
            "Every site scored the same in all five areas, so no ratio to within-site spread "
            f"exists and the claim of more than {multiple} times cannot be tested."
        )
        return findings

    def exceeds(ratio: float) -> str:
        return "exceeds" if ratio > CLAIMED_MULTIPLE else "does not exceed"

    sd_ratio = math.sqrt(variance_ratio)
    findings += [
        f"Range against range (like for like, both in points): {area.range:.2f} / "
        f"{within_range_mean:.4f} = {range_ratio:.2f}, which {exceeds(range_ratio)} "
        f"{multiple}.",
        f"Range against variance (as the claim is worded): {area.range:.2f} / "
        f"{within_variance_mean:.4f} = {mixed_ratio:.2f}, which {exceeds(mixed_ratio)} "
        f"{multiple}; but this compares a range in points with a variance in squared points, "
        "so the multiple changes with the units of the scale and means nothing on its own.",
        f"Variance against variance (like for like, both in squared points): "
        f"{area.between_site_variance:.4f} / {within_variance_mean:.4f} = {variance_ratio:.2f}, "
        f"which {exceeds(variance_ratio)} {multiple}; the matching ratio of standard "
        f"deviations is {sd_ratio:.2f}.",
    ]
    above = [
        label
        for label, ratio in (
            ("range against range", range_ratio),
            ("range against variance", mixed_ratio),
            ("variance against variance", variance_ratio),
        )
        if ratio > CLAIMED_MULTIPLE
    ]
    literal = "holds" if mixed_ratio > CLAIMED_MULTIPLE else "does not hold"
    like_for_like = "holds" if range_ratio > CLAIMED_MULTIPLE else "does not hold"
    findings.append(
        f"The claim that {name}'s between-site range is more than {multiple} times the average "
        f"within-site variance {literal} as worded, but the wording compares a range with a "
        f"variance, which are in different units. Read as range against the average "
        f"within-site range, it {like_for_like} ({range_ratio:.2f}). Comparisons above "
        f"{multiple}: {', '.join(above) if above else 'none'}."
    )
    return findings


def _place(score: float, cohort_scores: list[float]) -> AreaPlacement:
    """Rank, mid-rank percentile and cohort-mean interval for one score against the cohort."""
    n = len(cohort_scores)
    above = sum(1 for value in cohort_scores if value > score + _TIE_TOLERANCE)
    below = sum(1 for value in cohort_scores if value < score - _TIE_TOLERANCE)
    equal = n - above - below
    from scipy import stats  # here, not at the top: SciPy takes a second to import

    values = np.array(cohort_scores, dtype=np.float64)
    mean = float(values.mean())
    half_width = (
        float(stats.t.ppf(1.0 - (1.0 - CONFIDENCE) / 2.0, n - 1))
        * float(values.std(ddof=1))
        / math.sqrt(n)
    )
    return AreaPlacement(
        score=score,
        rank=above + 1,
        of=n + 1,
        percentile=100.0 * (below + 0.5 * equal) / n,
        cohort_mean=mean,
        cohort_mean_interval=(mean - half_width, mean + half_width),
    )
