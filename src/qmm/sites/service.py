"""Registering and finding manufacturing sites."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.models import Site, SiteType
from qmm.text_rules import nul_problems

SITE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")
FEI = re.compile(r"^\d{7,10}$")


def validate_site_fields(
    *, code: str, name: str, fei: str | None, site_type: str | None, headcount: int | None
) -> list[str]:
    """Every reason the given site fields cannot be stored, so a caller can report them all."""
    problems: list[str] = []
    if not SITE_CODE.match(code):
        problems.append(
            f"site code {code!r} must be 1-40 upper-case letters, digits, '-' or '_' (e.g. SITE-A)"
        )
    if not name.strip():
        problems.append("site name must not be empty")
    if fei is not None and not FEI.match(fei):
        problems.append(f"FEI {fei!r} must be 7 to 10 digits")
    if site_type is not None and site_type not in SiteType.__members__:
        problems.append(
            f"site type {site_type!r} is not one of {', '.join(t.value for t in SiteType)}"
        )
    if headcount is not None and headcount <= 0:
        problems.append(f"headcount {headcount} must be a positive whole number")
    return problems


def create_site(
    session: Session,
    *,
    code: str,
    name: str,
    fei: str | None = None,
    duns: str | None = None,
    site_type: str | None = None,
    headcount: int | None = None,
) -> Site:
    """Register a site under a unique code."""
    problems = validate_site_fields(
        code=code, name=name, fei=fei, site_type=site_type, headcount=headcount
    ) + list(nul_problems({"name": name, "duns": duns}).values())
    if problems:
        raise InvalidInput("; ".join(problems))
    if session.scalar(select(Site).where(Site.code == code)) is not None:
        raise Conflict(f"site {code!r} already exists")
    site = Site(
        code=code,
        name=name.strip(),
        fei=fei,
        duns=duns,
        site_type=site_type,
        headcount=headcount,
    )
    session.add(site)
    session.flush()
    return site


def no_such_site(code: str) -> NotFound:
    """The one answer for a site code nobody registered, or a site the asker may not read."""
    return NotFound(f"no site with code {code!r}; `qmm site list` shows the sites")


def get_site(session: Session, *, code: str) -> Site:
    """Find a site by its code."""
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise no_such_site(code)
    return site


def site_code(session: Session, *, site_id: int) -> str | None:
    """The code of the site with this id, or None when there is none."""
    site = session.get(Site, site_id)
    return site.code if site else None


def list_sites(session: Session) -> Sequence[Site]:
    """All sites, by code."""
    return session.scalars(select(Site).order_by(Site.code)).all()


def set_two_person_rule(session: Session, *, site: Site, on: bool) -> Site:
    """Turn the site's two-person rule on or off; the audit trail records who and when.

    Who may change it (administrators) is checked by the face, as for every right.
    """
    if not isinstance(on, bool):
        raise InvalidInput(f"the two-person rule is on or off (yes or no), not {on!r}")
    if site.two_person_rule != on:
        site.two_person_rule = on
        session.flush()
    return site
