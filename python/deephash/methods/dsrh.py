"""DSRH: deep semantic ranking based hashing for multi-label retrieval (Zhao et al., CVPR 2015)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DSRH"]


class DSRH(DeepHashingMethod):
    """Deep semantic ranking based hashing.

    Graded relevance r = number of labels two items share (multi-hot labels; int class ids
    give r in {0, 1}). The trainer mines graded triplets (anchor, more relevant, less relevant)
    against the memory bank, each with the NDCG-style gain 2**r_pos - 2**r_neg
    (:class:`deephash.training.TripletMiner`); the loss (:class:`deephash.losses.DSRHLoss`) is the
    gain-weighted hinge on relaxed Hamming distances plus ``alpha`` times the bit-balance
    regulariser. The hash layer is squashed by tanh (the paper's 2 sigmoid(z) - 1); codes
    sign(u). Labels with nothing to rank (all identical, say) raise ValueError before training.

    The paper's network also feeds lower convolutional features to the hash layer (skip
    connections); here the hash head sits on the configured backbone's output.

    Hyperparameters
    ---------------
    balance : float, default 0.1
        (Formerly ``alpha``, still accepted with a DeprecationWarning.)
        Weight of the balance regulariser 0.5 * ||mean code||^2.
    margin : float or None, default None
        Hinge margin rho in Hamming units; None means bits / 32.

    The paper gives no values for these inputs: both defaults are the best by validation on
    splits of training data only (32 bits, 15 epochs; margin from bits/{32, 16, 8, 2}, alpha
    from {0.1, 1}): mAP@ALL on a seeded 800 / 200 split of the digits training set and
    NDCG@100 on a 200 / 50 split of the digits-mosaics training set agreed
    (``bench/validate_drsch_dsrh.py``).
    """

    name = "DSRH"
    hyperparameters = (
        Hyperparameter("balance", 0.1, "weight of the bit-balance term (the paper's alpha)", low=0),
        Hyperparameter("margin", None, "hinge margin in Hamming units (None: bits / 32)", low=0, open="low", none=True),
    )
    renamed = {"alpha": "balance"}
    head_activation = "tanh"

    def make_loss(self):
        from ..losses import DSRHLoss

        return DSRHLoss(self.bits, margin=self.params["margin"], alpha=self.params["balance"])
