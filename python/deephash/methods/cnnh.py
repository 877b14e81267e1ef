"""CNNH: convolutional neural network hashing (Xia, Pan, Lai, Liu & Yan, AAAI 2014)."""

from __future__ import annotations


from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["CNNH"]


class CNNH(DeepHashingMethod):
    """Convolutional neural network hashing: two stages.

    Stage 1 (``make_targets``): target codes H in {-1, +1}^(n x bits) that approximate the
    training similarity matrix, ``min ||S - H H^T / bits||^2`` with S_ij = +1 when items i and j
    share a label and -1 otherwise, relaxed to the box [-1, 1] and solved by Newton coordinate
    descent as in the paper, then signs; S is never formed (it factors through the distinct
    label sets; see :mod:`deephash.methods._cnnh_targets`), so this scales to the 50,000-image
    protocols. Stage 2: the network learns to predict H, per-bit cross-entropy on (H + 1) / 2
    (:class:`deephash.losses.CNNHLoss`); new items are encoded by the network, code = logit > 0.

    Hyperparameters
    ---------------
    stage1_iterations : int, default 100
        At most this many descent iterations in stage 1 (it stops earlier when the objective
        changes by less than 1e-6 relative; on the digits and CIFAR-10 label structures it
        converges in 30-60).

    Examples
    --------
    >>> m = deephash.methods.CNNH(bits=48, backbone="mlp", seed=0)  # doctest: +SKIP
    >>> codes = m.fit(x_train, y_train).encode(x_db)                # doctest: +SKIP
    """

    name = "CNNH"
    hyperparameters = (Hyperparameter("stage1_iterations", 100, "iterations of the target-code stage", int, low=1),)

    def make_loss(self):
        from ..losses.cnnh import CNNHLoss

        return CNNHLoss()

    def make_targets(self, x, labels):
        """Stage 1: float32 (n, bits) of -1/+1, from the labels alone."""
        from ._cnnh_targets import target_codes

        return target_codes(labels, self.bits, seed=self.seed, iterations=int(self.params["stage1_iterations"]))
