"""Rankings by (Hamming distance, database position), computed by the engine.

Used where the order inside a tie matters (``ties="id"``): the database goes into a
:class:`deephash.FlatIndex` with ids 0..n-1, whose ``search`` returns each query's neighbours
sorted by (distance, id) -- exactly the (distance, position) ranking.
"""
from __future__ import annotations

from typing import Iterator, Tuple

import numpy as np

from ._relevance import relevance

__all__ = ["ranked_relevance", "ranking"]

# Bytes of search results held at once (ids int64 + distances int32 + relevance bool).
_BUDGET = 1 << 26


def _index(db: np.ndarray, bits: int):
    from ..index import FlatIndex

    index = FlatIndex(bits)
    index.add(db)
    return index


def ranking(q: np.ndarray, db: np.ndarray, bits: int, k: int, block: int = 0):
    """Yields (start, end, distances (m, k) int32, positions (m, k) int64) per block of queries."""
    index = _index(db, bits)
    nq = q.shape[0]
    if block <= 0:
        block = max(1, _BUDGET // (13 * k))
    for s in range(0, nq, block):
        e = min(s + block, nq)
        dist, ids = index.search(q[s:e], k)
        yield s, e, dist, ids


def ranked_relevance(q, ql, db, dl, bits: int, k: int) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Yields (start, end, relevant (m, k) bool) for the first k items of each query's ranking."""
    for s, e, _dist, ids in ranking(q, db, bits, k):
        if ql.ndim == 1:
            relk = ql[s:e, None] == dl[ids]
        else:
            relk = np.take_along_axis(relevance(ql[s:e], dl), ids, axis=1)
        yield s, e, relk
