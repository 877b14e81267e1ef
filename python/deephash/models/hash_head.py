"""The hash layer: features -> ``bits`` real outputs (sign gives the code)."""
from __future__ import annotations

from ._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["HashHead"]


class HashHead(nn.Module):
    """A linear layer from features to ``bits`` outputs, optionally squashed by tanh.

    Parameters
    ----------
    in_dim : int
        Feature dimension.
    bits : int
        Code length (number of outputs).
    activation : {None, "tanh"}
        None keeps real outputs (DPSH, DSH); "tanh" bounds them to (-1, 1) (DHN).

    Input: (n, in_dim). Output: (n, bits); the code is ``outputs > 0``.
    """

    def __init__(self, in_dim: int, bits: int, activation=None):
        super().__init__()
        if activation not in (None, "tanh"):
            raise ValueError(f"activation must be None or 'tanh', got {activation!r}")
        self.linear = nn.Linear(int(in_dim), int(bits))
        self.activation = activation

    def forward(self, x):
        u = self.linear(x)
        return torch.tanh(u) if self.activation == "tanh" else u
