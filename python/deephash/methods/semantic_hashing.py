"""Semantic Hashing (Salakhutdinov & Hinton, IJAR 2009): the first deep hashing method."""
from __future__ import annotations

from .deep import DeepHashingMethod

__all__ = ["SemanticHashing"]


class SemanticHashing(DeepHashingMethod):
    """A deep autoencoder of word counts whose code layer, made binary by noise, is the hash.

    Network (:class:`deephash.models.autoencoder.AutoencoderHead`): ``log(1 + counts)`` ->
    ``hidden`` sigmoid layers -> ``bits`` code units z (Gaussian noise of std ``noise`` added
    before the logistic in training) -> mirrored decoder -> softmax over words; loss
    (:class:`deephash.losses.SemanticHashingLoss`): the multinomial likelihood of the counts.
    Codes: ``sigmoid(z) > 0.5`` (``z > 0``). Unsupervised (labels are ignored).

    The input is a list of str through the ``"bow"`` backbone (word counts in hashed buckets,
    English stop words removed; default 2,000 like the paper's vocabulary). The paper pretrains
    the layers greedily as RBMs (a constrained-Poisson bottom layer) before fine-tuning the
    whole autoencoder; here the autoencoder is trained end to end from a random start (Adam),
    which at these sizes (2,000-500-500-bits) trains well without pretraining.

    Hyperparameters
    ---------------
    hidden : list of int, default [500, 500]
    noise : float, default 4.0
        Std of the code-layer noise (the paper's variance 16).
    """

    name = "SemanticHashing"
    supervised = False
    default_backbone = "bow"
    hyperparameter_defaults = {"hidden": [500, 500], "noise": 4.0}

    def make_head(self, in_dim, hidden, standardize):
        from ..models.autoencoder import AutoencoderHead

        return AutoencoderHead(in_dim, self.bits, hidden=self.params["hidden"],
                               noise=self.params["noise"], seed=self.seed)

    def make_loss(self):
        from ..losses.semantic_hashing import SemanticHashingLoss

        return SemanticHashingLoss()
