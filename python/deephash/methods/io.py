"""Loading saved models: ``deephash.methods.load(path)``.

A model file is a user's file like any other: it may be damaged or crafted. Before any network
is built, the metadata is checked (types, known method, sizes under sane caps) and, for deep
methods, the network is first built on PyTorch's ``meta`` device (no memory) and each of its
tensors compared with the stored weights: a file can only make ``load`` build a network as large
as the weights it stores.
"""

from __future__ import annotations

import json
import numbers
import warnings

import numpy as np

from .._npfile import existing, np_load
from .._validate import MAX_BITS
from .base import FORMAT_TAG, FORMAT_VERSION
from .config import TrainConfig
from .registry import method_class

__all__ = ["MAX_META_INT", "MAX_MISSING", "load", "method_class"]

#: Largest integer (a size: input dimension, hidden width, number of classes, ...) a model's
#: metadata may hold, seeds aside.
MAX_META_INT = 2**24
#: Most values a deep network may hold in tensors its file does not store (buffers added after
#: the file was written, which the module fills with defaults); beyond it the file is refused.
MAX_MISSING = 2**20
_MAX_META_BYTES = 16 << 20


def _bad(path, what: str) -> ValueError:
    return ValueError(f"{path} is not a deephash model file, or a damaged one: {what}")


def _check_ints(value, path, where: str) -> None:
    """Every int inside ``value`` (nested lists/dicts) is within +-MAX_META_INT."""
    if isinstance(value, bool):
        return
    if isinstance(value, numbers.Integral):
        if abs(int(value)) > MAX_META_INT:
            raise _bad(path, f"{where} = {value} is beyond the cap of {MAX_META_INT}")
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "seed":
                _check_ints(v, path, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_ints(v, path, f"{where}[{i}]")


def _read(path):
    p = existing(path, "model file", directories=False)
    try:
        archive = np_load(p, ".npz archive")
    except ValueError as e:
        reason = str(e).replace(f"{p} is not a readable .npz archive", "", 1).lstrip(": ")
        if reason.startswith("(") and reason.endswith(")"):
            reason = reason[1:-1]
        raise ValueError(f"{path} is not a deephash model file ({reason})") from None
    if isinstance(archive, np.ndarray):
        raise _bad(path, "a single .npy array, not a .npz archive")
    with archive:
        if "__meta__" not in archive.files:
            raise _bad(path, "no metadata")
        strange = [k for k in archive.files if k != "__meta__" and not (k.startswith("a/") and len(k) > 2)]
        if strange:  # e.g. a member name damaged in the archive's directory
            raise _bad(path, f"unexpected arrays {strange[:5]} (a model stores '__meta__' and 'a/...')")
        raw = archive["__meta__"]
        if raw.ndim != 0 or raw.dtype.kind != "U" or raw.dtype.itemsize > 4 * _MAX_META_BYTES:
            raise _bad(path, f"metadata of dtype {raw.dtype} shape {raw.shape}, expected one string")
        arrays = {k[2:]: archive[k] for k in archive.files if k.startswith("a/")}
    try:
        meta = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError) as e:
        raise _bad(path, f"metadata is not JSON ({e})") from None
    return meta, arrays


def _check_meta(meta, path) -> None:
    if not isinstance(meta, dict):
        raise _bad(path, "metadata is not a JSON object")
    if meta.get("format") != FORMAT_TAG or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported model format {meta.get('format')!r} version {meta.get('version')!r}")
    if not isinstance(meta.get("method"), str):
        raise _bad(path, f"method {meta.get('method')!r}")
    bits = meta.get("bits")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise _bad(path, f"bits {bits!r} (expected 1 .. {MAX_BITS})")
    if isinstance(meta.get("seed"), bool) or not isinstance(meta.get("seed"), int):
        raise _bad(path, f"seed {meta.get('seed')!r}")
    for key in ("hyperparameters", "config"):
        if not isinstance(meta.get(key), dict):
            raise _bad(path, f"{key} is not a JSON object")
    if not isinstance(meta.get("backbone"), (str, dict, type(None))):
        raise _bad(path, f"backbone {meta.get('backbone')!r}")
    unknown = set(meta["config"]) - TrainConfig.field_names() if hasattr(TrainConfig, "field_names") else set()
    if unknown:
        raise _bad(path, f"unknown config fields {sorted(unknown)}")
    for key, value in meta.items():
        if key not in ("seed", "format", "version"):
            _check_ints(value, path, key)
    shape = meta.get("input_shape")
    if shape is not None:
        if not isinstance(shape, list) or len(shape) > 4 or not all(_positive_int(d) for d in shape):
            raise _bad(path, f"input_shape {shape!r}")
        if int(np.prod(shape, dtype=object)) > MAX_META_INT:
            raise _bad(path, f"input_shape {shape} has more than {MAX_META_INT} values")


def _positive_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def _probe_network(model, meta, arrays, path) -> None:
    """Builds a deep method's network on the meta device (no memory) and compares every tensor
    with the stored weights, so a crafted size never reaches a real allocation."""
    if not hasattr(model, "_network") or meta.get("input_shape") is None:
        return  # not a deep single-network method: its arrays are used as stored
    import torch

    shape = (1,) + tuple(meta["input_shape"])
    net = model._network(int(meta.get("n_classes", 0) or 0))
    with torch.device("meta"), warnings.catch_warnings():
        # (pretrained weights copied into meta tensors: a no-op torch warns about)
        warnings.simplefilter("ignore")
        net.build(shape, torch)
    frozen = bool(net.frozen)
    if bool(meta.get("frozen")) != frozen:
        raise _bad(path, f"frozen={meta.get('frozen')!r} does not fit the backbone (expected {frozen})")
    if meta.get("cut") != net.cut:
        raise _bad(path, f"cut={meta.get('cut')!r} does not fit the config (expected {net.cut!r})")
    parts = [("head/", net.head)] + ([] if frozen else [("backbone/", net.backbone)])
    for prefix, module in parts:
        # (a 0-d tensor is saved as shape (1,): np.ascontiguousarray returns at least 1-D)
        want = {k: tuple(v.shape) or (1,) for k, v in module.state_dict().items()}
        got = {k[len(prefix) :]: tuple(a.shape) or (1,) for k, a in arrays.items() if k.startswith(prefix)}
        missing = 0
        for name in sorted(set(want) | set(got)):
            if name not in got and missing + int(np.prod(want[name])) <= MAX_MISSING:
                # a small buffer older files lack (the module fills its default when loading)
                missing += int(np.prod(want[name]))
                continue
            if want.get(name) != got.get(name):
                raise _bad(
                    path,
                    f"the metadata builds {prefix}{name} of shape {want.get(name)}, the file stores "
                    f"{got.get(name)} (damaged or crafted)",
                )


def _check_round_trip(model, arrays, path) -> None:
    """Every stored array is part of the restored model's own state, with its shape: an array
    renamed, added or reshaped by damage is refused here, not at the first ``encode``. (The
    state may hold more: defaults a module fills for files written before it existed.)"""
    _, again = model._state()
    want = {k: tuple(np.shape(v)) or (1,) for k, v in again.items()}
    got = {k: tuple(v.shape) or (1,) for k, v in arrays.items()}
    extra = sorted(set(got) - set(want))
    shapes = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    if extra or shapes:
        raise _bad(path, f"arrays do not fit the model: unexpected {extra}, reshaped {shapes}")


def load(path, backbone=None, device=None):
    """Loads a model written by ``method.save(path)``.

    Parameters
    ----------
    path : str or Path
    backbone : torch.nn.Module, optional
        Required when the model was trained with a custom module backbone (only its weights are
        saved); ignored otherwise.
    device : str, optional
        Where to run the loaded network (default: a GPU when present, else the CPU).

    Returns
    -------
    HashingMethod
        A fitted model; ``encode`` gives the same codes as the saved one.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    OSError
        ``path`` is not a regular file (a directory, FIFO or device: refused without blocking).
    ValueError
        Not a deephash model file, or damaged: unreadable archive, bad metadata, sizes beyond
        :data:`MAX_META_INT`, or metadata that does not fit the stored weights.
    """
    meta, arrays = _read(path)
    _check_meta(meta, path)
    cls = method_class(meta["method"])
    cfg = dict(meta["config"])
    if device is not None:
        cfg["device"] = device
    try:
        config = TrainConfig(**cfg)
    except (TypeError, ValueError) as e:
        raise _bad(path, f"config {e}") from None
    bb = meta.get("backbone")
    if bb is None:
        if backbone is None:
            raise ValueError(f"{path} was trained with a custom backbone module; pass it: load(path, backbone=module)")
        bb = backbone
    # Each step maps only the errors a damaged or crafted file causes there to ValueError; any
    # other exception (AttributeError, IndexError, ...) is a bug in deephash and propagates.
    with _damage(path, (TypeError,), "hyperparameters"):  # a keyword or a type the method refuses
        model = cls.from_saved(
            bits=meta["bits"], backbone=bb, seed=meta["seed"], config=config, hyperparameters=meta["hyperparameters"]
        )
    # a backbone spec or size of the wrong type, PyTorch refusing the sizes the metadata gives
    with _damage(path, (TypeError, RuntimeError), "network"):
        _probe_network(model, meta, arrays, path)  # builds a separate Network: the model is untouched
    # a missing array or metadata field, a value of the wrong type, weights PyTorch refuses
    with _damage(path, (KeyError, TypeError, RuntimeError), "metadata and weights do not fit together"):
        model._restore(meta, arrays)
    _check_round_trip(model, arrays, path)
    return model


class _damage:
    """Re-raises ``kinds`` (and ValueError) raised in the block as ``_bad(path, ...)``."""

    def __init__(self, path, kinds: tuple, what: str):
        self.path, self.kinds, self.what = path, kinds, what

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if e is None:
            return False
        if isinstance(e, ValueError):
            if str(self.path) in str(e):
                return False
            raise _bad(self.path, str(e)) from None
        if isinstance(e, self.kinds):
            raise _bad(self.path, f"{self.what} ({type(e).__name__}: {e})") from None
        return False
