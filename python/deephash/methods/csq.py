"""CSQ: central similarity quantization with Hadamard hash centers (Yuan et al., CVPR 2020)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["CSQ"]


class CSQ(DeepHashingMethod):
    """Central Similarity Quantization (Yuan, Wang, Tay, Xie, Chen & Feng, "Central Similarity
    Quantization for Efficient Image and Video Retrieval", CVPR 2020).

    Each class gets a hash center: the rows of a Hadamard matrix of order ``bits`` and their
    negations, then Bernoulli(0.5) codes seeded by ``seed``
    (:class:`deephash.losses.parts.ClassCodes`); an item with several labels gets the sign of
    the mean of their centers (ties: a fixed seeded code). The centers are part of the saved
    model (``m.centers``). With ``h = tanh(u)`` and the item's center c, the loss
    (:class:`deephash.losses.CSQLoss`)::

        L = mean BCE((h + 1) / 2, (c + 1) / 2) + quantization * mean((|h| - 1)^2)

    Codes: ``u > 0``.

    Hyperparameters
    ---------------
    quantization : float, default 1e-4
        The quantisation weight lambda (the reference implementation's value).
    """

    name = "CSQ"
    hyperparameters = (Hyperparameter("quantization", 1e-4, "weight of the quantisation term", low=0),)

    def make_loss(self):
        from ..losses.csq import CSQLoss

        return CSQLoss(max(self._n_classes, 1), self.bits, lam=self.params["quantization"], seed=self.seed)

    @property
    def centers(self) -> np.ndarray:
        """The hash centers, float32 (classes, bits) of +-1 (row c: class c)."""
        self._check_fitted()
        return self._loss.centers.codes.detach().cpu().numpy().astype(np.float32)
