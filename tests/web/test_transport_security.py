"""HSTS: a browser that reached the app over TLS is told to keep using it; plain http is not.

TLS is seen directly (the request's scheme) or through a trusted proxy's X-Forwarded-Proto, which
uvicorn turns into the scheme (`qmm serve` trusts the proxy addresses in FORWARDED_ALLOW_IPS,
127.0.0.1 by default); a forwarded header from anyone else changes nothing.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qmm.web.app import HSTS

PATHS = ["/login", "/healthz", "/static/qmm.css", "/api/sites", "/nowhere"]


@pytest.mark.parametrize("path", PATHS)
def test_tls_answers_carry_hsts(app: FastAPI, rollback: None, path: str) -> None:
    with TestClient(app, base_url="https://qmm.example.test") as browser:
        assert browser.get(path).headers["Strict-Transport-Security"] == HSTS
    assert "max-age=" in HSTS


@pytest.mark.parametrize("path", PATHS)
def test_plain_http_answers_do_not(app: FastAPI, rollback: None, path: str) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        assert "Strict-Transport-Security" not in browser.get(path).headers


def test_a_trusted_proxys_forwarded_proto_counts(app: FastAPI, rollback: None) -> None:
    behind_proxy = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")
    with TestClient(
        behind_proxy, base_url="http://qmm.internal", client=("127.0.0.1", 9000)
    ) as proxy:
        answer = proxy.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert answer.headers["Strict-Transport-Security"] == HSTS


def test_an_untrusted_clients_forwarded_proto_does_not(app: FastAPI, rollback: None) -> None:
    behind_proxy = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")
    with TestClient(
        behind_proxy, base_url="http://qmm.internal", client=("203.0.113.9", 9000)
    ) as stranger:
        answer = stranger.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" not in answer.headers
