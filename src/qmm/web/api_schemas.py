"""Response shapes every API module shares, kept apart so the modules need not import each other."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel


class ProblemsOut(BaseModel):
    """Nothing was stored or changed: what is wrong with each field."""

    detail: str
    problems: dict[str, str]


def refused_with(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """The 422 answer an endpoint documents when it stores nothing."""
    return {422: {"model": model, "description": description}}


NOTHING_STORED: Final = refused_with(ProblemsOut, "Nothing was stored; problems by field")
NOTHING_CHANGED: Final = refused_with(ProblemsOut, "Nothing was changed; problems by field")
