"""OrthoHash loss (Hoe, Ng, Fan, Chan, Chan & Yang, "One Loss for All: Deep Hashing with a
Single Cosine Similarity based Learning Objective", NeurIPS 2021)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_class_batch, class_cross_entropy, torch
from .parts import ClassCodes, nonnegative, upcast

__all__ = ["OrthoHashLoss"]


class OrthoHashLoss(HashLoss):
    r"""One loss: softmax cross-entropy of margin cosine similarities to orthogonal class codewords.

    Each class has a fixed binary codeword w_c in {-1, +1}^bits (:class:`deephash.losses.parts.ClassCodes`,
    saved with the model: Hadamard rows -- mutually orthogonal -- then seeded Bernoulli codes).
    With ``cos_ic`` the cosine similarity of the output u_i and w_c and ``y_ic`` 1 for the
    item's classes, 0 otherwise::

        logits_ic = s * (cos_ic - m * y_ic)
        L = softmax cross-entropy(logits, labels)

    (multi-hot labels: cross-entropy against the uniform distribution over the item's labels --
    the paper's label smoothing). Maximising the cosine to the binary codeword also drives the
    outputs towards binary values, so no separate quantisation term is used (the authors'
    default). Consumes ``"classes"``.

    Parameters
    ----------
    n_classes, bits : int
    scale : float, default 8
        The paper's s.
    margin : float, default 0.2
        The paper's cosine margin m.
    seed : int
        Seeds the Bernoulli codewords.

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
    labels : int (n,) or multi-hot (n, c)
    """

    consumes = frozenset({Supervision.CLASSES})

    def __init__(self, n_classes: int, bits: int, scale: float = 8.0, margin: float = 0.2, seed: int = 0):
        super().__init__()
        self.codewords = ClassCodes(n_classes, bits, seed)
        self.scale = nonnegative("scale", scale)
        self.margin = nonnegative("margin", margin)

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.labels)

    def forward(self, u, labels):
        check_class_batch(u, labels, self.codewords)
        codes = self.codewords.codes
        work, z = upcast(u)
        F = torch.nn.functional
        cos = F.normalize(z, dim=1) @ F.normalize(codes.to(work), dim=1).T
        logits = self.scale * (cos - self.margin * self.codewords.multi_hot(labels, work))
        return class_cross_entropy(logits, labels).to(u.dtype)
