"""Binary codes: packing (bit j of a code is bit (j % 8) of byte j // 8) and the codes file.

The codes file (written by ``deephash encode``, read by ``index``, ``search`` and ``eval``) is an
``.npz`` with ``codes`` (uint8 (n, bits // 8)), ``bits`` and, optionally, ``labels``; a plain
``.npy`` of packed codes is read too.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._npfile import existing, np_array, np_load
from ._typing import PathLike
from ._validate import describe

__all__ = ["pack_bits", "read_codes", "save_codes", "unpack_bits"]


def pack_bits(x: ArrayLike) -> NDArray[np.uint8]:
    """Packs binary or real codes into uint8 rows.

    Parameters
    ----------
    x : array-like of shape (n, b) or (b,)
        Values in {0, 1}, {-1, +1}, or real values; a value > 0 gives bit 1, anything else 0.
        numpy arrays, torch CPU tensors (any dtype, gradients detached) and nested lists work.
        b must be a multiple of 8.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, b // 8) (1-D input gives shape (1, b // 8)),
    C-contiguous; equal to ``np.packbits(x > 0, axis=1, bitorder="little")``.
    """
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "detach"):
        if x.device.type != "cpu":
            raise ValueError(f"pack_bits takes CPU tensors, got a tensor on {x.device}")
        x = x.detach()
        if x.dtype.is_complex:
            raise TypeError(f"pack_bits takes real values, got {describe(x)}")
        x = (x > 0).numpy()
    else:
        x = np.asarray(x)
        if (
            x.dtype == object
            or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_)
            or np.issubdtype(x.dtype, np.complexfloating)
        ):
            raise TypeError(f"pack_bits takes real or binary values, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise ValueError(f"pack_bits takes an (n, bits) array, got shape {x.shape}")
    bits = x.shape[1]
    if bits == 0 or bits % 8 != 0:
        raise ValueError(f"the number of bits must be a positive multiple of 8, got {bits}")
    return np.ascontiguousarray(np.packbits(x > 0, axis=1, bitorder="little"))


def unpack_bits(codes: ArrayLike, bits: Optional[int] = None) -> NDArray[np.uint8]:
    """Unpacks uint8 codes of shape (n, nbytes) into an (n, bits) uint8 array of {0, 1}.

    ``bits`` defaults to 8 * nbytes; it must be a multiple of 8 equal to 8 * nbytes.
    """
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise TypeError(f"codes must be uint8, got dtype {codes.dtype}")
    if codes.ndim == 1:
        codes = codes.reshape(1, -1)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (n, nbytes), got shape {codes.shape}")
    if bits is None:
        bits = codes.shape[1] * 8
    if isinstance(bits, bool) or not isinstance(bits, (numbers.Integral, np.integer)):
        raise TypeError(f"bits must be an int or None, got {describe(bits)}")
    if bits != codes.shape[1] * 8:
        raise ValueError(f"bits must equal 8 * bytes per code ({codes.shape[1] * 8}), got {bits}")
    return np.unpackbits(codes, axis=1, count=bits, bitorder="little")


def save_codes(path: PathLike, codes: NDArray[np.uint8], labels: Optional[ArrayLike] = None) -> None:
    """Writes a codes file: ``.npz`` with ``codes`` (uint8 (n, bits // 8)), ``bits``, ``labels``.

    The parent folder is created when missing.
    """
    arrays = {"codes": codes, "bits": np.int64(codes.shape[1] * 8)}
    if labels is not None:
        arrays["labels"] = labels
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def read_codes(
    path: PathLike, labels_path: Optional[PathLike] = None
) -> Tuple[NDArray[np.uint8], Optional[np.ndarray]]:
    """Reads a codes file written by :func:`save_codes`, or a ``.npy`` of packed codes.

    Parameters
    ----------
    path : str or os.PathLike
    labels_path : str or os.PathLike, optional
        A ``.npy`` of labels replacing those in the file.

    Returns
    -------
    codes : uint8 array (n, bits // 8), C-contiguous
    labels : array (n,) or (n, classes), or None when the file holds none

    Raises
    ------
    FileNotFoundError
        Nothing at ``path`` (or ``labels_path``).
    ValueError
        Not a readable ``.npz``/``.npy``, no ``codes`` array, or codes that are not 2-D uint8.
    """
    p = existing(path, "codes file")
    z = np_load(p, ".npz/.npy codes file")
    if isinstance(z, np.ndarray):
        codes, labels = z, None
    else:
        with z:
            if "codes" not in z.files:
                raise ValueError(f"{p} holds no 'codes' array (found: {', '.join(z.files)})")
            codes = z["codes"]
            labels = z["labels"] if "labels" in z.files else None
    if codes.dtype != np.uint8 or codes.ndim != 2:
        raise ValueError(
            f"{p}: codes must be packed uint8 rows (n, bits // 8), got dtype {codes.dtype} shape {codes.shape}"
        )
    if labels_path is not None:
        labels = np_array(labels_path, "labels file")
    return np.ascontiguousarray(codes), labels
