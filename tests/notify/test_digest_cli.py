"""`qmm user digest` and `qmm digest send`: the worklist by e-mail to a real SMTP server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from typer.testing import CliRunner

from qmm.cli.main import app
from qmm.config import get_settings

runner = CliRunner()
BASE = "https://qmm.example.test"


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


class Inbox:
    """Keeps every message the server accepts; refuses recipients at refused.test."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@refused.test"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.content
        assert isinstance(data, bytes)
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        monkeypatch.setenv("QMM_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("QMM_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("QMM_SMTP_SECURITY", "none")
        monkeypatch.setenv("QMM_BASE_URL", BASE)
        get_settings.cache_clear()
        yield handler
    finally:
        controller.stop()
        get_settings.cache_clear()


@pytest.fixture
def workspace(cli_database: str) -> str:
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("user", "add", "alice", "--name", "Alice Moreau", "--email", "alice@example.test")
    qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
    qmm("user", "add", "bob", "--name", "Bob Stone", "--email", "bob@refused.test")
    qmm("user", "grant", "bob", "viewer", "--site", "SITE-A")
    qmm("user", "add", "carl", "--name", "Carl", "--email", "carl@example.test")
    qmm(
        "evidence", "add", "--site", "SITE-A", "--title", "Cleaning validation SOP",
        "--kind", "sop", "--owner", "alice", "--effective", "2025-03-01",
        "--review-by", "2026-11-01", "--link", "https://eqms.example.invalid/SOP-1",
    )  # fmt: skip
    qmm(
        "evidence", "add", "--site", "SITE-A", "--title", "Someone else's SOP",
        "--kind", "sop", "--owner", "QA Ops", "--effective", "2025-03-01",
        "--review-by", "2026-11-02", "--link", "https://eqms.example.invalid/SOP-2",
    )  # fmt: skip
    return cli_database


def test_opting_in_and_out_is_kept_per_user(workspace: str) -> None:
    assert "off" in qmm("user", "digest", "alice")
    assert "on, daily" in qmm("user", "digest", "alice", "--on", "--frequency", "daily")
    assert "on, weekly" in qmm("user", "digest", "alice", "--frequency", "weekly")
    assert "off" in qmm("user", "digest", "alice", "--off")
    assert "off" in qmm("user", "digest", "carl")


def test_bad_digest_choices_are_refused(workspace: str) -> None:
    out = qmm("user", "digest", "alice", "--on", "--frequency", "hourly", code=2)
    assert "frequency 'hourly'" in out
    qmm("user", "add", "dora", "--name", "Dora")
    assert "no e-mail address" in qmm("user", "digest", "dora", "--on", code=2)
    assert "off" in qmm("user", "digest", "dora")


def test_the_digest_arrives_with_both_parts_and_links(workspace: str, inbox: Inbox) -> None:
    qmm("user", "digest", "alice", "--on", "--frequency", "daily")
    out = qmm("digest", "send", "--as-of", "2026-11-20")
    assert "Sent the daily digest of alice for 2026-11-20" in out
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["alice@example.test"]
    assert message["To"] == "Alice Moreau <alice@example.test>"
    assert "QMM Workbench: 1 for you today (1 overdue)" in str(message["Subject"])
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain, marked = text.get_content(), html.get_content()
    assert "Cleaning validation SOP" in plain
    assert "overdue since 2026-11-01" in plain
    assert "Someone else's SOP" not in plain
    assert f"{BASE}/sites/SITE-A/evidence/" in plain
    assert f'<a href="{BASE}/sites/SITE-A/evidence/' in marked
    assert re.search(
        rf'<a href="{BASE}/sites/SITE-A/evidence/[^"]+">[^<]*Cleaning validation SOP[^<]*</a>',
        marked,
    )
    assert f"{BASE}/account/digest" in plain


def test_a_rerun_sends_nothing_twice_in_a_period(workspace: str, inbox: Inbox) -> None:
    qmm("user", "digest", "alice", "--on", "--frequency", "weekly")
    qmm("digest", "send", "--as-of", "2026-11-16")
    out = qmm("digest", "send", "--as-of", "2026-11-20")  # the same ISO week
    assert "already sent for 2026-W47" in out
    assert len(inbox.messages) == 1
    qmm("digest", "send", "--as-of", "2026-11-23")  # the next week
    assert len(inbox.messages) == 2


def test_one_failure_does_not_stop_the_others(workspace: str, inbox: Inbox) -> None:
    qmm("user", "digest", "alice", "--on", "--frequency", "daily")
    qmm("user", "digest", "bob", "--on", "--frequency", "daily")
    result = runner.invoke(app, ["digest", "send", "--as-of", "2026-11-20"])
    assert result.exit_code == 1, result.output
    assert "bob@refused.test" in result.output
    assert "1 sent, 1 failed" in result.output
    assert [m[0] for m in inbox.messages] == [["alice@example.test"]]
    # bob's failure was not recorded as sent: the next run tries him again, alice is not resent
    again = runner.invoke(app, ["digest", "send", "--as-of", "2026-11-20"])
    assert again.exit_code == 1
    assert "already sent for 2026-11-20" in again.output
    assert len(inbox.messages) == 1


def test_a_dry_run_prints_and_records_nothing(workspace: str, inbox: Inbox) -> None:
    qmm("user", "digest", "alice", "--on", "--frequency", "daily")
    out = qmm("digest", "send", "--dry-run", "--user", "alice", "--as-of", "2026-11-20")
    assert "Cleaning validation SOP" in out
    assert "would send" in out
    assert inbox.messages == []
    qmm("digest", "send", "--user", "alice", "--as-of", "2026-11-20")
    assert len(inbox.messages) == 1


def test_no_server_configured_sends_nothing_and_names_the_setting(
    workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QMM_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    qmm("user", "digest", "alice", "--on")
    assert "QMM_SMTP_HOST" in qmm("digest", "send", code=2)


@pytest.mark.parametrize("port", ["99999", "smtp", "0"])
def test_a_bad_port_names_the_setting(
    workspace: str, monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    monkeypatch.setenv("QMM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("QMM_SMTP_PORT", port)
    get_settings.cache_clear()
    qmm("user", "digest", "alice", "--on")
    assert "QMM_SMTP_PORT" in qmm("digest", "send", code=2)
    get_settings.cache_clear()


def test_a_bad_security_and_a_password_without_user_name_their_settings(
    workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QMM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("QMM_SMTP_SECURITY", "tls1.0")
    get_settings.cache_clear()
    assert "QMM_SMTP_SECURITY" in qmm("digest", "send", code=2)
    monkeypatch.setenv("QMM_SMTP_SECURITY", "none")
    monkeypatch.setenv("QMM_SMTP_PASSWORD", "secret")
    get_settings.cache_clear()
    assert "QMM_SMTP_USER" in qmm("digest", "send", code=2)
    get_settings.cache_clear()


def test_an_unreachable_server_is_reported_and_nothing_recorded(
    workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("QMM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("QMM_SMTP_PORT", str(port))
    monkeypatch.setenv("QMM_SMTP_SECURITY", "none")
    get_settings.cache_clear()
    qmm("user", "digest", "alice", "--on", "--frequency", "daily")
    result = runner.invoke(app, ["digest", "send", "--as-of", "2026-11-20"])
    assert result.exit_code == 1
    assert "cannot reach the SMTP server" in result.output
    assert f"QMM_SMTP_HOST=127.0.0.1 QMM_SMTP_PORT={port}" in result.output
    dry = qmm("digest", "send", "--dry-run", "--as-of", "2026-11-20")
    assert "1 would send" in dry  # not recorded as sent
    get_settings.cache_clear()
