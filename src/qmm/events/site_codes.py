"""Which site codes an import accepts: the app's own, so a typo or a look-alike (`SITE‐A` with a
Unicode hyphen) never becomes a site of its own in the KPIs; new codes only on an initial load."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable, Sequence
from enum import StrEnum
from typing import Final

from sqlalchemy.orm import Session

from qmm.models import ImportBatch, Site
from qmm.sites.service import SITE_CODE, create_site, list_sites

#: Most known codes a refusal lists; the rest are counted.
LISTED_CODES: Final = 12
#: Letters of other scripts that look like Latin capitals, as eQMS exports sometimes carry them.
HOMOGLYPHS: Final = str.maketrans(
    {
        "\u0410": "A",  # Cyrillic
        "\u0412": "B",
        "\u0415": "E",
        "\u041a": "K",
        "\u041c": "M",
        "\u041d": "H",
        "\u041e": "O",
        "\u0420": "P",
        "\u0421": "C",
        "\u0422": "T",
        "\u0425": "X",
        "\u0406": "I",
        "\u0405": "S",
        "\u0408": "J",
        "\u0391": "A",  # Greek
        "\u0392": "B",
        "\u0395": "E",
        "\u0396": "Z",
        "\u0397": "H",
        "\u0399": "I",
        "\u039a": "K",
        "\u039c": "M",
        "\u039d": "N",
        "\u039f": "O",
        "\u03a1": "P",
        "\u03a4": "T",
        "\u03a5": "Y",
        "\u03a7": "X",
    }
)


class SiteCodes(StrEnum):
    """Which site codes an import accepts."""

    any = "any"  # every code: the caller scopes sites itself (a site's upload page)
    known = "known"  # the app's sites only
    create = "create"  # the app's sites, and new well-formed codes, registered as sites


def known_site_codes(session: Session) -> frozenset[str]:
    """The codes of the sites registered in the app."""
    return frozenset(site.code for site in list_sites(session))


def _skeleton(code: str) -> str:
    """What a code looks like to a reader: case, dashes, spaces and look-alike letters folded."""
    folded = unicodedata.normalize("NFKC", code).translate(HOMOGLYPHS).upper()
    kept: list[str] = []
    for char in folded:
        category = unicodedata.category(char)
        if category in ("Cf", "Cc", "Zs", "Zl", "Zp"):
            continue
        kept.append("-" if category == "Pd" or char in "_\u2212" else char)
    return "".join(kept)


def _shown(char: str) -> str:
    if char.isascii() and char.isprintable():
        return repr(char)
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def _differences(value: str, code: str) -> str:
    """How a look-alike differs from the code it resembles, character by character."""
    if len(value) != len(code):
        odd = [c for c in value if not (c.isascii() and c.isprintable())]
        if odd:
            return "it holds " + ", ".join(_shown(c) for c in dict.fromkeys(odd))
        return "its characters differ"
    pairs = [(v, c) for v, c in zip(value, code, strict=True) if v != c]
    listed = "; ".join(f"{_shown(v)} where {code} has {_shown(c)}" for v, c in pairs[:3])
    return listed + ("; ..." if len(pairs) > 3 else "")


def resembled_code(value: str, known: Iterable[str]) -> str | None:
    """The known code a value looks like without being it, if any."""
    shape = _skeleton(value)
    for code in sorted(known):
        if code != value and _skeleton(code) == shape:
            return code
    return None


def _listed(known: Collection[str]) -> str:
    codes = sorted(known)
    shown = ", ".join(codes[:LISTED_CODES])
    more = len(codes) - LISTED_CODES
    return shown + (f" and {more} more" if more > 0 else "") if codes else "none yet"


def site_code_refusal(value: str, known: Collection[str], *, create: bool) -> str | None:
    """Why an import refuses a site code that is not one of the app's, or None to accept it."""
    if value in known:
        return None
    code = resembled_code(value, known)
    if code is not None:
        return (
            f"looks like {code}, a site known to the app, but is not it "
            f"({_differences(value, code)}): write {code}"
        )
    if create:
        if SITE_CODE.match(value):
            return None
        return "not a valid site code: 1-40 upper-case letters, digits, '-' or '_' (e.g. SITE-A)"
    return (
        f"not a site known to the app (known: {_listed(known)}); register it with "
        "`qmm site add`, or import with --create-sites for an initial load"
    )


def register_new_sites(
    session: Session, *, batches: Sequence[ImportBatch], known: Collection[str]
) -> list[Site]:
    """Register the site codes an initial load brought that the app did not know, named by
    their code until renamed."""
    created: list[Site] = []
    # Read again: another program may have registered one of them since the import began.
    seen = set(known) | known_site_codes(session)
    for batch in batches:
        for code in batch.sites or []:
            if code not in seen:
                seen.add(code)
                created.append(create_site(session, code=code, name=code))
    return created
