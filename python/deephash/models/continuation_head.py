"""A hash head whose code layer is ``tanh(beta * z)``, with ``beta`` raised during training."""

from __future__ import annotations

from .._torch import require_torch
from .hash_head import HashHead

torch = require_torch()

__all__ = ["ContinuationHead"]


class ContinuationHead(HashHead):
    """:class:`HashHead` (no activation) followed by ``tanh(beta * z)``: HashNet's continuation.

    ``beta`` (a buffer, saved with the model) starts at 1; a hook raises it during training so
    that the outputs approach sign(z) (the code bit is ``z > 0`` at every beta).

    Input: (n, in_dim). Output: float (n, bits) in (-1, 1).
    """

    def __init__(self, in_dim: int, bits: int, hidden=(), standardize=False):
        super().__init__(in_dim, bits, activation=None, hidden=hidden, standardize=standardize)
        self.register_buffer("beta", torch.ones(()))

    def set_beta(self, beta: float) -> None:
        """Sets the continuation's sharpness (> 0)."""
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        # a new tensor, not fill_: the current step's graph still holds the old value (hooks set
        # beta between the forward pass and backward)
        self.beta = torch.full_like(self.beta, float(beta))

    def forward(self, x):
        return torch.tanh(self.beta * super().forward(x))
