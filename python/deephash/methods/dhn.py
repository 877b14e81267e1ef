"""DHN: deep hashing network (Zhu, Long, Wang & Cao, AAAI 2016)."""

from __future__ import annotations

from .deep import DeepHashingMethod

__all__ = ["DHN"]


class DHN(DeepHashingMethod):
    """Deep hashing network.

    The hash layer is squashed by tanh. Loss (:class:`deephash.losses.DHNLoss`): pairwise
    cross-entropy under p(s_ij = 1) = sigmoid(u_i . u_j), plus
    ``lam * mean(log cosh(|u| - 1))``; codes sign(u).

    Hyperparameters
    ---------------
    lam : float, default 0.1
        Quantisation weight.
    """

    name = "DHN"
    hyperparameter_defaults = {"lam": 0.1}
    head_activation = "tanh"

    def make_loss(self):
        from ..losses import DHNLoss

        return DHNLoss(lam=self.params["lam"])
