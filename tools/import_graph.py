"""The import graph between deephash's top-level modules and subpackages, and its cycles.

Every ``import`` statement of the package is read with ``ast`` (module level and inside
functions alike: a lazy import is still a dependency) and mapped to the top-level module or
subpackage it reaches; ``deephash/__init__.py`` (which re-exports) and compiled extensions
(leaves) are not nodes. ``python tools/import_graph.py [PACKAGE_DIR]`` prints the edges and the
cycles; tests/test_import_graph.py checks that there are none.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set

PACKAGE = "deephash"


def nodes(root: Path) -> Set[str]:
    """Top-level modules (``x.py``) and subpackages (``x/__init__.py``) of the package at root."""
    return {p.stem for p in root.glob("*.py") if p.name != "__init__.py"} | {
        p.parent.name for p in root.glob("*/__init__.py")
    }


def _imported(tree: ast.AST, module: List[str], is_package: bool) -> Iterator[str]:
    """Absolute names of what ``tree`` (the module ``module``) imports."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            yield from (a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = module if is_package else module[:-1]
                base = base[: len(base) - (n.level - 1)]
            else:
                base = []
            prefix = ".".join(base + ([n.module] if n.module else []))
            # ``from deephash import b`` imports the module b; ``from .index import FlatIndex``
            # names a class, which maps to its module all the same.
            yield prefix
            yield from (f"{prefix}.{a.name}" for a in n.names)


def graph(root: Path) -> Dict[str, Set[str]]:
    """node -> the nodes its files import (self-imports and the package root left out)."""
    known = nodes(root)
    edges: Dict[str, Set[str]] = {k: set() for k in known}
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        src = rel.parts[0].removesuffix(".py")
        if src not in known:  # deephash/__init__.py
            continue
        is_package = f.name == "__init__.py"
        module = [PACKAGE, *rel.with_suffix("").parts]
        if is_package:
            module = module[:-1]
        for name in _imported(ast.parse(f.read_text(encoding="utf-8"), str(f)), module, is_package):
            parts = name.split(".")
            if len(parts) > 1 and parts[0] == PACKAGE and parts[1] in known and parts[1] != src:
                edges[src].add(parts[1])
    return edges


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one node (each sorted)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm (the graph has a few dozen nodes)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def main(argv: List[str]) -> int:
    if argv:
        root = Path(argv[0])
    else:
        import deephash

        root = Path(deephash.__file__).parent
    edges = graph(root)
    for a in sorted(edges):
        if edges[a]:
            print(f"{a} -> {', '.join(sorted(edges[a]))}")
    print("cycles:", cycles(edges) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
