"""Semantic Hashing loss (Salakhutdinov & Hinton, "Semantic hashing", IJAR 2009)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, torch
from .parts import upcast

F = torch.nn.functional

__all__ = ["SemanticHashingLoss"]


class SemanticHashingLoss(HashLoss):
    """Reconstruction of the word counts by the autoencoder (outputs only: unsupervised).

    The head (:class:`deephash.models.autoencoder.AutoencoderHead`) returns the code layer u,
    the decoder's word scores and the input counts; the loss is the multinomial negative
    log-likelihood of the counts under the softmax of the scores, per word of the text
    (texts without counted words contribute nothing)::

        L = sum_i sum_w -c_iw log softmax(scores_i)_w / sum_i sum_w c_iw

    Binary codes come from the noise the head injects in training, not from a penalty.
    """

    consumes = frozenset()

    def step_loss(self, inputs: LossInputs):
        out = inputs.out
        if getattr(out, "logits", None) is None or getattr(out, "latent", None) is None:
            raise ValueError(
                "SemanticHashingLoss needs a head that returns (u, logits=word scores, "
                "latent=word counts), such as AutoencoderHead"
            )
        return self(out.logits, out.latent)

    def forward(self, scores, counts):
        if scores.shape != counts.shape:
            raise ValueError(f"scores {tuple(scores.shape)} and counts {tuple(counts.shape)} differ")
        _, scores, counts = upcast(scores, counts)
        nll = -(counts * F.log_softmax(scores, dim=1)).sum()
        return nll / counts.sum().clamp_min(1.0)
