"""`qmm user`: the people who assess and run the program."""

from __future__ import annotations

import typer

from qmm.auth.service import create_user, list_users
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table

app = typer.Typer(help="Add and list users.", no_args_is_help=True)


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Unique login name, e.g. alice."),
    full_name: str = typer.Option(..., "--name", help="Printed name, shown on signatures."),
    email: str | None = typer.Option(None, help="E-mail address."),
) -> None:
    """Add a user."""
    with boundary() as session:
        user = create_user(session, username=username, full_name=full_name, email=email)
        console.print(f"Added user {user.username} ({user.full_name}).")


@app.command("list")
def list_(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List the users."""
    with boundary() as session:
        users = [
            {
                "username": u.username,
                "full_name": u.full_name,
                "email": u.email,
                "active": u.is_active,
            }
            for u in list_users(session)
        ]
    if fmt is OutputFormat.json:
        print_json(users)
        return
    print_table("Users", ["username", "name", "email", "active"], [list(u.values()) for u in users])
