"""docs/web.md stays true: every route is listed, and its permission table is the real one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from starlette.routing import Mount

from qmm.auth.permissions import ROLE_PERMISSIONS, Permission
from qmm.models import Role
from qmm.web.app import create_app

WEB_DOCS = Path(__file__).resolve().parents[2] / "docs" / "web.md"


def documented_operations() -> list[tuple[str, str]]:
    found = []
    for route in create_app(create_engine("sqlite://")).routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path))
            continue
        found.extend((m, getattr(route, "path", "")) for m in sorted(getattr(route, "methods", ())))
    return found


@pytest.mark.parametrize(("method", "path"), documented_operations())
def test_every_route_is_in_the_web_docs(method: str, path: str) -> None:
    pattern = rf"`{method} {re.escape(path)}(/\.\.\.)?`"
    assert re.search(pattern, WEB_DOCS.read_text()), f"add `{method} {path}` to docs/web.md"


def test_the_permission_table_in_the_docs_is_the_real_one() -> None:
    rows = re.findall(r"^\| `([a-z]+:[a-z]+)` \|(.*)\|$", WEB_DOCS.read_text(), re.MULTILINE)
    documented = {
        Permission(name): [cell.strip() == "yes" for cell in cells.split("|")]
        for name, cells in rows
    }
    actual = {p: [p in ROLE_PERMISSIONS[role] for role in Role] for p in Permission}
    assert documented == actual
    header = "| permission | " + " | ".join(role.value for role in Role) + " |"
    assert header in WEB_DOCS.read_text()
