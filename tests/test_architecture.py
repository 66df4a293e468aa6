"""The layers agreed for the project, read from the imports so they cannot silently break again.

See docs/architecture.md for the picture and the room each kind of change belongs in.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SOURCE_ROOT = Path(__file__).resolve().parents[1] / "src" / "qmm"

#: The faces: they call services and read models, and never build or run a query.
FACES = frozenset({"web", "cli"})
#: Areas that know no face, no report and no program area.
ENGINES = frozenset({"metrics", "events"})
#: Packages that may import any area but no face.
READ_MODELS = frozenset({"presentation", "reports"})

#: SQLAlchemy names that build a query; a face importing one is about to run its own.
QUERY_BUILDERS = frozenset(
    {"select", "insert", "update", "delete", "func", "text", "join", "outerjoin", "exists"}
)
#: Session methods that run a query.
QUERY_METHODS = frozenset({"execute", "scalar", "scalars", "query", "get", "get_one"})


@dataclass
class ImportGraph:
    """Which package of the source tree imports which, and from where."""

    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    where: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    modules: dict[str, str] = field(default_factory=dict)

    def imports(self, package: str) -> set[str]:
        return self.edges.get(package, set())

    def reachable(self, start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for target in self.imports(stack.pop()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    def cycles(self) -> list[list[str]]:
        """Each loop once, as the shortest path from a package back to itself."""
        found: dict[frozenset[str], list[str]] = {}
        for start in sorted(self.edges):
            path = self._shortest_path_back(start)
            if path and frozenset(path) not in found:
                found[frozenset(path)] = path
        return sorted(found.values())

    def _shortest_path_back(self, start: str) -> list[str] | None:
        frontier: list[list[str]] = [[start]]
        visited: set[str] = set()
        while frontier:
            next_frontier: list[list[str]] = []
            for path in frontier:
                for target in sorted(self.imports(path[-1])):
                    if target == start:
                        return path
                    if target not in visited:
                        visited.add(target)
                        next_frontier.append([*path, target])
            frontier = next_frontier
        return None


def package_of(module: str) -> str | None:
    """The room a module lives in: `qmm.web.pages` -> `web`, a top-level core module -> itself."""
    parts = module.split(".")
    if parts[0] != "qmm":
        return None
    return parts[1] if len(parts) > 1 else "qmm"


def python_files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


@functools.cache
def parsed(path: Path) -> ast.Module:
    """A source file's syntax tree, read once per test process (the tests only read the tree)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.AST, module: str) -> Iterator[str]:
    """Every module a file imports, at the top or inside a function (a lazy import is one too)."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)


def build_graph(root: Path) -> ImportGraph:
    graph = ImportGraph()
    for module, path in python_files(root):
        source = package_of(module)
        if source is None:
            continue
        graph.modules[module] = source
        tree = parsed(path)
        for target_module in imported_modules(tree, module):
            target = package_of(target_module)
            if target and target != source and _is_real_package(root, target):
                graph.edges[source].add(target)
                graph.where[(source, target)].append(str(path.relative_to(root.parent)))
    return graph


def _is_real_package(root: Path, name: str) -> bool:
    return name == "qmm" or (root / name).is_dir() or (root / f"{name}.py").is_file()


def core_modules(root: Path) -> set[str]:
    """Top-level modules (config, errors, db, ...) and the package root: the house's foundations."""
    return {"qmm"} | {path.stem for path in root.glob("*.py") if path.stem != "__init__"} - {
        "__main__"
    }


def layer_breaches(root: Path) -> list[str]:
    """Every import that crosses a layer the wrong way, as readable sentences."""
    graph = build_graph(root)
    core = core_modules(root)
    problems: list[str] = []

    def forbid(source: str, targets: Iterable[str], rule: str) -> None:
        for target in sorted(graph.imports(source) & set(targets)):
            files = sorted(set(graph.where[(source, target)]))
            problems.append(f"{source} imports {target} ({rule}): {', '.join(files)}")

    packages = set(graph.modules.values())
    areas = packages - core - FACES - {"models", "migrations", "__main__"}
    for cycle in graph.cycles():
        problems.append("import loop: " + " -> ".join([*cycle, cycle[0]]))
    forbid("models", packages - core - {"models"}, "models import no area")
    forbid("audit", packages - core - {"models", "audit"}, "audit imports only models and core")
    for name in core - {"migrate"}:
        forbid(name, packages - core - {"models"}, "a core module imports no area")
    for engine in ENGINES:
        forbid(engine, FACES | READ_MODELS | {"program"}, "engines know no face, report, program")
    for read_model in READ_MODELS:
        forbid(read_model, FACES, "reports and read models never import a face")
    forbid("presentation", {"reports"}, "reports read from presentation, not the other way")
    for area in areas - READ_MODELS:
        forbid(area, FACES, "an area never imports a face")
    return problems


def face_queries(root: Path) -> list[str]:
    """Every place a face builds or runs a database query itself."""
    problems: list[str] = []
    for module, path in python_files(root):
        if package_of(module) not in FACES:
            continue
        tree = parsed(path)
        relative = path.relative_to(root.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                for alias in node.names:
                    if alias.name in QUERY_BUILDERS:
                        problems.append(f"{relative}:{node.lineno} imports {alias.name}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in QUERY_METHODS
                and _names_a_session(node.func.value)
            ):
                problems.append(f"{relative}:{node.lineno} calls session.{node.func.attr}()")
    return problems


def _names_a_session(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return "session" in node.id.lower() or node.id in {"db", "connection"}
    if isinstance(node, ast.Attribute):
        return "session" in node.attr.lower()
    return False


class TestTheHouse:
    def test_no_package_imports_another_that_imports_it_back(self) -> None:
        loops = [p for p in layer_breaches(SOURCE_ROOT) if p.startswith("import loop")]
        assert loops == []

    def test_every_import_respects_the_layers(self) -> None:
        assert layer_breaches(SOURCE_ROOT) == []

    def test_faces_run_no_query_of_their_own(self) -> None:
        assert face_queries(SOURCE_ROOT) == []


def write_tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "qmm"
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != package and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(source)
    return package


class TestTheCheckerItself:
    """A checker that never fails proves nothing: each rule is shown catching a breach."""

    def test_a_clean_tree_passes(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path,
            {
                "errors.py": "",
                "models/__init__.py": "from qmm.errors import QmmError\n",
                "audit/trail.py": "from qmm.models import Thing\n",
                "metrics/kpis.py": "from qmm.events.store import Store\n",
                "events/store.py": "from qmm.audit.trail import log\n",
                "web/pages.py": "from qmm.metrics.kpis import kpi\n",
            },
        )
        assert layer_breaches(root) == []
        assert face_queries(root) == []

    def test_a_loop_through_a_lazy_import_is_caught(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path,
            {
                "audit/signatures.py": (
                    "def sign():\n    from qmm.program.decisions import content\n"
                ),
                "program/decisions.py": "from qmm.audit.signatures import sign\n",
            },
        )
        breaches = layer_breaches(root)
        assert "import loop: audit -> program -> audit" in breaches
        assert any(b.startswith("audit imports program") for b in breaches)

    def test_a_longer_loop_is_caught(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path,
            {
                "program/a.py": "from qmm.reports import render\n",
                "reports/__init__.py": "from qmm.evidence import items\n",
                "evidence/__init__.py": "from qmm.program import a\n",
            },
        )
        assert "import loop: evidence -> program -> reports -> evidence" in layer_breaches(root)

    def test_a_report_importing_a_face_is_caught(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path,
            {"reports/render.py": "from qmm.web.templating import fmt\n", "web/templating.py": ""},
        )
        assert layer_breaches(root) == [
            "reports imports web (reports and read models never import a face): "
            "qmm/reports/render.py"
        ]

    def test_an_engine_importing_a_program_area_is_caught(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path, {"metrics/kpis.py": "import qmm.program.plan\n", "program/plan.py": ""}
        )
        assert any(b.startswith("metrics imports program") for b in layer_breaches(root))

    def test_a_core_module_importing_an_area_is_caught(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path, {"db.py": "from qmm.audit.trail import install\n", "audit/trail.py": ""}
        )
        assert any(b.startswith("db imports audit") for b in layer_breaches(root))

    def test_models_importing_an_area_is_caught(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path,
            {"models/site.py": "from qmm.sites.service import x\n", "sites/service.py": ""},
        )
        assert any(b.startswith("models imports sites") for b in layer_breaches(root))

    def test_relative_imports_count_too(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path, {"audit/trail.py": "from ..auth import service\n", "auth/service.py": ""}
        )
        assert any(b.startswith("audit imports auth") for b in layer_breaches(root))

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("from sqlalchemy import select\n", "qmm/web/pages.py:1 imports select"),
            (
                "def f(session):\n    session.execute(1)\n",
                "qmm/web/pages.py:2 calls session.execute()",
            ),
            (
                "def f(session):\n    session.get(User, 1)\n",
                "qmm/web/pages.py:2 calls session.get()",
            ),
            (
                "def f(r):\n    r.state.db_session.scalars(1)\n",
                "qmm/web/pages.py:2 calls session.scalars()",
            ),
        ],
    )
    def test_a_face_running_a_query_is_caught(
        self, tmp_path: Path, source: str, expected: str
    ) -> None:
        root = write_tree(tmp_path, {"web/pages.py": source})
        assert face_queries(root) == [expected]

    def test_a_face_reading_a_dict_is_not_a_query(self, tmp_path: Path) -> None:
        root = write_tree(
            tmp_path,
            {"cli/main.py": "def f(options, session):\n    options.get(1)\n    session.commit()\n"},
        )
        assert face_queries(root) == []
