"""Benchmark of threads: building a record's thread on a large event store, warm.

Target (issue 19): under 100 ms per thread once the thread index of the store's state is built.
Measured in one run, against a reference measured in the same run on the same store: one point
lookup of an EM sample by id on the store's own current view (``EventStore.connect``), which is
what following a single link would cost without the thread index. Printed: the index build
(cold, once per store state), the warm thread times (median and 95th percentile over records of
every linked type) and their ratio to the reference.

Run: ``python bench/threads.py`` (10 million EM samples, several minutes and a few GB of disk in
a temporary directory) or ``python bench/threads.py --samples 200000`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

SITES = ("SITE-A", "SITE-B")
RESULT_MARK = "BENCH-RESULT "
TARGET_MS = 100.0


def _ids(prefix: str, numbers: Any, width: int = 8) -> Any:
    return pa.array([f"{prefix}{n:0{width}d}" for n in numbers], pa.string())


def _tables(samples: int, seed: int) -> dict[str, Any]:
    """Linked records: ~1 % of samples exceed the action limit, most of them with a deviation."""
    rng = np.random.default_rng(seed)
    deviations = max(samples // 200, 10)
    capas = max(deviations * 6 // 10, 5)
    changes = max(capas // 3, 2)
    site = np.where(np.arange(samples) % 2 == 0, SITES[0], SITES[1])
    start = np.datetime64("2024-01-01T00:00:00", "s")
    sampled = start + rng.integers(0, 2 * 365 * 86400, samples).astype("timedelta64[s]")
    excursion = rng.random(samples) < 0.01
    cfu = np.where(excursion, 12, rng.integers(0, 4, samples))
    dev_of = rng.integers(0, deviations, samples)
    # A deviation's site must match its samples': deviation j belongs to site j % 2.
    dev_of = dev_of - (dev_of % 2) + (np.arange(samples) % 2)
    dev_of = np.minimum(dev_of, deviations - 1)
    linked = excursion & (rng.random(samples) < 0.9)
    deviation_id = pa.array(
        [f"DEV-{d:08d}" if keep else None for d, keep in zip(dev_of, linked, strict=True)],
        pa.string(),
    )
    em = pa.table(
        {
            "sample_id": _ids("EM-", range(samples)),
            "site": pa.array(site, pa.string()),
            "room": pa.array(["Fill 1"] * samples, pa.string()),
            "grade": pa.array(["B"] * samples, pa.string()),
            "method": pa.array(["active_air"] * samples, pa.string()),
            "sampled_at": pa.array(sampled, pa.timestamp("s")).cast(pa.timestamp("us", "UTC")),
            "cfu": pa.array(cfu, pa.int64()),
            "alert_limit": pa.array([5] * samples, pa.int64()),
            "action_limit": pa.array([10] * samples, pa.int64()),
            "deviation_id": deviation_id,
        }
    )
    d_index = np.arange(deviations)
    opened = np.datetime64("2024-01-01") + rng.integers(0, 700, deviations).astype("timedelta64[D]")
    deviation = pa.table(
        {
            "deviation_id": _ids("DEV-", d_index),
            "site": pa.array([SITES[j % 2] for j in d_index], pa.string()),
            "opened_on": pa.array(opened, pa.date32()),
            "closed_on": pa.array(opened + 20, pa.date32()),
            "severity": pa.array(["major"] * deviations, pa.string()),
            "root_cause_category": pa.array(["equipment"] * deviations, pa.string()),
            "capa_id": pa.array(
                [f"CAP-{j:08d}" if j < capas else None for j in d_index], pa.string()
            ),
        }
    )
    c_index = np.arange(capas)
    capa = pa.table(
        {
            "capa_id": _ids("CAP-", c_index),
            "site": pa.array([SITES[j % 2] for j in c_index], pa.string()),
            "opened_on": pa.array(opened[:capas] + 2, pa.date32()),
            "due_on": pa.array(opened[:capas] + 60, pa.date32()),
            "closed_on": pa.array(opened[:capas] + 50, pa.date32()),
            "root_cause_category": pa.array(["equipment"] * capas, pa.string()),
            "source_type": pa.array(["deviation"] * capas, pa.string()),
            "source_id": _ids("DEV-", c_index),
            "voe_due_on": pa.array(opened[:capas] + 140, pa.date32()),
        }
    )
    h_index = np.arange(changes)
    change = pa.table(
        {
            "change_id": _ids("CC-", h_index),
            "site": pa.array([SITES[j % 2] for j in h_index], pa.string()),
            "opened_on": pa.array(opened[:changes] + 30, pa.date32()),
            "risk_tier": pa.array(["medium"] * changes, pa.string()),
            "_extra": pa.array(
                [json.dumps({"capa_id": f"CAP-{j:08d}"}) for j in h_index], pa.string()
            ),
        }
    )
    return {"em_sample": em, "deviation": deviation, "capa": capa, "change_control": change}


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def run(samples: int, seed: int, folder: Path) -> dict[str, Any]:
    os.environ["QMM_DATA_DIR"] = str(folder / "data")
    from qmm.config import get_settings

    get_settings.cache_clear()
    from qmm.db import make_engine, unit_of_work
    from qmm.events.store import EventStore
    from qmm.migrate import upgrade
    from qmm.sites.service import create_site, get_site
    from qmm.threads.index import thread_index
    from qmm.threads.service import build_thread

    engine = make_engine(f"sqlite:///{folder / 'qmm.sqlite3'}")
    upgrade(engine)
    store = EventStore(folder / "events")
    began = time.perf_counter()
    tables = _tables(samples, seed)
    with unit_of_work(engine) as session:
        for code in SITES:
            create_site(session, code=code, name=f"Bench {code}")
        for name, table in tables.items():
            store.write_batch(
                session,
                record_type=name,
                table=table,
                source_name=f"bench-{name}",
                source_sha256="0" * 64,
                keys_checked=True,
            )
    loaded = time.perf_counter() - began
    rng = np.random.default_rng(seed + 1)
    em_ids = tables["em_sample"].column("sample_id")
    linked = [
        str(v)
        for v in tables["em_sample"]
        .filter(tables["em_sample"].column("deviation_id").is_valid())
        .column("sample_id")
        .to_pylist()[:50]
    ]
    picks: list[tuple[str, str]] = []
    for i in rng.integers(0, samples, 100):
        picks.append(("em_sample", str(em_ids[int(i)])))
    picks += [("em_sample", s) for s in linked]
    picks += [("deviation", f"DEV-{j:08d}") for j in rng.integers(0, len(tables["deviation"]), 25)]
    picks += [("capa", f"CAP-{j:08d}") for j in rng.integers(0, len(tables["capa"]), 25)]
    with unit_of_work(engine) as session:
        sites = {code: get_site(session, code=code) for code in SITES}

        def site_of(record_type: str, rid: str) -> Any:
            number = int(rid.rsplit("-", 1)[1])
            return sites[SITES[number % 2]]

        began = time.perf_counter()
        thread_index(session, store)
        cold = time.perf_counter() - began
        warm: list[float] = []
        sizes: list[int] = []
        for record_type, rid in picks:
            t0 = time.perf_counter()
            thread = build_thread(
                session,
                site=site_of(record_type, rid),
                record_type=record_type,
                record_id=rid,
                store=store,
            )
            warm.append(time.perf_counter() - t0)
            sizes.append(len(thread.records))
        backend = store.connect(session)
        view = backend.table("em_sample")
        reference: list[float] = []
        for _, rid in picks[:20]:
            t0 = time.perf_counter()
            view.filter(view.sample_id == rid).to_pyarrow()
            reference.append(time.perf_counter() - t0)
    median = statistics.median(warm)
    p95 = sorted(warm)[int(len(warm) * 0.95) - 1]
    ref = statistics.median(reference)
    return {
        "em_samples": samples,
        "deviations": len(tables["deviation"]),
        "capas": len(tables["capa"]),
        "change_controls": len(tables["change_control"]),
        "load_s": round(loaded, 1),
        "index_build_cold_s": round(cold, 2),
        "threads_built": len(warm),
        "records_per_thread_max": max(sizes),
        "warm_median_ms": round(_ms(median), 2),
        "warm_p95_ms": round(_ms(p95), 2),
        "reference_point_lookup_ms": round(_ms(ref), 2),
        "warm_median_to_reference": round(median / ref, 3),
        "target_ms": TARGET_MS,
        "meets_target": _ms(p95) < TARGET_MS,
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000, help="EM samples to store")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qmm-bench-threads-") as tmp:
        result = run(args.samples, args.seed, Path(tmp))
    for key, value in result.items():
        print(f"{key:>28}: {value}")
    print(RESULT_MARK + json.dumps(result))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
