"""CNNH loss (Xia, Pan, Lai, Liu & Yan, "Supervised Hashing for Image Retrieval via Image
Representation Learning", AAAI 2014)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, check_outputs, torch

F = torch.nn.functional

__all__ = ["CNNHLoss"]


def check_targets(u, targets):
    """targets must be a float tensor of u's shape holding -1 and +1."""
    if not isinstance(targets, torch.Tensor) or not targets.dtype.is_floating_point:
        raise TypeError("targets must be a floating-point torch tensor of -1/+1 target codes")
    if targets.shape != u.shape:
        raise ValueError(f"targets must have the outputs' shape {tuple(u.shape)}, got {tuple(targets.shape)}")
    if not bool(((targets == 1) | (targets == -1)).all()):
        raise ValueError("targets must contain only -1 and +1")


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

    consumes = frozenset({"targets"})

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.targets)

    def forward(self, u, targets):
        check_outputs(u)
        check_targets(u, targets)
        work = torch.float32 if u.dtype in (torch.float16, torch.bfloat16) else u.dtype
        t = (targets.to(work) + 1.0) * 0.5
        return F.binary_cross_entropy_with_logits(u.to(work), t).to(u.dtype)
