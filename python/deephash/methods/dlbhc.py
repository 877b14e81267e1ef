"""DLBHC: deep learning of binary hash codes (Lin, Yang, Hsiao & Chen, CVPR 2015 workshops)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod

__all__ = ["DLBHC"]


class DLBHC(DeepHashingMethod):
    """A latent sigmoid layer of ``bits`` units between the features and a softmax classifier.

    Trained with the classification cross-entropy only (:class:`deephash.losses.DLBHCLoss`);
    the code is ``latent > 0.5`` (``transform`` returns ``latent - 0.5``, so the base class's
    ``> 0`` rule gives exactly that). :meth:`latent` returns the latent activations for DLBHC's
    coarse-to-fine search: a Hamming shortlist from the index, then re-ranking of the shortlist
    by the Euclidean distance of these vectors.

    Hyperparameters
    ---------------
    None besides the :class:`~deephash.methods.TrainConfig` fields.
    """

    name = "DLBHC"
    hyperparameters = ()

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models.latent_head import LatentHead

        return LatentHead(in_dim, self.bits, max(n_classes, 1), hidden=hidden, standardize=standardize)

    def make_loss(self):
        from ..losses.dlbhc import DLBHCLoss

        return DLBHCLoss()

    def latent(self, x) -> np.ndarray:
        """Latent-layer activations, float32 (n, bits) in (0, 1); the code bit is ``> 0.5``."""
        return self._head_outputs(x, lambda o: o.latent, self.bits, f"{self.name} latent")
