"""`qmm user`: accounts, passwords and role grants scoped to sites."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import typer

from qmm.assessment.service import get_assessment
from qmm.audit.trail import reason as audit_reason
from qmm.auth.service import (
    NewPassword,
    active_grants,
    create_user,
    disable_user,
    get_grant,
    get_user,
    grant_role,
    hash_new_password,
    list_users,
    revoke_grant,
    set_password,
)
from qmm.auth.throttle import unlock_sign_in
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    fail,
    parse_day,
    print_json,
    print_table,
    read_password,
)
from qmm.errors import QMMError
from qmm.models import Role
from qmm.sites.service import get_site, site_code

app = typer.Typer(help="Accounts, passwords and roles per site.", no_args_is_help=True)

ROLES = ", ".join(r.value for r in Role)


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Unique login name, e.g. alice; never reused."),
    full_name: str = typer.Option(..., "--name", help="Printed name, shown on signatures."),
    email: str | None = typer.Option(None, help="E-mail address."),
    set_pw: bool = typer.Option(
        False, "--set-password", help="Prompt for a password (needed to sign in and sign)."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Add a user."""
    password = (
        read_password(from_stdin=password_stdin, confirm=not password_stdin)
        if set_pw or password_stdin
        else None
    )
    hashed = _hashed(username, None, password) if password is not None else None
    with boundary(writer=True) as session:
        user = create_user(
            session, username=username, full_name=full_name, email=email, password=hashed
        )
        console.print(f"Added user {user.username} ({user.full_name}).")


@app.command("list")
def list_(
    grants: bool = typer.Option(False, "--grants", help="List every grant, ended ones too."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List the users and their roles."""
    with boundary() as session:
        users: list[dict[str, Any]] = []
        for u in list_users(session):
            live = {g.id for g in active_grants(session, user=u)}
            users.append(
                {
                    "username": u.username,
                    "full_name": u.full_name,
                    "email": u.email,
                    "active": u.is_active,
                    "has_password": u.password_hash is not None,
                    "grants": [
                        {
                            "id": g.id,
                            "role": g.role,
                            "site": (
                                None if g.site_id is None else site_code(session, site_id=g.site_id)
                            ),
                            "assessments": g.assessment_ids,
                            "expires_at": g.expires_at.isoformat() if g.expires_at else None,
                            "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
                            "active": g.id in live,
                        }
                        for g in u.grants
                        if grants or g.id in live
                    ],
                }
            )
    if fmt is OutputFormat.json:
        print_json(users)
        return
    print_table(
        "Users",
        ["username", "name", "active", "password", "roles"],
        [
            [
                u["username"],
                u["full_name"],
                "yes" if u["active"] else "disabled",
                "set" if u["has_password"] else "-",
                "; ".join(
                    f"#{g['id']} {g['role']}@{g['site'] or 'all sites'}"
                    + (f" until {g['expires_at'][:10]}" if g["expires_at"] else "")
                    + ("" if g["active"] else " (ended)")
                    for g in u["grants"]
                ),
            ]
            for u in users
        ],
    )


@app.command("grant")
def grant(
    username: str = typer.Argument(..., help="The user."),
    role: str = typer.Argument(..., help=f"One of: {ROLES}."),
    site: str | None = typer.Option(None, "--site", help="Site code (every role but admin)."),
    assessment: list[int] = typer.Option(
        [], "--assessment", help="Limit an assessor to this assessment id; repeat."
    ),
    expires: str | None = typer.Option(None, "--expires", help="Last day, YYYY-MM-DD (UTC)."),
    days: int | None = typer.Option(None, "--days", help="Or: valid for this many days."),
) -> None:
    """Give a user a role at a site; assessors must be time-limited."""
    if expires and days:
        fail("give --expires or --days, not both")
    expires_at = None
    if expires:
        expires_at = datetime.combine(
            parse_day(expires, option="--expires") + timedelta(days=1), time(), tzinfo=UTC
        )
    elif days is not None:
        if days <= 0:
            fail("--days must be a positive number")
        expires_at = datetime.now(UTC) + timedelta(days=days)
    with boundary() as session:
        target = get_site(session, code=site) if site else None
        made = grant_role(
            session,
            user=get_user(session, username=username),
            role=role,
            site=target,
            expires_at=expires_at,
            assessments=[get_assessment(session, assessment_id=a) for a in assessment],
        )
        until = f" until {made.expires_at:%Y-%m-%d %H:%M} UTC" if made.expires_at else ""
        console.print(
            f"Granted {role} to {username} at {site or 'every site'}{until} (grant #{made.id})."
        )


@app.command("revoke")
def revoke(
    grant_id: int = typer.Argument(..., help="Grant number, from `qmm user list`."),
    why: str = typer.Option(..., "--reason", help="Why the grant ends (kept in the audit trail)."),
) -> None:
    """End a role grant now; it stays on record."""
    with boundary() as session, audit_reason(session, why):
        revoke_grant(session, grant=get_grant(session, grant_id=grant_id))
        console.print(f"Revoked grant #{grant_id}.")


@app.command("disable")
def disable(
    username: str = typer.Argument(..., help="The user."),
    why: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Disable an account: it can no longer sign in; its records and name stay."""
    with boundary() as session, audit_reason(session, why):
        disable_user(session, user=get_user(session, username=username))
        console.print(f"Disabled {username}.")


@app.command("unlock")
def unlock(
    username: str = typer.Argument(..., help="The user."),
    why: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Lift a user's sign-in back-off at every address (the unlock is in the audit trail)."""
    with boundary() as session, audit_reason(session, why):
        unlock_sign_in(session, user=get_user(session, username=username))
        console.print(f"Unlocked sign-in for {username}.")


@app.command("passwd")
def passwd(
    username: str = typer.Argument(..., help="The user."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from standard input."
    ),
) -> None:
    """Set a user's password (also lifts a sign-in back-off)."""
    password = read_password(
        from_stdin=password_stdin, prompt="New password", confirm=not password_stdin
    )
    with boundary() as session:
        current_hash = get_user(session, username=username).password_hash
    hashed = _hashed(username, current_hash, password)
    with boundary(writer=True) as session, audit_reason(session, "password set by an operator"):
        set_password(session, user=get_user(session, username=username), password=hashed)
        console.print(f"Password set for {username}.")


def _hashed(username: str, current_hash: str | None, password: str) -> NewPassword:
    """The slow argon2 work, done before the write begins so no other writer waits on it."""
    try:
        return hash_new_password(username=username, current_hash=current_hash, password=password)
    except QMMError as exc:
        fail(str(exc), exc.exit_code)
        raise AssertionError from exc  # fail() exits


@app.command("digest")
def digest(
    username: str = typer.Argument(..., help="The user."),
    on: bool | None = typer.Option(
        None, "--on/--off", help="Opt in to the e-mail digest, or out; omit to show the choice."
    ),
    frequency: str | None = typer.Option(
        None, "--frequency", help="daily or weekly (opting in without one: weekly)."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Show or change whether a user gets the worklist by e-mail, daily or weekly."""
    from qmm.notify.digest import choose_digest, digest_choice

    with boundary(writer=on is not None or frequency is not None) as session:
        user = get_user(session, username=username)
        if on is None and frequency is None:
            choice = digest_choice(session, user=user)
        else:
            enabled = on if on is not None else digest_choice(session, user=user).enabled
            choice = choose_digest(session, user=user, enabled=enabled, frequency=frequency)
    if fmt is OutputFormat.json:
        print_json(
            {
                "username": choice.username,
                "email": choice.email,
                "enabled": choice.enabled,
                "frequency": choice.frequency,
            }
        )
        return
    state = f"on, {choice.frequency}" if choice.enabled else "off"
    console.print(f"E-mail digest of {choice.username} ({choice.email or 'no address'}): {state}.")
