"""The loss of convolutional text hashing (Xu et al., IJCAI 2015): predict the target bits."""

from __future__ import annotations

from .base import HashLoss, LossInputs, check_outputs, torch

F = torch.nn.functional

__all__ = ["TargetCodeLoss"]


class TargetCodeLoss(HashLoss):
    """Logistic loss of each output bit against a precomputed target code in {-1, +1}.

    ``L = mean over items and bits of BCE(sigmoid(u), (t + 1) / 2)``: the network's sigmoid
    outputs are trained to reproduce binary codes computed beforehand (in Xu et al., from the
    texts' similarity graph), so that unseen texts get codes from the network alone.
    """

    consumes = frozenset({"targets"})

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.targets)

    def forward(self, u, targets):
        check_outputs(u)
        if targets.shape != u.shape:
            raise ValueError(f"targets must have the outputs' shape {tuple(u.shape)}, got {tuple(targets.shape)}")
        return F.binary_cross_entropy_with_logits(u.float(), (targets.float() + 1) / 2).to(u.dtype)
