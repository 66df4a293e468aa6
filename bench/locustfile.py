"""Locust users for bench/web_load.py: people who sign in, then read pages with think time.

Each user signs in through the form (CSRF token and all), then requests the page named by
QMM_LOAD_PATH with 1 to 3 seconds of think time between requests, as a person reading a
dashboard would. A refused sign-in is counted as a failure and tried again on the next turn,
never ends the run; a page that answers anything but 200 (a redirect to sign in included) is
a failure of that page.
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
    signed_in = False

    def on_start(self) -> None:
        self.sign_in()

    def sign_in(self) -> None:
        with self.client.get("/login", name="sign-in form", catch_response=True) as form:
            match = _TOKEN.search(form.text or "")
            if form.status_code != 200 or match is None:
                form.failure(f"HTTP {form.status_code}, no CSRF token")
                return
        with self.client.post(
            "/login",
            data={"username": USERNAME, "password": PASSWORD, "csrf_token": match[1]},
            name="sign in",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code not in (302, 303):
                answer.failure(f"HTTP {answer.status_code}")
                return
        self.signed_in = True

    @task
    def read(self) -> None:
        if not self.signed_in:
            self.sign_in()
            return
        with self.client.get(
            PATH, name=PATH, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
