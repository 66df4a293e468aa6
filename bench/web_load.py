"""Load benchmark of the web app: 50 concurrent signed-in users on loopback, latency per page.

Measured in one run, against references measured in the same run:

- each page's latency percentiles under load (Locust, headless: ``--users`` people who sign in
  through the form, then read the page with 1-3 s of think time; counted from when the last
  user has signed in), against ``/healthz`` under the same load (the server's floor: routing,
  the event loop, the network stack);
- each page's latency for one person alone (sequential requests), so that the cost of
  concurrency shows as a ratio;
- the morning rush: 100 sign-ins from 50 clients at once, and 50 people saving a rating at the
  same moment (several times); afterwards every rating must be stored and in the audit trail,
  and ``qmm audit verify`` must pass.

Errors are counted per page and reported; none ends the run. The workspace is ``qmm demo`` in a
temporary directory, on SQLite (the embedded default) or, with ``--postgres URL``, in a fresh
PostgreSQL database beside the one named, served by ``qmm serve`` in its own process. Run:
``python bench/web_load.py`` (about 5 minutes) or ``python bench/web_load.py --seconds 10``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from qmm.cli.serve import default_workers

HERE = Path(__file__).resolve().parent
RUSH_MARK = "bench rush"
PASSWORD = "qmm-demo-2026!"
TARGET_P95_MS = 1000.0  # "well under a second": the dashboard must stay below this at p95
_TOKEN = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


class BenchError(RuntimeError):
    """A step of the benchmark cannot run; the message says which and why."""


@dataclass(frozen=True)
class LoadFigures:
    """Latency percentiles (ms) and throughput of one page under load."""

    path: str
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float
    rps: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(
    command: list[str], env: dict[str, str], timeout: float = 900, *, failures_ok: bool = False
) -> str:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    # Locust exits with 1 when requests failed: those are figures to report, not a stop.
    if done.returncode != 0 and not (failures_ok and done.returncode == 1):
        raise BenchError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _signed_in_client(url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=True)
    match = _TOKEN.search(client.get("/login").text)
    if match is None:
        raise BenchError("the sign-in form has no CSRF token")
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": match[1]}
    )
    if answer.status_code != 200 or "/login" in str(answer.url):
        raise BenchError(f"signing in as {username} failed (HTTP {answer.status_code})")
    return client


def _alone(client: httpx.Client, path: str, repeats: int) -> list[float]:
    """One person's sequential requests: milliseconds each (after one warm-up)."""
    client.get(path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise BenchError(f"{path}: HTTP {response.status_code}")
    return times


def _under_load(
    url: str, path: str, *, users: int, seconds: int, username: str, out: Path
) -> tuple[LoadFigures, tuple[int, int]]:
    """A page under load: its figures, and the sign-ins of the round (requests, failures)."""
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if locust is None:
        raise BenchError("locust is not installed: pip install -c constraints.txt -e '.[bench]'")
    prefix = out / re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    env = {
        **os.environ,
        "QMM_LOAD_PATH": path,
        "QMM_LOAD_USER": username,
        "QMM_LOAD_PASSWORD": PASSWORD,
    }
    _run(
        [
            locust,
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(max(1, users // 5)),
            "--run-time",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--reset-stats",  # count from when every user has signed in: the steady state
            "--loglevel",
            "WARNING",
        ],
        env,
        timeout=seconds + 300,
        failures_ok=True,
    )
    figures: LoadFigures | None = None
    signing_in = [0, 0]
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == path:
                figures = LoadFigures(
                    path=path,
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    p50=float(row["50%"]),
                    p95=float(row["95%"]),
                    p99=float(row["99%"]),
                    rps=float(row["Requests/s"]),
                )
            elif row["Name"] in ("sign-in form", "sign in"):
                signing_in[0] += int(row["Request Count"])
                signing_in[1] += int(row["Failure Count"])
    with open(f"{prefix}_failures.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            where = f"{row['Method']} {row['Name']}"
            print(f"   failed: {where}: {row['Error']} (x{row['Occurrences']})")
    if figures is None:  # not one answer in the round: reported as such, the run goes on
        figures = LoadFigures(path, 0, 0, float("nan"), float("nan"), float("nan"), 0.0)
    return figures, (signing_in[0], signing_in[1])


def _why(statuses: list[int], ok: int) -> str:
    """The answers that were not `ok`, counted by status (0: no answer at all)."""
    wrong = Counter(status for status in statuses if status != ok)
    return ", ".join(f"HTTP {status} x{n}" for status, n in sorted(wrong.items())) or "none"


def _figures(
    name: str, times: list[float], statuses: list[int], ok: int, wall: float
) -> LoadFigures:
    """Percentiles (ms) of a round's requests; a request not answered `ok` is a failure."""
    ordered = sorted(times)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    return LoadFigures(
        path=name,
        requests=len(statuses),
        failures=sum(1 for status in statuses if status != ok),
        p50=pct(0.50),
        p95=pct(0.95),
        p99=pct(0.99),
        rps=len(statuses) / wall if wall else 0.0,
    )


def _at_once(clients: int, work: Callable[[int], Any]) -> tuple[list[Any], float]:
    """Run work(0..clients-1) together (a thread each, started on one signal); the wall time."""
    start = threading.Barrier(clients)

    def run(n: int) -> Any:
        start.wait()
        return work(n)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        answers = list(pool.map(run, range(clients)))
    return answers, time.perf_counter() - began


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, int]:
    """Milliseconds and status of one request; a transport error counts as status 0."""
    began = time.perf_counter()
    try:
        status = call().status_code
    except httpx.HTTPError:
        status = 0
    return (time.perf_counter() - began) * 1000, status


def _one_sign_in(client: httpx.Client, username: str) -> tuple[float, int]:
    """The form, then the sign-in itself (measured): milliseconds and status."""
    try:
        token = _TOKEN.search(client.get("/login").text)
    except httpx.HTTPError:
        return 0.0, 0
    if token is None:
        return 0.0, 0
    data = {"username": username, "password": PASSWORD, "csrf_token": token[1]}
    return _timed(lambda: client.post("/login", data=data))


def _sign_in_rush(url: str, username: str, *, clients: int, each: int) -> LoadFigures:
    """`clients` people signing in at once, each `each` times in a row."""

    def sign_in(_n: int) -> list[tuple[float, int]]:
        with httpx.Client(base_url=url, timeout=120) as client:
            return [_one_sign_in(client, username) for _ in range(each)]

    answers, wall = _at_once(clients, sign_in)
    results = [result for mine in answers for result in mine]
    print(f"   failed: {_why([status for _, status in results], 303)}", flush=True)
    return _figures(
        f"sign-in rush ({clients * each}, {clients} at once)",
        [t for t, _ in results],
        [status for _, status in results],
        303,
        wall,
    )


def _rating_rush(url: str, setup: dict[str, Any], *, rounds: int) -> LoadFigures:
    """Everybody in `setup` saves a rating at the same moment, `rounds` times."""
    people = setup["people"]
    target = f"/assessments/{setup['assessment']}/ratings"
    times: list[float] = []
    statuses: list[int] = []
    wall = 0.0
    for round_ in range(rounds):

        def save(n: int, round_: int = round_) -> tuple[float, int]:
            person = people[n]
            with httpx.Client(
                base_url=url, timeout=120, cookies={"qmm_session": person["cookie"]}
            ) as client:
                data = {
                    "question": setup["question"],
                    "score": str(1 + (n + round_) % 5),
                    "rationale": f"{RUSH_MARK} round {round_} by rater {n}",
                    "csrf_token": person["csrf"],
                }
                return _timed(lambda: client.post(target, data=data))

        answers, took = _at_once(len(people), save)
        wall += took
        print(f"   round {round_}: failed: {_why([s for _, s in answers], 303)}", flush=True)
        times.extend(t for t, _ in answers)
        statuses.extend(s for _, s in answers)
    return _figures(f"rating rush ({len(people)} at once, x{rounds})", times, statuses, 303, wall)


def _fresh_postgres(base_url: str) -> tuple[str, Callable[[], None]]:
    """A new, empty PostgreSQL database beside the one named, and how to drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"qmm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def _start_server(
    url: str, env: dict[str, str], workers: int | None, log: Path
) -> subprocess.Popen[bytes]:
    serve = ["serve", "--port", url.rsplit(":", 1)[1]]
    if workers is not None:
        serve += ["--workers", str(workers)]
    server = subprocess.Popen(
        [sys.executable, "-m", "qmm", *serve],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise BenchError("qmm serve did not start: " + log.read_text())
        time.sleep(0.2)


def _print_row(name: str, alone: str, f: LoadFigures, floor: float) -> None:
    print(
        f"  {name:<40}{alone:>10}{f.p50:>7.0f}ms{f.p95:>6.0f}ms{f.p99:>6.0f}ms{f.rps:>8.1f}"
        f"{f.requests:>7}{f.failures:>6}{f.p50 / floor:>9.1f}x{f.p95 / floor:>8.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (50)")
    parser.add_argument("--seconds", type=int, default=40, help="seconds of load per page (40)")
    parser.add_argument("--alone", type=int, default=20, help="sequential requests alone (20)")
    parser.add_argument(
        "--workers", type=int, default=None, help="server worker processes (qmm serve's default)"
    )
    parser.add_argument("--user", default="alice", help="who signs in (alice: SITE-A's lead)")
    parser.add_argument(
        "--sign-ins", type=int, default=100, help="sign-ins in the rush round (100, 50 at once)"
    )
    parser.add_argument(
        "--rating-rounds", type=int, default=4, help="times 50 people save a rating at once (4)"
    )
    parser.add_argument(
        "--postgres", default=None, help="serve from a fresh database beside this PostgreSQL URL"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="qmm-bench-web-"))
    drop_database: Callable[[], None] | None = None
    if args.postgres:
        database_url, drop_database = _fresh_postgres(args.postgres)
        backend = "PostgreSQL"
    else:
        database_url = f"sqlite:///{workdir / 'data' / 'qmm.sqlite3'}"
        backend = "SQLite (embedded default)"
    env = {**os.environ, "QMM_DATA_DIR": str(workdir / "data"), "QMM_DATABASE_URL": database_url}
    env.pop("QMM_EVENTS_URL", None)
    server = None
    clients = min(args.users, 50)
    loaded: dict[str, LoadFigures] = {}
    signing_in = [0, 0]
    audit = "not run"
    lost: int | None = None
    try:
        print(f"-- loading the demo workspace (qmm demo) on {backend} ...", flush=True)
        _run([sys.executable, "-m", "qmm", "demo"], env)
        print(f"-- setting up {clients} raters for the rating round ...", flush=True)
        setup = json.loads(_run([sys.executable, str(HERE / "rush_setup.py"), str(clients)], env))
        url = f"http://127.0.0.1:{_free_port()}"
        server = _start_server(url, env, args.workers, workdir / "server.log")

        client = _signed_in_client(url, args.user)
        pages = ["/healthz", "/", "/sites/SITE-A", "/sites/SITE-A/kpis/capa_effectiveness"]
        pages += [f"/assessments/{setup['demo_assessment']}", "/benchmark"]

        print(f"-- each page alone: {args.alone} sequential requests ...", flush=True)
        alone = {path: _alone(client, path, args.alone) for path in pages}
        client.close()

        for path in pages:
            print(f"-- {path}: {args.users} users for {args.seconds} s ...", flush=True)
            loaded[path], (requests, failures) = _under_load(
                url,
                path,
                users=args.users,
                seconds=args.seconds,
                username=args.user,
                out=workdir,
            )
            signing_in[0] += requests
            signing_in[1] += failures

        each = max(1, args.sign_ins // clients)
        print(f"-- sign-in rush: {clients * each} sign-ins, {clients} at once ...", flush=True)
        rush_sign_in = _sign_in_rush(url, args.user, clients=clients, each=each)
        print(f"-- rating rush: {clients} people save at once, {args.rating_rounds} times ...")
        rush_rating = _rating_rush(url, setup, rounds=args.rating_rounds)
        saved = rush_rating.requests - rush_rating.failures
        stored = int(_run([sys.executable, str(HERE / "rush_setup.py"), "--count"], env).strip())
        lost = saved - stored
        verify = subprocess.run(
            [sys.executable, "-m", "qmm", "audit", "verify"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        audit = "passes" if verify.returncode == 0 else f"FAILS: {verify.stdout[-300:]}"
        server_errors = (workdir / "server.log").read_text().count("Traceback")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        if drop_database is not None:
            drop_database()

    workers = args.workers or default_workers()
    floor = loaded["/healthz"].p50 or 1.0
    print()
    print(
        f"== QMM web load on {backend}: {args.users} concurrent users (1-3 s think time), "
        f"{args.seconds} s per page, {workers} server worker(s), loopback =="
    )
    print(f"   {os.cpu_count()} CPUs, Python {platform.python_version()}, load {os.getloadavg()}")
    print(
        f"\n  {'page':<40}{'alone p50':>10}{'p50':>9}{'p95':>8}{'p99':>8}{'req/s':>8}"
        f"{'reqs':>7}{'fail':>6}{'p50/hz':>10}{'p95/hz':>9}"
    )
    for path in pages:
        _print_row(path, f"{statistics.median(alone[path]):.0f}ms", loaded[path], floor)
    for rush in (rush_sign_in, rush_rating):
        _print_row(rush.path, "", rush, floor)
    print(
        f"\n  (ratios to /healthz's p50 under load, {floor:.0f} ms; sign-ins during the page "
        f"rounds: {signing_in[0]}, failed {signing_in[1]})"
    )
    print(
        f"  rating rush: {saved} saved, {lost} lost; `qmm audit verify` {audit}; "
        f"server tracebacks: {server_errors}"
    )
    dashboard = loaded["/sites/SITE-A"]
    verdict = "PASS" if dashboard.p95 < TARGET_P95_MS and dashboard.failures == 0 else "MISS"
    print(
        f"\n  site dashboard p95 under load: {dashboard.p95:.0f} ms "
        f"(target < {TARGET_P95_MS:.0f} ms, no failures)   {verdict}"
    )
    failures = (
        sum(f.failures for f in loaded.values())
        + signing_in[1]
        + rush_sign_in.failures
        + rush_rating.failures
        + (lost or 0)
    )
    clean = failures == 0 and audit == "passes"
    return 0 if verdict == "PASS" and clean else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"\nbenchmark cannot run: {exc}", file=sys.stderr)
        sys.exit(2)
