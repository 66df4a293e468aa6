"""`qmm site`: register and list manufacturing sites."""

from __future__ import annotations

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import (
    OutputFormat,
    authorize_actor,
    boundary,
    console,
    fail,
    print_json,
    print_table,
)
from qmm.sites.schemas import SiteOut
from qmm.sites.service import create_site, get_site, list_sites, set_two_person_rule

app = typer.Typer(help="Register and list manufacturing sites.", no_args_is_help=True)


@app.command("add")
def add(
    code: str = typer.Argument(..., help="Short unique site code, e.g. SITE-A."),
    name: str = typer.Option(..., "--name", help="The site's name."),
    fei: str | None = typer.Option(None, help="FDA Establishment Identifier (7-10 digits)."),
    duns: str | None = typer.Option(None, help="D-U-N-S number."),
    site_type: str | None = typer.Option(
        None, "--type", help="fdf, api, packager, lab or biologics."
    ),
    headcount: int | None = typer.Option(None, help="Number of staff (for per-100-staff KPIs)."),
) -> None:
    """Register a site."""
    with boundary() as session:
        site = create_site(
            session,
            code=code,
            name=name,
            fei=fei,
            duns=duns,
            site_type=site_type,
            headcount=headcount,
        )
        console.print(f"Added site {site.code} ({site.name}).")


@app.command("list")
def list_(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List the sites."""
    with boundary() as session:
        sites = [SiteOut.of(s) for s in list_sites(session)]
    if fmt is OutputFormat.json:
        print_json(sites)
        return
    print_table(
        "Sites",
        ["code", "name", "FEI", "type", "headcount", "two-person rule"],
        [
            [s.code, s.name, s.fei, s.site_type, s.headcount, "on" if s.two_person_rule else "off"]
            for s in sites
        ],
    )


@app.command("two-person-rule")
def two_person_rule(
    code: str = typer.Argument(..., help="The site's code, e.g. SITE-A."),
    state: str = typer.Argument(..., help="on or off."),
) -> None:
    """Turn the site's two-person rule on or off (administrators): an author never approves
    their own decision or plan; a second person signs."""
    wanted = state.strip().lower()
    if wanted not in {"on", "off"}:
        fail(f"the state is on or off, not {state!r}")
    with boundary() as session:
        site = get_site(session, code=code)
        authorize_actor(session, Permission.site_settings, site=site)
        set_two_person_rule(session, site=site, on=wanted == "on")
        console.print(f"The two-person rule at {site.code} is {wanted}.")
