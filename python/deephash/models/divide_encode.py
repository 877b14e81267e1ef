"""DNNH's divide-and-encode head and its piecewise threshold function (Lai, Pan, Liu & Yan, CVPR 2015)."""

from __future__ import annotations

import math

from .._torch import require_torch
from .hash_head import HeadBase

torch = require_torch()
nn = torch.nn

__all__ = ["DivideEncodeHead", "piecewise_threshold"]


def piecewise_threshold(s, epsilon: float):
    """DNNH's g(s): 0 below 0.5 - epsilon, 1 above 0.5 + epsilon, s in between.

    It pushes the relaxed codes to binary values during training; outside the band its
    gradient is 0 (the unit is already decided). ``g(s) > 0.5`` exactly when ``s > 0.5``.
    """
    lo, hi = 0.5 - epsilon, 0.5 + epsilon
    return torch.where(s < lo, torch.zeros_like(s), torch.where(s > hi, torch.ones_like(s), s))


class DivideEncodeHead(HeadBase):
    """features -> [standardise] -> hidden ReLU layers -> ``bits`` slices -> one unit per slice.

    The divide-and-encode module splits the feature vector into ``bits`` equal slices and maps
    slice j to bit j alone (a fully connected unit + sigmoid, no connections between slices),
    so that the bits are computed from disjoint features and are less redundant; then the
    piecewise threshold function. When the features' width is not a multiple of ``bits``, a
    fully connected ReLU layer first maps them to ``bits * ceil(width / bits)`` features.

    Parameters
    ----------
    in_dim, bits : int
    epsilon : float
        Half-width of the threshold function's linear band, in (0, 0.5).
    hidden : sequence of int
    standardize : bool

    Input: (n, in_dim). Output: (n, bits) = g(sigmoid(a)) - 0.5, so that squared distances are
    those of the relaxed codes g(...) in [0, 1] and the code bit is ``output > 0``.
    """

    def __init__(self, in_dim: int, bits: int, epsilon: float = 0.1, hidden=(), standardize=False):
        if not 0 < epsilon < 0.5:
            raise ValueError(f"epsilon must be in (0, 0.5), got {epsilon}")
        super().__init__(in_dim, hidden, standardize, width_multiple=int(bits))
        self.epsilon = float(epsilon)
        self.bits = int(bits)
        self.slice_width = self.trunk_dim // self.bits
        # one (slice_width -> 1) unit per bit, initialised like nn.Linear(slice_width, 1)
        bound = 1.0 / math.sqrt(self.slice_width)
        self.weight = nn.Parameter(torch.empty(self.bits, self.slice_width).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(self.bits).uniform_(-bound, bound))

    def forward(self, x):
        f = self.trunk(x).reshape(x.shape[0], self.bits, self.slice_width)
        s = torch.sigmoid((f * self.weight).sum(2) + self.bias)
        return piecewise_threshold(s, self.epsilon) - 0.5
