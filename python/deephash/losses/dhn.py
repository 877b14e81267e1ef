"""DHN loss (Zhu, Long, Wang & Cao, "Deep Hashing Network for Efficient Similarity Retrieval", AAAI 2016)."""

from __future__ import annotations

from .base import PairwiseHashLoss
from .parts import LogCoshDistance, PairLikelihood, log_cosh

__all__ = ["DHNLoss", "log_cosh"]


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
        super().__init__(pair=PairLikelihood(scale=1.0), quantization=LogCoshDistance(), weight=lam, weight_name="lam")

    @property
    def lam(self) -> float:
        return self.weight
