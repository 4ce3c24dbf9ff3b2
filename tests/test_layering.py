"""The package's layering: no import cycles, and the decision core imports no prose, rendering,
files or command line (CLI and service -> API -> assess/batch/compare -> decision core)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "advisor"
#: The decision core: requirements to decisions, pure.
CORE = {
    "fields",
    "features",
    "scoring",
    "decide",
    "uncertainty",
    "attributions",
    "counterfactuals",
    "requirements",
    "rulepack",
    "units",
    "errors",
    "estimates",
}
#: What the core must never import.
OUTER = {
    "render",
    "charts",
    "report_parts",
    "output",
    "ask",
    "api",
    "engine",
    "batch",
    "compare",
    "many",
    "server",
    "server_http",
    "probe",
} | {p.stem for p in PACKAGE.glob("cli*.py")}


def _runtime_imports(path: Path) -> set[str]:
    # Sibling modules imported at run time (imports under `if TYPE_CHECKING:` are not).
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and id(node) not in typing_only:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    return {p.stem: _runtime_imports(p) for p in PACKAGE.glob("*.py")}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_the_decision_core_imports_no_prose_rendering_or_cli():
    graph = _graph()
    bad = {m: sorted(graph[m] & OUTER) for m in CORE if graph[m] & OUTER}
    assert not bad, bad
    # The check itself can fail: a module that imports the CLI is found.
    assert "cli_common" in _runtime_imports(PACKAGE / "cli.py")
