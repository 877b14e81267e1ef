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

import numpy as np

from .._torch import require_torch

torch = require_torch()
F = torch.nn.functional

__all__ = [
    "AbsDistance",
    "ClassCodes",
    "CodeSquared",
    "Contrastive",
    "CubicDistance",
    "LogCoshDistance",
    "PairLikelihood",
    "SignSquared",
    "TargetBCE",
    "class_codes",
    "hadamard",
    "log_cosh",
    "nonnegative",
    "positive_int",
    "pair_nll",
    "sign_straight_through",
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


class CubicDistance:
    """Cubic quantisation penalty ``mean(||u| - 1|^3)`` = ``mean(|u - sign u|^3)`` (GreedyHash)."""

    def __call__(self, u):
        return (u.abs() - 1.0).abs().pow(3).mean()


class TargetBCE:
    """Each output bit's logistic loss against its target bit in {-1, +1}: the mean of
    ``softplus(u) - t u`` with ``t = (target + 1) / 2`` (binary cross-entropy on logits)."""

    def __call__(self, u, targets):
        return F.binary_cross_entropy_with_logits(u, (targets + 1.0) * 0.5)


# -- binarisation with a straight-through gradient ----------------------------------------------


class _SignStraightThrough(torch.autograd.Function):
    """+1 where u > 0, else -1 (the code of u); the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, u):
        return torch.where(u > 0, 1.0, -1.0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def sign_straight_through(u):
    """The binary code of ``u`` in the forward pass, identity in the backward pass.

    ``b = +1 where u > 0 else -1`` (the bit ``encode`` gives), with ``dL/du = dL/db``: the
    straight-through estimator of GreedyHash (Su et al., NeurIPS 2018) and CIBHash's
    stochastic binary layer. ``u`` keeps its shape and dtype.
    """
    return _SignStraightThrough.apply(u)


# -- class target codes: Hadamard rows, then Bernoulli codes ------------------------------------


def _is_prime(q: int) -> bool:
    return q >= 2 and all(q % d for d in range(2, int(q**0.5) + 1))


def _paley(q: int):
    """Paley's construction I: a Hadamard matrix of order q + 1 for a prime q = 3 (mod 4)."""
    residues = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if d in residues else -1 for d in range(1, q)], dtype=np.int64)
    jacobsthal = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]  # Q_ij = chi(j - i)
    s = np.zeros((q + 1, q + 1), dtype=np.int64)
    s[0, 1:] = 1
    s[1:, 0] = -1
    s[1:, 1:] = jacobsthal
    return s + np.eye(q + 1, dtype=np.int64)  # S is skew with S S^T = q I, so H H^T = (q + 1) I


def hadamard(n: int):
    """A Hadamard matrix of order ``n`` (entries +-1, ``H @ H.T == n * I``), int8 (n, n), or None.

    Built as Sylvester's 2^k x 2^k matrix (for powers of two the same matrix as
    ``scipy.linalg.hadamard``), or a Kronecker product of it with Paley's matrix of order q + 1
    for a prime q = 3 (mod 4), the largest power of two first: every order 2^k * (q + 1), e.g.
    12, 16, 20, 24, 32, 44, 48 (Paley 12 x Sylvester 4), 64 (not 28 or 36). None when ``n`` is
    not of that form.
    """
    n = positive_int("n", n)
    top = (n & -n).bit_length() - 1  # the largest k with 2^k dividing n
    for k in range(top, -1, -1):  # Sylvester's alone for powers of two (scipy's hadamard)
        m = n >> k
        core = np.ones((1, 1), np.int64) if m == 1 else _paley(m - 1) if m % 4 == 0 and _is_prime(m - 1) else None
        if core is not None:
            h = core
            for _ in range(k):
                h = np.block([[h, h], [h, -h]])
            return h.astype(np.int8)
    return None


def class_codes(n_classes: int, bits: int, seed: int = 0):
    """One target code per class, float32 (n_classes, bits) of +-1, as CSQ builds its hash centers.

    The rows of a Hadamard matrix of order ``bits`` and then their negations (2 * bits mutually
    orthogonal or opposite codes; :func:`hadamard`); beyond them, or when no Hadamard matrix of
    that order is built, codes of independent Bernoulli(0.5) bits from
    ``numpy.random.default_rng(seed)``: up to 20 draws of the missing rows, keeping the first
    whose pairwise Hamming distances are all > bits / 4 with a mean >= bits / 2 (CSQ's rule),
    else the last draw.
    """
    n_classes, bits = positive_int("n_classes", n_classes), positive_int("bits", bits)
    h = hadamard(bits)
    fixed = np.zeros((0, bits), np.float32) if h is None else np.concatenate([h, -h]).astype(np.float32)
    fixed = fixed[:n_classes]
    missing = n_classes - fixed.shape[0]
    if missing == 0:
        return fixed
    rng = np.random.default_rng(seed)
    for _ in range(20):
        extra = np.where(rng.random((missing, bits)) < 0.5, -1.0, 1.0).astype(np.float32)
        codes = np.concatenate([fixed, extra])
        dist = (bits - codes @ codes.T) / 2
        upper = dist[np.triu_indices(n_classes, 1)]
        if upper.size == 0 or (upper.min() > bits / 4 and upper.mean() >= bits / 2):
            break
    return codes


class ClassCodes(torch.nn.Module):
    """Fixed target codes per class and the target code of each item (CSQ, DPN, OrthoHash).

    Buffers, saved with the model: ``codes`` float (c, bits) of +-1 (default
    :func:`class_codes`) and ``tie_break`` float (bits,) of +-1 (seeded Bernoulli bits).
    ``targets(labels)``: class ids (n,) give their rows of ``codes``; multi-hot labels (n, c)
    give the sign of the mean of the item's classes' codes, with the bits where that mean is 0
    (a tie, or no label) taken from ``tie_break`` -- deterministic, as CSQ's reference does
    with one fixed random code.

    Parameters
    ----------
    n_classes, bits : int
    seed : int
        Seeds the Bernoulli codes and the tie-break code.
    """

    def __init__(self, n_classes: int, bits: int, seed: int = 0):
        super().__init__()
        codes = class_codes(n_classes, bits, seed)
        tie = np.where(np.random.default_rng([int(seed), 1]).random(int(bits)) < 0.5, -1.0, 1.0)
        self.register_buffer("codes", torch.from_numpy(codes))
        self.register_buffer("tie_break", torch.from_numpy(tie.astype(np.float32)))

    def check_labels(self, labels) -> None:
        """ValueError unless ``labels`` fit the classes: ids in [0, c) or c multi-hot columns."""
        c = self.codes.shape[0]
        if labels.ndim == 1:
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= c):
                raise ValueError(f"class ids must be in [0, {c}), got [{int(labels.min())}, {int(labels.max())}]")
        elif labels.shape[1] != c:
            raise ValueError(f"multi-hot labels must have {c} columns (one per class), got {labels.shape[1]}")

    def multi_hot(self, labels, dtype):
        """``labels`` as a (n, c) 0/1 matrix of ``dtype`` (class ids one-hot)."""
        if labels.ndim == 1:
            return F.one_hot(labels.long(), self.codes.shape[0]).to(dtype)
        return (labels != 0).to(dtype)

    def targets(self, labels, dtype=None):
        """The target code of each item, (n, bits) of +-1 (``dtype``: default the codes')."""
        self.check_labels(labels)
        codes = self.codes if dtype is None else self.codes.to(dtype)
        if labels.ndim == 1:
            return codes[labels.long()]
        total = self.multi_hot(labels, codes.dtype) @ codes
        return torch.where(total == 0, self.tie_break.to(codes.dtype), torch.sign(total))
