"""Load benchmark of the web app: 50 concurrent signed-in users on loopback, p95 latency per page.

Measured in one run, against references measured in the same run:

- each page's latency percentiles under load (Locust, headless: ``--users`` people who sign in
  through the form, then read the page with 1-3 s of think time; counted from when the last
  user has signed in), against ``/healthz`` under the same load (the server's floor: routing,
  the event loop, the network stack);
- each page's latency for one person alone (sequential requests), so that the cost of
  concurrency shows as a ratio.

The workspace is ``qmm demo`` in a temporary directory (SQLite, the embedded default), served by
``qmm serve`` in its own process. Run: ``python bench/web_load.py`` (about 4 minutes) or
``python bench/web_load.py --seconds 10`` for a smoke run.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from qmm.cli.serve import default_workers

HERE = Path(__file__).resolve().parent
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


def _run(command: list[str], env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
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
) -> LoadFigures:
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
    )
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == path:
                return LoadFigures(
                    path=path,
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    p50=float(row["50%"]),
                    p95=float(row["95%"]),
                    p99=float(row["99%"]),
                    rps=float(row["Requests/s"]),
                )
    raise BenchError(f"locust reported no requests for {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (50)")
    parser.add_argument("--seconds", type=int, default=40, help="seconds of load per page (40)")
    parser.add_argument("--alone", type=int, default=20, help="sequential requests alone (20)")
    parser.add_argument(
        "--workers", type=int, default=None, help="server worker processes (qmm serve's default)"
    )
    parser.add_argument("--user", default="alice", help="who signs in (alice: SITE-A's lead)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="qmm-bench-web-"))
    env = {
        **os.environ,
        "QMM_DATA_DIR": str(workdir / "data"),
        "QMM_DATABASE_URL": f"sqlite:///{workdir / 'data' / 'qmm.sqlite3'}",
    }
    env.pop("QMM_EVENTS_URL", None)
    server = None
    try:
        print("-- loading the demo workspace (qmm demo) ...", flush=True)
        _run([sys.executable, "-m", "qmm", "demo"], env)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (workdir / "server.log").open("w")
        serve = ["serve", "--port", str(port)]
        if args.workers is not None:
            serve += ["--workers", str(args.workers)]
        server = subprocess.Popen(
            [sys.executable, "-m", "qmm", *serve],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise BenchError("qmm serve did not start: " + (workdir / "server.log").read_text())
            time.sleep(0.2)

        client = _signed_in_client(url, args.user)
        assessment = re.search(r'href="/assessments/(\d+)"', client.get("/sites/SITE-A").text)
        pages = ["/healthz", "/", "/sites/SITE-A", "/sites/SITE-A/kpis/capa_effectiveness"]
        if assessment:
            pages.append(f"/assessments/{assessment[1]}")
        pages.append("/benchmark")

        print(f"-- each page alone: {args.alone} sequential requests ...", flush=True)
        alone = {path: _alone(client, path, args.alone) for path in pages}
        client.close()

        loaded: dict[str, LoadFigures] = {}
        for path in pages:
            print(f"-- {path}: {args.users} users for {args.seconds} s ...", flush=True)
            loaded[path] = _under_load(
                url,
                path,
                users=args.users,
                seconds=args.seconds,
                username=args.user,
                out=workdir,
            )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    workers = args.workers or default_workers()
    floor = loaded["/healthz"].p95 or 1.0
    print()
    print(
        f"== QMM web load: {args.users} concurrent users (1-3 s think time), {args.seconds} s "
        f"per page, {workers} server worker(s), loopback =="
    )
    print(f"   {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite demo workspace")
    print(
        f"\n  {'page':<42}{'alone p50':>10}{'p50':>8}{'p95':>8}{'p99':>8}{'req/s':>8}"
        f"{'fail':>6}{'p95/healthz':>13}"
    )
    for path in pages:
        f = loaded[path]
        print(
            f"  {path:<42}{statistics.median(alone[path]):>8.0f}ms{f.p50:>6.0f}ms{f.p95:>6.0f}ms"
            f"{f.p99:>6.0f}ms{f.rps:>8.1f}{f.failures:>6}{f.p95 / floor:>12.1f}x"
        )
    dashboard = loaded["/sites/SITE-A"]
    verdict = "PASS" if dashboard.p95 < TARGET_P95_MS and dashboard.failures == 0 else "MISS"
    print(
        f"\n  site dashboard p95 under load: {dashboard.p95:.0f} ms "
        f"(target < {TARGET_P95_MS:.0f} ms, no failures)   {verdict}"
    )
    failures = sum(f.failures for f in loaded.values())
    return 0 if verdict == "PASS" and failures == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"\nbenchmark cannot run: {exc}", file=sys.stderr)
        sys.exit(2)
