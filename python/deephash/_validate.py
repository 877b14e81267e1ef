"""Input validation at the Python boundary.

Every public entry point checks its arguments here, before any call into the compiled core
releases the GIL: TypeError for a wrong type or dtype, ValueError for a wrong shape or value,
each message saying what was expected and what came.
"""

from __future__ import annotations

import numbers
import operator
import os

import numpy as np

from . import _core

__all__ = [
    "MAX_BITS",
    "PADDING_ID",
    "as_codes",
    "as_ids",
    "as_int",
    "as_path",
    "check_bits",
    "check_bool",
    "check_k",
    "check_radius",
    "describe",
]

#: Longest code an index accepts, in bits (1 KiB per code): the compiled core's one limit
#: (``kMaxBits`` in ``cpp/include/deephash/limits.hpp``), which its constructors and loader enforce.
MAX_BITS = _core.MAX_BITS

#: The id that pads a result row when the index holds fewer than k codes; never a stored id.
PADDING_ID = -1


def describe(x) -> str:
    """Short description of an argument for error messages."""
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "dtype") and hasattr(x, "shape"):
        return f"torch tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return f"{type(x).__name__}"


def check_bits(bits) -> int:
    """Code length: a positive multiple of 8, at most :data:`MAX_BITS`."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError(f"bits must be an int, got {describe(bits)}")
    bits = int(bits)
    if bits <= 0 or bits % 8 != 0 or bits > MAX_BITS:
        raise ValueError(f"bits must be a positive multiple of 8 and at most {MAX_BITS}, got {bits}")
    return bits


def check_bool(value, name: str) -> bool:
    """A flag: True or False (a numpy bool too); a truthy string or number is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)} {value!r}")
    return bool(value)


def as_path(path, name: str = "path") -> bytes:
    """A file path (str, bytes or os.PathLike) as the bytes the OS receives.

    A NUL byte is refused with ValueError (the OS would silently cut the path there), as
    Python's ``open`` does.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {describe(path)}")
    raw = os.fsencode(os.fspath(path))
    if b"\0" in raw:
        raise ValueError(f"{name} must not contain a NUL byte (embedded null byte), got {path!r}")
    return raw


def _to_numpy(x, name: str, expected: str = "a numpy array of uint8 codes") -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "detach"):
        if getattr(x, "device", None) is not None and x.device.type != "cpu":
            raise ValueError(
                f"{name} must be on the CPU for this index, got a tensor on {x.device}; "
                "call .cpu() or use deephash.GpuFlatIndex"
            )
        return x.detach().numpy()
    raise TypeError(f"{name} must be {expected}, got {describe(x)}")


def as_codes(x, bits: int, name: str = "codes") -> np.ndarray:
    """Validates packed codes: a C-contiguous uint8 array of shape (n, bits // 8).

    A 1-D array of bits // 8 bytes is accepted as a single code (shape (1, bits // 8)).
    Non-contiguous input is rejected rather than silently copied.
    """
    arr = _to_numpy(x, name)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must be packed uint8 codes (see deephash.pack_bits), got dtype {arr.dtype}")
    nbytes = bits // 8
    if arr.ndim == 1:
        if arr.shape[0] != nbytes:
            raise ValueError(f"{name} must have shape (n, {nbytes}) for {bits}-bit codes, got shape {arr.shape}")
        arr = arr.reshape(1, nbytes)
    elif arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, {nbytes}), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[1] != nbytes:
        raise ValueError(
            f"{name} must have {nbytes} bytes per row for {bits}-bit codes, got {arr.shape[1]} (shape {arr.shape})"
        )
    if not arr.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous (rows one after another), got strides {arr.strides}; try np.ascontiguousarray"
        )
    return arr


def as_ids(ids, n: int, name: str = "ids", *, stored: bool = False) -> np.ndarray:
    """Validates ids: n integers (n < 0: any number), returned as a contiguous int64 array.

    A single int is one id. ``stored``: the ids are to be stored in an index (``add``), so
    :data:`PADDING_ID` (-1), which marks missing results, is refused.
    """
    if isinstance(ids, (list, tuple, range)) or (
        isinstance(ids, (numbers.Integral, np.integer)) and not isinstance(ids, bool)
    ):
        arr = np.asarray(ids)
    else:
        arr = _to_numpy(ids, name, "a numpy array (or list) of int64 ids")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.size == 0:
        arr = arr.astype(np.int64).reshape(0)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integers (int64), got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n >= 0 and arr.shape[0] != n:
        raise ValueError(f"{name} must have one entry per code ({n}), got {arr.shape[0]}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must fit in int64")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if stored and arr.size and (arr == PADDING_ID).any():
        where = int(np.flatnonzero(arr == PADDING_ID)[0])
        raise ValueError(
            f"{name} must not contain {PADDING_ID}, the id that pads missing results (found at position {where})"
        )
    return arr


def as_int(value, name: str) -> int:
    """An int (numpy integers too; not bool, not float) or TypeError naming ``name``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {describe(value)}") from None


def check_k(k, name: str = "k") -> int:
    """Number of neighbours (or any count named `name`): a positive int below 2**31."""
    k = as_int(k, name)
    if k <= 0:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if k > 2**31 - 1:
        raise ValueError(f"{name} must be < 2**31, got {k}")
    return k


def check_radius(radius) -> int:
    """Hamming radius: a non-negative int (inclusive bound)."""
    if isinstance(radius, bool):
        raise TypeError(f"radius must be an int, got {describe(radius)}")
    try:
        r = operator.index(radius)
    except TypeError:
        raise TypeError(f"radius must be an int (a Hamming distance), got {describe(radius)}") from None
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {r}")
    return min(r, 2**31 - 1)
