"""DHN: deep hashing network (Zhu, Long, Wang & Cao, AAAI 2016)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DHN"]


class DHN(DeepHashingMethod):
    """Deep hashing network.

    The hash layer is squashed by tanh. Loss (:class:`deephash.losses.DHNLoss`): pairwise
    cross-entropy under p(s_ij = 1) = sigmoid(u_i . u_j), plus
    ``lam * mean(log cosh(|u| - 1))``; codes sign(u).

    Hyperparameters
    ---------------
    quantization : float, default 0.1
        (Formerly ``lam``, still accepted with a DeprecationWarning.)
        Quantisation weight.
    """

    name = "DHN"
    hyperparameters = (Hyperparameter("quantization", 0.1, "weight of the log-cosh quantisation term", low=0),)
    renamed = {"lam": "quantization"}
    head_activation = "tanh"

    def make_loss(self):
        from ..losses import DHNLoss

        return DHNLoss(lam=self.params["quantization"])
