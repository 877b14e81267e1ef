"""GreedyHash: sign in the forward pass, straight-through gradient (Su et al., NeurIPS 2018)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["GreedyHash"]


class GreedyHash(DeepHashingMethod):
    """Greedy Hash (Su, Zhang, Zhu & Tian, "Greedy Hash: Towards Fast Optimization for Accurate
    Hash Coding in CNN", NeurIPS 2018).

    The hash layer's outputs h are binarised by sign in the forward pass and the gradient of
    the codes passes straight through to h; a linear classifier without bias on the binary
    codes b is trained with the network (it lives in the loss and is saved with the model).
    Loss (:class:`deephash.losses.GreedyHashLoss`)::

        L = softmax cross-entropy(W b, label) + quantization * mean(|h - b|^3)

    Codes: ``h > 0``.

    Hyperparameters
    ---------------
    quantization : float, default 0.1
        Weight of the cubic penalty (the authors' code: 0.1 for CIFAR-10).
    """

    name = "GreedyHash"
    hyperparameters = (Hyperparameter("quantization", 0.1, "weight of the cubic quantisation penalty", low=0),)

    def make_loss(self):
        from ..losses.greedy_hash import GreedyHashLoss

        return GreedyHashLoss(self.bits, max(self._n_classes, 1), alpha=self.params["quantization"], seed=self.seed)
