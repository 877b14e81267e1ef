"""CNNH+: CNNH with a class layer beside the hash layer (Xia et al., AAAI 2014)."""

from __future__ import annotations

from .cnnh import CNNH
from .hyperparameters import Hyperparameter

__all__ = ["CNNHPlus"]


class CNNHPlus(CNNH):
    """CNNH+: stage 1 as :class:`CNNH`; in stage 2 the output layer has ``bits`` hash units and
    one softmax unit per class beside them (on the same last hidden layer), trained together:
    per-bit cross-entropy to the target codes + ``class_weight`` x softmax cross-entropy
    (:class:`deephash.losses.CNNHPlusLoss`). The class units serve training only; codes are the
    hash units' logit > 0. Multi-hot labels make the class target the uniform distribution over
    the item's labels.

    Hyperparameters
    ---------------
    stage1_iterations : int, default 100
        As in :class:`CNNH`.
    class_weight : float, default 1.0
        Weight of the class term (the paper sums the two).
    """

    name = "CNNHPlus"
    hyperparameters = (
        Hyperparameter("stage1_iterations", 100, "iterations of the target-code stage", int, low=1),
        Hyperparameter("class_weight", 1.0, "weight of the softmax class term", low=0),
    )

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models import HashHead

        return HashHead(in_dim, self.bits, hidden=hidden, standardize=standardize, classes=n_classes)

    def make_loss(self):
        from ..losses.cnnh_plus import CNNHPlusLoss

        return CNNHPlusLoss(class_weight=self.params["class_weight"])
