"""`qmm serve`: the web application and its HTTP API."""

from __future__ import annotations

import os
from typing import Final

import typer

from qmm.cli.common import console

#: Seconds a worker may take to answer the supervisor's health check before it is replaced.
#: The answer comes from a thread that competes for the interpreter with the application's
#: import (SciPy, Ibis, DuckDB, WeasyPrint) and long renders; on a busy machine uvicorn's 5 s
#: default replaced workers before they ever served.
WORKER_HEALTHCHECK_TIMEOUT: Final = 30


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
