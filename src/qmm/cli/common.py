"""What every command shares: the transaction boundary, error reporting and output formats."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from qmm.audit.trail import Actor, set_actor, system_actor
from qmm.auth.permissions import Permission
from qmm.auth.scope import Operator, Reader, UserReader
from qmm.auth.service import WRONG_CREDENTIALS, authenticate, authorize, find_user, get_user
from qmm.config import get_settings
from qmm.db import begin_writing, unit_of_work
from qmm.errors import Forbidden, InvalidInput, NotFound, QMMError, Unauthenticated
from qmm.models import Assessment, Site

console = Console()
# Errors are never hard-wrapped: a long path or message stays whole for copying and grepping.
err_console = Console(stderr=True, soft_wrap=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


ACTING_USER_ENV = "QMM_USER"
#: The acting user's password for scripts, when QMM_CLI_REQUIRE_PASSWORD asks for it (never a
#: command-line option: those show in the process list and the shell history).
ACTING_PASSWORD_ENV = "QMM_CLI_PASSWORD"
REQUIRE_PASSWORD_ENV = "QMM_CLI_REQUIRE_PASSWORD"
#: Which commands ask the acting user's password: those that sign or approve, or every one.
PASSWORD_POLICIES = ("signing", "all")


_acting_user: str | None = None


def act_as(username: str | None) -> None:
    """Name the user this invocation acts for (`qmm --as`); None falls back to QMM_USER."""
    global _acting_user
    _acting_user = username


def _acting_username() -> str | None:
    return _acting_user or os.environ.get(ACTING_USER_ENV) or None


def acting_password(*, signer: str | None = None) -> str | None:
    """The acting user's password when QMM_CLI_REQUIRE_PASSWORD asks for it here; None otherwise.

    Asked before any transaction begins, so nothing waits on a person typing. SIGNER names the
    user a signing or approval command asks the password of anyway: acting as them, once is enough.
    """
    policy = get_settings().cli_require_password.strip().lower()
    if policy not in PASSWORD_POLICIES:
        raise InvalidInput(
            f"{REQUIRE_PASSWORD_ENV}={policy!r} is not one of {', '.join(PASSWORD_POLICIES)} "
            "('signing': commands that sign or approve ask the acting user's password; 'all': "
            "every command does)"
        )
    username = _acting_username()
    if username is None or username == signer:
        return None
    if policy == "signing" and signer is None:
        return None
    given = os.environ.get(ACTING_PASSWORD_ENV)
    if given is not None:
        return given
    typed: str = typer.prompt(
        f"Password for {username} (the acting user, --as or {ACTING_USER_ENV})", hide_input=True
    )
    return typed


def acting_actor(session: Session, *, password: str | None = None) -> Actor:
    """Who the audit trail records for this command: --as, else QMM_USER, else the operator.

    With PASSWORD (QMM_CLI_REQUIRE_PASSWORD asked for it), the acting user must prove who they are.
    """
    username = _acting_username()
    if not username:
        return system_actor()
    try:
        user = get_user(session, username=username)
    except NotFound:
        user = None
    if user is None or not user.is_active:
        raise NotFound(
            f"acting user {username!r} (--as or {ACTING_USER_ENV}) is not an active user"
        )
    if password is not None:
        try:
            authenticate(session, username=user.username, password=password, channel="cli")
        except Unauthenticated as exc:
            why = "wrong password" if str(exc) == WRONG_CREDENTIALS else str(exc)
            raise Unauthenticated(
                f"acting user {user.username} (--as or {ACTING_USER_ENV}): {why}; nothing was "
                f"done ({REQUIRE_PASSWORD_ENV} asks for the acting user's password)"
            ) from None
    return Actor(label=user.username, user_id=user.id)


def acting_reader(session: Session) -> Reader:
    """Whose reading scope a command keeps: the acting user's (--as / QMM_USER), else the
    operator's, who reads everything."""
    actor = session.info.get("audit_actor")
    if actor is None or actor.user_id is None:
        return Operator()
    user = find_user(session, user_id=actor.user_id)
    if user is None:
        raise Forbidden(f"acting user {actor.label} is unknown")
    return UserReader(user)


def authorize_actor(
    session: Session,
    permission: Permission,
    *,
    site: Site | None = None,
    assessment: Assessment | None = None,
) -> None:
    """Check the acting user's right (--as / QMM_USER); the operator without one is not checked."""
    actor = session.info.get("audit_actor")
    if actor is None or actor.user_id is None:
        return
    user = find_user(session, user_id=actor.user_id)
    if user is None:
        raise Forbidden(f"acting user {actor.label} is unknown")
    authorize(session, user=user, permission=permission, site=site, assessment=assessment)


@contextmanager
def boundary(*, writer: bool = False, signer: str | None = None) -> Iterator[Session]:
    """A unit of work that commits on success; a user error prints clearly and exits non-zero.

    WRITER takes the write lock first (SQLite), for work that reads and then writes. SIGNER marks
    a command that signs or approves, naming the signer whose password it asks itself.
    """
    try:
        password = acting_password(signer=signer)
        with unit_of_work() as session:
            if writer:
                begin_writing(session)
            set_actor(session, acting_actor(session, password=password))
            yield session
    except QMMError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


def fail(message: str, code: int = 2) -> None:
    """Stop a command with a clear message on stderr."""
    err_console.print(f"[bold red]Error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Write JSON to stdout exactly, without rich's wrapping or highlighting; a record's schema
    prints the same JSON the API returns for it."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A readable table for people."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def fmt_score(value: float | None) -> str:
    """A score for people: two decimals, or a dash when there is none."""
    return "-" if value is None else f"{value:.2f}"


def read_password(*, from_stdin: bool, prompt: str = "Password", confirm: bool = False) -> str:
    """A password from a hidden prompt, or the first line of stdin for scripts."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            fail("no password on standard input")
        return line
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


def refuse_link(path: Path | None, *, option: str = "--out") -> None:
    """An output named by a symbolic link is refused before any work: writing through it would
    put the file wherever the link points (or replace the link), which nobody asked for."""
    if path is None or not path.is_symlink():
        return
    try:
        points_to = f" (to {os.readlink(path)})"
    except OSError:
        points_to = ""
    fail(
        f"{option} {path} is a symbolic link{points_to}; qmm does not write through links: "
        "name the real file or folder to write"
    )


def write_text_file(path: Path, text: str, *, option: str = "--out") -> None:
    """Write a text output, or stop with a clear error naming it (never a traceback)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{option} {path} cannot be written: {exc.strerror or exc}")


def parse_day(text: str, *, option: str) -> date:
    """A YYYY-MM-DD option value, or a clear error naming the option."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} must be a date as YYYY-MM-DD")
        raise
