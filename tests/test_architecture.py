"""docs/architecture.md's module map matches the package, and its floors hold: every
import of an annokit module (inside functions too) goes to the same floor or below."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "annokit"
MAP = re.compile(r"^\| `(annokit/[\w/]+\.py)` \| (\d) \|", re.M)


def documented() -> dict[str, int]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text[text.index("<!-- module-map"):text.index("<!-- /module-map -->")]
    return {path: int(floor) for path, floor in MAP.findall(table)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The annokit modules ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "annokit"}
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from . import x`: the module x, or a name of .
                sub = f"{target}.{alias.name}"
                found.add(sub if node.module is None and _is_module(sub) else target)
    return found


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_the_map_lists_every_module_and_only_those():
    files = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    listed = set(documented())
    assert not files - listed, f"modules missing from docs/architecture.md: {files - listed}"
    assert not listed - files, f"docs/architecture.md lists modules that are gone: " \
                               f"{listed - files}"


def test_no_module_imports_from_a_floor_above_its_own():
    floors = {module_name(ROOT / path): floor for path, floor in documented().items()}
    upward = []
    for path in PACKAGE.rglob("*.py"):
        mine = floors[module_name(path)]
        for target in imported(path):
            if target in floors and floors[target] > mine:
                upward.append(f"{module_name(path)} (floor {mine}) imports {target} "
                              f"(floor {floors[target]})")
    assert not upward, "\n".join(sorted(upward))
