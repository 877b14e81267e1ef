"""The hash layer: features -> ``bits`` real outputs (sign gives the code)."""

from __future__ import annotations

from typing import NamedTuple

from .._torch import require_torch
from .standardize import Standardize

torch = require_torch()
nn = torch.nn

__all__ = ["HashHead", "HeadBase", "HeadOutput", "code_outputs"]


class HeadOutput(NamedTuple):
    """What a head with more than codes returns: ``u`` is always the code layer.

    Attributes
    ----------
    u : tensor (n, bits)
        Code-layer outputs; the code bit is ``u > 0``.
    logits : tensor (n, classes) or None
        Class scores of a classification head (CNNH+, DLBHC).
    latent : tensor (n, bits) or None
        Real-valued latent activations used for re-ranking (DLBHC's sigmoid layer).
    """

    u: object
    logits: object = None
    latent: object = None


def code_outputs(out):
    """The code layer of a head's output (a tensor, or a :class:`HeadOutput`'s ``u``)."""
    return out.u if isinstance(out, HeadOutput) else out


class HeadBase(nn.Module):
    """The trunk every hash head starts with: optional standardisation, then ReLU hidden layers.

    Parameters
    ----------
    in_dim : int
    hidden : sequence of int
        Hidden layer widths.
    standardize : bool
        Standardise the input features (statistics set by :meth:`fit_input`).
    width_multiple : int
        Make the trunk's output width a multiple of this (one more ReLU layer when the last
        width is not), e.g. for heads that split the features into one slice per bit.
    """

    def __init__(self, in_dim: int, hidden=(), standardize=False, width_multiple: int = 1):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden sizes must be positive, got {hidden}")
        self.standardize = Standardize(int(in_dim)) if standardize else None
        layers = []
        prev = int(in_dim)
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        if prev % width_multiple:
            width = width_multiple * -(-prev // width_multiple)
            layers += [nn.Linear(prev, width), nn.ReLU()]
            prev = width
        self.hidden = nn.Sequential(*layers)
        self.trunk_dim = prev

    def fit_input(self, features):
        """Sets the standardisation statistics from training features (n, in_dim)."""
        if self.standardize is not None:
            self.standardize.fit(features)
        return self

    def trunk(self, x):
        """(n, in_dim) -> (n, trunk_dim): standardisation and hidden layers."""
        if self.standardize is not None:
            x = self.standardize(x)
        return self.hidden(x)


class HashHead(HeadBase):
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
    classes : int
        When > 0, a softmax class layer of this many units beside the hash layer, on the same
        last hidden layer (CNNH+'s output layer of bits + classes units); the forward pass then
        returns a :class:`HeadOutput` ``(u, logits)``.

    Input: (n, in_dim). Output: (n, bits); the code is ``outputs > 0``.
    """

    def __init__(self, in_dim: int, bits: int, activation=None, hidden=(), standardize=False, classes: int = 0):
        if activation not in (None, "tanh"):
            raise ValueError(f"activation must be None or 'tanh', got {activation!r}")
        super().__init__(in_dim, hidden, standardize)
        prev = self.trunk_dim
        self.linear = nn.Linear(prev, int(bits))
        self.activation = activation
        # created after the hash layer so that heads without classes initialise as before
        self.classifier = nn.Linear(prev, int(classes)) if classes else None

    def forward(self, x):
        h = self.trunk(x)
        u = self.linear(h)
        u = torch.tanh(u) if self.activation == "tanh" else u
        if self.classifier is None:
            return u
        return HeadOutput(u, logits=self.classifier(h))
