"""No import circles in core/, and the lower layers import nothing above them.

Imports are read with `ast` from the source, those inside functions included (a lazy import is
still a dependency: it only hides a circle until the function runs).
"""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

CORE = ROOT / "core"
# What the store and embedder layers may import besides each other: the foundations below them.
FOUNDATION = {"core.config", "core.errors", "core.types", "core.keyword"}
EMBEDDER_LAYER = {"core.embedders", "core.minilm", "core.distill", "core.embedding_endpoints"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in CORE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The core modules `path` imports, `from .x import y` resolved to core.x.y when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("core"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("core"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_the_reader_sees_relative_and_lazy_imports(tmp_path):
    """The checker itself: a circle through a lazy import, written as the project writes imports, is found."""
    known = {"core.a", "core.b", "core.stores", "core.stores.base"}
    sources = {"core.a": "from .b import thing\n", "core.b": "def f():\n    from .a import other\n",
               "core.stores.base": "from ..a import x\nfrom . import base\n"}
    edges = {}
    for name, text in sources.items():
        path = tmp_path / f"{name.rpartition('.')[2]}.py"
        path.write_text(text)
        edges[name] = imports_of(name, path, known)
    assert edges["core.a"] == {"core.b"} and edges["core.b"] == {"core.a"}
    assert edges["core.stores.base"] == {"core.a"}
    assert cycles(edges) == [["core.a", "core.b"]]


def test_no_import_circles_among_core_modules():
    assert cycles(graph()) == []


def test_stores_and_embedders_import_nothing_above_them():
    edges = graph()
    wrong = []
    for name, targets in sorted(edges.items()):
        if name.startswith("core.stores"):
            allowed = FOUNDATION | EMBEDDER_LAYER
        elif name in EMBEDDER_LAYER:
            allowed = FOUNDATION | EMBEDDER_LAYER
        else:
            continue
        wrong += [f"{name} imports {t}" for t in sorted(targets)
                  if t not in allowed and not t.startswith("core.stores")]
        if name in EMBEDDER_LAYER:
            wrong += [f"{name} imports {t}" for t in sorted(targets) if t.startswith("core.stores")]
    assert wrong == []
