"""SCM-Seq: semantic correlation maximisation, sequential variant (Zhang & Li, AAAI 2014).

"Large-Scale Supervised Multimodal Hashing with Semantic Correlation Maximization": the
supervised shallow baseline of DCMH's comparison set.
"""

from __future__ import annotations

import numpy as np

from .crossmodal import LinearCrossModalMethod
from .hyperparameters import Hyperparameter

__all__ = ["SCM"]


def _label_matrix(labels: np.ndarray) -> np.ndarray:
    """Rows of the label matrix scaled to unit length, float64 (n, c): L L^T is then the cosine
    similarity of the label vectors (1 for the same class id)."""
    if labels.ndim == 1:
        classes, inv = np.unique(labels, return_inverse=True)
        onehot = np.zeros((labels.shape[0], classes.shape[0]))
        onehot[np.arange(labels.shape[0]), inv] = 1.0
        return onehot
    lab = labels.astype(np.float64)
    norm = np.linalg.norm(lab, axis=1, keepdims=True)
    return lab / np.where(norm > 0, norm, 1.0)


class SCM(LinearCrossModalMethod):
    r"""Semantic correlation maximisation, learned one bit at a time (SCM-Seq).

    With centred, standardised features X (n, d_x), Y (n, d_y) and the semantic similarity
    :math:`\tilde S = 2 \tilde L \tilde L^\top - \mathbf{1}\mathbf{1}^\top` (:math:`\tilde L`:
    label rows scaled to unit length, so :math:`\tilde S_{ij}` is 1 for pairs with the same
    labels and -1 for pairs with none in common), SCM fits the inner products of the codes to
    ``bits`` times the similarity, :math:`\min \|\mathrm{bits}\cdot\tilde S - \mathrm{sign}(XW_x)
    \mathrm{sign}(YW_y)^\top\|_F^2`. SCM-Seq relaxes it one bit t at a time: with the residual
    :math:`R_t = \mathrm{bits}\cdot\tilde S - \sum_{k<t} b_x^k {b_y^k}^\top`, it maximises
    :math:`w_x^\top X^\top R_t Y w_y` subject to :math:`w_x^\top (X^\top X + \lambda n I) w_x =
    w_y^\top (Y^\top Y + \lambda n I) w_y = 1` -- the top generalised eigenvector of a
    (d_x + d_y)-square problem -- then sets :math:`b_x^t = \mathrm{sign}(X w_x)`,
    :math:`b_y^t = \mathrm{sign}(Y w_y)`. :math:`X^\top R_t Y` is kept as a (d_x, d_y) matrix
    (:math:`X^\top \tilde S Y = 2 (X^\top \tilde L)(\tilde L^\top Y)` for centred X), so the
    n x n similarity is never formed: linear in n, as the paper stresses.

    Hyperparameters
    ---------------
    reg : float, default 1e-4
        Ridge :math:`\lambda` on the standardised features' covariances (keeps the constraint
        matrices positive definite for collinear features such as topic proportions, which sum
        to 1).
    """

    name = "SCM"
    hyperparameters = (Hyperparameter("reg", 1e-4, "ridge added to the covariances", low=0, open="low"),)

    def _learn(self, image_x, text_x, labels):
        from scipy.linalg import eigh

        n = image_x.shape[0]
        lab = _label_matrix(labels)
        stats, feats = [], []
        for x in (image_x, text_x):
            mean = x.mean(0)
            std = x.std(0)
            std = np.where(std > 1e-12, std, 1.0)
            stats.append((mean, std))
            feats.append((x - mean) / std)
        x, y = feats
        dx, dy = x.shape[1], y.shape[1]
        m = self.bits * 2.0 * (x.T @ lab) @ (lab.T @ y)  # X^T R_1 Y; the all-ones part is 0
        reg = float(self.params["reg"]) * n
        cov = np.zeros((dx + dy, dx + dy))
        cov[:dx, :dx] = x.T @ x + reg * np.eye(dx)
        cov[dx:, dx:] = y.T @ y + reg * np.eye(dy)
        a = np.zeros_like(cov)
        wx = np.empty((dx, self.bits))
        wy = np.empty((dy, self.bits))
        for t in range(self.bits):
            a[:dx, dx:] = m
            a[dx:, :dx] = m.T
            _, vec = eigh(a, cov, subset_by_index=[dx + dy - 1, dx + dy - 1])
            w = vec[:, 0]
            # Fix the eigenvector's sign (deterministic codes): first nonzero entry positive.
            w = w * (1.0 if w[np.flatnonzero(np.abs(w) > 1e-12)[0]] > 0 else -1.0)
            wx[:, t], wy[:, t] = w[:dx], w[dx:]
            bx = np.where(x @ wx[:, t] >= 0, 1.0, -1.0)
            by = np.where(y @ wy[:, t] >= 0, 1.0, -1.0)
            m = m - np.outer(x.T @ bx, by @ y)
        return [(mean, w / std[:, None]) for (mean, std), w in zip(stats, (wx, wy))]
