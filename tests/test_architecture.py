"""The shape of the package, read from its source (docs/ARCHITECTURE.md):

- the import graph of mixedfx's modules has no circle (every import counts: module level,
  inside functions, under `TYPE_CHECKING`), and a found circle is named module by module;
- at most 25 imports of mixedfx modules sit inside functions, each with a one-line comment
  saying why (on the import's line or the line above): only optional dependencies or a
  measured import-time reason justify one;
- no private name (`_x`) of a mixedfx module is imported into, or read from, another package;
- `import mixedfx` does not import dask.

The layers themselves (which package may import which) are import-linter's contract in
pyproject.toml (`lint-imports`, run in CI); these checks need only the standard library.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

import mixedfx

ROOT = Path(mixedfx.__file__).parent
MAX_FUNCTION_LEVEL_IMPORTS = 25


@dataclass(frozen=True)
class Module:
    name: str               # dotted, e.g. "mixedfx.lmm.sliced"
    path: Path
    is_package: bool        # an __init__.py
    tree: ast.Module


def _modules() -> dict[str, Module]:
    out: dict[str, Module] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        out[name] = Module(name, path, is_package, ast.parse(path.read_text(encoding="utf-8")))
    return out


MODULES = _modules()


def _base(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a `from … import` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    package = module.name.split(".")
    if not module.is_package:
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _targets(module: Module, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(imported mixedfx module, imported name or None) for each name of an import: for
    `from pkg import x`, the module pkg.x when it is one, else pkg (name x)."""
    out: list[tuple[str, str | None]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "mixedfx":
                name = alias.name
                while name not in MODULES and "." in name:
                    name = name.rsplit(".", 1)[0]
                out.append((name, None))
        return out
    base = _base(module, node)
    if base.split(".")[0] != "mixedfx":
        return out
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append((sub, None) if sub in MODULES else (base, alias.name))
    return out


def _imports(module: Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of the module, with whether it sits inside a function or class
    body (not at module level)."""
    out: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, nested))
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.ClassDef, ast.Lambda))
            visit(child, inner)

    visit(module.tree, False)
    return out


def _package(name: str) -> str:
    """The package a module belongs to: the first name under mixedfx (`mixedfx.lmm.fit` ->
    `lmm`, `mixedfx.api` -> `api`, `mixedfx` -> ``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> dict[str, set[str]]:
    """importer -> the mixedfx modules it imports (anywhere in the module)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, module in MODULES.items():
        for node, _ in _imports(module):
            for target, _name in _targets(module, node):
                if target in MODULES and target != name:
                    graph[name].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest circle through the component's first module (breadth-first search)."""
    members = set(component)
    start = component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in parent:
                    parent[child] = node
                    following.append(child)
        frontier = following
    return component                  # not reached: a component has a circle


def test_import_graph_has_no_circle() -> None:
    graph = import_graph()
    components = strongly_connected(graph)
    assert not components, "import circles (one per strongly connected set of modules):\n" + \
        "\n".join(f"  {len(c)} modules, e.g. " + " -> ".join(shortest_cycle(graph, c))
                  + "\n    (all: " + ", ".join(c) + ")" for c in components)


def _comment_lines(path: Path) -> tuple[set[int], set[int]]:
    """(lines holding a comment, lines holding only a comment)."""
    any_comment: set[int] = set()
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type == tokenize.COMMENT:
                any_comment.add(tok.start[0])
    lines = path.read_text(encoding="utf-8").splitlines()
    only = {i for i in any_comment if lines[i - 1].lstrip().startswith("#")}
    return any_comment, only


def function_level_imports() -> list[tuple[str, int, bool]]:
    """(module, line, commented) of each import of a mixedfx module inside a function or
    class body; commented: a comment on one of the statement's lines or a comment line
    right above it."""
    out = []
    for name, module in MODULES.items():
        nested = [node for node, inside in _imports(module)
                  if inside and _targets(module, node)]
        if not nested:
            continue
        any_comment, only = _comment_lines(module.path)
        for node in nested:
            lines = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            commented = bool(lines & any_comment) or node.lineno - 1 in only
            out.append((name, node.lineno, commented))
    return out


def test_function_level_imports_are_few_and_commented() -> None:
    found = function_level_imports()
    uncommented = [f"{m}:{line}" for m, line, ok in found if not ok]
    per_module: dict[str, int] = {}
    for m, _, _ in found:
        per_module[m] = per_module.get(m, 0) + 1
    worst = ", ".join(f"{m} {k}" for m, k in sorted(per_module.items(), key=lambda kv: -kv[1]))
    assert len(found) <= MAX_FUNCTION_LEVEL_IMPORTS, (
        f"{len(found)} imports of mixedfx modules inside functions (at most "
        f"{MAX_FUNCTION_LEVEL_IMPORTS}; move them to the module's top): {worst}")
    assert not uncommented, ("function-level imports without a comment saying why (on the "
                             "line or the line above): " + ", ".join(uncommented))


def private_imports_across_packages() -> list[str]:
    """`from mixedfx.x import _name` into another package than x's, and `alias._name` read
    through a module of another package imported as `alias`."""
    out = []
    for name, module in MODULES.items():
        aliases: dict[str, str] = {}
        for node, _ in _imports(module):
            for target, imported in _targets(module, node):
                if _package(target) == _package(name):
                    continue
                if imported is not None and imported.startswith("_") \
                        and not imported.startswith("__"):
                    out.append(f"{name}:{node.lineno} imports {imported} from {target}")
                if imported is None and isinstance(node, ast.ImportFrom):
                    alias = next(a for a in node.names if f"{_base(module, node)}.{a.name}"
                                 == target)
                    aliases[alias.asname or alias.name] = target
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.asname and a.name == target:
                            aliases[a.asname] = target
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                out.append(f"{name}:{node.lineno} reads {node.attr} of "
                           f"{aliases[node.value.id]}")
    return out


def test_no_private_name_crosses_a_package() -> None:
    found = private_imports_across_packages()
    assert not found, ("private names used across packages (make them public in their "
                       "module, or move them):\n  " + "\n  ".join(found))


def test_import_mixedfx_does_not_import_dask() -> None:
    code = "import sys, mixedfx; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('dask', 'distributed')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=None)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("source, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
    ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
])
def test_the_circle_finder(source: dict[str, set[str]], expected: list[list[str]]) -> None:
    found = sorted(strongly_connected(source))
    assert found == expected
    for component in found:
        cycle = shortest_cycle(source, component)
        assert cycle[0] == cycle[-1]
        assert all(b in source[a] for a, b in itertools.pairwise(cycle))
