"""DHN loss (Zhu, Long, Wang & Cao, "Deep Hashing Network for Efficient Similarity Retrieval", AAAI 2016)."""

from __future__ import annotations

import math

from .base import PairwiseHashLoss, torch

F = torch.nn.functional

__all__ = ["DHNLoss", "log_cosh"]


def log_cosh(x):
    """log(cosh(x)) without overflow: |x| + log(1 + exp(-2|x|)) - log 2."""
    a = x.abs()
    return a + F.softplus(-2.0 * a) - math.log(2.0)


class DHNLoss(PairwiseHashLoss):
    r"""Pairwise cross-entropy on inner products plus a smooth (log-cosh) quantisation loss.

    DHN models :math:`p(s_{ij}=1) = \sigma(\langle z_i, z_j \rangle)` (full inner product, unlike
    DPSH's half) and penalises :math:`\sum_k \log\cosh(|z_{ik}| - 1)`, a smooth surrogate of the
    L1 distance to the nearest vertex of the hypercube. Here, with mean reductions::

        theta_ij = u_i . v_j
        L = mean over pairs of [softplus(theta_ij) - s_ij * theta_ij]
            + lam * mean over i, k of log cosh(|u_ik| - 1)

    DHN squashes its hash layer with tanh, which the method applies before this loss.

    Parameters
    ----------
    lam : float, default 0.1
        Quantisation weight (chosen for the averaged terms; the paper tunes it by validation).
    """

    def __init__(self, lam: float = 0.1):
        super().__init__()
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = float(lam)

    def compute_loss(self, u, v, s, mask):
        theta = u @ v.T
        pair = F.softplus(theta) - s * theta
        quant = log_cosh(u.abs() - 1.0).mean()
        return self.pair_mean(pair, mask) + self.lam * quant
