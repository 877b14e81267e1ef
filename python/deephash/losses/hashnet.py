"""HashNet loss (Cao, Long, Wang & Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017)."""

from __future__ import annotations

from .base import PairwiseHashLoss, pair_counts
from .parts import PairLikelihood

__all__ = ["HashNetLoss"]


class HashNetLoss(PairwiseHashLoss):
    r"""Weighted maximum likelihood of the pairwise similarities, on tanh outputs.

    With :math:`\theta_{ij} = \alpha\, u_i^\top v_j` (``scale`` = alpha, the adaptive sigmoid's
    bandwidth) the pair's negative log-likelihood ``softplus(theta) - s theta`` is weighted by
    :math:`w_{ij} = |S| / |S_1|` for similar and :math:`|S| / |S_0|` for dissimilar pairs
    (``S`` all pairs of the training set, ``S_1`` / ``S_0`` the similar / dissimilar ones), so
    both kinds weigh the same in total::

        L = mean over pairs of w_ij * [softplus(theta_ij) - s_ij * theta_ij]

    The weights are counted from the training labels when training starts (``on_fit_start``:
    the loss is a hook); until then, or when one kind of pair is missing, every pair weighs 1.
    HashNet has no quantisation term: its continuation ``tanh(beta z)`` with beta raised during
    training (:class:`deephash.models.continuation_head.ContinuationHead`) does that job.

    Parameters
    ----------
    scale : float
        alpha (the authors' code: 10 / bits).
    """

    def __init__(self, scale: float):
        super().__init__(pair=PairLikelihood(scale=scale))

    @property
    def class_weights(self):
        """(similar, dissimilar) pair weights, or None (every pair 1)."""
        return self.pair.class_weights

    def set_class_weights(self, labels) -> None:
        """Sets the weights from all training labels (tensor (n,) or (n, c))."""
        similar, total = pair_counts(labels)
        dissimilar = total - similar
        self.pair.class_weights = (total / similar, total / dissimilar) if similar > 0 and dissimilar > 0 else None

    def on_fit_start(self, run) -> None:
        if run.labels is not None:
            self.set_class_weights(run.labels)
