"""SDH loss (Liong et al., "Deep Hashing for Compact Binary Codes Learning", CVPR 2015): DH + pairs."""

from __future__ import annotations

from .base import PairwiseHashLoss
from .parts import nonnegative
from .dh import dh_terms

__all__ = ["SDHLoss"]


class SDHLoss(PairwiseHashLoss):
    r"""Supervised DH: DH's terms plus the discriminative term on pairs.

    The paper adds :math:`\tfrac{\lambda_4}{2}(\operatorname{tr}(\Sigma_W) -
    \alpha\operatorname{tr}(\Sigma_B))`, the traces of the within-class and between-class
    scatter of the codes: the mean squared distance of similar pairs minus alpha times that of
    dissimilar pairs. Here::

        L = dh_terms(u) + discriminative / 2 * (mean_{s_ij=1} d_ij - alpha * mean_{s_ij=0} d_ij)

    with ``d_ij = mean_k (u_ik - v_jk)**2``, over the pairs the trainer supplies (the batch
    against a memory bank of the training outputs).

    Parameters
    ----------
    balance, independence : float
        As in :class:`deephash.losses.DHLoss`.
    discriminative : float, default 1.0
        lambda_4.
    alpha : float, default 1.0
        Weight of the between-class scatter.
    """

    def __init__(
        self, balance: float = 1.0, independence: float = 1.0, discriminative: float = 1.0, alpha: float = 1.0
    ):
        super().__init__()
        for name, v in (
            ("balance", balance),
            ("independence", independence),
            ("discriminative", discriminative),
            ("alpha", alpha),
        ):
            nonnegative(name, v)
        self.balance, self.independence = float(balance), float(independence)
        self.discriminative, self.alpha = float(discriminative), float(alpha)

    def compute_loss(self, u, v, s, mask):
        d = (u.pow(2).sum(1, keepdim=True) + v.pow(2).sum(1)[None, :] - 2 * u @ v.T) / u.shape[1]
        pairs = s.bool() if mask is None else s.bool() & mask
        other = ~s.bool() if mask is None else ~s.bool() & mask
        within = d[pairs].mean() if bool(pairs.any()) else d.sum() * 0
        between = d[other].mean() if bool(other.any()) else d.sum() * 0
        return dh_terms(u, self.balance, self.independence) + 0.5 * self.discriminative * (
            within - self.alpha * between
        )
