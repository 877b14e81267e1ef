"""DPN loss (Fan, Ng, Ju, Zhang & Chan, "Deep Polarized Network for Supervised Learning of
Accurate Binary Hashing Codes", IJCAI 2020)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_class_batch
from .parts import ClassCodes, nonnegative, upcast

__all__ = ["DPNLoss"]


class DPNLoss(HashLoss):
    r"""Polarisation: every output bit is pushed beyond the margin on its class target's side.

    Each class has a fixed target code t in {-1, +1}^bits (:class:`deephash.losses.parts.ClassCodes`,
    saved with the model: Hadamard rows, then seeded Bernoulli codes). The bit-wise hinge::

        L = mean over items of  sum over the item's classes c  sum over bits k  max(m - u_k t_ck, 0)

    (one class per item with class ids; with multi-hot labels the hinge of every label of the
    item is added, as the authors' implementation does). Consumes ``"classes"``.

    Parameters
    ----------
    n_classes, bits : int
    margin : float, default 1.0
        The paper's m.
    seed : int
        Seeds the Bernoulli target codes.

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
    labels : int (n,) or multi-hot (n, c)
    """

    consumes = frozenset({Supervision.CLASSES})

    def __init__(self, n_classes: int, bits: int, margin: float = 1.0, seed: int = 0):
        super().__init__()
        self.targets = ClassCodes(n_classes, bits, seed)
        self.margin = nonnegative("margin", margin)

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.labels)

    def forward(self, u, labels):
        check_class_batch(u, labels, self.targets)
        codes = self.targets.codes
        work, z = upcast(u)
        hinge = (self.margin - z[:, None, :] * codes.to(work)[None, :, :]).clamp_min(0).sum(2)  # (n, c)
        return (hinge * self.targets.multi_hot(labels, work)).sum(1).mean().to(u.dtype)
