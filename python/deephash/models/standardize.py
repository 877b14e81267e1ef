"""Per-dimension standardisation of feature vectors, with the statistics kept as module buffers."""

from __future__ import annotations

from .._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["Standardize"]


class Standardize(nn.Module):
    """``(x - mean) / std`` per input dimension.

    The statistics are buffers, so they travel in ``state_dict`` and a saved model
    preprocesses new inputs exactly as at training time.

    Parameters
    ----------
    dim : int
        Input dimension d.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x) -> "Standardize":
        """Sets the statistics from ``x`` (tensor (n, d)); constant dimensions keep std 1."""
        x = x.to(self.mean.dtype)
        self.mean.copy_(x.mean(0))
        std = x.std(0, unbiased=False)
        self.std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))
        return self

    def forward(self, x):
        return (x - self.mean) / self.std
