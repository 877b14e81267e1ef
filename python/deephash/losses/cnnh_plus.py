"""CNNH+ loss (Xia et al., AAAI 2014): CNNH's per-bit cross-entropy plus a softmax class term."""

from __future__ import annotations

from .base import LossInputs, Supervision, class_cross_entropy
from .cnnh import CNNHLoss
from .parts import nonnegative

__all__ = ["CNNHPlusLoss"]


class CNNHPlusLoss(CNNHLoss):
    r"""CNNH+: the hash outputs fit the target codes and a softmax layer beside them the classes.

    CNNH+ widens CNNH's output layer to q hash units plus c class units; both are trained::

        L = CNNH's mean per-bit cross-entropy + class_weight * softmax cross-entropy

    Consumes ``"targets"`` and ``"classes"``.

    Parameters
    ----------
    class_weight : float, default 1.0
        Weight of the class term (the paper adds the two losses).

    Parameters of forward
    ---------------------
    u : float tensor (n, bits); targets : float tensor (n, bits) of -1/+1
    logits : float tensor (n, c); labels : int (n,) or multi-hot (n, c)
    """

    consumes = frozenset({Supervision.TARGETS, Supervision.CLASSES})

    def __init__(self, class_weight: float = 1.0):
        super().__init__()
        self.class_weight = nonnegative("class_weight", class_weight)

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.targets, inputs.out.logits, inputs.labels)

    def forward(self, u, targets, logits, labels):
        hash_term = super().forward(u, targets)
        return hash_term + self.class_weight * class_cross_entropy(logits, labels).to(u.dtype)
