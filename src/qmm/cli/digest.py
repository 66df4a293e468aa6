"""`qmm digest send`: mail each person who opted in their worklist, once per day or week."""

from __future__ import annotations

import typer

from qmm.cli.common import boundary, console, err_console, fail, parse_day
from qmm.config import get_settings
from qmm.errors import QMMError
from qmm.metrics.service import event_store
from qmm.models import utcnow
from qmm.notify.digest import deliver_digest, digest_for, due_digests
from qmm.notify.mail import MailServer, mail_server
from qmm.sites.service import list_sites

app = typer.Typer(
    help="E-mail digests of the worklist, for cron or a systemd timer.", no_args_is_help=True
)


@app.command("send")
def send(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the digests that would go out; send and record nothing."
    ),
    user: str | None = typer.Option(None, "--user", help="Only this user's digest."),
    as_of: str | None = typer.Option(None, "--as-of", help="The day to judge from, YYYY-MM-DD."),
) -> None:
    """Send the due digests (for cron or a systemd timer): never twice for a day or week.

    A failure for one person is reported and the others still go; the exit code is 1 if any
    failed.
    """
    today = parse_day(as_of, option="--as-of") if as_of else utcnow().date()
    settings = get_settings()
    server: MailServer | None = None
    if not dry_run:
        try:
            server = mail_server(settings)
        except QMMError as exc:
            fail(str(exc))
    with boundary() as session:
        due, skipped = due_digests(session, today=today, only=user)
    for left in skipped:
        console.print(f"Skipped {left.username}: {left.reason}.")
    store = event_store()
    failed = 0
    for one in due:
        try:
            with boundary() as session:
                digest = digest_for(
                    session,
                    due=one,
                    sites=list_sites(session),
                    store=store,
                    today=today,
                    base_url=settings.base_url,
                )
            if server is not None:
                with boundary(writer=True) as session:
                    deliver_digest(session, due=one, digest=digest, server=server)
        except typer.Exit:
            failed += 1
            err_console.print(f"Digest of {one.username} for {one.period} not sent.")
            continue
        if dry_run:
            console.print(f"--- to {digest.recipient}: {digest.subject}", highlight=False)
            console.print(digest.text, markup=False, highlight=False)
        else:
            console.print(
                f"Sent the {one.frequency} digest of {one.username} for {one.period} to "
                f"{digest.recipient} ({digest.items} items).",
                highlight=False,
            )
    verb = "would send" if dry_run else "sent"
    console.print(f"Digests: {len(due) - failed} {verb}, {failed} failed, {len(skipped)} skipped.")
    if failed:
        raise typer.Exit(1)
