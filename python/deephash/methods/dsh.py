"""DSH: deep supervised hashing (Liu, Wang, Shan & Chen, CVPR 2016)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DSH"]


class DSH(DeepHashingMethod):
    """Deep supervised hashing.

    Loss (:class:`deephash.losses.DSHLoss`): contrastive loss on the real outputs
    (similar pairs pulled together, dissimilar ones pushed to squared distance >= margin),
    plus ``alpha * || |u| - 1 ||_1`` pulling each output toward +-1; codes sign(u).
    The paper trains its 3-conv network (``backbone="small_cnn"``) from scratch.

    Hyperparameters
    ---------------
    quantization : float, default 0.01
        (Formerly ``alpha``, still accepted with a DeprecationWarning.)
        Regulariser weight (the paper's).
    margin : float or None, default None
        Contrastive margin; None means 2 * bits (the paper's).
    """

    name = "DSH"
    hyperparameters = (
        Hyperparameter("quantization", 0.01, "weight of the L1 quantisation term (the paper's alpha)", low=0),
        Hyperparameter("margin", None, "contrastive margin (None: 2 * bits)", low=0, open="low", none=True),
    )
    renamed = {"alpha": "quantization"}

    def make_loss(self):
        from ..losses import DSHLoss

        return DSHLoss(self.bits, margin=self.params["margin"], alpha=self.params["quantization"])
