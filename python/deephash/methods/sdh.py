"""SDH: supervised deep hashing (Liong et al., CVPR 2015)."""

from __future__ import annotations

from .dh import DH

__all__ = ["SDH"]


class SDH(DH):
    """DH plus a discriminative term: similar pairs close, dissimilar pairs far (labels needed).

    Loss (:class:`deephash.losses.SDHLoss`): DH's terms plus ``discriminative / 2 * (mean
    squared distance of similar pairs - alpha * that of dissimilar pairs)`` over the batch
    against a memory bank of the training outputs. tanh code layer, codes ``u > 0``. On frozen
    features, like DH, no hidden layer (``frozen_head_hidden = ()``): on the validation split
    described in :class:`DH` (20 epochs, ``hog``), mAP .201/.209 at 32/48 bits against
    .194/.176 with a hidden layer of 256.

    The code layer starts from ITQ as in :class:`DH` (``init``); on the same validation split,
    20 epochs: .190/.200/.210 at 12/32/48 bits against .183/.201/.209 from a random start.

    Hyperparameters
    ---------------
    balance, independence : float, default 1.0
    discriminative : float, default 1.0
    alpha : float, default 1.0
    init : {"itq", "random"}, default "itq"
        As in :class:`DH`.
    """

    name = "SDH"
    supervised = True
    hyperparameter_defaults = {
        "balance": 1.0,
        "independence": 1.0,
        "discriminative": 1.0,
        "alpha": 1.0,
        "init": "itq",
    }

    def make_loss(self):
        from ..losses.sdh import SDHLoss

        return SDHLoss(**{k: v for k, v in self.params.items() if k != "init"})
