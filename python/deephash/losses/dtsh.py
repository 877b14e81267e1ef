"""DTSH loss (Wang, Shi & Kitani, "Deep Supervised Hashing with Triplet Labels", ACCV 2016)."""

from __future__ import annotations

from .parts import SignSquared, nonnegative, pair_nll
from .triplet import TripletHashLoss

__all__ = ["DTSHLoss"]


class DTSHLoss(TripletHashLoss):
    r"""Negative log-likelihood of the triplet labels plus a quantisation penalty.

    With :math:`\Theta_{ij} = \tfrac12 u_i^\top u_j` DTSH models the probability that the anchor
    q is nearer its similar item p than its dissimilar item n as
    :math:`\sigma(\Theta_{qp} - \Theta_{qn} - \alpha)`, alpha a margin; a triplet's negative
    log-likelihood is ``-(x - log(1 + e^x)) = softplus(x) - x`` with ``x = theta_qp - theta_qn -
    margin`` (the pair likelihood's formula with label 1, :func:`deephash.losses.pair_nll`).
    Here, with mean reductions::

        L = mean over triplets of [softplus(x) - x]  +  lam * mean over anchors, bits of (u - sign u)^2

    Parameters
    ----------
    margin : float
        alpha, in units of half inner products (so at most ``bits``).
    lam : float
        Weight of the quantisation term (the paper's lambda).
    """

    def __init__(self, margin: float, lam: float):
        super().__init__()
        self.margin = nonnegative("margin", margin)
        self.lam = nonnegative("lam", lam)
        self.quantization = SignSquared()

    def compute_loss(self, anchor, positive, negative, gains):
        x = 0.5 * ((anchor * positive).sum(1) - (anchor * negative).sum(1)) - self.margin
        loss = pair_nll(x, 1.0).mean()
        if self.lam:
            loss = loss + self.lam * self.quantization(anchor)
        return loss
