"""DNNH / NINH: deep neural network hashing (Lai, Pan, Liu & Yan, CVPR 2015)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DNNH"]


class DNNH(DeepHashingMethod):
    """Triplet ranking loss on relaxed codes, a divide-and-encode head, a piecewise threshold.

    Head (:class:`deephash.models.divide_encode.DivideEncodeHead`): the features are split into
    ``bits`` slices, each mapped to one bit by its own fully connected unit + sigmoid, then the
    piecewise threshold function g (0 below 0.5 - epsilon, 1 above 0.5 + epsilon). Loss
    (:class:`deephash.losses.DNNHLoss`): ``max(0, margin - (||F(q) - F(q-)||^2 -
    ||F(q) - F(q+)||^2))`` over (query, similar, dissimilar) triplets. Code: F > 0.5.

    Triplets are mined by the method's miner (:class:`deephash.training.TripletMiner`): for each item of a
    batch, ``triplets_per_anchor`` times, a uniformly drawn item sharing a label (itself
    excluded) and a uniformly drawn item sharing none, from the memory bank of the training
    set's latest outputs (or the batch when there is no bank; see ``TrainConfig.memory_bank``);
    seeded by ``seed``.

    Hyperparameters
    ---------------
    margin : float, default 1.0
        The paper's triplet margin.
    epsilon : float, default 0.05
        Half-width of the threshold function's linear band (the paper: "a small positive
        number").
    triplets_per_anchor : int, default 8
        Triplets per anchor and step.

    epsilon and triplets_per_anchor, which the paper does not fix, were chosen by validation on
    the digits *training* set only (800 items trained, the other 200 as queries against them,
    32 bits, 50 epochs, seed 0; ``bench/dnnh_validation.py``): epsilon 0.01 / 0.02 / 0.05 / 0.1 /
    0.2 / 0.3 / 0.45 gave validation mAP .829 / .887 / .922 / .905 / .863 / .841 / .879 with 4
    triplets per anchor and .862 / .891 / .946 / .926 / .869 / .843 / .881 with 8.
    """

    name = "DNNH"
    hyperparameters = (
        Hyperparameter("margin", 1.0, "the triplet margin", low=0, open="low"),
        Hyperparameter("epsilon", 0.05, "half-width of the threshold's linear band", low=0, high=0.5, open="both"),
        Hyperparameter("triplets_per_anchor", 8, "triplets mined per anchor and step", int, low=1),
    )

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models.divide_encode import DivideEncodeHead

        return DivideEncodeHead(
            in_dim, self.bits, epsilon=float(self.params["epsilon"]), hidden=hidden, standardize=standardize
        )

    def make_loss(self):
        from ..losses.dnnh import DNNHLoss

        return DNNHLoss(margin=self.params["margin"])

    def make_miner(self, loss):
        from ..training import TripletMiner

        return TripletMiner(self.params["triplets_per_anchor"], seed=self.seed)
