"""Metrics of rankings that come from elsewhere: ids per query, e.g. the re-ranked shortlists
of :func:`deephash.rerank` or any ``index.search`` result.

The order is taken as given (no ties to resolve); -1 marks an empty slot (padding), which counts
as a non-relevant item.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .._typing import ArrayLike
from .._validate import _to_numpy, describe
from ._relevance import grade_levels, grade_totals, labels_array
from .average_precision import MeanAveragePrecision, ap_of_ranked, check_topk
from .precision import PrecisionAtN, _check_ns

__all__ = ["ranking_map", "ranking_precision_at_n"]

# Elements of a (queries, k, classes) block gathered at once for multi-hot labels.
_BUDGET = 1 << 24


def _check(ids, query_labels, db_labels):
    if isinstance(ids, (list, tuple)):
        ids = np.asarray(ids)
    arr = _to_numpy(ids, "ids") if not isinstance(ids, np.ndarray) else ids
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids must be an integer array (nq, k) of database rows, got {describe(arr)}")
    if arr.ndim != 2:
        raise ValueError(f"ids must be 2-D (nq, k), one ranking per row, got shape {arr.shape}")
    db_arr = np.asarray(db_labels) if not hasattr(db_labels, "shape") else db_labels
    n = int(db_arr.shape[0]) if len(db_arr.shape) else 0
    if n == 0:
        raise ValueError("db_labels is empty")
    ql = labels_array(query_labels, arr.shape[0], "query_labels", "ids")
    dl = labels_array(db_labels, n, "db_labels", "db_labels")
    if ql.ndim != dl.ndim or (ql.ndim == 2 and ql.shape[1] != dl.shape[1]):
        raise ValueError(
            "query_labels and db_labels must be of the same kind (both class ids (n,) or both "
            f"multi-hot with the same number of classes), got shapes {ql.shape} and {dl.shape}"
        )
    ids64 = arr.astype(np.int64)
    if ids64.size and (ids64.min() < -1 or ids64.max() >= n):
        raise ValueError(
            f"ids must be rows of db_labels (0..{n - 1}) or -1 for an empty slot, "
            f"got values in {int(ids64.min())}..{int(ids64.max())}"
        )
    return ids64, ql, dl


def _ranked_relevance(ids: np.ndarray, ql: np.ndarray, dl: np.ndarray) -> np.ndarray:
    """bool (nq, k): item ids[i, j] shares a label with query i (False for -1)."""
    valid = ids >= 0
    safe = np.where(valid, ids, 0)
    if ql.ndim == 1:
        return valid & (ql[:, None] == dl[safe])
    nq, k = ids.shape
    out = np.zeros((nq, k), bool)
    block = max(1, _BUDGET // max(k * ql.shape[1], 1))
    for s in range(0, nq, block):
        e = min(s + block, nq)
        out[s:e] = (dl[safe[s:e]] & ql[s:e, None, :]).any(axis=2)
    return out & valid


def ranking_map(
    ids: ArrayLike,
    query_labels: ArrayLike,
    db_labels: ArrayLike,
    topk: Optional[int] = None,
) -> MeanAveragePrecision:
    """Mean average precision of given rankings (e.g. mAP@k' of re-ranked shortlists).

    Parameters
    ----------
    ids : int array (nq, k')
        Row i: the database rows ranked for query i, best first (each listed once); -1 marks
        an empty slot, as in ``index.search`` padding.
    query_labels : int array (nq,) or 0/1 array (nq, c)
    db_labels : int array (n,) or 0/1 array (n, c)
        Labels of the database rows the ids refer to (relevant: at least one shared label).
    topk : int, optional
        Only the first topk entries of each row (default: all k').

    Returns
    -------
    MeanAveragePrecision
        AP of each row normalised by the relevant items within it (the mAP@K convention of
        :func:`mean_average_precision`); ``topk`` is the cut-off used (k' by default) and
        ``ties`` is ``"given"``.

    Raises
    ------
    TypeError
        ids are not integers, labels not class ids or 0/1 rows.
    ValueError
        ids not 2-D, a row count differing from query_labels, an id outside -1..n-1.
    """
    ids, ql, dl = _check(ids, query_labels, db_labels)
    k = check_topk(topk, ids.shape[1])
    k = ids.shape[1] if k is None else min(k, ids.shape[1])
    ap, nrel = ap_of_ranked(_ranked_relevance(ids[:, :k], ql, dl))
    m = float(ap.mean()) if ap.shape[0] else 0.0
    return MeanAveragePrecision(m, ap, k, "given", int(np.count_nonzero(nrel == 0)))


def ranking_precision_at_n(
    ids: ArrayLike,
    query_labels: ArrayLike,
    db_labels: ArrayLike,
    ns: Optional[ArrayLike] = None,
) -> PrecisionAtN:
    """Precision (and recall) of the first N entries of given rankings, for several N.

    Parameters
    ----------
    ids, query_labels, db_labels
        As in :func:`ranking_map`.
    ns : sequence of int in 1..k', optional
        Cut-offs (default: k' only). Empty slots (-1) count as non-relevant, so a row shorter
        than N is penalised as in :func:`precision_at_n`.

    Returns
    -------
    PrecisionAtN
        Recall is relative to all relevant items of ``db_labels``; ``ties`` is ``"given"``.
    """
    ids, ql, dl = _check(ids, query_labels, db_labels)
    if ns is not None and np.max(np.asarray(ns), initial=0) > ids.shape[1]:
        raise ValueError(f"cut-offs must lie in 1..{ids.shape[1]} (the ranking length), got {ns}")
    ns = _check_ns([ids.shape[1]] if ns is None else ns, ids.shape[1])
    relk = _ranked_relevance(ids, ql, dl)
    rel_at = np.cumsum(relk, axis=1)[:, ns - 1] if relk.size else np.zeros((ids.shape[0], ns.shape[0]))
    n_rel = grade_totals(ql, dl, grade_levels(ql, dl))[:, 1:].sum(axis=1)
    nq = ids.shape[0]
    precision = (rel_at / ns[None, :]).mean(axis=0) if nq else np.zeros(ns.shape[0])
    has = n_rel > 0
    recall = (rel_at[has] / n_rel[has, None]).mean(axis=0) if np.any(has) else np.zeros(ns.shape[0])
    return PrecisionAtN(ns, precision, recall, "given")
