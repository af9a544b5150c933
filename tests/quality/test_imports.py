"""The pure cores stay light: importing one loads none of the I/O libraries.

A newcomer reading or testing the judge, the planner, the resource builder or an xDS session
should not pay for (or be able to reach) gRPC, PostgreSQL, HTTP clients or the web framework.
Each module is imported in a fresh interpreter, since this one has loaded everything already.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

IO_LIBRARIES = ("grpc", "psycopg", "httpx", "fastapi", "aiohttp")

PURE = (
    "controlplane.model",
    "controlplane.defaults",
    "controlplane.verdict",
    "controlplane.rollout._planner",
    "controlplane.rollout._stages",
    "controlplane.resources",
    "controlplane.xds._sotw",
    "controlplane.xds._delta",
    "controlplane.compare._diff",
    "controlplane.serve._config",
)
"""The modules ARCHITECTURE.md calls pure, each imported on its own."""

LAZY_PACKAGES = (
    "controlplane.api",
    "controlplane.compare",
    "controlplane.ledger",
    "controlplane.rollout",
    "controlplane.serve",
    "controlplane.stats",
    "controlplane.xds",
)
"""Packages that re-export their I/O parts on first use (controlplane/_lazy.py)."""


def loaded_by(module: str) -> list[str]:
    """The I/O libraries a fresh interpreter holds after importing `module` alone."""
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([m for m in {IO_LIBRARIES!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_loads_no_io_library(module: str) -> None:
    assert loaded_by(module) == [], (
        f"importing {module} loads {loaded_by(module)}: find who with "
        f"`python -X importtime -c 'import {module}'`"
    )


def test_the_probe_sees_an_io_library() -> None:
    """The check above can fail: the xDS server does load grpc."""
    assert "grpc" in loaded_by("controlplane.xds._server")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []


@pytest.mark.parametrize("package", ("controlplane.ledger", "controlplane.control"))
def test_the_sqlite_path_loads_no_psycopg(package: str) -> None:
    """The PostgreSQL stores load only when a postgresql:// store is opened."""
    assert "psycopg" not in loaded_by(package)


def test_the_architecture_page_names_the_pure_modules() -> None:
    page = (ROOT / "ARCHITECTURE.md").read_text()
    assert [module for module in PURE if f"`{module}`" not in page] == []


def package_imports(root: Path = ROOT / "controlplane") -> dict[str, set[str]]:
    """Each of controlplane's packages (or top-level modules) -> the others it imports, read
    from the source: imports inside functions and under TYPE_CHECKING count, since a lazy
    import hides a cycle without breaking it."""
    edges: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        package = path.relative_to(root).parts[0].removesuffix(".py")
        imported = edges.setdefault(package, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for module in modules:
                parts = module.split(".")
                if parts[0] == "controlplane" and len(parts) > 1 and parts[1] != package:
                    imported.add(parts[1])
    return edges


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for package in edges.get(todo.pop(), set()) - seen:
            seen.add(package)
            todo.append(package)
    return seen


def test_the_demo_and_its_harness_import_nothing_of_the_cli() -> None:
    """`weir demo` hands the tour the CLI's entry point: demo and harness never lean back."""
    edges = package_imports()
    assert "demo" in edges["cli"]
    assert "cli" not in reachable(edges, "demo") | reachable(edges, "harness")


def test_no_package_imports_one_that_imports_it_back() -> None:
    """Not even lazily: a newcomer can read (and test) packages from the pure cores outwards."""
    edges = package_imports()
    assert sorted(package for package in edges if package in reachable(edges, package)) == []


def test_the_import_graph_check_sees_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "__init__.py").write_text("def f():\n    from controlplane.b import x\n")
    (tmp_path / "b.py").write_text("import controlplane.a\n")
    edges = package_imports(tmp_path)
    assert "a" in reachable(edges, "a")


PRIVATE_REACH = re.compile(r"^\s*(?:from|import)\s+controlplane\.(demo|harness)\._", re.MULTILINE)


def test_tests_and_benchmarks_use_the_harness_public_names() -> None:
    """Tests and benchmarks run processes through `controlplane.harness` (and the demo's story
    through `controlplane.demo`), never through either's private modules."""
    reaching = [
        str(path.relative_to(ROOT))
        for folder in ("tests", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if PRIVATE_REACH.search(path.read_text())
    ]
    assert reaching == []
