"""The hash layer: features -> ``bits`` real outputs (sign gives the code)."""
from __future__ import annotations

from ._torch import require_torch
from .standardize import Standardize

torch = require_torch()
nn = torch.nn

__all__ = ["HashHead"]


class HashHead(nn.Module):
    """Optional standardisation and hidden ReLU layers, then a linear layer to ``bits`` outputs.

    Parameters
    ----------
    in_dim : int
        Feature dimension.
    bits : int
        Code length (number of outputs).
    activation : {None, "tanh"}
        None keeps real outputs (DPSH, DSH); "tanh" bounds them to (-1, 1) (DHN).
    hidden : sequence of int
        Widths of hidden layers before the output layer (frozen-feature training uses one, so
        that the trainable part is not merely linear in the pretrained features).
    standardize : bool
        Standardise the features first (statistics set by ``fit_input``, kept in state_dict).

    Input: (n, in_dim). Output: (n, bits); the code is ``outputs > 0``.
    """

    def __init__(self, in_dim: int, bits: int, activation=None, hidden=(), standardize=False):
        super().__init__()
        if activation not in (None, "tanh"):
            raise ValueError(f"activation must be None or 'tanh', got {activation!r}")
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
        self.linear = nn.Linear(prev, int(bits))
        self.activation = activation

    def fit_input(self, features) -> "HashHead":
        """Sets the standardisation statistics from training features (n, in_dim)."""
        if self.standardize is not None:
            self.standardize.fit(features)
        return self

    def forward(self, x):
        if self.standardize is not None:
            x = self.standardize(x)
        u = self.linear(self.hidden(x))
        return torch.tanh(u) if self.activation == "tanh" else u
