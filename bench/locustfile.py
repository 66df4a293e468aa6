"""Locust users for bench/web_load.py: people who sign in, then read pages with think time.

Each user signs in through the form once (CSRF token and all), then requests the page named by
QMM_LOAD_PATH (or, with QMM_LOAD_PATH unset, the mix in QMM_LOAD_MIX) with 1 to 3 seconds of
think time between requests, as a person reading a dashboard would.
"""

from __future__ import annotations

import os
import re

from locust import HttpUser, between, task

PASSWORD = os.environ.get("QMM_LOAD_PASSWORD", "qmm-demo-2026!")
USERNAME = os.environ.get("QMM_LOAD_USER", "alice")
PATH = os.environ.get("QMM_LOAD_PATH", "/healthz")
_TOKEN = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


class Reader(HttpUser):
    """A signed-in person reading one page again and again."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        form = self.client.get("/login", name="sign-in form")
        match = _TOKEN.search(form.text)
        if match is None:
            raise RuntimeError("the sign-in form has no CSRF token")
        answer = self.client.post(
            "/login",
            data={"username": USERNAME, "password": PASSWORD, "csrf_token": match[1]},
            name="sign in",
            allow_redirects=False,
        )
        if answer.status_code not in (302, 303):
            raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")

    @task
    def read(self) -> None:
        with self.client.get(PATH, name=PATH, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
