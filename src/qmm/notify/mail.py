"""The SMTP server digests go through: its settings checked, and one message sent.

The standard library's smtplib and email build and send the mail (docs/decisions.md): no
dependency for a plain SMTP client. Every problem names the setting to fix.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final

from qmm.config import Settings
from qmm.errors import QMMError

SECURITIES: Final = ("starttls", "ssl", "none")
DEFAULT_PORTS: Final = {"starttls": 587, "ssl": 465, "none": 25}


class MailNotConfigured(QMMError):
    """The SMTP settings are missing or wrong: nothing can be sent until they are fixed."""


class MailFailed(QMMError):
    """The SMTP server could not be reached or refused a message."""

    exit_code = 1


@dataclass(frozen=True)
class MailServer:
    """Where and how to hand over mail, as the settings say."""

    host: str
    port: int
    security: str
    user: str | None
    password: str | None
    sender: str
    timeout: float

    @property
    def where(self) -> str:
        return f"QMM_SMTP_HOST={self.host} QMM_SMTP_PORT={self.port}"


def mail_server(settings: Settings) -> MailServer:
    """The SMTP server the settings name, or why they cannot be used (naming the setting)."""
    if not settings.smtp_host or not settings.smtp_host.strip():
        raise MailNotConfigured(
            "no SMTP server is configured: set QMM_SMTP_HOST (and QMM_SMTP_PORT, "
            "QMM_SMTP_SECURITY); no mail is sent without one"
        )
    security = settings.smtp_security.strip().lower()
    if security not in SECURITIES:
        raise MailNotConfigured(
            f"QMM_SMTP_SECURITY is {settings.smtp_security!r}: use one of {', '.join(SECURITIES)}"
        )
    port = DEFAULT_PORTS[security]
    if settings.smtp_port is not None and settings.smtp_port.strip():
        text = settings.smtp_port.strip()
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise MailNotConfigured(
                f"QMM_SMTP_PORT is {settings.smtp_port!r}: give a port number from 1 to 65535"
            )
        port = int(text)
    password = settings.smtp_password
    if settings.smtp_password_file is not None:
        if password is not None:
            raise MailNotConfigured(
                "both QMM_SMTP_PASSWORD and QMM_SMTP_PASSWORD_FILE are set: keep one"
            )
        try:
            password = settings.smtp_password_file.read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise MailNotConfigured(
                f"QMM_SMTP_PASSWORD_FILE {settings.smtp_password_file} cannot be read: "
                f"{exc.strerror or exc}"
            ) from None
    if password is not None and not settings.smtp_user:
        raise MailNotConfigured("an SMTP password is set but no QMM_SMTP_USER to sign in with")
    return MailServer(
        host=settings.smtp_host.strip(),
        port=port,
        security=security,
        user=settings.smtp_user or None,
        password=password,
        sender=settings.smtp_from,
        timeout=settings.smtp_timeout_seconds,
    )


def send_message(server: MailServer, message: EmailMessage) -> None:
    """Hand one message to the SMTP server; any failure is a MailFailed naming the server."""
    try:
        client: smtplib.SMTP
        if server.security == "ssl":
            client = smtplib.SMTP_SSL(
                server.host,
                server.port,
                timeout=server.timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
        with client:
            if server.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if server.user is not None:
                client.login(server.user, server.password or "")
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailFailed(
            f"the SMTP server at {server.where} refused QMM_SMTP_USER={server.user}: {_said(exc)}"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailFailed(
            f"the SMTP server at {server.where} does not offer STARTTLS: set "
            "QMM_SMTP_SECURITY=ssl or none (a local relay only), or QMM_SMTP_PORT"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(exc.recipients)
        raise MailFailed(f"the SMTP server at {server.where} refused {refused}") from None
    except smtplib.SMTPException as exc:
        raise MailFailed(f"the SMTP server at {server.where} failed: {_said(exc)}") from None
    except (OSError, ssl.SSLError) as exc:
        raise MailFailed(
            f"cannot reach the SMTP server at {server.where} (QMM_SMTP_SECURITY="
            f"{server.security}): {exc.strerror or exc}"
        ) from None


def _said(exc: smtplib.SMTPException) -> str:
    """What the server answered, readably."""
    code = getattr(exc, "smtp_code", None)
    error = getattr(exc, "smtp_error", None)
    if isinstance(error, bytes):
        error = error.decode("utf-8", "replace")
    return f"{code} {error}" if code is not None else str(exc) or type(exc).__name__
