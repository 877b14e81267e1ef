"""DPSH: deep pairwise-supervised hashing (Li, Wang & Kang, IJCAI 2016)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DPSH"]


class DPSH(DeepHashingMethod):
    """Deep pairwise-supervised hashing.

    Loss (:class:`deephash.losses.DPSHLoss`): the negative log-likelihood of the pairwise
    similarities under p(s_ij = 1) = sigmoid(u_i . u_j / 2), plus
    ``lam * mean((u - sign(u))**2)``; real outputs (no squashing), codes sign(u).

    Hyperparameters
    ---------------
    quantization : float, default 0.1
        (Formerly ``lam``, still accepted with a DeprecationWarning.)
        Quantisation weight.

    Examples
    --------
    >>> m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)  # doctest: +SKIP
    >>> codes = m.fit(x_train, y_train).encode(x_db)                           # doctest: +SKIP
    """

    name = "DPSH"
    hyperparameters = (Hyperparameter("quantization", 0.1, "weight of the quantisation term", low=0),)
    renamed = {"lam": "quantization"}

    def make_loss(self):
        from ..losses import DPSHLoss

        return DPSHLoss(lam=self.params["quantization"])
