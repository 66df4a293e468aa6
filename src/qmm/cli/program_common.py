"""What the program's command groups share: the acting user's rights, yes/no and dates."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from qmm.auth.permissions import Permission
from qmm.cli.common import authorize_actor, fail, parse_day
from qmm.models import Site, utcnow
from qmm.sites.service import get_site

YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0"})


def site_for(session: Session, code: str, permission: Permission) -> Site:
    """The site named on the command line, once the acting user may do this there."""
    site = get_site(session, code=code)
    authorize_actor(session, permission, site=site)
    return site


def parse_yes_no(text: str | None, *, option: str) -> bool | None:
    """yes/no (true/false, 1/0) from an option, None when not given."""
    if text is None:
        return None
    value = text.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    fail(f"{option} {text!r} must be yes or no")
    raise AssertionError  # fail() exits


def optional_day(text: str | None, *, option: str) -> date | None:
    """A YYYY-MM-DD option that may be left out."""
    return parse_day(text, option=option) if text else None


def utc_today() -> date:
    """Today's date in UTC, the default as-of date (the KPI engine's `today`)."""
    return utcnow().date()
