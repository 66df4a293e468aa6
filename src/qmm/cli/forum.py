"""`qmm forum`: the stop-and-fix forum: roadblocks raised, removed, and how fast."""

from __future__ import annotations

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table
from qmm.cli.program_common import optional_day, site_for
from qmm.models import utcnow
from qmm.program.forum import (
    days_to_removal,
    forum_summary,
    get_forum_item,
    list_forum_items,
    raise_roadblock,
    remove_roadblock,
)
from qmm.program.schemas.steering import ForumItemOut, ForumOut

app = typer.Typer(
    help="The stop-and-fix forum: roadblocks raised and the leaders who remove them.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
AS_OF = typer.Option(None, "--as-of", help="The day to measure on, YYYY-MM-DD; default today.")


@app.command("raise")
def raise_(
    site: str = SITE,
    roadblock: str | None = typer.Option(None, "--roadblock", help="What is in the way."),
    raised_by: str | None = typer.Option(None, "--raised-by", help="Who raised it."),
    on: str | None = typer.Option(None, "--on", help="Date raised, YYYY-MM-DD."),
    owner: str | None = typer.Option(None, "--owner", help="The leader who removes it."),
) -> None:
    """Raise a roadblock at the forum, with the leader who owns removing it."""
    day = optional_day(on, option="--on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        item = raise_roadblock(
            session,
            site=the_site,
            roadblock=roadblock,  # type: ignore[arg-type]  # None is named by the service
            raised_by=raised_by,  # type: ignore[arg-type]
            raised_on=day,  # type: ignore[arg-type]
            owner=owner,  # type: ignore[arg-type]
        )
        made = item.id
    console.print(f"Raised roadblock {made} at {site}.")


@app.command("remove")
def remove(
    site: str = SITE,
    item_id: int = typer.Argument(..., help="Roadblock id (see `qmm forum list`)."),
    on: str | None = typer.Option(None, "--on", help="Date removed, YYYY-MM-DD."),
    resolution: str | None = typer.Option(None, "--resolution", help="How it was removed."),
) -> None:
    """Record that a roadblock was removed, when and how."""
    day = optional_day(on, option="--on")
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        item = remove_roadblock(
            session,
            item=get_forum_item(session, site=the_site, item_id=item_id),
            removed_on=day,  # type: ignore[arg-type]  # None is named by the service
            resolution=resolution,  # type: ignore[arg-type]
        )
        days = days_to_removal(item)
    console.print(f"Removed roadblock {item_id} in {days} days.")


@app.command("list")
def list_(
    site: str = SITE,
    open_only: bool = typer.Option(False, "--open", help="Only roadblocks not yet removed."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """The site's roadblocks, oldest raised first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        today = utcnow().date()
        rows = [
            ForumItemOut.of(i, today=today).model_dump(mode="json")
            for i in list_forum_items(session, site=the_site, open_only=open_only)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"{site} stop-and-fix forum",
        ["id", "raised", "roadblock", "raised by", "owner", "removed", "days", "resolution"],
        [
            [
                r["id"],
                r["raised_on"],
                r["roadblock"],
                r["raised_by"],
                r["owner"],
                r["removed_on"] or "open",
                "-" if r["days_to_removal"] is None else r["days_to_removal"],
                r["resolution"] or "-",
            ]
            for r in rows
        ],
    )


@app.command("summary")
def summary(site: str = SITE, as_of: str | None = AS_OF, fmt: OutputFormat = FORMAT) -> None:
    """Open roadblocks with their age, and the median and mean days to removal."""
    today = optional_day(as_of, option="--as-of") or utcnow().date()
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        found = forum_summary(session, site=the_site, today=today)
        data = ForumOut.of(found, today=today).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    median, mean = data["median_days_to_removal"], data["mean_days_to_removal"]
    console.print(
        f"{site}: {len(data['open_items'])} open, {data['removed']} removed; days to removal: "
        f"median {'-' if median is None else f'{median:g}'}, "
        f"mean {'-' if mean is None else f'{mean:.1f}'}.",
        highlight=False,
    )
    if data["open_items"]:
        print_table(
            f"Open roadblocks on {today}",
            ["id", "raised", "age (days)", "roadblock", "owner"],
            [
                [r["id"], r["raised_on"], r["age_days"], r["roadblock"], r["owner"]]
                for r in data["open_items"]
            ],
        )
