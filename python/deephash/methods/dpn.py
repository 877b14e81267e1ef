"""DPN: deep polarized network (Fan et al., IJCAI 2020)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DPN"]


class DPN(DeepHashingMethod):
    """Deep Polarized Network (Fan, Ng, Ju, Zhang & Chan, "Deep Polarized Network for Supervised
    Learning of Accurate Binary Hashing Codes", IJCAI 2020).

    Each class gets a fixed target code t (Hadamard rows and their negations, then seeded
    Bernoulli codes: :class:`deephash.losses.parts.ClassCodes`; saved with the model,
    ``m.target_codes``). The polarisation loss (:class:`deephash.losses.DPNLoss`) pushes every
    output bit beyond the margin on its target's side::

        L = mean over items of sum over bits of max(margin - t_k u_k, 0)

    (multi-hot labels: the hinge of each of the item's classes is added, as the authors'
    implementation does). Codes: ``u > 0``.

    Hyperparameters
    ---------------
    margin : float, default 1.0
        The paper's m.
    """

    name = "DPN"
    hyperparameters = (Hyperparameter("margin", 1.0, "the polarisation margin m", low=0, open="low"),)

    def make_loss(self):
        from ..losses.dpn import DPNLoss

        return DPNLoss(max(self._n_classes, 1), self.bits, margin=self.params["margin"], seed=self.seed)

    @property
    def target_codes(self) -> np.ndarray:
        """The class target codes, float32 (classes, bits) of +-1."""
        self._check_fitted()
        return self._loss.targets.codes.detach().cpu().numpy().astype(np.float32)
