"""Backbones for inputs that already are feature vectors: identity ("features") and an MLP ("mlp")."""

from __future__ import annotations

from .._torch import require_torch
from .standardize import Standardize

torch = require_torch()
nn = torch.nn

__all__ = ["FeatureBackbone", "MLPBackbone"]


class FeatureBackbone(nn.Module):
    """Standardises feature vectors and passes them on unchanged (a linear hash on the inputs).

    Input: float tensor (n, d). Output: (n, d).
    """

    pretrained = False

    def __init__(self, dim: int):
        super().__init__()
        self.standardize = Standardize(dim)
        self.out_dim = dim

    def forward(self, x):
        return self.standardize(x)


class MLPBackbone(nn.Module):
    """Standardisation followed by fully connected ReLU layers, trained from scratch.

    Parameters
    ----------
    dim : int
        Input dimension d.
    hidden : sequence of int
        Widths of the hidden layers (default one layer of 256); the output dimension is the last.

    Input: float tensor (n, d). Output: (n, hidden[-1]).
    """

    pretrained = False

    def __init__(self, dim: int, hidden=(256,)):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not hidden or min(hidden) <= 0:
            raise ValueError(f"mlp hidden sizes must be positive ints, got {hidden}")
        self.standardize = Standardize(dim)
        layers = []
        prev = dim
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        self.layers = nn.Sequential(*layers)
        self.out_dim = prev

    def forward(self, x):
        return self.layers(self.standardize(x))
