"""The ITQ rotation (Gong & Lazebnik, "Iterative Quantization", CVPR 2011), shared by ITQ and CCA-ITQ.

Given zero-centred projections V (n, c), ITQ looks for the orthogonal R (c, c) that minimises the
quantisation error ||B - V R||_F^2 over B in {-1, +1}^(n x c), alternating two exact steps:
B = sign(V R) for fixed R, and, for fixed B, the orthogonal Procrustes solution R = S Ŝ^T from the
SVD V^T B = S Ω Ŝ^T.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["itq_rotation", "quantization_error"]


def _signs(a: np.ndarray) -> np.ndarray:
    # sign with 0 -> +1, so every projection gets a definite bit (codes are ``value > 0`` elsewhere,
    # and an exact 0 is measure-zero on real data).
    return np.where(a >= 0, 1.0, -1.0)


def itq_rotation(v, n_iter: int = 50, seed: int = 0) -> np.ndarray:
    """Learns the ITQ rotation of the projections ``v``.

    Parameters
    ----------
    v : numpy.ndarray, float (n, c)
        Zero-centred projections (e.g. the top-c PCA components of the training data).
    n_iter : int
        Alternations (the paper uses 50).
    seed : int
        Seeds the random orthogonal starting rotation.

    Returns
    -------
    numpy.ndarray, float64 (c, c)
        Orthogonal R; the codes are ``v @ R > 0``.
    """
    v = np.asarray(v)
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"v must be a non-empty 2-D array (n, c), got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v).all():
        raise ValueError(f"v must hold finite floating-point values, got dtype {v.dtype}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative int, got {n_iter!r}")
    v = v.astype(np.float64, copy=False)
    c = v.shape[1]
    rng = np.random.default_rng(seed)
    r, _ = np.linalg.qr(rng.standard_normal((c, c)))
    for _ in range(int(n_iter)):
        b = _signs(v @ r)
        s, _, s_hat_t = np.linalg.svd(v.T @ b)
        r = s @ s_hat_t
    return r


def quantization_error(v, r) -> float:
    """||sign(V R) - V R||_F^2 / n, the objective ITQ decreases (for tests and diagnostics)."""
    p = np.asarray(v, dtype=np.float64) @ r
    return float(((_signs(p) - p) ** 2).sum() / p.shape[0])
