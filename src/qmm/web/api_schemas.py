"""Response shapes every API module shares, kept apart so the modules need not import each other."""

from __future__ import annotations

from pydantic import BaseModel


class ProblemsOut(BaseModel):
    """Nothing was stored or changed: what is wrong with each field."""

    detail: str
    problems: dict[str, str]
