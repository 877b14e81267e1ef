"""DLBHC's head: a latent sigmoid layer of ``bits`` units, then a softmax classification layer."""
from __future__ import annotations

from ._torch import require_torch
from .hash_head import HeadOutput
from .standardize import Standardize

torch = require_torch()
nn = torch.nn

__all__ = ["LatentHead"]


class LatentHead(nn.Module):
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
        super().__init__()
        if int(classes) < 1:
            raise ValueError(f"classes must be >= 1, got {classes}")
        hidden = [int(h) for h in hidden]
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden sizes must be positive, got {hidden}")
        self.standardize = Standardize(int(in_dim)) if standardize else None
        layers = []
        prev = int(in_dim)
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        self.hidden = nn.Sequential(*layers)
        self.latent = nn.Linear(prev, int(bits))
        self.classifier = nn.Linear(int(bits), int(classes))

    def fit_input(self, features) -> LatentHead:
        """Sets the standardisation statistics from training features (n, in_dim)."""
        if self.standardize is not None:
            self.standardize.fit(features)
        return self

    def forward(self, x):
        if self.standardize is not None:
            x = self.standardize(x)
        latent = torch.sigmoid(self.latent(self.hidden(x)))
        return HeadOutput(latent - 0.5, logits=self.classifier(latent), latent=latent)
