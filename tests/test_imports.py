"""The package's import graph has no circles: data flows one way (read -> model -> checks,
convert, split -> report), so any module can be imported and tested on its own."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "annokit"


def _module_name(file: Path) -> str:
    parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import statement, at any depth (functions too), except under TYPE_CHECKING."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """{module: annokit modules it imports}, found by reading the source (nothing imported).

    ``from . import x`` points at the sub-module ``x`` when there is one, else at the
    package itself; importing ``a.b`` is an edge to ``a.b`` only (the parent package's
    own ``__init__`` is not counted: it runs first, whatever imports it).
    """
    files = {_module_name(f): f for f in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, file in files.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in _imports(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in files)
                continue
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in files:
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files]
            edges.update(subs)
            if len(subs) < len(node.names):
                edges.add(target)
        edges.discard(name)
    # annokit.formats imports its format modules by name (import_module), on demand
    from annokit.formats import FORMATS

    graph["annokit.formats"].update(f"annokit.formats.{f}" for f in FORMATS)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_is_read():
    graph = import_graph()
    assert "annokit.formats.layout" in graph["annokit.formats.coco.parse"]
    assert "annokit.model" in graph["annokit.formats.coco.parse"]
    assert "annokit.images" in graph["annokit.checks.images"]
    assert "annokit.checks.registry" in graph["annokit.checks.geometry"]
    assert "annokit.formats.yolo" in graph["annokit.formats"]


def test_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles():
    assert cycles(import_graph()) == []



def test_checks_are_registered_when_the_package_is_imported():
    """No import list inside check(): importing annokit.checks registers every family."""
    import subprocess
    import sys

    code = "from annokit.checks import CHECKS; print(sorted({k.split('.')[0] for k in CHECKS}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['balance', 'geometry', 'images', 'labels']"
