"""`qmm benchmark`: cohort statistics and a site's place against a cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from qmm.benchmark.cohort import FDA_COHORT_CITATION
from qmm.benchmark.service import load_cohort, place_site, workspace_cohort
from qmm.benchmark.statistics import CohortSummary, Placement, summarise_cohort
from qmm.cli.common import OutputFormat, boundary, console, fail, fmt_score, print_json, print_table
from qmm.framework.practice_areas import PRACTICE_AREAS
from qmm.sites.service import get_site


def benchmark(
    cohort: Path | None = typer.Option(
        None,
        "--cohort",
        help="Cohort CSV: a site column and one column per practice area "
        "code. Default: FDA's published 2024 cohort.",
    ),
    site: str | None = typer.Option(
        None, "--site", help="Place this site's latest assessment against the cohort."
    ),
    workspace: bool = typer.Option(
        False,
        "--workspace",
        help="Use this workspace's own sites (latest assessments) as the cohort.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Cohort statistics (spread, ICC(1), Cronbach's alpha, first component) or a site's place."""
    if workspace and cohort:
        fail("--cohort and --workspace name two different cohorts; give one")
    with boundary() as session:
        sites = workspace_cohort(session) if workspace else load_cohort(cohort)
        source = "this workspace's sites" if workspace else str(cohort or FDA_COHORT_CITATION)
        if site:
            assessment, placement = place_site(
                session, site=get_site(session, code=site), cohort=sites
            )
            label = f"{site}, assessment {assessment.id} '{assessment.title}'"
        else:
            summary = summarise_cohort(sites)
    if site:
        if fmt is OutputFormat.json:
            print_json(
                {"site": site, "assessment": assessment.id, "cohort": source, **placement.to_json()}
            )
        else:
            _render_placement(label, source, placement)
        return
    if fmt is OutputFormat.json:
        print_json({"cohort": source, **summary.to_json()})
    else:
        _render_summary(source, summary)


def _render_summary(source: str, summary: CohortSummary) -> None:
    codes = list(PRACTICE_AREAS)
    print_table(
        f"Cohort: {source}",
        ["site", *codes, "mean"],
        [[s.site, *(f"{s.scores[c]:.2f}" for c in codes), f"{s.mean:.2f}"] for s in summary.sites],
    )
    print_table(
        "Practice areas across sites",
        ["practice area", "mean", "min", "max", "range", "range / mean within-site range"],
        [
            [
                PRACTICE_AREAS[c],
                f"{p.mean:.2f}",
                f"{p.min:.2f}",
                f"{p.max:.2f}",
                f"{p.range:.2f}",
                "-" if p.range_to_within_ratio is None else f"{p.range_to_within_ratio:.2f}",
            ]
            for c, p in summary.practice_areas.items()
        ],
    )
    lo, hi = summary.icc1_interval
    alo, ahi = summary.cronbach_alpha_interval
    console.print(
        f"Mean within-site range: {summary.within_site_range_mean:.3f}\n"
        f"ICC(1): {summary.icc1:.3f} (95% CI {lo:.3f} to {hi:.3f})\n"
        f"Cronbach's alpha: {summary.cronbach_alpha:.3f} (95% CI {alo:.3f} to {ahi:.3f})\n"
        f"First principal component: {summary.first_component_share:.1%} of the variance",
        highlight=False,
    )
    console.print("[bold]What the numbers say[/]")
    for finding in summary.findings:
        console.print(f"- {finding}", highlight=False)


def _render_placement(label: str, source: str, placement: Placement) -> None:
    rows = []
    for code, p in placement.practice_areas.items():
        lo, hi = p.cohort_mean_interval
        rows.append(
            [
                PRACTICE_AREAS[code],
                fmt_score(p.score),
                f"{p.rank} of {p.of}",
                f"{p.percentile:.0f}",
                f"{p.cohort_mean:.2f} ({lo:.2f} to {hi:.2f})",
            ]
        )
    o = placement.overall
    rows.append(
        [
            "Overall (computed by QMM Workbench, not by FDA)",
            fmt_score(o.score),
            f"{o.rank} of {o.of}",
            f"{o.percentile:.0f}",
            f"{o.cohort_mean:.2f} ({o.cohort_mean_interval[0]:.2f} to "
            f"{o.cohort_mean_interval[1]:.2f})",
        ]
    )
    print_table(
        f"{label} against {source}",
        ["practice area", "score", "rank", "percentile", "cohort mean (95% CI)"],
        rows,
    )
    console.print(placement.caveat, highlight=False)
