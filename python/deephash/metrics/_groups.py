"""Counts of database items per query, tie group and relevance grade: what every tie-aware
metric of a ranking by distance needs.

A tie group is the set of database items at one distance from the query; groups come in order
of increasing distance. ``counts[i, g, l]`` is the number of items of query i's g-th group whose
grade (shared labels, see :func:`._relevance.grades`) is l. With plain Hamming distances the
groups are the distances 0..bits (empty groups included; they contribute nothing); with weighted
distances they are the distinct distances of each query's row, found by sorting, with runs of
groups that hold no relevant item merged into one (see below), and rows are padded with empty
groups to a common width.
"""

from __future__ import annotations

from typing import Iterator, Tuple

import numpy as np

from ._histograms import _BLOCK, _block_distances, _histograms, _words
from ._relevance import grade_levels, grades

__all__ = ["level_sum", "tie_group_counts"]

# Entries of a block's (m, groups, levels) count array and (m, n) keys held at once.
_BUDGET = 1 << 22


def level_sum(counts: np.ndarray, coef=None) -> np.ndarray:
    """(m, groups): sum over levels l of coef[l] * counts[:, :, l] (coef None: all ones).

    A loop over the few levels: numpy reduces a short last axis (or multiplies int matrices)
    several times slower than it adds whole slices.
    """
    levels = counts.shape[2]
    coef = np.ones(levels, np.int64) if coef is None else np.asarray(coef)
    out = np.zeros(counts.shape[:2], np.result_type(counts.dtype, coef.dtype))
    for lev in range(levels):
        if coef[lev] != 0:
            out += coef[lev] * counts[:, :, lev]
    return out


def tie_group_counts(
    q, ql, db, dl, bits: int, weighted=None, binary: bool = False
) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Yields (start, end, counts (m, groups, levels) int64) per block of queries.

    ``binary``: levels are 0 (not relevant) and 1 (relevant, i.e. any shared label) instead of
    the number of shared labels.
    """
    levels = 2 if binary else grade_levels(ql, dl)
    if weighted is None and (binary or ql.ndim == 1):
        # Two levels: the relevant / all histograms (class ids take a sort-free fast path there).
        hist = _histograms(q, ql, db, dl, bits)
        yield 0, q.shape[0], np.stack([hist.total - hist.relevant, hist.relevant], axis=2)
        return
    nq, n = q.shape[0], db.shape[0]
    if weighted is None:
        nb = bits + 1
        qw, dw = _words(q), _words(db)
        for s in range(0, nq, _BLOCK):
            e = min(s + _BLOCK, nq)
            m = e - s
            key = _block_distances(qw[s:e], dw, bits).astype(np.int64)
            key += (np.arange(m, dtype=np.int64) * nb)[:, None]
            key *= levels
            key += grades(ql[s:e], dl)
            counts = np.bincount(key.ravel(), minlength=m * nb * levels)
            yield s, e, counts.reshape(m, nb, levels)
        return
    # Weighted: sort (distance, grade) keys per row; a group starts where the distance changes.
    block = max(1, _BUDGET // (n * levels))
    dtype = np.int32 if (1 << 22) * levels < 2**31 else np.int64
    for s in range(0, nq, block):
        e = min(s + block, nq)
        m = e - s
        key = weighted.block(q[s:e], s).astype(dtype)
        key *= levels
        g = grades(ql[s:e], dl) > 0 if binary else grades(ql[s:e], dl)
        key += g.astype(dtype)
        key.sort(axis=1)
        grade = key % levels
        change = key[:, 1:] // levels != key[:, :-1] // levels
        # Weighted distances rarely tie, so most groups hold one item. Runs of groups with no
        # relevant item merge into one: items of grade 0 add nothing to any metric here, and
        # merging keeps every other group's position (and the expectations need no more).
        group = np.zeros((m, n), np.int64)
        np.cumsum(change, axis=1, out=group[:, 1:])
        group += (np.arange(m, dtype=np.int64) * n)[:, None]
        has = np.zeros(m * n, bool)
        has[group[grade > 0]] = True
        has = has[group]
        change &= has[:, 1:] | has[:, :-1]
        group[:, 0] = 0
        np.cumsum(change, axis=1, out=group[:, 1:])
        width = int(group[:, -1].max()) + 1
        flat = ((np.arange(m, dtype=np.int64) * width)[:, None] + group) * levels + grade
        counts = np.bincount(flat.ravel(), minlength=m * width * levels)
        yield s, e, counts.reshape(m, width, levels)
