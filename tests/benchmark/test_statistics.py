"""Cohort statistics, checked against arithmetic done by hand and against other formulations."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import pytest

from qmm.benchmark.cohort import CohortSite, read_cohort_csv, shipped_fda_cohort_path
from qmm.benchmark.statistics import (
    OVERALL_LABEL,
    CohortSummary,
    place_scores,
    summarise_cohort,
)
from qmm.errors import InvalidInput
from qmm.framework.practice_areas import PRACTICE_AREA_CODES

MC, BC, PQS, TE, EE = PRACTICE_AREA_CODES


def site(name: str, *scores: float) -> CohortSite:
    return CohortSite(name, dict(zip(PRACTICE_AREA_CODES, scores, strict=True)))


# The hand cohort: three sites, five areas (k = 5), integer scores.
#
#            MC  BC  PQS TE  EE | total  mean  range  deviations from mean  SS  variance
#   S1        1   2   2   2   3 |   10     2      2   -1  0  0  0 +1         2   2/4 = 0.5
#   S2        3   3   4   3   2 |   15     3      2    0  0 +1  0 -1         2   2/4 = 0.5
#   S3        5   4   3   4   4 |   20     4      2   +1  0 -1  0  0         2   2/4 = 0.5
#
#   area mean 3   3   3   3   3     grand mean 3
#   deviations of each area from its mean, over S1, S2, S3:
#   MC (-2, 0, +2)  BC (-1, 0, +1)  PQS (-1, +1, 0)  TE (-1, 0, +1)  EE (0, -1, +1)
#   area variance (ddof=1): MC 8/2 = 4, BC 2/2 = 1, PQS 1, TE 1, EE 1; sum = 8
HAND = [site("S1", 1, 2, 2, 2, 3), site("S2", 3, 3, 4, 3, 2), site("S3", 5, 4, 3, 4, 4)]


def f_quantile_df1_2(q: float, df2: int) -> float:
    """F(2, df2) has CDF 1 - (1 + 2x/df2)^(-df2/2), so its quantile has a closed form."""
    return df2 / 2 * ((1 - q) ** (-2 / df2) - 1)


def t_quantile_df_2(q: float) -> float:
    """Student's t with 2 degrees of freedom: t_q = (2q - 1) / sqrt(2q(1 - q))."""
    return (2 * q - 1) / math.sqrt(2 * q * (1 - q))


@pytest.fixture(scope="module")
def hand() -> CohortSummary:
    return summarise_cohort(HAND)


@pytest.fixture(scope="module")
def fda_sites() -> list[CohortSite]:
    return read_cohort_csv(shipped_fda_cohort_path())


@pytest.fixture(scope="module")
def fda(fda_sites: list[CohortSite]) -> CohortSummary:
    return summarise_cohort(fda_sites)


class TestSummariseCohort:
    def test_it_computes_the_within_site_spread(self, hand: CohortSummary) -> None:
        # Every site's range is 2 and its variance 0.5, so both means are those numbers.
        assert hand.within_site_range_mean == pytest.approx(2.0)
        assert hand.within_site_variance_mean == pytest.approx(0.5)

    def test_it_summarises_each_practice_area(self, hand: CohortSummary) -> None:
        mc = hand.practice_areas[MC]
        # MC scores 1, 3, 5: mean 3, range 5 - 1 = 4, variance 8/2 = 4, sd 2, 4 / 2 = 2.
        assert (mc.mean, mc.min, mc.max, mc.range) == pytest.approx((3, 1, 5, 4))
        assert mc.between_site_variance == pytest.approx(4.0)
        assert mc.sd == pytest.approx(2.0)
        assert mc.range_to_within_ratio == pytest.approx(2.0)
        ee = hand.practice_areas[EE]
        # EE scores 3, 2, 4: mean 3, range 2, variance (0 + 1 + 1)/2 = 1, sd 1, ratio 2 / 2 = 1.
        assert (ee.mean, ee.min, ee.max, ee.range) == pytest.approx((3, 2, 4, 2))
        assert (ee.between_site_variance, ee.sd) == pytest.approx((1, 1))
        assert ee.range_to_within_ratio == pytest.approx(1.0)
        assert list(hand.practice_areas) == list(PRACTICE_AREA_CODES)

    def test_it_computes_icc1(self, hand: CohortSummary) -> None:
        # Site means 2, 3, 4 around the grand mean 3:
        #   SSB = k * sum((mean - 3)^2) = 5 * (1 + 0 + 1) = 10, MSB = 10 / (n - 1) = 10 / 2 = 5
        #   SSW = 2 + 2 + 2 = 6, MSW = 6 / (n (k - 1)) = 6 / 12 = 0.5
        #   ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW) = 4.5 / (5 + 2) = 4.5 / 7 = 0.642857...
        assert hand.icc1 == pytest.approx(4.5 / 7)

    def test_it_gives_the_f_based_interval_for_icc1(self, hand: CohortSummary) -> None:
        # F = MSB / MSW = 10 with df 2 and 12.
        #   F(0.975; 2, 12) = 6 * (0.025^(-1/6) - 1) = 5.0959 (tables: 5.10)
        #   F(0.975; 12, 2) = 1 / F(0.025; 2, 12) = 1 / (6 * (0.975^(-1/6) - 1)) = 39.415
        #   FL = 10 / 5.0959 = 1.9624, lower = (FL - 1) / (FL + 4) = 0.9624 / 5.9624 = 0.1614
        #   FU = 10 * 39.415 = 394.15, upper = (FU - 1) / (FU + 4) = 393.15 / 398.15 = 0.9874
        f_lower = 10 / f_quantile_df1_2(0.975, 12)
        f_upper = 10 / f_quantile_df1_2(0.025, 12)
        lower, upper = hand.icc1_interval
        assert lower == pytest.approx((f_lower - 1) / (f_lower + 4))
        assert upper == pytest.approx((f_upper - 1) / (f_upper + 4))
        assert (lower, upper) == pytest.approx((0.1614, 0.9874), abs=1e-4)

    def test_it_computes_cronbach_alpha_with_the_feldt_interval(self, hand: CohortSummary) -> None:
        # Totals 10, 15, 20: variance (25 + 0 + 25) / 2 = 25. Sum of area variances = 8.
        #   alpha = 5/4 * (1 - 8/25) = 1.25 * 0.68 = 0.85
        # Feldt: (1 - alpha) / (1 - alpha_hat) ~ F(n - 1, (n - 1)(k - 1)) = F(2, 8)
        #   F(0.975; 2, 8) = 4 * (0.025^(-1/4) - 1) = 6.0595 -> lower = 1 - 0.15 * 6.0595 = 0.0911
        #   F(0.025; 2, 8) = 4 * (0.975^(-1/4) - 1) = 0.0254 -> upper = 1 - 0.15 * 0.0254 = 0.9962
        assert hand.cronbach_alpha == pytest.approx(0.85)
        lower, upper = hand.cronbach_alpha_interval
        assert lower == pytest.approx(1 - 0.15 * f_quantile_df1_2(0.975, 8))
        assert upper == pytest.approx(1 - 0.15 * f_quantile_df1_2(0.025, 8))
        assert (lower, upper) == pytest.approx((0.0911, 0.9962), abs=1e-4)

    def test_it_computes_the_correlation_eigenvalues(self, hand: CohortSummary) -> None:
        # Correlation = cosine of the deviation vectors. MC, BC and TE all point along
        # (-1, 0, 1); PQS = (-1, 1, 0) and EE = (0, -1, 1) each meet it at 0.5 and each
        # other at -0.5. With unit vectors u_i as columns of U (3 x 5), R = U'U shares its
        # non-zero eigenvalues with UU' = 1/2 [[4, -1, -3], [-1, 2, -1], [-3, -1, 4]]:
        #   UU' (1, 0, -1) = 1/2 (7, 0, -7) -> 3.5;  UU' (1, -2, 1) = 1/2 (3, -6, 3) -> 1.5;
        #   UU' (1, 1, 1) = 0. Trace 5 = 3.5 + 1.5, so R has 3.5, 1.5, 0, 0, 0.
        assert hand.eigenvalues == pytest.approx([3.5, 1.5, 0, 0, 0], abs=1e-9)
        # First component share = 3.5 / 5 = 0.7
        assert hand.first_component_share == pytest.approx(0.7)

    def test_it_reads_the_hand_cohort_in_its_findings(self, hand: CohortSummary) -> None:
        text = "\n".join(hand.findings)
        assert "ICC(1) is 0.64 (95% CI 0.16 to 0.99)" in text
        assert "about 64% of the variance" in text
        # alpha 0.85 is between 0.7 and 0.9
        assert "largely move together but fall short of one scale" in text
        assert "carries 70% of their standardised variance" in text
        assert "does not hold for this cohort" in text
        assert "With only 3 sites the intervals are wide" in text
        # MC has the widest range, 4: 4 / 2 = 2.00, 4 / 0.5 = 8.00, variance 4 / 0.5 = 8.00
        assert "Management Commitment to Quality has the widest between-site range" in text
        assert "4.00 / 2.0000 = 2.00, which does not exceed 4" in text
        assert "4.00 / 0.5000 = 8.00, which exceeds 4" in text
        assert "4.0000 / 0.5000 = 8.00, which exceeds 4" in text
        assert "different units" in text
        assert "range against variance, variance against variance." in text

    def test_it_reports_a_claim_that_holds_when_the_areas_move_together(self) -> None:
        # Each site's areas are its level plus the same small offsets, so the areas move as one.
        offsets = (0.0, 0.1, -0.1, 0.2, 0.0)
        sites = [
            site(f"S{level}", *(level + offset for offset in offsets))
            for level in (1.5, 2.5, 3.5, 4.5)
        ]
        text = "\n".join(summarise_cohort(sites).findings)
        assert "the five areas behave as one scale" in text
        assert "holds for this cohort (" in text
        assert "the lower ends of both intervals also meet those thresholds" in text

    def test_it_serialises_every_figure_unrounded(self, hand: CohortSummary) -> None:
        data = hand.to_json()
        assert {
            "sites",
            "practice_areas",
            "within_site_range_mean",
            "within_site_variance_mean",
            "icc1",
            "icc1_interval",
            "cronbach_alpha",
            "cronbach_alpha_interval",
            "first_component_share",
            "eigenvalues",
            "n_sites",
            "findings",
        } <= set(data)
        assert data["n_sites"] == 3
        assert data["icc1"] == hand.icc1
        assert data["icc1_interval"] == list(hand.icc1_interval)
        assert data["cronbach_alpha_interval"] == list(hand.cronbach_alpha_interval)
        assert data["eigenvalues"] == hand.eigenvalues
        assert data["sites"][1] == {
            "site": "S2",
            "scores": {MC: 3.0, BC: 3.0, PQS: 4.0, TE: 3.0, EE: 2.0},
            "mean": 3.0,
        }
        assert data["practice_areas"][MC] == {
            "mean": hand.practice_areas[MC].mean,
            "min": 1.0,
            "max": 5.0,
            "range": 4.0,
            "range_to_within_ratio": hand.practice_areas[MC].range_to_within_ratio,
            "sd": hand.practice_areas[MC].sd,
            "between_site_variance": hand.practice_areas[MC].between_site_variance,
        }
        assert json.loads(json.dumps(data)) == data

    def test_it_refuses_fewer_than_three_sites(self) -> None:
        with pytest.raises(InvalidInput, match="at least 3 sites"):
            summarise_cohort(HAND[:2])

    def test_it_names_a_practice_area_without_variance(self) -> None:
        sites = [site("S1", 1, 2, 3, 3, 3), site("S2", 2, 3, 3, 4, 3), site("S3", 3, 1, 3, 2, 1)]
        with pytest.raises(InvalidInput, match=r"'advanced_pqs'.*correlation .* undefined"):
            summarise_cohort(sites)

    def test_it_gives_no_ratio_when_no_site_varies_within(self) -> None:
        # Flat sites: within-site range 0, so range / within is undefined (None), ICC(1) = 1.
        sites = [site("S1", *[2] * 5), site("S2", *[3] * 5), site("S3", *[5] * 5)]
        summary = summarise_cohort(sites)
        assert summary.practice_areas[MC].range_to_within_ratio is None
        assert summary.icc1 == pytest.approx(1.0)
        assert summary.icc1_interval == (1.0, 1.0)
        assert any("cannot be tested" in finding for finding in summary.findings)


class TestFdaCohort:
    def test_it_matches_the_articles_within_site_spread(self, fda: CohortSummary) -> None:
        # Site ranges: A 0.8, B 1.3, C 0.9, D 0.6, E 0.5, F 0.4, G 0.5, H 0.5, I 0.4 = 5.9
        assert fda.within_site_range_mean == pytest.approx(5.9 / 9)
        mc = fda.practice_areas[MC]
        # Management commitment: 4.8 (B) - 2.2 (G) = 2.6
        assert mc.range == pytest.approx(2.6)
        assert mc.range_to_within_ratio == pytest.approx(2.6 / (5.9 / 9))
        assert mc.range_to_within_ratio == pytest.approx(3.966, abs=1e-3)

    def test_it_matches_icc1_from_an_explicit_sum_of_squares(
        self, fda: CohortSummary, fda_sites: list[CohortSite]
    ) -> None:
        rows = [list(s.scores.values()) for s in fda_sites]
        n, k = len(rows), len(rows[0])
        grand = sum(sum(row) for row in rows) / (n * k)
        ss_between = 0.0
        ss_within = 0.0
        for row in rows:
            row_mean = sum(row) / k
            ss_between += k * (row_mean - grand) ** 2
            for value in row:
                ss_within += (value - row_mean) ** 2
        ms_between, ms_within = ss_between / (n - 1), ss_within / (n * (k - 1))
        icc = (ms_between - ms_within) / (ms_between + (k - 1) * ms_within)
        assert fda.icc1 == pytest.approx(icc)
        assert fda.within_site_variance_mean == pytest.approx(ms_within)
        f_obs = ms_between / ms_within
        from scipy import stats  # here: importing SciPy takes a second of every worker's collection

        f_lo = f_obs / stats.f.ppf(0.975, n - 1, n * (k - 1))
        f_hi = f_obs * stats.f.ppf(0.975, n * (k - 1), n - 1)
        assert fda.icc1_interval == pytest.approx(
            ((f_lo - 1) / (f_lo + k - 1), (f_hi - 1) / (f_hi + k - 1))
        )
        assert fda.icc1 == pytest.approx(0.8589, abs=1e-4)

    def test_it_matches_alpha_from_a_two_way_anova(
        self, fda: CohortSummary, fda_sites: list[CohortSite]
    ) -> None:
        # Hoyt (1941): alpha = 1 - MS_residual / MS_sites in a sites x areas two-way ANOVA.
        rows = [list(s.scores.values()) for s in fda_sites]
        n, k = len(rows), len(rows[0])
        grand = sum(map(sum, rows)) / (n * k)
        site_means = [sum(row) / k for row in rows]
        area_means = [sum(row[j] for row in rows) / n for j in range(k)]
        ss_sites = k * sum((m - grand) ** 2 for m in site_means)
        ss_residual = sum(
            (rows[i][j] - site_means[i] - area_means[j] + grand) ** 2
            for i in range(n)
            for j in range(k)
        )
        ms_sites, ms_residual = ss_sites / (n - 1), ss_residual / ((n - 1) * (k - 1))
        alpha = 1 - ms_residual / ms_sites
        assert fda.cronbach_alpha == pytest.approx(alpha)
        df1, df2 = n - 1, (n - 1) * (k - 1)
        from scipy import stats  # here: importing SciPy takes a second of every worker's collection

        assert fda.cronbach_alpha_interval == pytest.approx(
            (
                1 - (1 - alpha) * stats.f.ppf(0.975, df1, df2),
                1 - (1 - alpha) * stats.f.ppf(0.025, df1, df2),
            )
        )
        assert fda.cronbach_alpha == pytest.approx(0.9787, abs=1e-4)

    def test_it_matches_the_first_component_by_power_iteration(
        self, fda: CohortSummary, fda_sites: list[CohortSite]
    ) -> None:
        columns = [[s.scores[code] for s in fda_sites] for code in PRACTICE_AREA_CODES]

        def standardised(values: list[float]) -> list[float]:
            mean = sum(values) / len(values)
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            return [(v - mean) / sd for v in values]

        z = [standardised(column) for column in columns]
        n = len(fda_sites)
        corr = [[sum(a * b for a, b in zip(x, y, strict=True)) / (n - 1) for y in z] for x in z]
        vector = [1.0] * 5
        for _ in range(500):
            product = [sum(r * v for r, v in zip(row, vector, strict=True)) for row in corr]
            norm = math.sqrt(sum(p * p for p in product))
            vector = [p / norm for p in product]
        top = sum(vector[i] * corr[i][j] * vector[j] for i in range(5) for j in range(5))
        assert fda.eigenvalues[0] == pytest.approx(top)
        assert fda.first_component_share == pytest.approx(top / 5)
        assert sum(fda.eigenvalues) == pytest.approx(5.0)
        assert fda.eigenvalues == sorted(fda.eigenvalues, reverse=True)

    def test_it_tests_the_articles_two_claims(self, fda: CohortSummary) -> None:
        text = "\n".join(fda.findings)
        assert "the five areas behave as one scale" in text
        assert "holds for this cohort (" in text
        assert "2.60 / 0.6556 = 3.97, which does not exceed 4" in text
        assert "2.60 / 0.0879 = 29.58, which exceeds 4" in text
        assert "Read as range against the average within-site range, it does not hold" in text
        assert "compares a range with a variance" in text


class TestPlaceScores:
    # Placed site: MC 5, BC 1, PQS 3, TE 4.5, EE 2; mean 15.5 / 5 = 3.1.
    PLACED: ClassVar[dict[str, float]] = {MC: 5.0, BC: 1.0, PQS: 3.0, TE: 4.5, EE: 2.0}

    def test_it_ranks_and_gives_mid_rank_percentiles(self) -> None:
        placement = place_scores(self.PLACED, HAND)
        got = {
            code: (p.score, p.rank, p.of, p.percentile)
            for code, p in placement.practice_areas.items()
        }
        assert got == {
            # cohort 1, 3, 5: none above, ties S3 -> rank 1; (2 below + 0.5 * 1 equal) / 3
            MC: (5.0, 1, 4, pytest.approx(100 * 2.5 / 3)),
            # cohort 2, 3, 4: all above -> rank 4; 0 below, 0 equal -> 0
            BC: (1.0, 4, 4, pytest.approx(0.0)),
            # cohort 2, 4, 3: 4 above -> rank 2; (1 below + 0.5 * 1 equal) / 3 = 50
            PQS: (3.0, 2, 4, pytest.approx(50.0)),
            # cohort 2, 3, 4: none above -> rank 1; 3 below -> 100
            TE: (4.5, 1, 4, pytest.approx(100.0)),
            # cohort 3, 2, 4: 3 and 4 above -> rank 3; (0 below + 0.5 * 1 equal) / 3
            EE: (2.0, 3, 4, pytest.approx(100 * 0.5 / 3)),
        }

    def test_it_gives_the_cohort_mean_with_a_t_interval(self) -> None:
        placement = place_scores(self.PLACED, HAND)
        mc = placement.practice_areas[MC]
        # MC cohort mean 3, sd 2, n 3: 3 +- t(0.975, 2) * 2 / sqrt(3)
        #   t(0.975, 2) = 0.95 / sqrt(2 * 0.975 * 0.025) = 4.3027 -> 3 +- 4.9683
        half = t_quantile_df_2(0.975) * 2 / math.sqrt(3)
        assert mc.cohort_mean == pytest.approx(3.0)
        assert mc.cohort_mean_interval == pytest.approx((3 - half, 3 + half))
        assert half == pytest.approx(4.9683, abs=1e-4)

    def test_it_places_the_overall_mean_against_site_means(self) -> None:
        placement = place_scores(self.PLACED, HAND)
        overall = placement.overall
        # mean 3.1 against site means 2, 3, 4: one above -> rank 2 of 4;
        # 2 below -> 100 * 2 / 3; cohort mean 3, sd 1 -> 3 +- 4.3027 / sqrt(3) = 3 +- 2.4841
        half = t_quantile_df_2(0.975) / math.sqrt(3)
        assert (overall.score, overall.rank, overall.of) == (pytest.approx(3.1), 2, 4)
        assert overall.percentile == pytest.approx(200 / 3)
        assert overall.cohort_mean_interval == pytest.approx((3 - half, 3 + half))

    def test_it_shares_the_best_rank_among_ties(self) -> None:
        cohort = [site("S1", 4, 1, 1, 1, 1), site("S2", 4, 2, 2, 2, 2), site("S3", 2, 3, 3, 3, 3)]
        scores = {MC: 4.0, BC: 3.0, PQS: 2.5, TE: 1.0, EE: 1.0}
        placement = place_scores(scores, cohort)
        mc = placement.practice_areas[MC]
        # MC 4 ties S1 and S2, none above -> rank 1; (1 below + 0.5 * 2 equal) / 3 = 66.67
        assert (mc.rank, mc.percentile) == (1, pytest.approx(200 / 3))
        # BC 3 ties S3 -> rank 1; (2 below + 0.5) / 3 = 83.33
        bc = placement.practice_areas[BC]
        assert (bc.rank, bc.percentile) == (1, pytest.approx(250 / 3))
        # TE 1 ties S1, two above -> rank 3; (0 + 0.5) / 3 = 16.67
        te = placement.practice_areas[TE]
        assert (te.rank, te.percentile) == (3, pytest.approx(50 / 3))
        # Overall: 11.5 / 5 = 2.3 vs site means 1.6, 2.4, 2.8: two above -> rank 3; 1 below
        assert (placement.overall.rank, placement.overall.percentile) == (
            3,
            pytest.approx(100 / 3),
        )

    def test_it_treats_equal_means_reached_differently_as_ties(
        self, fda_sites: list[CohortSite]
    ) -> None:
        # Site D's mean is 3.98; the same mean from other scores must tie, not rank apart.
        scores = {MC: 3.9, BC: 3.9, PQS: 3.9, TE: 4.3, EE: 3.9}
        assert sum(scores.values()) / 5 == pytest.approx(fda_sites[3].mean)
        overall = place_scores(scores, fda_sites).overall
        # Above 3.98: B 4.36, C 4.06, E 4.62, F 4.46 -> rank 5 of 10
        assert overall.rank == 5
        # Below: A 2.84, G 2.40, H 3.74, I 3.68 = 4; equal: D -> (4 + 0.5) / 9
        assert overall.percentile == pytest.approx(100 * 4.5 / 9)

    def test_it_explains_how_little_nine_sites_can_say(self, fda_sites: list[CohortSite]) -> None:
        placement = place_scores(self.PLACED, fda_sites)
        assert placement.n_cohort == 9
        assert "only 9 sites" in placement.caveat
        assert "100/9 = 11.1 points" in placement.caveat

    def test_it_serialises_with_the_overall_labelled_as_ours(self) -> None:
        placement = place_scores(self.PLACED, HAND)
        data = placement.to_json()
        assert set(data) == {"practice_areas", "overall", "n_cohort", "caveat"}
        assert data["overall"]["label"] == OVERALL_LABEL == "computed by QMM Workbench, not by FDA"
        assert data["practice_areas"][PQS] == {
            "score": 3.0,
            "rank": 2,
            "of": 4,
            "percentile": placement.practice_areas[PQS].percentile,
            "cohort_mean": 3.0,
            "cohort_mean_interval": list(placement.practice_areas[PQS].cohort_mean_interval),
        }
        assert data["n_cohort"] == 3
        assert json.loads(json.dumps(data)) == data

    def test_it_refuses_scores_outside_the_scale_or_missing_an_area(self) -> None:
        with pytest.raises(InvalidInput, match="outside 1 to 5"):
            place_scores(self.PLACED | {TE: 6.0}, HAND)
        with pytest.raises(InvalidInput, match=EE):
            place_scores(dict.fromkeys(PRACTICE_AREA_CODES[:4], 3.0), HAND)
        with pytest.raises(InvalidInput, match="at least 3 sites"):
            place_scores(self.PLACED, HAND[:2])
