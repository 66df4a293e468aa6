"""Benchmark of the event store at scale: history, incremental imports, memory (issue 14).

Every figure is a ratio against a reference measured in the same run, each import in a fresh
process so that its peak memory is its own:

- 36 monthly EM files imported by one `import_files` call vs the same samples as one file
  (target: at most 1.5x);
- importing month 36 alone into a store holding months 1-35 vs into an empty store (at most
  1.3x);
- the full KPI suite after 36 EM batches vs after one (at most 1.2x);
- peak RSS importing the whole EM file vs DuckDB reading it into a table (at most 1.5x and
  under 1 GB);
- import time of the whole EM file vs DuckDB's own reader (at most 2x).

The data are the demo extracts (`qmm.demo.extracts.write_demo_extracts`), as in bench/kpis.py.

Run: ``python bench/event_store.py --em-samples 1000000`` (a reduced size) or
``--em-samples 5000000`` (the issue's). The machine's other load shows in the figures: run it
alone when it counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from kpis import RESULT_MARK, SEED, _maxrss, _run_child, em_rate_for

END = date(2026, 10, 31)
MONTHS = 36
TARGETS = {
    "monthly files vs one file": 1.5,
    "month 36 into 35 months vs into empty": 1.3,
    "KPI suite after 36 batches vs 1": 1.2,
    "import peak RSS vs DuckDB reader": 1.5,
    "import time vs DuckDB reader": 2.0,
}


def _env(data_dir: Path) -> dict[str, str]:
    return {
        "QMM_DATA_DIR": str(data_dir),
        "QMM_DATABASE_URL": f"sqlite:///{data_dir / 'qmm.sqlite3'}",
        "QMM_EVENTS_URL": str(data_dir / "events"),
    }


def child_import(paths: list[Path], data_dir: Path) -> dict[str, Any]:
    """Import PATHS in one call into the store of DATA_DIR (created when new)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(_env(data_dir))
    from qmm.db import make_engine, unit_of_work
    from qmm.events.importer import import_files
    from qmm.events.store import EventStore
    from qmm.migrate import upgrade

    engine = make_engine(f"sqlite:///{data_dir / 'qmm.sqlite3'}")
    upgrade(engine)
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        batches = import_files(session, paths=paths, store=EventStore(data_dir / "events"))
        rows = sum(b.rows for b in batches)
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"seconds": seconds, "rss_peak": _maxrss(), "rows": rows}


def child_kpis(data_dir: Path, repeats: int) -> dict[str, Any]:
    """The full KPI suite on the store of DATA_DIR, opened afresh each time: the best time."""
    os.environ.update(_env(data_dir))
    from qmm.db import make_engine, unit_of_work
    from qmm.events.store import EventStore
    from qmm.metrics.engine import compute
    from qmm.metrics.service import KPI_TABLES

    engine = make_engine(f"sqlite:///{data_dir / 'qmm.sqlite3'}")
    times = []
    values = 0
    for _ in range(repeats):
        start = time.perf_counter()
        with unit_of_work(engine) as session:
            backend = EventStore(data_dir / "events").connect(session)
            present = set(backend.list_tables())
            tables = {n: backend.table(n) for n in KPI_TABLES if n in present}
            values = len(compute(tables, as_of=END))
        times.append(time.perf_counter() - start)
    engine.dispose()
    return {"seconds": min(times), "values": values, "rss_peak": _maxrss()}


def _child(kind: str, data_dir: Path, paths: list[Path] | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
    command += ["--data-dir", str(data_dir)]
    for path in paths or []:
        command += ["--path", str(path)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **_env(data_dir)}, check=False
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_MARK))
            return result
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
    raise RuntimeError(f"the {kind} child failed (exit {done.returncode}):\n{tail}")


def split_by_month(em_csv: Path, out: Path) -> list[Path]:
    """The EM extract as one file per month of sampled_at, the last MONTHS months, in order."""
    con = duckdb.connect()
    source = f"read_csv('{em_csv}', all_varchar = true)"
    months = [
        str(r[0])
        for r in con.execute(
            f"SELECT DISTINCT substr(sampled_at, 1, 7) AS m FROM {source} ORDER BY m"
        ).fetchall()
    ][-MONTHS:]
    paths = []
    for number, month in enumerate(months, start=1):
        folder = out / f"month-{number:02d}"
        folder.mkdir(parents=True)
        path = folder / "em_sample.csv"
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE substr(sampled_at, 1, 7) = '{month}') "
            f"TO '{path}' (HEADER, DELIMITER ',')"
        )
        paths.append(path)
    whole = out / "whole" / "em_sample.csv"
    whole.parent.mkdir()
    con.execute(
        f"COPY (SELECT * FROM {source} WHERE substr(sampled_at, 1, 7) >= '{months[0]}') "
        f"TO '{whole}' (HEADER, DELIMITER ',')"
    )
    con.close()
    return [*paths, whole]


def run(args: argparse.Namespace, work: Path) -> dict[str, tuple[float, float]]:
    """Each figure's measured value and reference."""
    from qmm.demo.extracts import write_demo_extracts

    years = 3
    rate = em_rate_for(args.em_samples, args.sites, years)
    print(f"-- generating the demo extracts ({args.sites} sites, EM rate {rate}) ...", flush=True)
    files = write_demo_extracts(
        work / "extracts",
        sites=args.sites,
        years=years,
        seed=SEED,
        end=END,
        fmt="csv",
        em_samples_per_room_day=rate,
    )
    *monthly, whole = split_by_month(Path(files["em_sample"]), work / "em")
    others = [Path(p) for name, p in files.items() if name not in ("em_sample",)]
    figures: dict[str, tuple[float, float]] = {}

    print("-- 36 monthly files vs one file ...", flush=True)
    many = _child("import", work / "many", monthly)
    one = _child("import", work / "one", [whole])
    print(f"   {many['rows']:,} samples: {many['seconds']:.1f} s vs {one['seconds']:.1f} s")
    figures["monthly files vs one file"] = (many["seconds"], one["seconds"])

    print("-- month 36 into 35 months vs into an empty store ...", flush=True)
    _child("import", work / "grown", monthly[:-1])
    last = _child("import", work / "grown", monthly[-1:])
    alone = _child("import", work / "alone", monthly[-1:])
    print(f"   {last['seconds']:.2f} s vs {alone['seconds']:.2f} s")
    figures["month 36 into 35 months vs into empty"] = (last["seconds"], alone["seconds"])

    print("-- KPI suite after 36 EM batches vs after 1 ...", flush=True)
    _child("import", work / "many", others)
    _child("import", work / "one", others)
    after_many = _child("kpis", work / "many")
    after_one = _child("kpis", work / "one")
    print(f"   {after_many['seconds']:.2f} s vs {after_one['seconds']:.2f} s")
    figures["KPI suite after 36 batches vs 1"] = (after_many["seconds"], after_one["seconds"])

    print("-- the whole EM file: import vs DuckDB's reader (fresh processes) ...", flush=True)
    ours = _run_child("import", whole, work / "peak-import")
    raw = _run_child("raw", whole, work / "peak-raw")
    figures["import peak RSS vs DuckDB reader"] = (ours["rss_peak"], raw["rss_peak"])
    figures["import time vs DuckDB reader"] = (ours["seconds"], raw["seconds"])
    print(
        f"   peak {ours['rss_peak'] / 2**20:,.0f} MB vs {raw['rss_peak'] / 2**20:,.0f} MB; "
        f"{ours['seconds']:.1f} s vs {raw['seconds']:.1f} s"
    )
    figures["_rows"] = (float(one["rows"]), 0.0)
    return figures


def report(figures: dict[str, tuple[float, float]]) -> None:
    rows = int(figures.pop("_rows")[0])
    print(f"\nEvent store at {rows:,} EM samples over {MONTHS} months")
    print(f"{'figure':<42} {'ratio':>8} {'target':>8}  verdict")
    for name, (value, reference) in figures.items():
        ratio = value / reference if reference else float("nan")
        target = TARGETS[name]
        verdict = "PASS" if ratio <= target else "MISS"
        print(f"{name:<42} {ratio:>7.2f}x {target:>7.1f}x  {verdict}")
    peak = figures["import peak RSS vs DuckDB reader"][0]
    print(f"{'import peak RSS':<42} {peak / 2**20:>6,.0f} MB {'1024 MB':>9}  ", end="")
    print("PASS" if peak < 2**30 else "MISS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--em-samples", type=int, default=1_000_000)
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--child", choices=("import", "kpis"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "import":
            result = child_import(args.path, args.data_dir)
        else:
            result = child_kpis(args.data_dir, repeats=3)
        print(RESULT_MARK + json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory(prefix="qmm-bench-store-") as scratch:
        report(run(args, Path(scratch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
