"""`qmm serve` starts a real server that answers over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
        assert health.json() == {"status": "ok", "last_use_stamps_lost": 0}
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200
        assert "password" in login.text.lower()
    finally:
        server.terminate()
        server.wait(timeout=10)


#: The `qmm` console script as installers write it: the workers uvicorn spawns re-import it.
ENTRY_POINT = """\
import sys
from qmm.cli.main import app
if __name__ == "__main__":
    sys.exit(app())
"""
#: A CPU-bound neighbour that stops by itself even if the test is killed.
BURN_CPU = "import time\nend = time.monotonic() + 240\nwhile time.monotonic() < end: pass\n"


def test_workers_start_and_answer_on_a_busy_machine_without_restarts(
    cli_database: str, tmp_path: Path
) -> None:
    import qmm

    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    script = tmp_path / "qmm"
    script.write_text(ENTRY_POINT, encoding="utf-8")
    source = str(Path(qmm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, *sys.path])}
    log_path = tmp_path / "serve.log"
    port = free_port()
    burners = [subprocess.Popen([sys.executable, "-c", BURN_CPU]) for _ in range(2)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, str(script), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 150
        while (log := log_path.read_text()).count("Application startup complete") < 2:
            assert server.poll() is None, log
            assert "died" not in log, log
            assert time.monotonic() < deadline, "the workers did not start within 150 s"
            time.sleep(0.5)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "last_use_stamps_lost": 0}
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    log = log_path.read_text()
    assert log.count("Started server process") == 2, log
    assert "died" not in log, log
    assert "not ready in time" not in log, log
    assert "failed to start" not in log, log
