"""Form fields as the services take them; what does not parse goes on for the service to name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Final

from fastapi import Form

_LINES: Final = re.compile(r"\r?\n")


#: A text field of a submitted form, and a field that may repeat.
FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]


def form_lines(text: str) -> list[str]:
    """A textarea's non-empty lines, stripped."""
    return [line.strip() for line in _LINES.split(text) if line.strip()]


def form_day(text: str) -> date | str | None:
    """A form's date: empty is None; what does not parse goes to the service, which says why."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def nul_problems(values: Mapping[str, str]) -> dict[str, str]:
    """Fields holding a NUL character, which no database column stores."""
    return {
        name: f"{name.replace('_', ' ')} contains a NUL character; remove it"
        for name, value in values.items()
        if "\x00" in value
    }
