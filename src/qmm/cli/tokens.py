"""`qmm token`: API tokens for scripts, hashed at rest, scoped and revocable."""

from __future__ import annotations

from typing import Any

import typer

from qmm.audit.trail import reason as audit_reason
from qmm.auth.service import get_user
from qmm.auth.sessions import create_api_token, list_api_tokens, revoke_api_token, token_state
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table
from qmm.sites.service import get_site

app = typer.Typer(help="API tokens for scripts and integrations.", no_args_is_help=True)


@app.command("create")
def create(
    username: str = typer.Option(..., "--user", help="The user the token acts for."),
    name: str = typer.Option(..., "--name", help="What uses it, e.g. 'nightly export'."),
    scope: str = typer.Option("read", "--scope", help="read or write."),
    site: list[str] = typer.Option([], "--site", help="Limit to this site code; repeat."),
    days: int = typer.Option(90, "--days", help="Lifetime in days."),
) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    with boundary() as session:
        plain, token = create_api_token(
            session,
            user=get_user(session, username=username),
            name=name,
            scope=scope,
            sites=[get_site(session, code=s) for s in site],
            days=days,
        )
        token_id = token.id
    console.print(
        f"Token #{token_id} for {username} ({scope}); copy it now, it is not shown again:"
    )
    typer.echo(plain)


@app.command("revoke")
def revoke(
    token_id: int = typer.Argument(..., help="Token number, from `qmm token list`."),
    why: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Revoke a token at once."""
    with boundary() as session, audit_reason(session, why):
        revoke_api_token(session, token_id=token_id)
        console.print(f"Revoked token #{token_id}.")


@app.command("list")
def list_(
    username: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List tokens (never their secret)."""
    with boundary() as session:
        user = get_user(session, username=username) if username else None
        rows: list[dict[str, Any]] = [
            {
                "id": t.id,
                "name": t.name,
                "user": t.user.username,
                "prefix": f"qmm_{t.prefix}_...",
                "scope": t.scope,
                "site_ids": t.site_ids,
                "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                "revoked": t.revoked_at is not None,
                "state": token_state(t),
            }
            for t in list_api_tokens(session, user=user)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        "API tokens",
        ["id", "name", "user", "token", "scope", "expires", "state"],
        [
            [
                r["id"],
                r["name"],
                r["user"],
                r["prefix"],
                r["scope"],
                (r["expires_at"] or "never")[:10],
                r["state"],
            ]
            for r in rows
        ],
    )
