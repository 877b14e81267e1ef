"""Per-query histograms of Hamming distances, split into relevant and all database items.

Hamming distances between b-bit codes take only b + 1 values, so everything the tie-aware
metrics need (mAP, precision within a radius, precision@N, PR curves) is a function of two
counts per query and distance: how many database items lie at distance d, and how many of
those are relevant. No ranking (sort) is needed, which is why this is faster than sorting
(``FlatIndex.search`` with k = n) for whole-database metrics.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._typing import ArrayLike, NDArray
from ._relevance import check_pair, relevance

__all__ = ["DistanceHistograms", "distance_histograms", "hamming_distances"]

# Queries per block: a block's distance matrix is block * n_db bytes (59 MB for 1,000 x 59,000).
_BLOCK = 128


class DistanceHistograms(NamedTuple):
    """Counts of database items per query and Hamming distance.

    Attributes
    ----------
    total : int64 array (nq, bits + 1)
        ``total[i, d]``: database items at distance d from query i.
    relevant : int64 array (nq, bits + 1)
        ``relevant[i, d]``: those of them that share a label with query i.
    """

    total: np.ndarray
    relevant: np.ndarray

    @property
    def bits(self) -> int:
        return self.total.shape[1] - 1

    @property
    def n_relevant(self) -> np.ndarray:
        """int64 (nq,): relevant database items per query."""
        return self.relevant.sum(axis=1)


def _words(codes: np.ndarray) -> np.ndarray:
    """Views (n, nbytes) uint8 codes as (n, w) unsigned words, zero-padding each row.

    Codes of up to 8 bytes become one word of the smallest sufficient width (fewest passes,
    smallest temporaries); longer codes become uint64 words. Zero padding leaves Hamming
    distances unchanged.
    """
    nbytes = codes.shape[1]
    width = 8
    for w in (1, 2, 4):
        if nbytes <= w:
            width = w
            break
    padded = -(-nbytes // width) * width
    if padded != nbytes:
        out = np.zeros((codes.shape[0], padded), np.uint8)
        out[:, :nbytes] = codes
        codes = out
    dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]
    return np.ascontiguousarray(codes).view(dtype)


def _block_distances(q_words: np.ndarray, db_words: np.ndarray, bits: int) -> np.ndarray:
    """(m, n) Hamming distances; uint8 when bits < 256, else uint16."""
    out = np.bitwise_count(q_words[:, None, 0] ^ db_words[None, :, 0])
    if q_words.shape[1] > 1:
        if bits > 255:
            out = out.astype(np.uint16)
        for w in range(1, q_words.shape[1]):
            out += np.bitwise_count(q_words[:, None, w] ^ db_words[None, :, w])
    return out


def hamming_distances(query_codes: NDArray[np.uint8], db_codes: NDArray[np.uint8]) -> NDArray[np.int32]:
    """Dense Hamming distance matrix (for small inputs and tests).

    Parameters
    ----------
    query_codes : uint8 array (nq, bits // 8)
    db_codes : uint8 array (n, bits // 8)

    Returns
    -------
    int32 array (nq, n)
    """
    for name, c in (("query_codes", query_codes), ("db_codes", db_codes)):
        if not isinstance(c, np.ndarray) or c.dtype != np.uint8:
            got = f"dtype {c.dtype}" if isinstance(c, np.ndarray) else type(c).__name__
            raise TypeError(f"{name} must be a numpy array of packed uint8 codes (deephash.pack_bits), got {got}")
    q = np.ascontiguousarray(query_codes)
    db = np.ascontiguousarray(db_codes)
    if q.ndim != 2 or db.ndim != 2 or q.shape[1] != db.shape[1]:
        raise ValueError(f"codes must be 2-D with the same width, got shapes {q.shape} and {db.shape}")
    return _block_distances(_words(q), _words(db), q.shape[1] * 8).astype(np.int32)


def distance_histograms(
    query_codes: ArrayLike,
    query_labels: ArrayLike,
    db_codes: ArrayLike,
    db_labels: ArrayLike,
) -> DistanceHistograms:
    """Counts database items (all, and relevant) at each Hamming distance from each query.

    Parameters
    ----------
    query_codes : uint8 array (nq, bits // 8)
    query_labels : int array (nq,) or 0/1 array (nq, c)
    db_codes : uint8 array (n, bits // 8)
    db_labels : int array (n,) or 0/1 array (n, c)

    Returns
    -------
    DistanceHistograms
    """
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    return _histograms(q, ql, db, dl, bits)


def _histograms(q, ql, db, dl, bits) -> DistanceHistograms:
    nq, nb = q.shape[0], bits + 1
    total = np.zeros((nq, nb), np.int64)
    rel = np.zeros((nq, nb), np.int64)
    if ql.ndim == 1:
        # Class ids: sort the database by class once; a query's relevant items are then one
        # contiguous block, so its relevant histogram is a bincount over that block only.
        order = np.argsort(dl, kind="stable")
        dl_sorted = dl[order]
        db = db[order]
        classes, starts = np.unique(dl_sorted, return_index=True)
        ends = np.append(starts[1:], dl_sorted.shape[0])
    qw, dw = _words(q), _words(np.ascontiguousarray(db))
    for s in range(0, nq, _BLOCK):
        e = min(s + _BLOCK, nq)
        m = e - s
        dist = _block_distances(qw[s:e], dw, bits)
        key = dist + (np.arange(m, dtype=np.int32) * nb)[:, None]
        if ql.ndim == 1:
            total[s:e] = np.bincount(key.ravel(), minlength=m * nb).reshape(m, nb)
            qlab = ql[s:e]
            pos = np.searchsorted(classes, qlab)
            pos_ok = (pos < classes.shape[0]) & (classes[np.minimum(pos, len(classes) - 1)] == qlab)
            for c in np.unique(pos[pos_ok]):
                rows = np.nonzero(pos_ok & (pos == c))[0]
                block = key[rows, starts[c] : ends[c]]
                h = np.bincount(block.ravel(), minlength=m * nb).reshape(m, nb)
                rel[s + rows] = h[rows]
        else:
            # One bincount over (distance, relevant) keys gives both histograms (cheaper than a
            # second bincount over the relevant keys gathered by a mask).
            key *= 2
            key += relevance(ql[s:e], dl)
            both = np.bincount(key.ravel(), minlength=2 * m * nb).reshape(m, nb, 2)
            total[s:e] = both[:, :, 0] + both[:, :, 1]
            rel[s:e] = both[:, :, 1]
    return DistanceHistograms(total, rel)
