"""DRSCH: bit-scalable deep hashing with regularised similarity learning (Zhang et al., TIP 2015)."""

from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from .._typing import ArrayLike, Codes
from .._validate import describe
from ..codes import pack_bits
from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DRSCH"]


class DRSCH(DeepHashingMethod):
    """Deep regularised similarity comparison hashing, with learned per-bit weights.

    The hash layer is squashed by tanh (the paper's tanh-like relaxation of sign). Loss
    (:class:`deephash.losses.DRSCHLoss`): a triplet hinge on the weighted Hamming distance with
    learned non-negative per-bit weights, plus ``lam`` times the
    graph-Laplacian regulariser (similar items' outputs pulled together); codes sign(u).
    Triplets are mined by the trainer (:class:`deephash.training.TripletMiner`: seeded, against the
    memory bank).

    The weights are part of the model: rank a database by the weighted Hamming distance,
    ``index.search(m.encode(q), k, weights=m.bit_weights)``. **Bit-scalable**: one trained model
    serves every shorter code length; ``m.encode(x, bits=b)`` keeps the b heaviest bits
    (``m.bit_order[:b]``, ties by bit index) in that order, and ``m.search_weights(b)`` gives
    the weights that go with those codes (``m.bit_weights[m.bit_order[:b]]``, zero-padded to
    whole bytes as ``FlatIndex.search`` expects).

    Hyperparameters
    ---------------
    laplacian : float, default 1.0
        (Formerly ``lam``, still accepted with a DeprecationWarning.)
        Weight of the Laplacian regulariser.
    margin : float or None, default None
        Triplet margin in weighted-Hamming units; None means bits / 16. The paper's C = -q/2
        is ``margin=bits / 2``; on these tanh outputs it validated far worse (0.72 vs 0.95).
    weight_lr_scale : float, default 10.0
        Learning rate of the bit weights relative to the network's (through the scale of their
        logits). At 1 the weights hardly moved (0.93-1.09) and truncated 12-bit codes of a
        48-bit model were worse (validation mAP 0.86 vs 0.90); 50 hurt the full codes.

    The paper gives no values for these inputs: they are the best by validation mAP@ALL on a
    seeded 800 / 200 split of the digits training set (32 bits, 15 epochs; margin from
    bits/{32, 16, 8, 2}, lam from {0.1, 1}; ``bench/validate_drsch_dsrh.py``), and for
    ``weight_lr_scale`` the 12-bit truncation of a 48-bit model (from {1, 10, 50}).

    Attributes
    ----------
    bit_weights : float32 (bits,)
        Learned weights, >= 0, summing to ``bits``.
    bit_order : int64 (bits,)
        Bits by decreasing weight, ties by bit index.
    """

    name = "DRSCH"
    hyperparameters = (
        Hyperparameter("laplacian", 1.0, "weight of the graph-Laplacian term", low=0),
        Hyperparameter(
            "margin", None, "triplet margin, weighted-Hamming units (None: bits/16)", low=0, open="low", none=True
        ),
        Hyperparameter("weight_lr_scale", 10.0, "learning rate of the bit weights relative to lr", low=0, open="low"),
    )
    renamed = {"lam": "laplacian"}
    head_activation = "tanh"

    def make_loss(self):
        from ..losses import DRSCHLoss

        p = self.params
        return DRSCHLoss(self.bits, margin=p["margin"], lam=p["laplacian"], weight_lr_scale=p["weight_lr_scale"])

    @property
    def bit_weights(self) -> np.ndarray:
        """The learned per-bit weights, float32 (bits,), all >= 0."""
        self._check_fitted()
        return self._loss.weights.detach().cpu().numpy().astype(np.float32)

    @property
    def bit_order(self) -> np.ndarray:
        """Bit positions by decreasing weight (stable: equal weights by bit index), int64 (bits,)."""
        return np.argsort(-self.bit_weights, kind="stable").astype(np.int64)

    def _check_length(self, bits) -> int:
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
            raise TypeError(f"bits must be an int, got {describe(bits)}")
        if not 1 <= bits <= self.bits:
            raise ValueError(
                f"bits must be between 1 and the trained length {self.bits}, got {bits}; "
                "a bit-scalable model serves shorter codes only"
            )
        return int(bits)

    def encode(self, x: ArrayLike, bits: Optional[int] = None) -> Codes:
        """Packed codes of ``x``: all ``self.bits`` bits, or the ``bits`` heaviest ones.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs as for ``fit``.
        bits : int, optional
            1 <= bits <= the trained length: bit j of each code is bit ``bit_order[j]`` of the
            full code; codes are zero-padded to whole bytes.

        Returns
        -------
        uint8 (n, ceil(bits / 8))
        """
        if bits is None:
            return super().encode(x)
        b = self._check_length(bits)
        self._check_fitted()
        u = self.transform(x)[:, self.bit_order[:b]]
        pad = -(-b // 8) * 8 - b
        if pad:
            u = np.concatenate([u, np.zeros((u.shape[0], pad), u.dtype)], 1)
        return pack_bits(np.ascontiguousarray(u))

    def search_weights(self, bits=None) -> np.ndarray:
        """Weights for ``encode(x, bits)`` codes, float32 (ceil(bits / 8) * 8,), for ``search``.

        ``bits=None``: ``bit_weights`` for the full codes of ``encode(x)`` (zero-padded past
        ``self.bits``). Otherwise ``bit_weights[bit_order[:bits]]`` followed by zeros for the
        padding bits.
        """
        w = self.bit_weights
        if bits is None:
            b = self.bits
        else:
            b = self._check_length(bits)
            w = w[self.bit_order[:b]]
        out = np.zeros(-(-b // 8) * 8, np.float32)
        out[:b] = w
        return out
