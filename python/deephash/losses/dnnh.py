"""DNNH loss (Lai, Pan, Liu & Yan, "Simultaneous Feature Learning and Hash Coding with Deep Neural
Networks", CVPR 2015)."""

from __future__ import annotations

from .triplet import TripletHashLoss

__all__ = ["DNNHLoss"]


class DNNHLoss(TripletHashLoss):
    r"""Triplet ranking hinge on relaxed codes in [0, 1]: the query nearer the similar item.

    For a triplet (q, q+, q-) of relaxed codes F(.)::

        l = max(0, margin - (||F(q) - F(q-)||^2 - ||F(q) - F(q+)||^2))

    averaged over the triplets; the paper's margin is 1. Squared distances are unchanged by a
    common shift, so the head's outputs ``F - 0.5`` may be passed. Consumes ``"triplets"``.

    Parameters
    ----------
    margin : float, default 1.0
    """

    def __init__(self, margin: float = 1.0, triplets_per_anchor=None):
        super().__init__(triplets_per_anchor)
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin = float(margin)

    def compute_loss(self, anchor, positive, negative, gains):
        d_pos = (anchor - positive).pow(2).sum(1)
        d_neg = (anchor - negative).pow(2).sum(1)
        return (self.margin - (d_neg - d_pos)).clamp_min(0).mean()
