"""`qmm supplier`: supplier quality agreements, maturity reviews, joint drills, what is overdue."""

from __future__ import annotations

from typing import Any

import typer

from qmm.auth.permissions import Permission
from qmm.cli.common import OutputFormat, boundary, console, print_json, print_table
from qmm.cli.continuity import as_of_day, parse_number, parse_whole
from qmm.cli.program_common import optional_day, parse_yes_no, site_for, utc_today
from qmm.program.schemas.suppliers import AgreementOut
from qmm.program.suppliers import (
    add_agreement,
    get_agreement,
    list_agreements,
    next_drill_on,
    next_review_on,
    record_joint_drill,
    record_review,
    supplier_status,
)

app = typer.Typer(
    help="Supplier quality agreements: commitments, maturity reviews, joint drills, overdue.",
    no_args_is_help=True,
)

SITE = typer.Argument(..., help="Site code, e.g. SITE-A.")
AGREEMENT = typer.Argument(..., help="Agreement id or the supplier's name.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
TODAY = typer.Option(None, "--today", help="Judge overdue against this date, YYYY-MM-DD (today).")


def _flags(status: dict[str, Any]) -> str:
    flags = [
        label
        for key, label in (
            ("review_overdue", "REVIEW OVERDUE"),
            ("drill_overdue", "DRILL OVERDUE"),
            ("expired", "EXPIRED"),
            ("expiring_soon", "expiring soon"),
            ("supplier_scar_below_target", "SCARs late"),
        )
        if status[key]
    ]
    return ", ".join(flags) or "ok"


def _ratio(scar: dict[str, Any] | None) -> str:
    if scar is None:
        return "no data"
    value = "-" if scar["value"] is None else f"{scar['value']:.0%}"
    return f"{value} ({scar['numerator']}/{scar['denominator']}, {scar['period']})"


@app.command("add")
def add(
    site: str = SITE,
    supplier: str | None = typer.Option(None, "--supplier", help="The supplier's name."),
    signed_on: str | None = typer.Option(None, "--signed-on", help="Date signed, YYYY-MM-DD."),
    expires_on: str | None = typer.Option(None, "--expires-on", help="Expiry date, YYYY-MM-DD."),
    response_hours: str | None = typer.Option(
        None, "--response-hours", help="Response-time commitment in hours."
    ),
    data_format: str | None = typer.Option(
        None, "--data-format", help="Data-format commitment (what data, which format, how often)."
    ),
    risk_reviews: str | None = typer.Option(
        None, "--risk-reviews", help="yes if the supplier takes part in risk reviews, else no."
    ),
    review_every: str | None = typer.Option(
        None, "--review-every", help="Maturity review every N months."
    ),
    drill_every: str | None = typer.Option(
        None, "--drill-every", help="Joint drill every N months."
    ),
    last_review: str | None = typer.Option(
        None, "--last-review", help="Date of the last maturity review, YYYY-MM-DD."
    ),
    last_drill: str | None = typer.Option(
        None, "--last-drill", help="Date of the last joint drill, YYYY-MM-DD."
    ),
) -> None:
    """Record a supplier quality agreement with its review and joint-drill cycles."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        agreement = add_agreement(
            session,
            site=the_site,
            supplier=supplier,  # type: ignore[arg-type]
            signed_on=optional_day(signed_on, option="--signed-on"),  # type: ignore[arg-type]
            expires_on=optional_day(expires_on, option="--expires-on"),
            response_hours=parse_number(response_hours, option="--response-hours"),  # type: ignore[arg-type]
            data_format=data_format,  # type: ignore[arg-type]
            participates_in_risk_reviews=parse_yes_no(risk_reviews, option="--risk-reviews"),  # type: ignore[arg-type]
            review_every_months=parse_whole(review_every, option="--review-every"),  # type: ignore[arg-type]
            drill_every_months=parse_whole(drill_every, option="--drill-every"),  # type: ignore[arg-type]
            last_review_on=optional_day(last_review, option="--last-review"),
            last_drill_on=optional_day(last_drill, option="--last-drill"),
        )
        aid = agreement.id
    console.print(f"Recorded supplier agreement {aid} at {site}.")


@app.command("list")
def list_(site: str = SITE, today: str | None = TODAY, fmt: OutputFormat = FORMAT) -> None:
    """The site's supplier agreements with what is due, overdue and the SCAR timeliness."""
    day = as_of_day(today)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [
            AgreementOut.of(a, supplier_status(session, agreement=a, today=day)).model_dump(
                mode="json"
            )
            for a in list_agreements(session, site=the_site)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        f"{site} supplier agreements (as of {day})",
        ["id", "supplier", "expires", "next review", "next drill", "own SCARs on time", "flags"],
        [
            [
                r["id"],
                r["supplier"],
                r["expires_on"] or "-",
                r["next_review_on"],
                r["next_drill_on"],
                _ratio(r["status"]["supplier_scar_on_time"]),
                _flags(r["status"]),
            ]
            for r in rows
        ],
    )


@app.command("status")
def status(
    site: str = SITE,
    agreement: str = AGREEMENT,
    today: str | None = TODAY,
    fmt: OutputFormat = FORMAT,
) -> None:
    """One agreement: its commitments, what is due or overdue, and SCAR timeliness."""
    day = as_of_day(today)
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        found = get_agreement(session, site=the_site, agreement=agreement)
        data = AgreementOut.of(
            found, supplier_status(session, agreement=found, today=day)
        ).model_dump(mode="json")
    if fmt is OutputFormat.json:
        print_json(data)
        return
    s = data["status"]
    print_table(
        f"{site} agreement {data['id']}: {data['supplier']} (as of {day})",
        ["field", "value"],
        [
            ["signed", data["signed_on"]],
            ["expires", (data["expires_on"] or "-") + (" EXPIRED" if s["expired"] else "")],
            ["response time", f"{data['response_hours']:g} h"],
            ["data format", data["data_format"]],
            ["risk reviews", "yes" if data["participates_in_risk_reviews"] else "no"],
            [
                "maturity review",
                f"every {data['review_every_months']} months; last {data['last_review_on'] or '-'}"
                f"; next {data['next_review_on']}" + (" OVERDUE" if s["review_overdue"] else ""),
            ],
            [
                "joint drill",
                f"every {data['drill_every_months']} months; last {data['last_drill_on'] or '-'}"
                f"; next {data['next_drill_on']}" + (" OVERDUE" if s["drill_overdue"] else ""),
            ],
            ["supplier's SCARs on time", _ratio(s["supplier_scar_on_time"])],
            [
                "open SCARs past due",
                "-"
                if s["supplier_scar_on_time"] is None
                else s["supplier_scar_on_time"]["open_overdue"],
            ],
            ["site's SCARs on time", _ratio(s["site_scar_on_time"])],
            ["target", "-" if s["scar_target"] is None else f"{s['scar_target']:.0%}"],
            ["flags", _flags(s)],
        ],
    )


@app.command("review")
def review(
    site: str = SITE,
    agreement: str = AGREEMENT,
    on: str | None = typer.Option(None, "--on", help="Date of the review, YYYY-MM-DD (today)."),
) -> None:
    """Record a periodic maturity review with the supplier."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        found = get_agreement(session, site=the_site, agreement=agreement)
        record_review(
            session, agreement=found, reviewed_on=optional_day(on, option="--on") or utc_today()
        )
        supplier, due = found.supplier, next_review_on(found)
    console.print(f"Recorded the maturity review of {supplier}; next due {due}.")


@app.command("drill")
def drill(
    site: str = SITE,
    agreement: str = AGREEMENT,
    on: str | None = typer.Option(None, "--on", help="Date of the drill, YYYY-MM-DD (today)."),
) -> None:
    """Record a joint drill with the supplier (a continuity drill with it counts already)."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.program_manage)
        found = get_agreement(session, site=the_site, agreement=agreement)
        record_joint_drill(
            session, agreement=found, drilled_on=optional_day(on, option="--on") or utc_today()
        )
        supplier, due = found.supplier, next_drill_on(found)
    console.print(f"Recorded the joint drill with {supplier}; next due {due}.")
