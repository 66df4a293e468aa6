"""Rules every stored text obeys, whichever face it came through: one place, used by services."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def has_nul(text: str) -> bool:
    """Whether the text holds a NUL character, which neither SQLite nor PostgreSQL text stores."""
    return "\x00" in text


def nul_message(label: str) -> str:
    """What is wrong with a field holding a NUL character, in the field's own words."""
    return f"{label} contains a NUL character; remove it"


def nul_problems(values: Mapping[str, Any]) -> dict[str, str]:
    """Fields (text, or lists of texts) holding a NUL character, by field name."""
    problems: dict[str, str] = {}
    for name, value in values.items():
        texts: Iterable[Any] = [value] if isinstance(value, str) else value or []
        if isinstance(value, str | list | tuple) and any(
            isinstance(t, str) and has_nul(t) for t in texts
        ):
            problems[name] = nul_message(name.replace("_", " "))
    return problems
