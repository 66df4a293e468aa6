"""Benchmarks that print figures as ratios against a reference measured in the same run."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import text

from qmm.assessment.service import compute_scores, create_assessment, record_rating
from qmm.auth.service import create_user
from qmm.benchmark.cohort import CohortSite
from qmm.benchmark.statistics import summarise_cohort
from qmm.db import make_engine, unit_of_work
from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.framework.service import install_default
from qmm.migrate import upgrade
from qmm.sites.service import create_site


def best_of(fn: Callable[[], object], repeats: int = 7) -> float:
    """The fastest of several runs, in seconds: the least disturbed measurement."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_assessment_scores(workdir: Path, assessors: int = 8) -> None:
    """Roll-up of a full assessment against the bare query that fetches its current ratings."""
    engine = make_engine(f"sqlite:///{workdir / 'bench.sqlite3'}")
    upgrade(engine)
    rng = random.Random(7)
    with unit_of_work(engine) as session:
        framework = install_default(session)
        site = create_site(session, code="BENCH", name="Bench site")
        team = [
            create_user(session, username=f"assessor{i}", full_name=f"Assessor {i}")
            for i in range(assessors)
        ]
        assessment = create_assessment(
            session,
            site=site,
            framework=framework,
            kind="self",
            title="bench",
            lead=team[0],
            assessors=team[1:],
        )
        questions = [
            q for pa in framework.practice_areas for se in pa.sub_elements for q in se.questions
        ]
        for _round in range(2):  # a second round supersedes the first: history is kept
            for user in team:
                for question in questions:
                    record_rating(
                        session,
                        assessment=assessment,
                        question=question,
                        assessor=user,
                        score=rng.randint(1, 5),
                        rationale="seen",
                    )
        assessment_id = assessment.id
    n_ratings = len(questions) * assessors

    def ours() -> None:
        with unit_of_work(engine) as session:
            from qmm.assessment.service import get_assessment

            compute_scores(session, assessment=get_assessment(session, assessment_id=assessment_id))

    def reference() -> None:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT q.code, r.score FROM ratings r JOIN framework_questions q "
                    "ON q.id = r.question_id WHERE r.assessment_id = :a "
                    "AND r.superseded_by_id IS NULL"
                ),
                {"a": assessment_id},
            ).all()
            by_q: dict[str, list[int]] = {}
            for code, score in rows:
                by_q.setdefault(code, []).append(score)
            {c: statistics.fmean(v) for c, v in by_q.items()}

    ours()
    t_ours, t_ref = best_of(ours), best_of(reference)
    print(
        f"assessment roll-up ({len(questions)} questions x {assessors} assessors = "
        f"{n_ratings} current ratings, {2 * n_ratings} stored)"
    )
    print(f"  ours (ORM load, roll-up, Krippendorff's alpha): {t_ours * 1000:.1f} ms")
    print(f"  reference (one SQL query + per-question mean):  {t_ref * 1000:.1f} ms")
    print(f"  ratio ours / reference: {t_ours / t_ref:.1f}x")
    engine.dispose()


def bench_cohort(n_sites: int = 1000) -> None:
    """Cohort statistics against numpy's correlation matrix of the same scores."""
    rng = np.random.default_rng(1)
    base = rng.uniform(2, 4.5, size=n_sites)
    scores = np.clip(base[:, None] + rng.normal(0, 0.3, size=(n_sites, 5)), 1, 5)
    sites = [
        CohortSite(
            site=f"S{i}", scores=dict(zip(PRACTICE_AREA_CODES, map(float, row), strict=True))
        )
        for i, row in enumerate(scores)
    ]
    t_ours = best_of(lambda: summarise_cohort(sites))
    t_ref = best_of(lambda: np.linalg.eigvalsh(np.corrcoef(scores, rowvar=False)))
    print(f"cohort statistics ({n_sites} sites)")
    print(f"  ours (all statistics, intervals, findings): {t_ours * 1000:.2f} ms")
    print(f"  reference (numpy correlation + eigenvalues): {t_ref * 1000:.3f} ms")
    print(f"  ratio ours / reference: {t_ours / t_ref:.0f}x")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_assessment_scores(Path(tmp))
    bench_cohort()


if __name__ == "__main__":
    main()
