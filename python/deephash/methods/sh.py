"""SH: spectral hashing (Weiss, Torralba & Fergus, NIPS 2008), unsupervised."""

from __future__ import annotations

import numpy as np

from .projection import ProjectionHashing, pca_projection, project_linear

__all__ = ["SH"]


class SH(ProjectionHashing):
    """Thresholded analytical eigenfunctions of the data's Laplacian, along its principal axes.

    Following the authors' reference code (trainSH / compressSH): the training features are
    projected on their top ``min(bits, d)`` principal directions; along direction j, spanning
    [mn_j, mx_j] (width R_j) on the training set, a uniform density has the one-dimensional
    Laplacian eigenfunctions ``cos(k pi (p_j - mn_j) / R_j)`` with eigenvalue growing as
    ``(k / R_j)^2``. Of all (j, k >= 1) the ``bits`` smallest eigenvalues are kept (ties in the
    reference code's order); bit i of x is the sign of its eigenfunction. Wide directions thus
    get several bits (k = 1, 2, ...) and narrow ones none.
    """

    name = "SH"
    hyperparameters = ()

    def _learn(self, f):
        k = min(self.bits, f.shape[1] - 1 if hasattr(f, "tocsr") else f.shape[1])
        w, offset = pca_projection(f, k, self.seed, self.name)
        p = project_linear(f, w, offset)
        # The reference code widens the range by eps so training points stay strictly inside.
        mn = p.min(0) - np.finfo(np.float64).eps
        width = p.max(0) + np.finfo(np.float64).eps - mn
        width = np.maximum(width, np.finfo(np.float64).tiny)
        max_mode = np.ceil((self.bits + 1) * width / width.max()).astype(np.int64)
        # Candidate one-dimensional modes in the reference order: direction by direction,
        # k = 1 .. max_mode - 1; a stable sort by eigenvalue keeps that order among ties.
        dims = np.concatenate([np.full(m - 1, j) for j, m in enumerate(max_mode)]).astype(np.int64)
        ks = np.concatenate([np.arange(1, m) for m in max_mode]).astype(np.int64)
        order = np.argsort((ks * np.pi / width[dims]) ** 2, kind="stable")[: self.bits]
        return {
            "projection": w,
            "offset": offset,
            "min": mn,
            "width": width,
            "mode_dim": dims[order],
            "mode_k": ks[order].astype(np.float64),
        }

    def _project(self, f, a):
        p = project_linear(f, a["projection"], a["offset"])
        dims = a["mode_dim"].astype(np.int64)
        return np.cos(a["mode_k"] * np.pi * (p[:, dims] - a["min"][dims]) / a["width"][dims])
