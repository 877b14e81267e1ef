"""Validation of the weights and radius of weighted Hamming searches (see ``BinaryIndex.search``)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validate import _to_numpy, describe

__all__ = ["as_weights", "check_weighted_radius"]


def as_weights(weights, bits: int, nq: int) -> np.ndarray:
    """Validates bit weights: shape ``(bits,)`` or ``(nq, bits)``, float, finite, >= 0.

    Returns a C-contiguous float32 array. Floating arrays of another precision are converted to
    float32; lists and tuples are read as floats. Integer, boolean or other dtypes raise
    TypeError; a wrong shape, a negative, NaN or infinite weight (also after the conversion to
    float32) raises ValueError.
    """
    if isinstance(weights, (list, tuple)):
        try:
            arr = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"weights must be float numbers, got {describe(weights)}") from None
    else:
        arr = _to_numpy(weights, "weights", "a float32 array of bit weights")
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"weights must be a float32 array, got dtype {arr.dtype}")
    if arr.ndim == 1:
        if arr.shape[0] != bits:
            raise ValueError(f"weights must have shape ({bits},) or ({nq}, {bits}), got {arr.shape}")
    elif arr.ndim == 2:
        if arr.shape != (nq, bits):
            raise ValueError(f"per-query weights must have shape ({nq}, {bits}) (one row per query), got {arr.shape}")
    else:
        raise ValueError(f"weights must be 1-D (bits,) or 2-D (nq, bits), got shape {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size:
        if not np.all(np.isfinite(arr)):
            raise ValueError("weights must be finite (no NaN or inf, and within float32 range)")
        if np.any(arr < 0):
            raise ValueError(f"weights must be >= 0, got minimum {float(arr.min())}")
    return arr


def check_weighted_radius(radius) -> float:
    """Weighted radius: a real number >= 0 (inclusive bound; ``math.inf`` allowed)."""
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
        raise TypeError(f"radius must be a real number, got {describe(radius)}")
    r = float(radius)
    if math.isnan(r) or r < 0:
        raise ValueError(f"radius must be >= 0, got {r}")
    # Distances are float32: use the largest float32 <= radius, so that the comparison in
    # float32 keeps exactly the distances <= radius.
    with np.errstate(over="ignore"):
        r32 = np.float32(r)
    if float(r32) > r:
        r32 = np.nextafter(r32, np.float32(0))
    return float(r32)
