"""Input validation at the Python boundary.

Every public entry point checks its arguments here, before any call into the compiled core
releases the GIL: TypeError for a wrong type or dtype, ValueError for a wrong shape or value,
each message saying what was expected and what came.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

__all__ = [
    "as_codes",
    "as_ids",
    "check_bits",
    "check_k",
    "check_radius",
    "describe",
]


def describe(x) -> str:
    """Short description of an argument for error messages."""
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "dtype") and hasattr(x, "shape"):
        return f"torch tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return f"{type(x).__name__}"


def check_bits(bits) -> int:
    """Code length: a positive multiple of 8."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError(f"bits must be an int, got {describe(bits)}")
    bits = int(bits)
    if bits <= 0 or bits % 8 != 0:
        raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
    return bits


def _to_numpy(x, name: str) -> np.ndarray:
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
    raise TypeError(f"{name} must be a numpy array of uint8 codes, got {describe(x)}")


def as_codes(x, bits: int, name: str = "codes") -> np.ndarray:
    """Validates packed codes: a C-contiguous uint8 array of shape (n, bits // 8).

    A 1-D array of bits // 8 bytes is accepted as a single code (shape (1, bits // 8)).
    Non-contiguous input is rejected rather than silently copied.
    """
    arr = _to_numpy(x, name)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"{name} must be packed uint8 codes (see deephash.pack_bits), got dtype {arr.dtype}"
        )
    nbytes = bits // 8
    if arr.ndim == 1:
        if arr.shape[0] != nbytes:
            raise ValueError(
                f"{name} must have shape (n, {nbytes}) for {bits}-bit codes, got shape {arr.shape}"
            )
        arr = arr.reshape(1, nbytes)
    elif arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, {nbytes}), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[1] != nbytes:
        raise ValueError(
            f"{name} must have {nbytes} bytes per row for {bits}-bit codes, "
            f"got {arr.shape[1]} (shape {arr.shape})"
        )
    if not arr.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous (rows one after another), got strides {arr.strides}; "
            "try np.ascontiguousarray"
        )
    return arr


def as_ids(ids, n: int, name: str = "ids") -> np.ndarray:
    """Validates ids: n integers, returned as a contiguous int64 array."""
    arr = _to_numpy(ids, name) if not isinstance(ids, (list, tuple, range)) else np.asarray(ids)
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
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_k(k, name: str = "k") -> int:
    """Number of neighbours (or any count named `name`): a positive int below 2**31."""
    if isinstance(k, bool):
        raise TypeError(f"{name} must be an int, got {describe(k)}")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {describe(k)}") from None
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
        raise TypeError(
            f"radius must be an int (a Hamming distance), got {describe(radius)}"
        ) from None
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {r}")
    return min(r, 2**31 - 1)
