"""CNNH stage 1: target codes H in {-1, +1}^(n x q) with H H^T / q close to the similarity matrix.

Xia, Pan, Lai, Liu & Yan (AAAI 2014) solve ``min ||S - H H^T / q||_F^2`` with S_ij = +1 for
similar items (sharing a label) and -1 otherwise, relaxing H to the box [-1, 1]^(n x q) and
descending one coordinate at a time with Newton steps, then taking signs.

Scaling without the n x n matrix: S depends only on the items' label sets, so with the u
distinct label sets, P the (n, u) indicator of each item's set and S_u the (u, u) similarity
of the sets, S = P S_u P^T exactly (u = number of classes for single-label data; for multi-hot
labels, the number of distinct label combinations). Every quantity the solver needs is then
cheap: S H = P (S_u (P^T H)) costs O(n q + u^2 q), H^T H costs O(n q^2), and
||S - H H^T / q||^2 = n^2 - (2/q) tr(H^T S H) + ||H^T H||^2 / q^2 (every S_ij is +-1). S_u is
kept when u <= 2048 and otherwise applied in row blocks, so nothing of size n x n (nor a large u x u)
is formed.

The descent: the paper's per-coordinate Newton step uses, for entry (i, j), the gradient
G = -(4/q) (S - H H^T / q) H and the exact second derivative
(4/q^2) (sum_k H_kj^2 + H_ij^2) - (4/q) (1 - ||H_i||^2 / q). Visiting the n q entries one by one
is a Python loop of n q steps per sweep; here all entries take their Newton step at once
(Jacobi form), projected onto the box, with the step halved until the objective decreases, so
every iteration decreases it as the sequential sweep does (the accepted step size carries to the
next iteration, doubled, so few objective evaluations are wasted). Start: seeded uniform [-1, 1].
Computed with torch in float64 on the CPU (torch's thread setting applies, as in training).
"""

from __future__ import annotations

import numpy as np

from .._torch import require_torch

__all__ = ["LabelSimilarity", "target_codes"]

_BLOCK = 2048


class LabelSimilarity:
    """S = P S_u P^T for labels (n,) int or (n, c) multi-hot; S_ij = +1 when i, j share a label.

    Items without any label (an all-zero multi-hot row) are similar to nothing, themselves
    included (their diagonal entry is -1 like any dissimilar pair). Works on float64 torch
    tensors (n, q).
    """

    def __init__(self, labels: np.ndarray):
        torch = self._torch = require_torch()
        labels = np.asarray(labels)
        if labels.ndim == 1:
            uniq, inverse = np.unique(labels, return_inverse=True)
            sets = np.eye(uniq.size)  # set a = class uniq[a]
        else:
            uniq, inverse = np.unique(labels.astype(np.uint8), axis=0, return_inverse=True)
            sets = uniq.astype(np.float64)
        self._sets = torch.from_numpy(np.ascontiguousarray(sets, dtype=np.float64))
        self._inverse = torch.from_numpy(np.asarray(inverse, dtype=np.int64).reshape(-1))
        self.n = labels.shape[0]
        self.u = self._sets.shape[0]
        self._su = None

    def _su_times(self, g):
        torch = self._torch
        if self.u <= _BLOCK:  # small enough to keep (at most 32 MB)
            if self._su is None:
                self._su = torch.where(self._sets @ self._sets.T > 0, 1.0, -1.0).double()
            return self._su @ g
        out = torch.empty_like(g)
        for s in range(0, self.u, _BLOCK):
            block = torch.where(self._sets[s : s + _BLOCK] @ self._sets.T > 0, 1.0, -1.0)
            out[s : s + _BLOCK] = block.to(g.dtype) @ g
        return out

    def group_sums(self, h):
        """P^T h: (u, q) sums of the rows of h per label set."""
        g = self._torch.zeros((self.u, h.shape[1]), dtype=h.dtype)
        return g.index_add_(0, self._inverse, h)

    def times(self, h):
        """S @ h for h (n, q), without forming S."""
        return self._su_times(self.group_sums(h))[self._inverse]

    def quadratic(self, h) -> float:
        """tr(h^T S h)."""
        g = self.group_sums(h)
        return float((g * self._su_times(g)).sum())


def objective(sim: LabelSimilarity, h) -> float:
    """||S - h h^T / q||_F^2 without forming either n x n matrix (h: float64 tensor (n, q))."""
    q = h.shape[1]
    hth = h.T @ h
    return float(sim.n) ** 2 - 2.0 / q * sim.quadratic(h) + float((hth * hth).sum()) / q**2


def target_codes(
    labels: np.ndarray, bits: int, seed: int = 0, iterations: int = 100, tol: float = 1e-6, return_relaxed: bool = False
):
    """CNNH's stage 1 (see the module docstring).

    Parameters
    ----------
    labels : numpy.ndarray
        int class ids (n,) or multi-hot (n, c).
    bits : int
        q, the code length.
    seed : int
        Seeds the starting point.
    iterations : int
        At most this many Jacobi-Newton iterations.
    tol : float
        Stop when an iteration lowers the objective by less than ``tol`` relative to it.
    return_relaxed : bool
        Also return the relaxed H (float64 (n, q), in [-1, 1]) and the objective per iteration.

    Returns
    -------
    numpy.ndarray float32 (n, bits) of -1/+1 (sign of the relaxed H, 0 -> +1), or
    ``(codes, relaxed, history)`` with ``return_relaxed``.
    """
    sim = LabelSimilarity(labels)
    torch = sim._torch
    n, q = sim.n, int(bits)
    h = torch.from_numpy(np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, q)))
    f = objective(sim, h)
    history = [f]
    tau = 1.0
    for _ in range(iterations):
        hth = h.T @ h
        grad = -4.0 / q * (sim.times(h) - h @ hth / q)
        row_sq = (h * h).sum(1, keepdim=True)
        col_sq = torch.diagonal(hth)[None, :]
        curv = 4.0 / q**2 * (col_sq + h * h) - 4.0 / q * (1.0 - row_sq / q)
        # where the coordinate is not locally convex, fall back to the convex part's curvature
        curv = torch.maximum(curv, 4.0 / q**2 * col_sq.clamp_min(1.0))
        step = grad / curv
        tau, improved = min(1.0, 2.0 * tau), False
        while tau > 1e-6:
            cand = (h - tau * step).clamp_(-1.0, 1.0)
            f_new = objective(sim, cand)
            if f_new < f:
                improved = True
                break
            tau *= 0.5
        if not improved:
            break
        h, f_old, f = cand, f, f_new
        history.append(f)
        if f_old - f < tol * max(f_old, 1.0):
            break
    h = h.numpy()
    codes = np.where(h >= 0, 1.0, -1.0).astype(np.float32)
    if return_relaxed:
        return codes, h, history
    return codes
