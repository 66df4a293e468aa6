"""Benchmark of the KPI engine: the full KPI suite over a multi-site, multi-year demo data set.

Measured in one run, each figure as a ratio against a reference measured in the same run:

- the engine (``qmm.metrics.engine.compute``) against one hand-written DuckDB query per KPI on
  the same connection and views (target: at most 1.3x);
- a straightforward pandas implementation against the engine (target: at least 10x);
- importing the EM samples' CSV (``qmm.events.importer.import_files``) against DuckDB's own
  ``read_csv`` of the same file into a table (target: within 3x), with the peak memory of each,
  both in a fresh process so that the peak is theirs;
- whether the engine, the hand-written SQL and pandas agree on every value (a benchmark of
  wrong answers is worthless: the run exits with status 1 when they do not).

Run: ``python bench/kpis.py`` (10 sites, 5 years: about 10 million EM samples and about a
million other records; several minutes and a few GB of disk in a temporary directory) or
``python bench/kpis.py --quick`` (2 sites, 1 year) for a smoke run.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import kpi_reference as ref
import pandas as pd
import pyarrow as pa

END = date(2026, 10, 31)
SEED = 2026
TARGET_OURS_TO_HAND = 1.3  # at most
TARGET_PANDAS_TO_OURS = 10.0  # at least
TARGET_IMPORT_TO_RAW = 3.0  # at most
TOLERANCE = 1e-9
RESULT_MARK = "BENCH-RESULT "
RECORD_TYPES = (
    "site",
    "capa",
    "deviation",
    "change_control",
    "em_sample",
    "training",
    "supplier_car",
    "lot",
    "complaint",
    "distribution",
    "oos",
    "suggestion",
)
# What the hand-written SQL and pandas read besides the sites view: these views must exist.
NEEDED_VIEWS = tuple(name for name in ref.NEEDED_COLUMNS if name != "sites")


class BenchError(RuntimeError):
    """A step of the benchmark cannot run; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _need(module: str, *names: str) -> tuple[Any, ...]:
    """Attributes of a project module, or a clear error when it (or they) do not exist yet."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise BenchError(f"cannot import {module}: {exc}") from exc
    missing = [name for name in names if not hasattr(loaded, name)]
    if missing:
        raise BenchError(f"{module} has no {', '.join(missing)}")
    return tuple(getattr(loaded, name) for name in names)


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a project function, first checking that it takes these arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature to check: let the call tell
        return function(*args, **kwargs)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        name = f"{function.__module__}.{getattr(function, '__qualname__', function)}"
        raise BenchError(
            f"{name}{signature} does not take the arguments this benchmark passes "
            f"(keywords: {', '.join(kwargs) or 'none'}): {exc}"
        ) from exc
    return function(*args, **kwargs)


def _maxrss() -> int:
    """This process's peak resident set size so far, in bytes.

    On Linux from /proc (VmHWM): getrusage's ru_maxrss survives exec, so a child process
    would report its parent's peak when the parent's was higher.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _mb(n_bytes: float | None) -> str:
    return "n/a" if n_bytes is None else f"{n_bytes / 2**20:,.0f} MB"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _verdict(value: float | None, target: float, at_most: bool) -> str:
    if value is None:
        return "n/a"
    return "PASS" if (value <= target if at_most else value >= target) else "MISS"


@contextmanager
def _step(title: str) -> Iterator[None]:
    print(f"-- {title} ...", flush=True)
    start = time.perf_counter()
    yield
    print(f"   done in {time.perf_counter() - start:.1f} s", flush=True)


def _best(function: Callable[[], Any], repeats: int, warm_up: bool = True) -> tuple[float, Any]:
    """The fastest of ``repeats`` timed runs (after an untimed warm-up) and one run's result."""
    result = function() if warm_up else None
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def _arrow(connection: Any, sql: str) -> pa.Table:
    result = connection.sql(sql).arrow()
    return result.read_all() if hasattr(result, "read_all") else result


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _app_env(data_dir: Path) -> dict[str, str]:
    """Settings that keep the project's app database and event store inside data_dir."""
    return {
        "QMM_DATA_DIR": str(data_dir),
        "QMM_DATABASE_URL": f"sqlite:///{data_dir / 'qmm.sqlite3'}",
        "QMM_EVENTS_URL": str(data_dir / "events"),
    }


def _use_app_env(data_dir: Path) -> None:
    os.environ.update(_app_env(data_dir))
    config = sys.modules.get("qmm.config")
    if config is not None:
        config.get_settings.cache_clear()


def _app_database(data_dir: Path) -> Any:
    """A fresh SQLite app database at the newest schema."""
    make_engine, unit_of_work = _need("qmm.db", "make_engine", "unit_of_work")
    (upgrade,) = _need("qmm.migrate", "upgrade")
    engine = make_engine(f"sqlite:///{data_dir / 'qmm.sqlite3'}")
    upgrade(engine)
    return engine, unit_of_work


# ---------------------------------------------------------------------------------------------
# Child processes: one import each, so that the peak memory is the import's own
# ---------------------------------------------------------------------------------------------


def child_import(csv: Path, data_dir: Path, trace: bool) -> dict[str, Any]:
    """Import one CSV into a fresh event store and app database; time and peak memory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _use_app_env(data_dir)
    (import_files,) = _need("qmm.events.importer", "import_files")
    (event_store,) = _need("qmm.events.store", "EventStore")
    engine, unit_of_work = _app_database(data_dir)
    store = event_store(data_dir / "events")
    base = _maxrss()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        result = _call(import_files, session, paths=[csv], store=store)
    seconds = time.perf_counter() - start
    heap_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    engine.dispose()
    return {
        "seconds": seconds,
        "rss_base": base,
        "rss_peak": _maxrss(),
        "heap_peak": heap_peak,
        "result": repr(result)[:300],
    }


def child_raw(csv: Path, data_dir: Path) -> dict[str, Any]:
    """DuckDB's own CSV reader into a table of a database file: the import's reference."""
    data_dir.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(data_dir / "raw.duckdb"))
    base = _maxrss()
    start = time.perf_counter()
    connection.execute(f"CREATE TABLE em_sample AS SELECT * FROM read_csv({_quote(csv)})")
    connection.execute("CHECKPOINT")
    seconds = time.perf_counter() - start
    (rows,) = connection.execute("SELECT count(*) FROM em_sample").fetchone() or (0,)
    connection.close()
    return {"seconds": seconds, "rss_base": base, "rss_peak": _maxrss(), "rows": rows}


def _run_child(kind: str, csv: Path, data_dir: Path, trace: bool = False) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--csv",
        str(csv),
        "--data-dir",
        str(data_dir),
    ]
    if trace:
        command.append("--child-trace")
    env = {**os.environ, **_app_env(data_dir)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line.removeprefix(RESULT_MARK))
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
    raise BenchError(f"the {kind} child process failed (exit {done.returncode}):\n{tail}")


# ---------------------------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------------------------


def em_rate_for(target: int, sites: int, years: int) -> int | None:
    """The generator's EM samples per room and day that give about ``target`` samples."""
    try:
        (estimate,) = _need("qmm.demo.extracts", "em_total_samples")
    except BenchError as exc:
        raise BenchError(f"{exc}; run with --em-samples 0 for the generator's volume") from exc

    def total(rate: int) -> int:
        return int(estimate(sites=sites, years=years, em_samples_per_room_day=rate))

    low, high = 1, 1
    while total(high) < target and high < 1 << 20:
        low, high = high, high * 2
    while low < high:  # the smallest rate that reaches the target
        middle = (low + high) // 2
        low, high = (middle + 1, high) if total(middle) < target else (low, middle)
    return high


def _say(message: str) -> None:
    print(f"   {message}", flush=True)


def generate(
    out: Path, sites: int, years: int, em_rate: int | None
) -> tuple[dict[str, Path], Path, dict[str, float]]:
    """The demo extracts: em_sample as Parquet and the rest as CSV, plus em_sample as CSV."""
    (write_demo_extracts,) = _need("qmm.demo.extracts", "write_demo_extracts")
    common = {
        "sites": sites,
        "years": years,
        "seed": SEED,
        "end": END,
        "em_samples_per_room_day": em_rate,
        "progress": _say,
    }
    seconds = {}
    start = time.perf_counter()
    parquet = _call(write_demo_extracts, out / "parquet", fmt="parquet", **common)
    seconds["parquet"] = time.perf_counter() - start
    start = time.perf_counter()
    csv = _call(write_demo_extracts, out / "csv", fmt="csv", **common)
    seconds["csv"] = time.perf_counter() - start
    for fmt, paths in (("parquet", parquet), ("csv", csv)):
        if not isinstance(paths, Mapping) or "em_sample" not in paths:
            raise BenchError(
                f"write_demo_extracts(fmt={fmt!r}) returned {type(paths).__name__} "
                f"without an 'em_sample' entry; expected a dict of record type -> Path"
            )
    em_parquet, em_csv = Path(parquet["em_sample"]), Path(csv["em_sample"])
    if em_parquet.suffix != ".parquet":
        raise BenchError(f"fmt='parquet' wrote em_sample as {em_parquet.name}, not Parquet")
    if em_csv.suffix != ".csv":
        raise BenchError(f"fmt='csv' wrote em_sample as {em_csv.name}, not CSV")
    unknown = sorted(set(csv) - set(RECORD_TYPES))
    if unknown:
        print(f"   note: extracts of unknown record types left out: {', '.join(unknown)}")
    files = {name: Path(csv[name]) for name in RECORD_TYPES if name in csv}
    files["em_sample"] = em_parquet
    return files, em_csv, seconds


def check_schema(connection: Any) -> list[str]:
    """Where a view's column types differ from the contract's (the hand SQL assumes them)."""
    record_types = _need("qmm.events.record_types", "RECORD_TYPES")[0]
    families = {
        "string": ("VARCHAR",),
        "month": ("VARCHAR", "DATE"),
        "date": ("DATE",),
        "timestamp": ("TIMESTAMP",),
        "integer": ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "DOUBLE"),
        "number": ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "REAL"),
        "boolean": ("BOOLEAN",),
    }
    problems = []
    for name in NEEDED_VIEWS:
        types = {row[0]: row[1] for row in connection.execute(f'DESCRIBE "{name}"').fetchall()}
        for column in record_types[name].columns:
            if column.name not in types:
                if column.name in ref.NEEDED_COLUMNS[name]:
                    problems.append(f"{name}.{column.name} is missing")
                continue
            if not types[column.name].startswith(families[str(column.type)]):
                problems.append(
                    f"{name}.{column.name} is {types[column.name]}, contract type {column.type}"
                )
    return problems


def sites_view(connection: Any, views: list[str], files: Mapping[str, Path]) -> None:
    """A ``sites(site, headcount)`` view for the references, from the store or the extract."""
    if "sites" in views:
        return
    if "site" in views:
        source = "site"
    elif "site" in files:
        source = f"read_csv({_quote(files['site'])})"
    else:
        raise BenchError("no site view in the store and no site extract: no headcount")
    connection.execute(f"CREATE OR REPLACE TEMP VIEW sites AS SELECT site, headcount FROM {source}")


def result_frame(result: Any) -> pd.DataFrame:
    """The engine's result as a frame with RESULT_COLUMNS, whatever container it came in."""
    if isinstance(result, pd.DataFrame):
        frame = result
    elif hasattr(result, "to_pandas"):  # an Arrow table, an Ibis table
        frame = result.to_pandas()
    else:
        rows = []
        for item in result:
            if isinstance(item, Mapping):
                rows.append(dict(item))
            elif dataclasses.is_dataclass(item) and not isinstance(item, type):
                rows.append(dataclasses.asdict(item))
            elif hasattr(item, "model_dump"):
                rows.append(item.model_dump())
            elif hasattr(item, "_asdict"):
                rows.append(item._asdict())
            else:
                rows.append({c: getattr(item, c, None) for c in ref.RESULT_COLUMNS})
        frame = pd.DataFrame(rows)
    missing = [c for c in ref.RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise BenchError(
            f"the engine's result has no {', '.join(missing)} (columns: "
            f"{', '.join(map(str, frame.columns))}); expected {', '.join(ref.RESULT_COLUMNS)}"
        )
    return frame.loc[:, list(ref.RESULT_COLUMNS)]


def _materialise(result: Any) -> Any:
    """Finish a lazy result inside the timed region (an Ibis expression runs here)."""
    if isinstance(result, pd.DataFrame | pa.Table | list | tuple):
        return result
    if hasattr(result, "to_pyarrow"):
        return result.to_pyarrow()
    if hasattr(result, "read_all"):
        return result.read_all()
    if hasattr(result, "__iter__") and not isinstance(result, Mapping):
        return list(result)
    return result


def load_frames(connection: Any) -> dict[str, pd.DataFrame]:
    """The views' needed columns as pandas frames (datetime64 dates, tz-aware timestamps)."""
    frames = {}
    for name, columns in ref.NEEDED_COLUMNS.items():
        present = {row[0] for row in connection.execute(f'DESCRIBE "{name}"').fetchall()}
        missing = [c for c in columns if c not in present]
        if missing:
            raise BenchError(f"view {name} lacks {', '.join(missing)}")
        select = ", ".join(f'"{c}"' for c in columns)
        frames[name] = _arrow(connection, f'SELECT {select} FROM "{name}"').to_pandas(
            date_as_object=False
        )
    return frames


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Figures:
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    em_rate: int | None = None
    generate: dict[str, float] = dataclasses.field(default_factory=dict)
    csv_bytes: int = 0
    ours_import: dict[str, Any] = dataclasses.field(default_factory=dict)
    raw_import: dict[str, Any] = dataclasses.field(default_factory=dict)
    heap_peak: int | None = None
    store_import: float = 0.0
    ours: float = 0.0
    ours_first: float = 0.0
    hand: float = 0.0
    pandas: float | None = None
    pandas_load: float | None = None
    ours_per_kpi: dict[str, float] = dataclasses.field(default_factory=dict)
    hand_per_kpi: dict[str, float] = dataclasses.field(default_factory=dict)
    result_rows: int = 0
    rss_after_engine: int = 0
    rss_end: int = 0
    comparisons: list[ref.Comparison] = dataclasses.field(default_factory=list)
    schema_problems: list[str] = dataclasses.field(default_factory=list)


def run(args: argparse.Namespace, workdir: Path) -> Figures:
    figures = Figures()
    period, as_of, repeats = args.period, args.as_of, args.repeats

    em_rate = None
    if args.em_samples:
        em_rate = em_rate_for(args.em_samples, args.sites, args.years)
    figures.em_rate = em_rate
    with _step(
        f"generating demo extracts ({args.sites} sites, {args.years} years, EM samples per "
        f"room and day: {em_rate or 'default'}), with em_sample as Parquet and as CSV"
    ):
        files, em_csv, figures.generate = generate(
            workdir / "extracts", args.sites, args.years, em_rate
        )
    figures.csv_bytes = em_csv.stat().st_size

    with _step(f"importing {em_csv.name} ({_mb(figures.csv_bytes)}) in fresh processes"):
        with em_csv.open("rb") as handle:  # read once, so both readers start from the cache
            while handle.read(1 << 24):
                pass
        figures.raw_import = _run_child("raw", em_csv, workdir / "raw")
        figures.ours_import = _run_child("import", em_csv, workdir / "import")
        if args.trace:
            traced = _run_child("import", em_csv, workdir / "import-traced", trace=True)
            figures.heap_peak = traced["heap_peak"]

    app_dir = workdir / "app"
    app_dir.mkdir(parents=True, exist_ok=True)
    _use_app_env(app_dir)
    (import_files,) = _need("qmm.events.importer", "import_files")
    (event_store,) = _need("qmm.events.store", "EventStore")
    (compute,) = _need("qmm.metrics.engine", "compute")
    engine, unit_of_work = _app_database(app_dir)
    store = event_store(app_dir / "events")
    ordered = sorted(files, key=lambda name: (name != "site", name))
    with _step("importing every extract into the benchmark's event store"):
        start = time.perf_counter()
        with unit_of_work(engine) as session:
            _call(import_files, session, paths=[files[name] for name in ordered], store=store)
        figures.store_import = time.perf_counter() - start

    with unit_of_work(engine) as session:
        backend = _call(store.connect, session)
        connection = getattr(backend, "con", None)
        if not isinstance(connection, duckdb.DuckDBPyConnection):
            raise BenchError(
                f"EventStore.connect returned {type(backend).__name__} without a DuckDB "
                "connection in .con: the hand-written SQL must run on the same connection"
            )
        views = list(backend.list_tables())
        missing = [name for name in NEEDED_VIEWS if name not in views]
        if missing:
            raise BenchError(f"the store has no view for {', '.join(missing)}")
        sites_view(connection, views, files)
        views = list(backend.list_tables())
        tables = {n: backend.table(n) for n in (*RECORD_TYPES, "sites") if n in views}
        figures.schema_problems = check_schema(connection)
        for name in RECORD_TYPES:
            if name in views:
                (count,) = connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                figures.rows[name] = int(count)

        def ours_suite() -> Any:
            return _materialise(_call(compute, tables, period=period, as_of=as_of))

        queries = {k: ref.hand_sql(k, period, as_of) for k in ref.KPI_IDS}

        def hand_pass() -> tuple[dict[str, float], dict[str, pa.Table]]:
            timings, results = {}, {}
            for kpi_id, sql in queries.items():
                start = time.perf_counter()
                try:
                    results[kpi_id] = _arrow(connection, sql)
                except duckdb.Error as exc:
                    raise BenchError(
                        f"hand-written SQL for {kpi_id} failed on the store's views: {exc}"
                    ) from exc
                timings[kpi_id] = time.perf_counter() - start
            return timings, results

        with _step(
            f"our engine and the {len(queries)} hand-written queries, full suite, "
            f"a warm-up then {repeats} runs each, alternating"
        ):
            start = time.perf_counter()
            ours_raw = ours_suite()
            figures.ours_first = time.perf_counter() - start
            _, hand_results = hand_pass()
            ours_times, passes = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                ours_suite()
                ours_times.append(time.perf_counter() - start)
                passes.append(hand_pass()[0])
            figures.ours = min(ours_times)
            figures.hand = min(sum(p.values()) for p in passes)
            figures.hand_per_kpi = {k: min(p[k] for p in passes) for k in ref.KPI_IDS}
            ours = result_frame(ours_raw)
            figures.result_rows = len(ours)
            hand = ref.sort_results(
                pd.concat([hand_results[k].to_pandas() for k in ref.KPI_IDS], ignore_index=True)
            )
        parameters = inspect.signature(compute).parameters
        selector = next((p for p in ("kpis", "kpi_ids", "only") if p in parameters), None)
        if selector:
            with _step(f"our engine, one KPI at a time ({selector}=[...]), best of {repeats}"):
                for kpi_id in ref.KPI_IDS:
                    kwargs = {"period": period, "as_of": as_of, selector: [kpi_id]}
                    figures.ours_per_kpi[kpi_id], _ = _best(
                        lambda kwargs=kwargs: _materialise(compute(tables, **kwargs)),
                        repeats,
                        warm_up=False,  # the full suite's runs have warmed up
                    )
        figures.rss_after_engine = _maxrss()

        pandas_result = None
        if not args.no_pandas:
            with _step("loading the views into pandas (not timed as pandas' work)"):
                start = time.perf_counter()
                frames = load_frames(connection)
                figures.pandas_load = time.perf_counter() - start
            with _step(f"pandas, full suite, best of {repeats}"):
                figures.pandas, pandas_result = _best(
                    lambda: ref.pandas_kpis(frames, period=period, as_of=as_of),
                    repeats,
                    warm_up=False,
                )
            del frames

        figures.comparisons.append(
            ref.compare_results(ours, hand, tol=TOLERANCE, names=("ours", "hand SQL"))
        )
        if pandas_result is not None:
            figures.comparisons.append(
                ref.compare_results(
                    pandas_result, hand, tol=TOLERANCE, names=("pandas", "hand SQL")
                )
            )
            figures.comparisons.append(
                ref.compare_results(ours, pandas_result, tol=TOLERANCE, names=("ours", "pandas"))
            )
        figures.rss_end = _maxrss()
    engine.dispose()
    return figures


def report(args: argparse.Namespace, figures: Figures) -> bool:
    """Print the figures; True when every result agrees with the hand-written SQL."""
    print()
    print(
        f"== QMM KPI engine benchmark: {args.sites} sites x {args.years} years, "
        f"period={args.period}, as of {args.as_of} =="
    )
    print(
        f"   {os.cpu_count()} CPUs, Python {platform.python_version()}, DuckDB "
        f"{duckdb.__version__}, pandas {pd.__version__}, pyarrow {pa.__version__}"
    )
    gen = figures.generate
    print(
        f"\nData (generated in {gen.get('parquet', 0):.1f} s with em_sample as Parquet + "
        f"{gen.get('csv', 0):.1f} s as CSV; EM samples per room and day: "
        f"{figures.em_rate or 'default'}), rows in the event store's current views:"
    )
    for name, count in figures.rows.items():
        print(f"  {name:<16}{count:>14,}")
    print(f"  {'total':<16}{sum(figures.rows.values()):>14,}")
    if figures.schema_problems:
        print("  column types that differ from the contract:")
        for problem in figures.schema_problems:
            print(f"    {problem}")

    ours_i, raw_i = figures.ours_import, figures.raw_import
    rows = raw_i.get("rows") or figures.rows.get("em_sample", 0)
    print(f"\nImport of em_sample.csv ({rows:,} rows, {_mb(figures.csv_bytes)}), each alone:")
    print(f"  {'':<40}{'time':>10}{'rows/s':>12}{'peak RSS':>12}{'RSS growth':>12}")
    for label, fig in (
        ("ours: import_files", ours_i),
        ("reference: DuckDB read_csv to a table", raw_i),
    ):
        print(
            f"  {label:<40}{fig['seconds']:>9.2f}s{rows / fig['seconds']:>12,.0f}"
            f"{_mb(fig['rss_peak']):>12}{_mb(fig['rss_peak'] - fig['rss_base']):>12}"
        )
    if figures.heap_peak is not None:
        print(f"  ours, Python heap peak (tracemalloc, a separate run): {_mb(figures.heap_peak)}")
    growth = _ratio(ours_i["rss_peak"] - ours_i["rss_base"], raw_i["rss_peak"] - raw_i["rss_base"])
    print(f"  peak RSS growth, ours / reference: {_fmt_ratio(growth)}")
    print(f"Import of every extract into the benchmark's store: {figures.store_import:.1f} s")

    n = len(ref.KPI_IDS)
    print(
        f"\nKPI suite ({n} KPIs, {figures.result_rows:,} result rows from ours), "
        f"best of {args.repeats}:"
    )
    print(f"  ours: qmm.metrics.engine.compute      {figures.ours:>9.3f} s")
    print(
        f"  ours, first run (compiling each query) {figures.ours_first:>8.3f} s"
        "   (later runs reuse the compiled SQL)"
    )
    print(f"  hand-written DuckDB SQL, {n} queries   {figures.hand:>9.3f} s")
    if figures.pandas is not None:
        print(
            f"  pandas                                {figures.pandas:>9.3f} s"
            f"   (loading the frames took {figures.pandas_load:.1f} s, not counted)"
        )
    print(
        f"  peak RSS of this process: {_mb(figures.rss_after_engine)} before pandas, "
        f"{_mb(figures.rss_end)} with pandas"
    )
    print(f"\n  {'KPI':<28}{'ours ms':>10}{'hand ms':>10}{'ours/hand':>11}")
    for kpi_id in ref.KPI_IDS:
        hand_ms = figures.hand_per_kpi.get(kpi_id)
        ours_ms = figures.ours_per_kpi.get(kpi_id)
        print(
            f"  {kpi_id:<28}{'n/a' if ours_ms is None else f'{ours_ms * 1000:.1f}':>10}"
            f"{'n/a' if hand_ms is None else f'{hand_ms * 1000:.1f}':>10}"
            f"{_fmt_ratio(_ratio(ours_ms, hand_ms)):>11}"
        )
    if not figures.ours_per_kpi:
        print("  (ours per KPI: n/a, compute takes no kpis= selection)")

    print(f"\nAgreement (values, numerators and denominators within {TOLERANCE:g}):")
    agree = True
    for comparison in figures.comparisons:
        strict = comparison.left == "pandas"  # the two references must agree row for row
        ok = comparison.agrees(strict=strict)
        agree = agree and ok
        print(
            f"  {comparison.left} vs {comparison.right}: {'agree' if ok else 'DISAGREE'} "
            f"({comparison.rows_left:,} and {comparison.rows_right:,} rows)"
        )
        for line in comparison.report():
            print(f"    {line}")

    to_hand = _ratio(figures.ours, figures.hand)
    pandas_to_ours = _ratio(figures.pandas, figures.ours)
    import_to_raw = _ratio(ours_i["seconds"], raw_i["seconds"])
    print(f"\n  {'figure':<44}{'measured':>10}{'target':>10}   result")
    for label, value, target, at_most in (
        ("ours / hand-written SQL (time)", to_hand, TARGET_OURS_TO_HAND, True),
        ("pandas / ours (time)", pandas_to_ours, TARGET_PANDAS_TO_OURS, False),
        (
            "em_sample CSV import / DuckDB read_csv (time)",
            import_to_raw,
            TARGET_IMPORT_TO_RAW,
            True,
        ),
    ):
        bound = f"{'<=' if at_most else '>='} {target:g}x"
        print(
            f"  {label:<44}{_fmt_ratio(value):>10}{bound:>10}   {_verdict(value, target, at_most)}"
        )
    if figures.pandas is not None and figures.pandas_load is not None:
        with_load = _ratio(figures.pandas + figures.pandas_load, figures.ours)
        pandas_to_hand = _ratio(figures.pandas, figures.hand)
        print(f"  {'  pandas incl. loading the frames / ours':<44}{_fmt_ratio(with_load):>10}")
        print(f"  {'  pandas / hand-written SQL':<44}{_fmt_ratio(pandas_to_hand):>10}")
    print(f"  {'answers agree (ours, hand SQL, pandas)':<44}{'yes' if agree else 'NO':>10}"
          f"{'yes':>10}   {'PASS' if agree else 'MISS'}")  # fmt: skip
    return agree


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the KPI engine against hand-written SQL and pandas, and the "
        "importer against DuckDB's CSV reader, in one run (figures are ratios).",
    )
    parser.add_argument("--sites", type=int, default=10, help="sites to generate (10)")
    parser.add_argument("--years", type=int, default=5, help="years of records (5)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 sites, 1 year, the generator's default EM volume",
    )
    parser.add_argument(
        "--em-samples",
        type=int,
        default=None,
        help="about how many EM samples to generate (10,000,000; 0: the generator's default)",
    )
    parser.add_argument(
        "--period", choices=ref.PERIODS, default="month", help="period kind (month)"
    )
    parser.add_argument("--as-of", type=date.fromisoformat, default=END, help=f"as-of date ({END})")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, best kept (3)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the generated files here (default: a temporary dir)"
    )
    parser.add_argument(
        "--no-trace", dest="trace", action="store_false", help="skip the tracemalloc import run"
    )
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    parser.add_argument("--child", choices=("import", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--child-trace", dest="child_trace", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.years = 2, 1
    if args.em_samples is None:
        args.em_samples = 0 if args.quick else 10_000_000
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.child:
            if args.child == "import":
                figures = child_import(args.csv, args.data_dir, args.child_trace)
            else:
                figures = child_raw(args.csv, args.data_dir)
            print(RESULT_MARK + json.dumps(figures), flush=True)
            return 0
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            workdir = args.workdir
        else:
            workdir = Path(tempfile.mkdtemp(prefix="qmm-bench-kpis-"))
        try:
            figures = run(args, workdir)
        finally:
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        return 0 if report(args, figures) else 1
    except BenchError as exc:
        print(f"\nbenchmark cannot run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
