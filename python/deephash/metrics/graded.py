"""Metrics with graded relevance (multi-label data): ACG@k, NDCG@k and DSRH's weighted mAP.

The grade r of a database item for a query is the number of labels they share (0 or 1 for class
ids). Ties follow :func:`deephash.metrics.mean_average_precision`: ``ties="average"`` is the
expected value over all orders within groups of items at equal distance (closed forms per
group, no sampling), ``ties="id"`` ranks by (distance, database position).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .._typing import ArrayLike
from .._validate import check_k
from ._groups import level_sum, tie_group_counts
from ._ranking import ranked_relevance
from ._relevance import check_pair, grade_levels, grade_totals
from ._tie_math import discount_prefix
from ._weighted import weighted_or_none
from .average_precision import (
    MeanAveragePrecision,
    _ap_average,
    _ap_by_id,
    _blocks,
    _result,
    check_ties,
    check_topk,
)

__all__ = ["GradedScore", "acg_at_k", "ndcg_at_k", "weighted_map"]


class GradedScore(NamedTuple):
    """Result of :func:`acg_at_k` and :func:`ndcg_at_k`.

    Attributes
    ----------
    value : float
        Mean over all queries of ``per_query`` (queries without a relevant item count 0).
    per_query : float64 array (nq,)
    k : int
        The cut-off used (the requested k, clipped to the database size).
    ties : str
        ``"average"`` or ``"id"``.
    n_no_relevant : int
        Queries sharing no label with any database item.
    """

    value: float
    per_query: np.ndarray
    k: int
    ties: str
    n_no_relevant: int

    def __float__(self) -> float:
        return float(self.value)


def _prepare(query_codes, query_labels, db_codes, db_labels, k, ties, weights):
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    ties = check_ties(ties)
    k = min(check_k(k), db.shape[0])
    return q, ql, db, dl, bits, k, ties, weighted_or_none(db, bits, weights, q.shape[0])


def _score(per_query: np.ndarray, k: int, ties: str, n_relevant: np.ndarray) -> GradedScore:
    value = float(per_query.mean()) if per_query.shape[0] else 0.0
    return GradedScore(value, per_query, k, ties, int(np.count_nonzero(n_relevant == 0)))


def _group_stats(counts: np.ndarray, k: int):
    """Per group (m, G): its items, the items before it, and how many of its items fall within k."""
    total = level_sum(counts)
    before = np.cumsum(total, axis=1) - total
    inside = np.clip(k - before, 0, total)
    return total, before, inside


def _ideal_dcg(level_totals: np.ndarray, k: int, D: np.ndarray) -> np.ndarray:
    """DCG@k of the ideal ranking (grades descending over the whole database), (nq,)."""
    levels = level_totals.shape[1]
    idcg = np.zeros(level_totals.shape[0])
    start = np.zeros(level_totals.shape[0], np.int64)
    for lev in range(levels - 1, 0, -1):
        end = start + level_totals[:, lev]
        idcg += (2.0**lev - 1) * (D[np.minimum(end, k)] - D[np.minimum(start, k)])
        start = end
    return idcg


def acg_at_k(
    query_codes: ArrayLike,
    query_labels: ArrayLike,
    db_codes: ArrayLike,
    db_labels: ArrayLike,
    k: int = 100,
    ties: str = "average",
    weights: Optional[ArrayLike] = None,
) -> GradedScore:
    """Average cumulative gain: the mean grade of the first k items of each query's ranking.

    ``ACG@k = (1 / k) * sum_{i=1..k} r_i``, with r_i the number of labels the item at rank i
    shares with the query (Zhao et al., "Deep semantic ranking based hashing", CVPR 2015).

    Parameters
    ----------
    query_codes : uint8 array (nq, bits // 8)
    query_labels : int array (nq,) or 0/1 array (nq, c)
    db_codes : uint8 array (n, bits // 8)
    db_labels : int array (n,) or 0/1 array (n, c)
    k : int >= 1
        Cut-off; clipped to the database size n.
    ties : {"average", "id"}
        As in :func:`mean_average_precision`: ``"average"``, the expected ACG over orders within
        equal distances (a group straddling rank k adds its mean grade per position inside);
        ``"id"``, rank by (distance, database position).
    weights : float32 array (bits,) or (nq, bits), optional
        Rank by the weighted Hamming distance (see :func:`mean_average_precision`).

    Returns
    -------
    GradedScore
    """
    q, ql, db, dl, bits, k, ties, weighted = _prepare(query_codes, query_labels, db_codes, db_labels, k, ties, weights)
    levels = grade_levels(ql, dl)
    acg = np.zeros(q.shape[0])
    if ties == "id":
        for s, e, gk in ranked_relevance(q, ql, db, dl, bits, k, weighted, graded=True):
            acg[s:e] = gk.sum(axis=1, dtype=np.int64) / k
        level_totals = grade_totals(ql, dl, levels)
    else:
        level_totals = np.zeros((q.shape[0], levels), np.int64)
        for s, e, c in tie_group_counts(q, ql, db, dl, bits, weighted):
            total, _, inside = _group_stats(c, k)
            grade_sum = level_sum(c, np.arange(levels))
            share = np.divide(inside, total, out=np.zeros(total.shape), where=total > 0)
            acg[s:e] = (grade_sum * share).sum(axis=1) / k
            level_totals[s:e] = c.sum(axis=1)
    return _score(acg, k, ties, level_totals[:, 1:].sum(axis=1))


def ndcg_at_k(
    query_codes: ArrayLike,
    query_labels: ArrayLike,
    db_codes: ArrayLike,
    db_labels: ArrayLike,
    k: int = 100,
    ties: str = "average",
    weights: Optional[ArrayLike] = None,
) -> GradedScore:
    """Normalised discounted cumulative gain of the first k items of each query's ranking.

    ``DCG@k = sum_{i=1..k} (2**r_i - 1) / log2(i + 1)`` with r_i the shared-label count of the
    item at rank i; ``NDCG@k = DCG@k / IDCG@k``, where IDCG@k is the DCG@k of the ideal ranking
    of the **whole database** (all items sorted by grade, descending). Queries sharing no label
    with any database item have IDCG = 0 and count 0 (``n_no_relevant`` says how many).

    Parameters
    ----------
    query_codes, query_labels, db_codes, db_labels, k, weights
        As in :func:`acg_at_k`.
    ties : {"average", "id"}
        ``"average"``: the expected DCG over orders within equal distances -- every position of
        a tie group has the group's mean gain in expectation, so the group adds
        ``mean gain * sum of its discounts within k``; ``"id"``: rank by (distance, position).

    Returns
    -------
    GradedScore
    """
    q, ql, db, dl, bits, k, ties, weighted = _prepare(query_codes, query_labels, db_codes, db_labels, k, ties, weights)
    levels = grade_levels(ql, dl)
    D = discount_prefix(db.shape[0])
    dcg = np.zeros(q.shape[0])
    if ties == "id":
        for s, e, gk in ranked_relevance(q, ql, db, dl, bits, k, weighted, graded=True):
            dcg[s:e] = (np.exp2(gk.astype(np.float64)) - 1.0) @ np.diff(D[: k + 1])
        level_totals = grade_totals(ql, dl, levels)
    else:
        level_totals = np.zeros((q.shape[0], levels), np.int64)
        gains = np.exp2(np.arange(levels, dtype=np.float64)) - 1.0
        for s, e, c in tie_group_counts(q, ql, db, dl, bits, weighted):
            total, before, inside = _group_stats(c, k)
            gain = level_sum(c, gains)
            mean_gain = np.divide(gain, total, out=np.zeros(total.shape), where=total > 0)
            dcg[s:e] = (mean_gain * (D[before + inside] - D[before])).sum(axis=1)
            level_totals[s:e] = c.sum(axis=1)
    idcg = _ideal_dcg(level_totals, k, D)
    ndcg = np.divide(dcg, idcg, out=np.zeros(dcg.shape[0]), where=idcg > 0)
    return _score(ndcg, k, ties, level_totals[:, 1:].sum(axis=1))


def weighted_map(
    query_codes: ArrayLike,
    query_labels: ArrayLike,
    db_codes: ArrayLike,
    db_labels: ArrayLike,
    topk: Optional[int] = None,
    ties: str = "average",
    weights: Optional[ArrayLike] = None,
) -> MeanAveragePrecision:
    """DSRH's weighted mean average precision: AP with ACG@p in place of precision@p.

    For one query, with r_p the shared-label count at rank p and R the relevant items (r > 0)::

        wAP = (1 / R) * sum_{p : r_p > 0} ACG@p,   ACG@p = (1 / p) * sum_{i <= p} r_i.

    With class ids (r in {0, 1}) it equals :func:`mean_average_precision`.

    Parameters
    ----------
    query_codes, query_labels, db_codes, db_labels, weights
        As in :func:`acg_at_k`.
    topk : int or None
        None: the whole ranking. K: positions p <= K only, normalised by the relevant items
        within the top K (the convention of ``mean_average_precision(topk=K)``).
    ties : {"average", "id"}
        ``"average"``: the expected wAP over orders within equal distances, in closed form
        (:mod:`deephash.metrics._tie_math`), including the group straddling K; ``"id"``: rank by
        (distance, database position).

    Returns
    -------
    MeanAveragePrecision
        ``map`` is the weighted mAP, ``ap`` the weighted AP of each query.
    """
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    ties = check_ties(ties)
    n = db.shape[0]
    k = check_topk(topk, n)
    kk = n if k is None else min(k, n)
    weighted = weighted_or_none(db, bits, weights, q.shape[0])
    if ties == "id":
        ap = _ap_by_id(q, ql, db, dl, bits, kk, weighted, graded=True)
    else:
        parts = []
        for _, _, c in tie_group_counts(q, ql, db, dl, bits, weighted):
            total = level_sum(c)
            grade_sum = level_sum(c, np.arange(c.shape[2]))
            parts.append(_ap_average(total, total - c[:, :, 0], kk, grade=grade_sum))
        ap = _blocks(parts)
    return _result(ap, k, ties)
