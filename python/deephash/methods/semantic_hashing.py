"""Semantic Hashing (Salakhutdinov & Hinton, IJAR 2009): the first deep hashing method."""

from __future__ import annotations

from .deep import DeepHashingMethod

__all__ = ["SemanticHashing"]


class SemanticHashing(DeepHashingMethod):
    """A deep autoencoder of word counts whose code layer, made binary by noise, is the hash.

    Network (:class:`deephash.models.autoencoder.AutoencoderHead`): ``log(1 + counts)`` ->
    ``hidden`` ReLU layers -> ``bits`` code units z (Gaussian noise of std ``noise`` added
    before the logistic in training) -> mirrored decoder -> softmax over words; loss
    (:class:`deephash.losses.SemanticHashingLoss`): the multinomial likelihood of the counts.
    Codes: ``sigmoid(z) > 0.5`` (``z > 0``). Unsupervised (labels are ignored).

    The input is a list of str through the ``"bow"`` backbone (word counts in hashed buckets,
    English stop words removed; default 2,000 like the paper's vocabulary). The paper pretrains
    the layers greedily as RBMs (a constrained-Poisson bottom layer) before fine-tuning the
    whole autoencoder; here the autoencoder is trained end to end from a random start (Adam)
    with ReLU hidden units instead (see AutoencoderHead for why). Measured (``bench/README.md``,
    20 epochs): mAP .350/.359 at 32/64 bits on SearchSnippets, above ITQ on TF-IDF
    (.309/.302), but .310/.339 on StackOverflow, well below it (.526/.459). On a few hundred
    texts the default network is undertrained in 20 epochs (.147 against LSH's .144 on 480
    texts); 60 epochs of a [256] network gave .219.

    Hyperparameters
    ---------------
    hidden : list of int, default [500, 500]
    noise : float, default 1.0
        Std of the code-layer noise. The paper adds variance 16 (std 4) to logistic units; with
        the ReLU network here std 4 drove the codes to a handful of patterns (16 distinct
        codes for 480 texts in a measured run), std 1 kept them spread.
    """

    name = "SemanticHashing"
    supervised = False
    default_backbone = "bow"
    hyperparameter_defaults = {"hidden": [500, 500], "noise": 2.0, "code_norm": True, "word_dropout": 0.3}

    def make_head(self, in_dim, hidden, standardize):
        from ..models.autoencoder import AutoencoderHead

        p = self.params
        return AutoencoderHead(
            in_dim,
            self.bits,
            hidden=p["hidden"],
            noise=p["noise"],
            code_norm=p["code_norm"],
            word_dropout=p["word_dropout"],
            seed=self.seed,
        )

    def make_loss(self):
        from ..losses.semantic_hashing import SemanticHashingLoss

        return SemanticHashingLoss()
