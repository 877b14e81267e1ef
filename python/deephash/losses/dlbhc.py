"""DLBHC loss (Lin, Yang, Hsiao & Chen, "Deep Learning of Binary Hash Codes for Fast Image
Retrieval", CVPR 2015 workshops)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, class_cross_entropy

__all__ = ["DLBHCLoss"]


class DLBHCLoss(HashLoss):
    r"""Softmax cross-entropy of the classification layer on top of the latent layer, nothing else.

    DLBHC learns its codes only through classification: the latent sigmoid layer must carry
    what the classes need, and its activations thresholded at 0.5 are the code::

        L = mean over items of -log softmax(logits)[label]

    (multi-hot labels: cross-entropy against the uniform distribution over the item's labels).
    Consumes ``"classes"``.

    Parameters of forward
    ---------------------
    logits : float tensor (n, c)
    labels : int (n,) or multi-hot (n, c)
    """

    consumes = frozenset({Supervision.CLASSES})

    def step_loss(self, inputs: LossInputs):
        return self(inputs.out.logits, inputs.labels)

    def forward(self, logits, labels):
        return class_cross_entropy(logits, labels).to(logits.dtype)
