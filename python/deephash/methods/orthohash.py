"""OrthoHash: one cosine-similarity loss to orthogonal codewords (Hoe et al., NeurIPS 2021)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["OrthoHash"]


class OrthoHash(DeepHashingMethod):
    """OrthoHash (Hoe, Ng, Fan, Chan, Chan & Yang, "One Loss for All: Deep Hashing with a Single
    Cosine Similarity based Learning Objective", NeurIPS 2021).

    Head: a linear hash layer followed by batch normalisation (the paper's balanced bits;
    :class:`deephash.models.feature_head.FeatureHashHead`). Each class has a fixed binary
    codeword (Hadamard rows -- orthogonal -- then seeded Bernoulli codes:
    :class:`deephash.losses.parts.ClassCodes`; saved with the model, ``m.codewords``). One
    loss (:class:`deephash.losses.OrthoHashLoss`): softmax cross-entropy of
    ``scale * (cos(u, w_c) - margin * [c is a label])``, with label smoothing over the labels
    of multi-label items. Codes: ``u > 0``.

    Hyperparameters
    ---------------
    scale : float, default 8.0
        The paper's s.
    margin : float, default 0.2
        The cosine margin m (the authors' default; their README runs CIFAR-10 with 0.3).
    """

    name = "OrthoHash"
    hyperparameters = (
        Hyperparameter("scale", 8.0, "scale s of the cosine logits", low=0, open="low"),
        Hyperparameter("margin", 0.2, "cosine margin m of the true classes", low=0),
    )

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models.feature_head import FeatureHashHead

        return FeatureHashHead(in_dim, self.bits, hidden=hidden, standardize=standardize, batch_norm=True)

    def make_loss(self):
        from ..losses.orthohash import OrthoHashLoss

        p = self.params
        return OrthoHashLoss(max(self._n_classes, 1), self.bits, scale=p["scale"], margin=p["margin"], seed=self.seed)

    @property
    def codewords(self) -> np.ndarray:
        """The class codewords, float32 (classes, bits) of +-1."""
        self._check_fitted()
        return self._loss.codewords.codes.detach().cpu().numpy().astype(np.float32)
