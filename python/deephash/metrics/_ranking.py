"""Rankings by (Hamming distance, database position), for metrics where order inside ties matters.

Two ways, same result (both sort by (distance, position)):

- the engine: the database goes into a :class:`deephash.FlatIndex` with ids 0..n-1, whose
  ``search`` returns each query's first k neighbours sorted by (distance, id). Fastest when k is
  a small share of the database (k = 100 of 59,000: 6x faster than sorting);
- a stable sort of each query's distance row (numpy's radix sort for 8/16-bit keys): fastest
  when the whole or most of the ranking is needed (mAP@ALL: 0.3 s for 1,000 x 59,000, where a
  top-k engine with k = n takes several seconds).

Weighted Hamming distances (``weights=``) follow the same split: the engine's weighted search for
small k, else a sort of (integer distance, position) keys computed with the engine's quantisation
(:mod:`._weighted`).
"""

from __future__ import annotations

from typing import Iterator, Tuple

import numpy as np

from ._histograms import _block_distances, _words
from ._relevance import grades, relevance

__all__ = ["ranked_relevance", "ranking"]

# Bytes of ranking results held at once (positions int64 + distances + relevance).
_BUDGET = 1 << 26
# Use the engine when k <= n * ENGINE_MAX_FRACTION (measured crossover near k = n / 60).
ENGINE_MAX_FRACTION = 1.0 / 64


def ranking(q: np.ndarray, db: np.ndarray, bits: int, k: int, weighted=None):
    """Yields (start, end, positions (m, k) int64) per block of queries: each row lists the
    first k database positions in order of (distance, position). ``weighted``: a
    :class:`._weighted.WeightedDistances` for weighted Hamming distances (None: plain)."""
    nq, n = q.shape[0], db.shape[0]
    k = min(k, n)
    if k <= n * ENGINE_MAX_FRACTION:
        block = max(1, _BUDGET // (16 * k))
        from ..index import FlatIndex

        index = FlatIndex(bits)
        index.add(db)
        for s in range(0, nq, block):
            e = min(s + block, nq)
            if weighted is None:
                yield s, e, index.search(q[s:e], k)[1]
            else:
                w = weighted.weights[s:e] if weighted.per_query else weighted.weights
                yield s, e, index.search(q[s:e], k, weights=w)[1]
        return
    if weighted is not None:
        # int64 keys distance * n + position: one sort gives the (distance, position) order.
        block = max(1, _BUDGET // (16 * n))
        for s in range(0, nq, block):
            e = min(s + block, nq)
            key = weighted.block(q[s:e], s).astype(np.int64) * n + np.arange(n, dtype=np.int64)
            key.sort(axis=1)
            yield s, e, key[:, :k] % n
        return
    qw, dw = _words(q), _words(db)
    # Distances (1-2 bytes) and the int64 sort order of whole rows.
    block = max(1, _BUDGET // (10 * n))
    for s in range(0, nq, block):
        e = min(s + block, nq)
        dist = _block_distances(qw[s:e], dw, bits)
        order = np.argsort(dist, axis=1, kind="stable")
        yield s, e, order[:, :k]


def ranked_relevance(
    q, ql, db, dl, bits: int, k: int, weighted=None, graded: bool = False
) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Yields (start, end, relevant (m, k)) for the first k items of each query's ranking:
    bool, or with ``graded`` the number of shared labels (uint8, int32 past 255 classes)."""
    if ql.ndim == 1:
        # Compact class codes: gathering 1-byte labels over whole rankings is much cheaper.
        _, inv = np.unique(np.concatenate([ql, dl]), return_inverse=True)
        dtype = np.uint8 if inv.max(initial=0) < 256 else np.int32
        inv = inv.astype(dtype)
        ql, dl = inv[: ql.shape[0]], inv[ql.shape[0] :]
    for s, e, pos in ranking(q, db, bits, k, weighted):
        if ql.ndim == 1:
            relk = ql[s:e, None] == dl[pos]
            if graded:
                relk = relk.view(np.uint8)
        elif graded:
            relk = np.take_along_axis(grades(ql[s:e], dl), pos, axis=1)
        else:
            relk = np.take_along_axis(relevance(ql[s:e], dl), pos, axis=1)
        yield s, e, relk
