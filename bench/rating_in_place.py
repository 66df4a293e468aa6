"""Benchmark of saving a rating in place (issue 16 item 3) against the whole-page save.

Both are measured in the same run, on the same server and assessment, alternately:

- the whole-page save: the form's POST and the redirected GET of the whole workspace, as a
  browser without JavaScript does;
- the save in place: the same POST and GET with the `X-QMM-Part: rating` header the page's
  script sends, answered with the parts the save changed.

Printed: the median and p95 of each and of the POST alone (the write, the audit entry: common
to both), the ratio of time (in place / whole page; target: at most 0.8) and of the bytes the
answer carries (target: at most 0.1). The browser's own work on the whole page (parsing and
laying out a 350 kB page, scrolling back to the question) is not in these figures: it is what
the save in place saves most. The workspace is ``qmm demo`` (its 65-question framework) in
a temporary directory on SQLite, served by ``qmm serve``. Run: ``python bench/rating_in_place.py``
(about 2 minutes) or ``--saves 10`` for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from web_load import HERE, _free_port, _run, _start_server

TARGET_RATIO = 0.8
TARGET_SIZE_RATIO = 0.1
PART = {"X-QMM-Part": "rating"}


def _save(
    client: httpx.Client, setup: dict[str, object], code: str, n: int, *, part: bool
) -> tuple[float, float, int]:
    """One save, then the page (or the parts) after it: seconds of each, bytes of the answer."""
    headers = PART if part else {}
    started = time.perf_counter()
    posted = client.post(
        f"/assessments/{setup['assessment']}/ratings?question={code}",
        data={
            "question": code,
            "score": str(1 + n % 5),
            "rationale": f"bench rating {n}",
            "csrf_token": str(setup["csrf"]),
        },
        headers=headers,
    )
    saved = time.perf_counter()
    if posted.status_code != 303:
        raise SystemExit(f"save {n} failed: HTTP {posted.status_code}\n{posted.text[:800]}")
    answer = client.get(posted.headers["location"], headers=headers)
    shown = time.perf_counter()
    if answer.status_code != 200 or (part and 'data-part="rating"' not in answer.text):
        raise SystemExit(f"page after save {n} failed: HTTP {answer.status_code}")
    return saved - started, shown - saved, len(answer.content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=40, help="saves of each kind (40)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="qmm-bench-rating-"))
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
        raw = json.loads(_run([sys.executable, str(HERE / "rush_setup.py"), "1"], env))
        setup = {"assessment": raw["assessment"], **raw["people"][0]}
        url = f"http://127.0.0.1:{_free_port()}"
        server = _start_server(url, env, 1, workdir / "server.log")
        client = httpx.Client(base_url=url, timeout=60)
        client.cookies.set("qmm_session", str(setup["cookie"]))
        code = raw["question"]
        post: list[float] = []
        whole: list[float] = []
        in_place: list[float] = []
        sizes = {"whole": 0, "part": 0}
        _save(client, setup, code, 0, part=False)  # warm up
        _save(client, setup, code, 0, part=True)
        for n in range(args.saves):
            saving, showing, sizes["whole"] = _save(client, setup, code, n, part=False)
            post.append(saving)
            whole.append(saving + showing)
            saving, showing, sizes["part"] = _save(client, setup, code, n, part=True)
            post.append(saving)
            in_place.append(saving + showing)
        client.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]

    ratio = statistics.median(in_place) / statistics.median(whole)
    size_ratio = sizes["part"] / sizes["whole"]
    print(f"{'':<34}{'median ms':>10}{'p95 ms':>10}{'answer kB':>11}")
    rows = [
        ("the POST alone (write, audit)", post, None),
        ("save + whole page (no script)", whole, sizes["whole"]),
        ("save + parts (in place)", in_place, sizes["part"]),
    ]
    for name, values, size in rows:
        kb = f"{size / 1024:>11.0f}" if size is not None else f"{'':>11}"
        print(f"{name:<34}{statistics.median(values) * 1000:>10.0f}{p95(values) * 1000:>10.0f}{kb}")
    ok = ratio <= TARGET_RATIO and size_ratio <= TARGET_SIZE_RATIO
    print(f"in place / whole page, time: {ratio:.2f} (target at most {TARGET_RATIO})")
    print(f"in place / whole page, bytes: {size_ratio:.3f} (target at most {TARGET_SIZE_RATIO})")
    print("ok" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
