"""Search and paged lists under load: p50/p95/p99 against /healthz in the same run.

Serves the demo workspace (``qmm demo`` in a temporary directory; SQLite, or a fresh
PostgreSQL database with ``--postgres URL``) with ``qmm serve``, signs one person in, and puts
``--users`` concurrent readers (1-3 s of think time, as bench/web_load.py's) on each path in
turn for ``--seconds``: ``/healthz`` (the server's floor, the reference), the search page, the
search API, the search inside the evidence index, and the first page of the KPI records the
issue measured (EM excursions, 2026-10). Each search cycles through words the demo holds.
Figures print as milliseconds and as ratios to ``/healthz`` measured in the same run; the
issue's target is search p95 under 200 ms at 50 users. Errors are counted, never a stop.

Run: ``python bench/search_load.py`` (about 3 minutes) or ``--seconds 10 --users 20``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web_load import (
    BenchError,
    _free_port,
    _fresh_postgres,
    _run,
    _signed_in_client,
    _start_server,
)

TARGET_P95_MS = 200.0
#: Words the demo holds, from a few hits to a hundred and more (ratings' rationales).
WORDS = (
    "deviation",
    "capa",
    "training",
    "supplier",
    '"management review"',
    "cleaning",
    "EV-0001",
    "sterility",
    "excursion",
    "trend",
)
RECORDS = "/sites/SITE-A/kpis/em_excursion_rate/records?period_value=2026-10"


@dataclass(frozen=True)
class Figures:
    """Latency percentiles (ms) of one path under load, with its request and error counts."""

    name: str
    requests: int
    errors: int
    p50: float
    p95: float
    p99: float


def _percentile(times: list[float], q: float) -> float:
    if not times:
        return float("nan")
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _paths(template: str) -> Callable[[int], str]:
    def path(n: int) -> str:
        return template.format(q=quote(WORDS[n % len(WORDS)]))

    return path


def _alone(client: httpx.Client, path: Callable[[int], str], repeats: int) -> float:
    """One person's sequential requests: the median in ms (after a warm-up)."""
    client.get(path(0))
    times = []
    for n in range(repeats):
        start = time.perf_counter()
        client.get(path(n))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _under_load(
    url: str,
    cookies: httpx.Cookies,
    name: str,
    path: Callable[[int], str],
    *,
    users: int,
    seconds: float,
    think: tuple[float, float],
) -> Figures:
    """`users` readers, each its own connection and the same session, for `seconds`."""
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def reader(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
            time.sleep(rng.uniform(0, think[1]))  # arrive spread out, as people do
            turn = n
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    ok = client.get(path(turn)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = (time.perf_counter() - start) * 1000
                with lock:
                    times.append(took)
                    errors[0] += 0 if ok else 1
                turn += 1
                time.sleep(rng.uniform(*think))

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Figures(
        name,
        len(times),
        errors[0],
        _percentile(times, 0.50),
        _percentile(times, 0.95),
        _percentile(times, 0.99),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent readers (50)")
    parser.add_argument("--seconds", type=float, default=30, help="seconds of load per path (30)")
    parser.add_argument("--alone", type=int, default=20, help="sequential requests alone (20)")
    parser.add_argument("--think-min", type=float, default=1.0, help="think time from (1 s)")
    parser.add_argument("--think-max", type=float, default=3.0, help="think time up to (3 s)")
    parser.add_argument("--user", default="alice", help="who signs in (alice)")
    parser.add_argument("--workers", type=int, default=None, help="server worker processes")
    parser.add_argument("--postgres", default=None, help="a fresh database beside this URL")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="qmm-bench-search-"))
    drop: Callable[[], None] | None = None
    if args.postgres:
        database_url, drop = _fresh_postgres(args.postgres)
        backend = "PostgreSQL"
    else:
        database_url = f"sqlite:///{workdir / 'data' / 'qmm.sqlite3'}"
        backend = "SQLite (embedded default)"
    env = {**os.environ, "QMM_DATA_DIR": str(workdir / "data"), "QMM_DATABASE_URL": database_url}
    env.pop("QMM_EVENTS_URL", None)
    server = None
    try:
        print(f"-- loading the demo workspace (qmm demo) on {backend} ...", flush=True)
        _run([sys.executable, "-m", "qmm", "demo"], env)
        url = f"http://127.0.0.1:{_free_port()}"
        server = _start_server(url, env, args.workers, workdir / "server.log")
        client = _signed_in_client(url, args.user)
        paths: dict[str, Callable[[int], str]] = {
            "/healthz": _paths("/healthz"),
            "/search?q=WORD": _paths("/search?q={q}"),
            "/api/search?q=WORD": _paths("/api/search?q={q}"),
            "/sites/SITE-A/evidence?q=WORD": _paths("/sites/SITE-A/evidence?q={q}"),
            "KPI records, EM 2026-10 (page 1)": _paths(RECORDS),
        }
        for name, path in paths.items():
            answer = client.get(path(0))
            if answer.status_code != 200:
                raise BenchError(f"{name}: HTTP {answer.status_code}")
        found = client.get("/api/search", params={"q": "capa"}).json()
        print(f"-- 'capa' finds {found['total']} records in {len(found['kinds'])} kinds")
        alone = {name: _alone(client, path, args.alone) for name, path in paths.items()}
        cookies = client.cookies
        loaded = {}
        for name, path in paths.items():
            print(f"-- {name}: {args.users} readers for {args.seconds:.0f} s ...", flush=True)
            loaded[name] = _under_load(
                url,
                cookies,
                name,
                path,
                users=args.users,
                seconds=args.seconds,
                think=(args.think_min, args.think_max),
            )
        client.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if drop is not None:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)

    floor = loaded["/healthz"]
    print(
        f"\nSearch and paged lists on {backend}, {args.users} readers "
        f"({args.think_min:.0f}-{args.think_max:.0f} s think time), {args.seconds:.0f} s each"
    )
    print(
        f"  {'path':<36}{'alone p50':>10}{'p50':>8}{'p95':>8}{'p99':>8}{'requests':>10}"
        f"{'errors':>8}{'p95 / healthz p95':>19}"
    )
    for name, f in loaded.items():
        print(
            f"  {name:<36}{alone[name]:>8.0f}ms{f.p50:>6.0f}ms{f.p95:>6.0f}ms{f.p99:>6.0f}ms"
            f"{f.requests:>10}{f.errors:>8}{f.p95 / floor.p95:>18.1f}x"
        )
    search_p95 = max(loaded[n].p95 for n in loaded if "search" in n)
    verdict = "meets" if search_p95 < TARGET_P95_MS else "misses"
    print(
        f"\nSearch p95 (worst of the three searches): {search_p95:.0f} ms, {verdict} the "
        f"target of {TARGET_P95_MS:.0f} ms; /healthz p95 in the same run: {floor.p95:.0f} ms. "
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
