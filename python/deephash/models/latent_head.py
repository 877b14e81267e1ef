"""DLBHC's head: a latent sigmoid layer of ``bits`` units, then a softmax classification layer."""

from __future__ import annotations

from .._torch import require_torch
from .hash_head import HeadBase, HeadOutput

torch = require_torch()
nn = torch.nn

__all__ = ["LatentHead"]


class LatentHead(HeadBase):
    """features -> [standardise] -> hidden ReLU layers -> latent = sigmoid(Linear) -> Linear -> logits.

    Lin et al. (CVPR 2015 workshops) insert the latent layer between the network's features and
    its classification layer; the binary code is ``latent > 0.5``.

    Parameters
    ----------
    in_dim : int
        Feature dimension.
    bits : int
        Latent units (code length).
    classes : int
        Classification units (>= 1).
    hidden : sequence of int
        Hidden layer widths before the latent layer.
    standardize : bool
        Standardise the features first (statistics from ``fit_input``).

    Input: (n, in_dim). Output: :class:`HeadOutput` with ``latent`` (n, bits) in (0, 1),
    ``u = latent - 0.5`` (so the code bit is ``u > 0``, exactly ``latent > 0.5``) and
    ``logits`` (n, classes).
    """

    def __init__(self, in_dim: int, bits: int, classes: int, hidden=(), standardize=False):
        if int(classes) < 1:
            raise ValueError(f"classes must be >= 1, got {classes}")
        super().__init__(in_dim, hidden, standardize)
        self.latent = nn.Linear(self.trunk_dim, int(bits))
        self.classifier = nn.Linear(int(bits), int(classes))

    def forward(self, x):
        latent = torch.sigmoid(self.latent(self.trunk(x)))
        return HeadOutput(latent - 0.5, logits=self.classifier(latent), latent=latent)
