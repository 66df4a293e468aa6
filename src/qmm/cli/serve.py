"""`qmm serve`: the web application and its HTTP API."""

from __future__ import annotations

import logging
import os
import threading
from typing import Final

import typer

from qmm.audit.verify import checkpoint_if_due
from qmm.cli.common import console
from qmm.db import get_engine

#: Seconds a worker may take to answer the supervisor's health check before it is replaced.
#: The answer comes from a thread that competes for the interpreter with the application's
#: import (SciPy, Ibis, DuckDB, WeasyPrint) and long renders; on a busy machine uvicorn's 5 s
#: default replaced workers before they ever served.
WORKER_HEALTHCHECK_TIMEOUT: Final = 30
#: Seconds between the server's checks that the audit trail was sealed within the last day.
CHECKPOINT_CHECK_SECONDS: Final = 3600
#: Seconds before the first check, so verifying the trail does not compete with the workers'
#: start and first pages (on a small machine that pushed a cold report page past 15 s).
CHECKPOINT_FIRST_CHECK_SECONDS: Final = 120

logger = logging.getLogger("qmm.audit")


def check_checkpoint_once() -> None:
    """Seal the audit trail when its newest checkpoint is a day old; log, never raise."""
    try:
        due = checkpoint_if_due(get_engine())
    except Exception:
        logger.exception("the daily audit checkpoint could not be written")
        return
    if due.written is not None:
        logger.info(
            "audit checkpoint #%s written: seals entry #%s",
            due.written.id,
            due.written.entry_id,
        )
    elif due.report is not None:
        logger.error(
            "the audit trail does not verify (%d problem(s)), so the daily checkpoint was not "
            "written; run `qmm audit verify`: %s",
            len(due.report.problems),
            "; ".join(due.report.problems[:3]),
        )


def keep_checkpoints_daily(stop: threading.Event, interval: float, first: float) -> None:
    """Check after FIRST seconds and then every INTERVAL seconds until STOP is set."""
    if stop.wait(first):
        return
    while True:
        check_checkpoint_once()
        if stop.wait(interval):
            return


def start_daily_checkpoints(
    interval: float = CHECKPOINT_CHECK_SECONDS, first: float = CHECKPOINT_FIRST_CHECK_SECONDS
) -> threading.Event:
    """Run the daily checkpoint in a background thread of the serving process; set to stop."""
    stop = threading.Event()
    threading.Thread(
        target=keep_checkpoints_daily,
        args=(stop, interval, first),
        name="qmm-audit-checkpoints",
        daemon=True,
    ).start()
    return stop


def default_workers() -> int:
    """One worker process per core, at most four: page rendering is Python, bound by one core
    per process, and each worker keeps its own caches."""
    return max(1, min(4, os.cpu_count() or 1))


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Worker processes (default: one per CPU core, at most 4).",
    ),
) -> None:
    """Serve the web application and the API under /api until interrupted."""
    import uvicorn

    workers = workers or default_workers()
    stop_checkpoints = start_daily_checkpoints()
    console.print(
        f"QMM Workbench on http://{host}:{port}/ (API: /api, {workers} worker process"
        f"{'es' if workers != 1 else ''}, stop with Ctrl-C)"
    )
    uvicorn.run(
        "qmm.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT,
    )
    stop_checkpoints.set()
