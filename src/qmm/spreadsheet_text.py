"""Text written to a CSV or spreadsheet must never run there as a formula (CSV injection)."""

from __future__ import annotations

from typing import Final

#: The first characters that make a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet would read this text as a formula (or a DDE call) when opened."""
    return text.startswith(FORMULA_TRIGGERS)


def neutralise(text: str) -> str:
    """Text that cannot run in a spreadsheet: a leading apostrophe marks it as plain text."""
    return "'" + text if is_formula_like(text) else text
