"""The public entry points are annotated (numpy.typing), the annotations resolve, and the stubs
of the compiled modules name what the modules hold."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import pytest

import deephash
from deephash import codes, data, metrics, plots, report
from deephash.methods.base import HashingMethod
from deephash.methods.crossmodal import CrossModalMethod
from deephash.methods.deep import DeepHashingMethod

PACKAGE = Path(deephash.__file__).parent


def _public_callables():
    yield from (getattr(deephash, n) for n in ("pack_bits", "unpack_bits", "load", "rerank"))
    for cls in (deephash.FlatIndex, deephash.MultiIndex, deephash.GpuFlatIndex):
        yield cls.__init__
        yield from (getattr(cls, n) for n in ("add", "remove", "search", "range_search", "save"))
    yield from (deephash.FlatIndex.to_gpu, deephash.GpuFlatIndex.to_cpu, deephash.GpuFlatIndex.from_cpu)
    yield from (getattr(metrics, n) for n in metrics.__all__ if inspect.isfunction(getattr(metrics, n)))
    yield from (getattr(plots, n) for n in plots.__all__)
    yield from (codes.save_codes, codes.read_codes, data.load_split, data.load_pairs, report.evaluate_codes)
    for cls in (HashingMethod, DeepHashingMethod):
        yield from (cls.fit, cls.transform, cls.encode, cls.fit_encode)
    yield from (CrossModalMethod.fit, CrossModalMethod.encode_image, CrossModalMethod.encode_text)


@pytest.mark.parametrize("fn", list(_public_callables()), ids=lambda f: f.__qualname__)
def test_public_entry_points_are_annotated(fn):
    # deephash's namespace supplies names that modules import only for type checking.
    hints = typing.get_type_hints(fn, localns=vars(deephash))
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
    missing = [p for p in params if p not in hints]
    assert not missing, f"{fn.__qualname__}: parameters without annotation: {missing}"
    assert "return" in hints, f"{fn.__qualname__}: no return annotation"


def _stub(path: Path):
    """Top-level names of a .pyi -> its node (function, class) or None (constant, alias)."""
    out = {}
    for n in ast.parse(path.read_text()).body:
        if isinstance(n, (ast.ClassDef, ast.FunctionDef)):
            out[n.name] = n
        elif isinstance(n, ast.AnnAssign):
            out[n.target.id] = None
        elif isinstance(n, ast.Assign):
            out.update((t.id, "alias") for t in n.targets)  # the stub's own type aliases
    return out


def _params_from_doc(fn):
    """Parameter names from a pybind11 signature line ``name(a: T, b: U = ...) -> R``, or None."""
    lines = (getattr(fn, "__doc__", None) or "").splitlines()
    if not lines or "(" not in lines[0] or "(*args, **kwargs)" in lines[0]:
        return None  # no signature line, or overloads (checked by the tests that call them)
    inner = lines[0][lines[0].index("(") + 1 : lines[0].rindex(")")]
    depth, names, token = 0, [], ""
    for ch in inner + ",":
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            if token.strip():
                names.append(re.match(r"\s*(\w+)", token).group(1))
            token = ""
        else:
            token += ch
    return [n for n in names if n != "self"]


def _check_signature(where: str, node: ast.FunctionDef, obj) -> None:
    """The stub's parameters are the binding's: same names, positional-only where pybind11 has
    no name (arg0, arg1, ...)."""
    compiled = _params_from_doc(obj)
    if compiled is None:
        return
    stub_posonly = [a.arg for a in node.args.posonlyargs if a.arg != "self"]
    stub_named = [a.arg for a in node.args.args if a.arg != "self"]
    assert len(compiled) == len(stub_posonly) + len(stub_named), f"{where}: {compiled} vs the stub's parameters"
    for name, stub_name in zip(compiled, stub_posonly + stub_named):
        if re.fullmatch(r"arg\d+", name):
            assert stub_name in stub_posonly, f"{where}: {stub_name} is positional-only (no name in the binding)"
        else:
            assert name == stub_name and stub_name in stub_named, f"{where}: {stub_name} is {name} in the binding"


def _check_stub(module, stub_path: Path):
    stub = _stub(stub_path)
    real = {k for k in dir(module) if not k.startswith("__")}
    aliases = {k for k, v in stub.items() if v == "alias"}
    assert real == set(stub) - aliases, f"{stub_path.name}: stub and module differ"
    for name, node in stub.items():
        obj = getattr(module, name, None)
        if isinstance(node, ast.FunctionDef):
            _check_signature(name, node, obj)
        elif isinstance(node, ast.ClassDef) and not issubclass(obj, BaseException):
            members = {m for m in vars(obj) if not m.startswith("_") or m == "__cuda_array_interface__"}
            stubbed = {m.name for m in node.body if isinstance(m, ast.FunctionDef) and m.name != "__init__"}
            stubbed |= {m.target.id for m in node.body if isinstance(m, ast.AnnAssign)}
            assert members == stubbed, f"{name}: the stub's members differ from the class's"
            for m in node.body:
                if isinstance(m, ast.FunctionDef):
                    member = vars(obj).get(m.name)
                    _check_signature(f"{name}.{m.name}", m, getattr(member, "__func__", member))


def test_core_stub_matches_module():
    _check_stub(deephash._core, PACKAGE / "_core.pyi")


def test_cuda_stub_matches_module():
    cuda = pytest.importorskip("deephash._cuda", reason="deephash was built without CUDA")
    _check_stub(cuda, PACKAGE / "_cuda.pyi")
