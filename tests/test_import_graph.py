"""deephash's modules import one way: no cycle between its top-level modules and subpackages."""

from __future__ import annotations

from pathlib import Path

import deephash
from _tools import tool

graph = tool("import_graph")
ROOT = Path(deephash.__file__).parent


def test_package_has_no_import_cycles():
    edges = graph.graph(ROOT)
    assert graph.cycles(edges) == []  # no allow-list: lazy imports count as much as static ones
    # The GPU module builds on the CPU index, never the other way (to_gpu is registered).
    assert "index" in edges["gpu_index"] and "gpu_index" not in edges["index"]


def test_layers():
    edges = graph.graph(ROOT)
    assert "cli" not in set().union(*(edges[n] for n in edges if n != "__main__"))
    assert edges["demo"] >= {"report", "methods"}
    assert {"codes", "data"} <= edges["cli"]
    assert "_torch" in edges["losses"] and "_torch" in edges["models"]  # torch access, not the networks


def test_detects_lazy_and_relative_cycles(tmp_path):
    pkg = tmp_path / "deephash"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("def f():\n    from .sub.inner import g\n    return g\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "inner.py").write_text("from .. import b\n")
    (pkg / "b.py").write_text("import deephash.a\n")
    (pkg / "c.py").write_text("from deephash import b\n")
    edges = graph.graph(pkg)
    assert edges == {"a": {"sub"}, "sub": {"b"}, "b": {"a"}, "c": {"b"}}
    assert graph.cycles(edges) == [["a", "b", "sub"]]
    edges["b"].discard("a")
    assert graph.cycles(edges) == []
