"""CSQ loss (Yuan, Wang, Tay, Xie, Chen & Feng, "Central Similarity Quantization for Efficient
Image and Video Retrieval", CVPR 2020)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_class_batch, torch
from .parts import ClassCodes, SignSquared, TargetBCE, nonnegative, upcast

__all__ = ["CSQLoss"]


class CSQLoss(HashLoss):
    r"""Central similarity: every code is pulled to its class's hash center, plus quantisation.

    The hash centers (:class:`deephash.losses.parts.ClassCodes`, buffers saved with the model)
    are the rows of a Hadamard matrix of order ``bits`` and their negations, then seeded
    Bernoulli codes; an item with several labels is pulled to the sign of the mean of their
    centers (ties: a fixed seeded code). With ``h = tanh(u)`` and the center ``c`` in
    {-1, +1}^bits::

        L = mean over items and bits of BCE((h + 1) / 2, (c + 1) / 2)
            + lam * mean over items and bits of (|h| - 1)^2

    Since ``(tanh(u) + 1) / 2 = sigmoid(2u)`` the cross-entropy is computed on the logits
    ``2u`` (stable where tanh saturates). Consumes ``"classes"``.

    Parameters
    ----------
    n_classes, bits : int
    lam : float, default 1e-4
        Quantisation weight (the reference implementation's lambda).
    seed : int
        Seeds the Bernoulli centers and the tie-break code.

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
        Hash-layer outputs before the tanh (the code bit is ``u > 0``).
    labels : int (n,) or multi-hot (n, c)
    """

    consumes = frozenset({Supervision.CLASSES})

    def __init__(self, n_classes: int, bits: int, lam: float = 1e-4, seed: int = 0):
        super().__init__()
        self.centers = ClassCodes(n_classes, bits, seed)
        self.lam = nonnegative("lam", lam)
        self.center_bce = TargetBCE()
        self.quantization = SignSquared()

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.labels)

    def forward(self, u, labels):
        check_class_batch(u, labels, self.centers)
        work, z = upcast(u)
        c = self.centers.targets(labels, work)
        loss = self.center_bce(2.0 * z, c) + self.lam * self.quantization(torch.tanh(z))
        return loss.to(u.dtype)
