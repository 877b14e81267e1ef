"""A hash head with the options newer methods need: batch-normalised outputs, augmented inputs
in training, and its input handed on to the loss."""

from __future__ import annotations

from .._torch import require_torch
from .hash_head import HashHead, HeadOutput

torch = require_torch()
nn = torch.nn

__all__ = ["FeatureHashHead"]


class FeatureHashHead(HashHead):
    """:class:`HashHead` (optional standardisation, hidden ReLU layers, a linear layer to
    ``bits``) with three options.

    Parameters
    ----------
    in_dim, bits, hidden, standardize
        As for :class:`HashHead`.
    batch_norm : bool
        Batch normalisation of the ``bits`` outputs (OrthoHash's balanced bits; its learned
        scale and shift included).
    dropout : float in [0, 1)
        Training only: each (standardised) input feature is zeroed with this probability and
        the rest scaled by ``1 / (1 - dropout)``.
    noise : float >= 0
        Training only: Gaussian noise of this standard deviation added to the (standardised)
        input features. With ``dropout``, two forward passes of one batch are two augmented
        views of it (CIBHash on features).
    keep_input : bool
        Return ``HeadOutput(u, latent=x)`` with ``x`` the (standardised) input features before
        augmentation, for losses that compare the codes with the features (BiHalf).
    seed : int
        Seeds the augmentation (its own generator: reproducible, and torch's global RNG is left
        alone).

    Input: (n, in_dim). Output: (n, bits), or a :class:`HeadOutput` with ``keep_input``; the
    code bit is ``u > 0``.
    """

    def __init__(
        self,
        in_dim: int,
        bits: int,
        hidden=(),
        standardize: bool = False,
        *,
        batch_norm: bool = False,
        dropout: float = 0.0,
        noise: float = 0.0,
        keep_input: bool = False,
        seed: int = 0,
    ):
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise!r}")
        super().__init__(in_dim, bits, hidden=hidden, standardize=standardize)
        self.norm = nn.BatchNorm1d(int(bits)) if batch_norm else None
        self.dropout, self.noise, self.keep_input = float(dropout), float(noise), bool(keep_input)
        self._gen = torch.Generator().manual_seed(int(seed))

    def augment(self, x):
        """Training-mode dropout and noise of the input features (x itself in eval mode)."""
        if not self.training:
            return x
        if self.dropout > 0:
            keep = torch.rand(x.shape, generator=self._gen) >= self.dropout
            x = x * keep.to(x.device, x.dtype) / (1.0 - self.dropout)
        if self.noise > 0:
            x = x + self.noise * torch.randn(x.shape, generator=self._gen).to(x.device, x.dtype)
        return x

    def forward(self, x):
        if self.standardize is not None:
            x = self.standardize(x)
        u = self.linear(self.hidden(self.augment(x)))
        if self.norm is not None:
            u = self.norm(u)
        return HeadOutput(u, latent=x) if self.keep_input else u
