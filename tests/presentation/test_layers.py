"""What tests/test_architecture.py's package rules do not see: the read models carry no HTTP,
metrics carries no drawing library, and the shared partials ship with the read models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qmm.presentation.partials import PARTIALS_DIR

SRC = Path(__file__).resolve().parents[2] / "src" / "qmm"


def imported_modules(package: str) -> dict[str, set[str]]:
    """Each module of a package with every module it imports, lazily or not."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(SRC))] = names
    return found


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in imported_modules(package).items()
        for name in sorted(names)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("presentation", ("fastapi", "starlette", "httpx")),
        ("reports", ("fastapi", "starlette", "httpx")),
        ("metrics", ("vl_convert", "jinja2")),
    ],
)
def test_no_library_of_a_layer_above(package: str, forbidden: tuple[str, ...]) -> None:
    assert offending(package, forbidden) == []


def test_the_shared_partials_ship_with_the_package() -> None:
    assert (PARTIALS_DIR / "_band.html").is_file()
    assert not (SRC / "web" / "templates" / "_band.html").exists()
