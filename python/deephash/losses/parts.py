"""Loss parts that the hashing losses compose through their constructors.

Each formula is written once here: the pair likelihood, the target cross-entropy, the
contrastive term and the quantisation penalties. A loss combines them (``DPSHLoss`` is
``PairwiseHashLoss(pair=PairLikelihood(scale=0.5), quantization=SignSquared(), weight=lam)``);
the base classes (:mod:`deephash.losses.base`) validate, upcast once and reduce.

Every part takes tensors already in the working dtype (see :func:`upcast`).
"""

from __future__ import annotations

import math
import numbers

from .._torch import require_torch

torch = require_torch()
F = torch.nn.functional

__all__ = [
    "AbsDistance",
    "CodeSquared",
    "Contrastive",
    "LogCoshDistance",
    "PairLikelihood",
    "SignSquared",
    "TargetBCE",
    "log_cosh",
    "nonnegative",
    "positive_int",
    "pair_nll",
    "upcast",
]

#: dtypes computed in float32 instead (their range and precision lose the loss).
LOW_PRECISION = (torch.float16, torch.bfloat16)


def upcast(*tensors):
    """The working dtype of a loss and the tensors in it: float32 for float16 / bfloat16 inputs,
    else the first tensor's dtype (None entries stay None). Returns ``(work_dtype, *tensors)``."""
    first = tensors[0]
    work = torch.float32 if first.dtype in LOW_PRECISION else first.dtype
    return (work, *(None if t is None else t.to(work) for t in tensors))


def pair_nll(theta, s):
    """Negative log-likelihood of pair labels s in {0, 1} under p(s = 1) = sigmoid(theta):
    ``log(1 + e^theta) - s * theta``, computed as softplus (stable for any theta)."""
    return F.softplus(theta) - s * theta


def log_cosh(x):
    """log(cosh(x)) without overflow: |x| + log(1 + exp(-2|x|)) - log 2."""
    a = x.abs()
    return a + F.softplus(-2.0 * a) - math.log(2.0)


def nonnegative(name: str, v) -> float:
    """``v`` as a float; ValueError unless it is a number >= 0 (NaN and bools refused)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {v!r}")
    return float(v)


def positive_int(name: str, v) -> int:
    """``v`` as an int; ValueError unless it is an int > 0 (bools refused)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


class PairLikelihood:
    """Pairwise likelihood term: ``pair_nll(scale * u_i . v_j, s_ij)`` per pair, (n, m).

    Parameters
    ----------
    scale : float
        0.5 for DPSH / DCMH (half inner products), 1 for DHN.
    class_weights : (float, float) or None
        Weights of similar and dissimilar pairs (e.g. inverse frequencies against the imbalance
        of many dissimilar pairs); None weighs every pair 1. May be set after construction
        (``pair.class_weights = ...``, e.g. from the training labels when training starts).
    margin : float
        Moves each pair's logit away from its label by this much before the likelihood:
        ``pair_nll(theta - margin, 1)`` for similar pairs, ``pair_nll(theta + margin, 0)`` for
        dissimilar ones, so a pair scores well only once its inner product clears the margin
        (DFH's push); 0 (default) is the plain likelihood.
    """

    def __init__(self, scale: float = 1.0, class_weights=None, margin: float = 0.0):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a number > 0, got {scale!r}")
        self.scale = float(scale)
        if class_weights is not None:
            if len(class_weights) != 2:
                raise ValueError(f"class_weights must be (similar, dissimilar), got {class_weights!r}")
            class_weights = tuple(nonnegative("class_weights", w) for w in class_weights)
        self.class_weights = class_weights
        self.margin = nonnegative("margin", margin)

    def __call__(self, u, v, s):
        """u (n, b), v (m, b), s (n, m) float {0, 1} -> (n, m) per-pair losses."""
        theta = u @ v.T
        if self.scale != 1.0:
            theta = self.scale * theta
        if self.margin:
            theta = theta - self.margin * (2.0 * s - 1.0)
        nll = pair_nll(theta, s)
        if self.class_weights is not None:
            w_sim, w_dis = self.class_weights
            nll = nll * (w_sim * s + w_dis * (1.0 - s))
        return nll


class Contrastive:
    """DSH's contrastive term per pair: ``0.5 s d + 0.5 (1 - s) max(margin - d, 0)``, d the squared distance."""

    def __init__(self, margin: float):
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin!r}")
        self.margin = float(margin)

    def __call__(self, u, v, s):
        # ||u||^2 + ||v||^2 - 2 u.v, clamped: rounding can make it slightly negative
        d = ((u * u).sum(1, keepdim=True) + (v * v).sum(1)[None, :] - 2.0 * (u @ v.T)).clamp_min(0)
        return 0.5 * s * d + 0.5 * (1.0 - s) * (self.margin - d).clamp_min(0)


class SignSquared:
    """Quantisation penalty ``mean((u - sign u)^2)`` (DPSH)."""

    def __call__(self, u):
        return (u - torch.sign(u)).pow(2).mean()


class LogCoshDistance:
    """Smooth quantisation penalty ``mean(log cosh(|u| - 1))`` (DHN)."""

    def __call__(self, u):
        return log_cosh(u.abs() - 1.0).mean()


class CodeSquared:
    """Quantisation penalty towards given codes: ``mean((u - b)^2)``, b in {-1, +1} of u's shape
    (codes learned beside the network: DSDH's and ADSH's stored codes, DFH's class-pushed codes).
    ``SignSquared`` is the case ``b = sign(u)``."""

    def __call__(self, u, codes):
        return (u - codes).pow(2).mean()


class AbsDistance:
    """L1 quantisation penalty ``mean over items of sum over bits of ||u| - 1|`` (DSH)."""

    def __call__(self, u):
        return (u.abs() - 1.0).abs().sum(1).mean()


class TargetBCE:
    """Each output bit's logistic loss against its target bit in {-1, +1}: the mean of
    ``softplus(u) - t u`` with ``t = (target + 1) / 2`` (binary cross-entropy on logits)."""

    def __call__(self, u, targets):
        return F.binary_cross_entropy_with_logits(u, (targets + 1.0) * 0.5)
