"""CNNH loss (Xia, Pan, Lai, Liu & Yan, "Supervised Hashing for Image Retrieval via Image
Representation Learning", AAAI 2014)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_outputs, check_targets
from .parts import TargetBCE, upcast

__all__ = ["CNNHLoss"]


class CNNHLoss(HashLoss):
    r"""Stage 2 of CNNH: each output bit learns its target bit by cross-entropy.

    The network's q hash outputs pass through a sigmoid and fit the stage-1 target codes
    :math:`h \in \{-1, +1\}^q` rescaled to :math:`t = (h + 1) / 2 \in \{0, 1\}^q`::

        L = mean over items i and bits k of [softplus(u_ik) - t_ik * u_ik]

    (binary cross-entropy on the logits ``u``, which is stable for any ``u``); the code bit is
    ``u > 0``, i.e. sigmoid(u) > 0.5. Consumes ``"targets"``.

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
        Hash-layer logits.
    targets : float tensor (n, bits) of -1/+1
    """

    consumes = frozenset({Supervision.TARGETS})

    def __init__(self):
        super().__init__()
        self.target_bce = TargetBCE()

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.targets)

    def forward(self, u, targets):
        check_outputs(u)
        check_targets(u, targets)
        _, work_u, work_t = upcast(u, targets)
        return self.target_bce(work_u, work_t).to(u.dtype)
