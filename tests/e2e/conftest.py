"""The real app in a real browser: `qmm demo` data, `qmm serve` in a process, headless Chromium.

The browser is the system's Chromium (Debian's `chromium` package; `QMM_CHROMIUM` names
another binary): Playwright's own browser download does not work on closed networks. The
tests run in the SQLite lane only: they drive the embedded default a user installs, and the
web layer's behaviour on PostgreSQL is covered by tests/web.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

DEMO_PASSWORD = "qmm-demo-2026!"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

ON_POSTGRES = os.environ.get("QMM_TEST_DATABASE_URL", "").startswith("postgresql")


@pytest.fixture(autouse=True)
def _sqlite_lane_only() -> None:
    if ON_POSTGRES:
        pytest.skip("browser tests run in the SQLite lane (tests/web covers PostgreSQL)")


def chromium_path() -> str:
    """The browser binary, or a failure that says how to install it (never a silent skip)."""
    named = os.environ.get("QMM_CHROMIUM")
    if named:
        if not Path(named).is_file():
            pytest.fail(f"QMM_CHROMIUM={named} is not a file")
        return named
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        "the browser tests need Chromium: install Debian's `chromium` package "
        "(apt-get install chromium; .ci/run does) or set QMM_CHROMIUM to a Chromium binary"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    """A running `qmm serve` on loopback over its own demo workspace."""

    url: str
    data_dir: Path
    env: dict[str, str]

    def qmm(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `qmm` command against the server's workspace."""
        return subprocess.run(
            [sys.executable, "-m", "qmm", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """`qmm demo`, then `qmm serve`, each in a process of its own, on a SQLite file.

    The file starts as a copy of the `qmm init` template (migrating it again would prove
    nothing more); `qmm demo` initialises it again and loads the demo as a user's run does.
    """
    if ON_POSTGRES:  # before any work: session fixtures are set up before the skip above
        pytest.skip("browser tests run in the SQLite lane (tests/web covers PostgreSQL)")
    template: str = request.getfixturevalue("initialised_template")
    data_dir = tmp_path_factory.mktemp("e2e-data")
    shutil.copyfile(make_url(template).database or "", data_dir / "qmm.sqlite3")
    env = {
        **os.environ,
        "QMM_DATA_DIR": str(data_dir),
        "QMM_DATABASE_URL": f"sqlite:///{data_dir / 'qmm.sqlite3'}",
        "COLUMNS": "200",
    }
    env.pop("QMM_EVENTS_URL", None)
    demo = subprocess.run(
        [sys.executable, "-m", "qmm", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    port = _free_port()
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "qmm", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            log.close()
            pytest.fail("qmm serve did not start:\n" + (data_dir / "server.log").read_text())
        time.sleep(0.2)
    try:
        yield LiveServer(url=url, data_dir=data_dir, env=env)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if ON_POSTGRES:
        pytest.skip("browser tests run in the SQLite lane (tests/web covers PostgreSQL)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) at laptop width."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()[:2000]


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot for review, under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    return path
