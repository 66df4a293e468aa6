"""`qmm serve`: the web application and its HTTP API."""

from __future__ import annotations

import typer

from qmm.cli.common import console


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (PostgreSQL: more)."),
) -> None:
    """Serve the web application and the API under /api until interrupted."""
    import uvicorn

    console.print(f"QMM Workbench on http://{host}:{port}/ (API: /api, stop with Ctrl-C)")
    uvicorn.run(
        "qmm.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )
