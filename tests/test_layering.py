"""The package's layering: no import cycles, and each layer imports only the layers below it
(command line -> service -> API -> assess/batch/compare -> report prose -> decision core, where
an assessment's facts are computed without a sentence of prose)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "advisor"

#: Layers from the bottom up; a module may import its own layer and those below it only.
LAYERS: tuple[frozenset[str], ...] = (
    # the decision core: requirements to decisions, pure
    frozenset(
        {
            "_version",
            "_errors",
            "_canonical",
            "_assessment",
            "_loading",
            "_citations",
            "_precedents",
            "_units",
            "_fields",
            "_requirements",
            "_rulepack",
            "_packbuild",
            "_estimates",
            "_features",
            "_scoring",
            "_uncertainty",
            "_attributions",
            "_counterfactuals",
            "_decide",
            # an assessment's facts (numbers and choices) and the counterfactuals' re-check
            "_facts",
            "_verify",
        }
    ),
    # reading packs and documents; the facts and prose of a report
    frozenset(
        {
            "_resources",
            "_escape",
            "_narrative",
            "_prose",
            "_prose_why",
        }
    ),
    # assessing one, many, a batch, a comparison; measuring a model; rendering
    frozenset(
        {
            "_engine",
            "_assembly",
            "_batch",
            "_batch_read",
            "_portfolio",
            "_compare",
            "_probe",
            "_charts",
            "_render",
            "_output",
            "_ask",
        }
    ),
    # the public API
    frozenset({"_api", "_many", "_screen", "_process", "_backtest", "_packcheck", "__init__"}),
    # the service
    frozenset({"_server", "_server_http"}),
)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(rel.parts)


def _runtime_imports(path: Path) -> set[str]:
    # Modules of this package imported at run time, named as `_module_name` names them
    # (imports under `if TYPE_CHECKING:` are not).
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    package = list(path.parent.relative_to(PACKAGE).parts)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1 and id(node) not in typing_only:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                out.add(".".join([*base, *node.module.split(".")[:1]]))
            else:
                out.update(".".join([*base, a.name]) for a in node.names)
    return {name if name != "_cli" else "_cli.__init__" for name in out}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _runtime_imports(p) for p in PACKAGE.rglob("*.py")}


def _layer(name: str) -> int:
    if name.startswith("_cli") or name == "__main__":
        return len(LAYERS)  # the command line sits on top
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"advisor/{name}: a module in no layer; add it to LAYERS")


def test_every_module_is_in_a_layer():
    for name in _graph():
        _layer(name)


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


def test_each_layer_imports_only_the_layers_below_it():
    graph = _graph()
    bad = {
        m: sorted(d for d in deps if d in graph and _layer(d) > _layer(m))
        for m, deps in graph.items()
    }
    bad = {m: d for m, d in bad.items() if d}
    assert not bad, bad


def test_the_graph_sees_imports_inside_functions_and_packages():
    graph = _graph()
    # The check itself can fail: the command line's imports are found, relative or nested.
    assert "_cli.common" in graph["_cli.main"]
    assert "_engine" in graph["_cli.main"]  # imported inside a command
    assert "_cli.main" in graph["_cli.__init__"]


def test_only_the_command_line_imports_click():
    users = sorted(
        _module_name(p)
        for p in PACKAGE.rglob("*.py")
        if any(
            isinstance(n, ast.Import | ast.ImportFrom)
            and any(a.name == "click" for a in n.names)
            or (isinstance(n, ast.ImportFrom) and n.module == "click")
            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        )
    )
    assert users and all(u.startswith("_cli") for u in users), users
