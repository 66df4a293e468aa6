"""A record id as people and URLs write it: ASCII digits within a database integer's range."""

from __future__ import annotations

import re
from typing import Final

_DIGITS: Final = re.compile(r"[0-9]{1,18}")


def parse_record_id(text: str | None) -> int | None:
    """The id the text names, or None for anything else (other Unicode digits, signs, 2^63+)."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    return int(text)
