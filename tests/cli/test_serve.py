"""`qmm serve` starts a real server that answers over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from qmm.cli.main import app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_answers_health_checks_and_the_sign_in_page(cli_database: str) -> None:
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "qmm", "serve", "--port", str(port)],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout and server.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200
        assert "password" in login.text.lower()
    finally:
        server.terminate()
        server.wait(timeout=10)
