"""Closed forms for expectations over random orders within groups of tied items.

Setting: a ranking is a sequence of tie groups (items at the same Hamming distance). Within a
group every order is equally likely. A group holds ``n`` items, ``r`` of them relevant, and is
preceded by ``N`` items of which ``R`` are relevant.

The expected sum of precision-at-rank over the group's relevant items (McSherry & Najork, ECIR
2008, written with harmonic numbers): position p in 1..n of the group is relevant with
probability r / n, and given that, the expected number of relevant items among the group's
first p positions is 1 + (p - 1)(r - 1)/(n - 1) (hypergeometric), so

    E[sum] = (r / n) * sum_{p=1..n} (R + 1 + (p - 1)(r - 1)/(n - 1)) / (N + p)
           = (r / n) * ((R + 1) S + (r - 1)/(n - 1) * (n - (N + 1) S)),
    S      = H(N + n) - H(N),   H(k) = 1 + 1/2 + ... + 1/k.

Only the first m positions of a group (a group straddling a cut-off K): the same expression with
(n, r) replaced by (m, x), where x, the number of relevant items among those m positions, is
hypergeometric(population n, successes r, draws m).

Graded relevance (grades g >= 0, relevant when g > 0; DSRH's weighted AP): replace precision@p
by ACG@p = (grade sum of the first p items) / p. With the group's grade sum s and the grade sum
G of the N items before it, position p of the group is a given relevant item x with probability
1 / n, and the p - 1 items before it in the group are a random subset of the other n - 1, whose
expected grade sum is (p - 1)(s - g_x)/(n - 1); summing over the r relevant items,

    E[sum] = (r G + s) / n * S + s (r - 1) / (n (n - 1)) * (n - (N + 1) S),

which is the binary formula when every relevant grade is 1 (s = r, G = R). It is linear in s, so
for the first m positions of a straddling group with x relevant items among them, s is replaced
by its conditional expectation x * s / r.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "discount_prefix",
    "group_gain_sum",
    "harmonic",
    "hypergeom_pmf",
    "log_factorial",
]


def harmonic(n_max: int) -> np.ndarray:
    """float64 (n_max + 1,): H[k] = sum_{i=1..k} 1/i, H[0] = 0."""
    h = np.zeros(n_max + 1)
    h[1:] = np.cumsum(1.0 / np.arange(1, n_max + 1))
    return h


def log_factorial(n_max: int) -> np.ndarray:
    """float64 (n_max + 1,): log(k!)."""
    lf = np.zeros(n_max + 1)
    lf[1:] = np.cumsum(np.log(np.arange(1, n_max + 1)))
    return lf


def discount_prefix(n_max: int) -> np.ndarray:
    """float64 (n_max + 1,): D[k] = sum_{i=1..k} 1 / log2(i + 1), D[0] = 0 (the DCG discounts)."""
    d = np.zeros(n_max + 1)
    d[1:] = np.cumsum(1.0 / np.log2(np.arange(2, n_max + 2)))
    return d


def group_gain_sum(n, r, s, N, G, H: np.ndarray) -> np.ndarray:
    """Expected sum of ACG-at-rank over the relevant items of tie groups (see module doc).

    All arguments broadcast: group size n, relevant items r <= n, grade sum s of the group
    (float allowed, for conditional expectations), N items and grade sum G before the group;
    groups with n == 0 give 0. H is :func:`harmonic` with at least N + n + 1 entries.
    """
    n = np.asarray(n, np.int64)
    r = np.asarray(r, np.int64)
    N = np.asarray(N, np.int64)
    S = H[N + n] - H[N]
    nf = np.maximum(n, 1).astype(np.float64)
    # s (r - 1) / (n (n - 1)) is only needed when r >= 2 (then n >= 2); elsewhere it vanishes.
    slope = np.where(r >= 2, (r - 1) / np.maximum(n - 1, 1), 0.0) / nf
    out = (r * np.asarray(G, np.float64) + s) / nf * S + np.multiply(s, slope) * (n - (N + 1) * S)
    return np.where(n > 0, out, 0.0)


def hypergeom_pmf(n: int, r: int, m: int, lf: np.ndarray):
    """Support and probabilities of x = relevant items among m draws from n items, r relevant.

    Returns
    -------
    x : int64 array, probabilities : float64 array (summing to 1)
    """
    lo, hi = max(0, m - (n - r)), min(r, m)
    x = np.arange(lo, hi + 1, dtype=np.int64)
    logp = (lf[r] - lf[x] - lf[r - x]) + (lf[n - r] - lf[m - x] - lf[n - r - m + x]) - (lf[n] - lf[m] - lf[n - m])
    p = np.exp(logp - logp.max())
    return x, p / p.sum()
