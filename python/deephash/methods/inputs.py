"""Validation of the data and labels given to the methods (numpy in, clear errors out)."""

from __future__ import annotations

import numpy as np

from .._validate import describe

__all__ = ["MAX_CLASS_ID", "as_inputs", "as_labels", "as_texts"]

#: Largest class id ``fit`` accepts (ids are 0 .. MAX_CLASS_ID; renumber sparse ids).
MAX_CLASS_ID = 2**20 - 1


def _to_numpy(x, name):
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "detach"):
        if x.device.type != "cpu":
            raise ValueError(f"{name} must be on the CPU, got a tensor on {x.device}")
        return x.detach().numpy()
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f"{name} must be a numpy array, got {describe(x)}")


def as_texts(x, name: str = "x") -> np.ndarray:
    """Checks a batch of texts: a list, tuple or 1-D array of str -> 1-D object array of str.

    Empty strings are texts like any other (text backbones encode them); anything else that is
    not a str raises TypeError naming its position.
    """
    if isinstance(x, str):
        raise TypeError(f"{name} must be a list of str (one text per item), got a single str")
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of texts, got shape {x.shape}")
        items = x.tolist()
    elif isinstance(x, (list, tuple)):
        items = x
    else:
        raise TypeError(f"{name} must be a list of str for this text backbone, got {describe(x)}")
    out = np.empty(len(items), dtype=object)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {describe(t)}")
        out[i] = t
    if out.shape[0] == 0:
        raise ValueError(f"{name} is empty (no texts)")
    return out


def as_inputs(x, kind: str, name: str = "x") -> np.ndarray:
    """Checks training/encoding inputs.

    Parameters
    ----------
    kind : {"vectors", "images", "texts"}
        Vectors: real (n, d) arrays, returned as float32. Images: (n, H, W) or (n, H, W, C) with
        C in {1, 3}, uint8 (0..255) or real (0..1), returned unchanged (uint8) or as float32.
        Texts: a list of str, returned as a 1-D object array (see :func:`as_texts`).
    """
    if kind == "texts":
        return as_texts(x, name)
    x = _to_numpy(x, name)
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if kind == "vectors":
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(
                f"{name} must be feature vectors of shape (n, d) for this backbone, got shape {x.shape}"
                + (
                    "; images need an image backbone such as 'small_cnn' or 'efficientnet_lite0'"
                    if x.ndim in (3, 4)
                    else ""
                )
            )
    else:
        if not (x.ndim == 3 or (x.ndim == 4 and x.shape[3] in (1, 3))):
            raise ValueError(
                f"{name} must be images of shape (n, H, W) or (n, H, W, C) with C in {{1, 3}}, got shape {x.shape}"
            )
        if x.dtype == np.uint8:
            return np.ascontiguousarray(x)
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def as_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """Checks labels: int class ids (n,) -> int64, or multi-hot (n, c) of 0/1 -> uint8."""
    if labels is None:
        raise ValueError(f"{name} are required by this supervised method")
    y = _to_numpy(labels, name)
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must be class ids (n,) or multi-hot (n, c), got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name} must have one entry per input ({n} inputs), got {y.shape[0]}")
    if y.ndim == 1:
        if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
                y = y.astype(np.int64)
            else:
                raise TypeError(f"{name} (n,) must be integer class ids, got dtype {y.dtype}")
        if y.size and (int(y.min()) < 0 or int(y.max()) > MAX_CLASS_ID):
            # Methods size class layers and one-hot targets by the largest id: refuse before
            # anything of that size is allocated (one label of 10**9 would ask for gigabytes).
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise ValueError(
                f"{name} must be class ids in [0, {MAX_CLASS_ID}], got {bad}; renumber them "
                "with np.unique(labels, return_inverse=True)[1]"
            )
        return np.ascontiguousarray(y, dtype=np.int64)
    if y.dtype != np.bool_ and not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"multi-hot {name} must be numeric 0/1, got dtype {y.dtype}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"multi-hot {name} (n, c) must contain only 0 and 1")
    return np.ascontiguousarray(y, dtype=np.uint8)
