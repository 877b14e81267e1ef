"""DPSH loss (Li, Wang & Kang, "Feature Learning based Deep Supervised Hashing with Pairwise Labels", IJCAI 2016)."""

from __future__ import annotations

from .base import PairwiseHashLoss
from .parts import PairLikelihood, SignSquared

__all__ = ["DPSHLoss"]


class DPSHLoss(PairwiseHashLoss):
    r"""Pairwise likelihood on half inner products plus a quantisation penalty.

    With :math:`\theta_{ij} = \tfrac12 u_i^\top v_j` and :math:`p(s_{ij}=1) = \sigma(\theta_{ij})`,
    the negative log-likelihood of a pair is :math:`\log(1 + e^{\theta_{ij}}) - s_{ij}\theta_{ij}`
    (computed as ``softplus``, stable for any :math:`\theta`). DPSH relaxes the codes to real
    outputs :math:`u` and adds :math:`\eta \sum_i \|b_i - u_i\|^2` with :math:`b_i = \mathrm{sign}(u_i)`.

    Here, with mean reductions::

        L = mean over pairs (i, j) of [softplus(theta_ij) - s_ij * theta_ij]
            + lam * mean over i, k of (u_ik - sign(u_ik))**2

    Parameters
    ----------
    lam : float, default 0.1
        Quantisation weight (the paper's eta, which multiplies a sum over images against a sum
        over pairs; 0.1 with both terms averaged is the common re-implementation setting).
    """

    def __init__(self, lam: float = 0.1):
        super().__init__(pair=PairLikelihood(scale=0.5), quantization=SignSquared(), weight=lam, weight_name="lam")

    @property
    def lam(self) -> float:
        return self.weight
