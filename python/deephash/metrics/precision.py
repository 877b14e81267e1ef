"""Precision within a Hamming radius, precision-recall over radii, and precision@N."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .._typing import ArrayLike
from .._validate import check_radius, describe
from ._histograms import _histograms
from ._ranking import ranked_relevance
from ._relevance import check_pair
from .average_precision import check_ties

__all__ = [
    "PrecisionAtN",
    "PrecisionRecallCurve",
    "RadiusPrecision",
    "precision_at_n",
    "precision_at_radius",
    "precision_recall_curve",
]


class RadiusPrecision(NamedTuple):
    """Result of :func:`precision_at_radius`.

    Attributes
    ----------
    precision : float
        Mean over all queries of (relevant items within the radius) / (items within the
        radius); a query that retrieves nothing counts 0 (hash-lookup convention).
    recall : float
        Mean over queries with at least one relevant item of (relevant within radius) /
        (relevant in the database).
    radius : int
    n_empty : int
        Queries with no database item within the radius.
    per_query : float64 array (nq,)
        Precision of each query (0 for empty ones).
    """

    precision: float
    recall: float
    radius: int
    n_empty: int
    per_query: np.ndarray

    def __float__(self) -> float:
        return float(self.precision)


class PrecisionRecallCurve(NamedTuple):
    """Result of :func:`precision_recall_curve`: one point per Hamming radius 0..bits.

    Attributes
    ----------
    radius : int64 array (bits + 1,)
    precision : float64 array (bits + 1,)
        Mean precision within each radius (queries retrieving nothing count 0).
    recall : float64 array (bits + 1,)
        Mean recall within each radius over queries with at least one relevant item.
    n_empty : int64 array (bits + 1,)
        Queries retrieving nothing within each radius.
    """

    radius: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_empty: np.ndarray


class PrecisionAtN(NamedTuple):
    """Result of :func:`precision_at_n`.

    Attributes
    ----------
    n : int64 array (m,)
        The cut-offs.
    precision : float64 array (m,)
        Mean over queries of (relevant among the first N) / N.
    recall : float64 array (m,)
        Mean over queries with at least one relevant item of (relevant among the first N) /
        (relevant in the database).
    ties : str
    """

    n: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    ties: str


def _radius_stats(hist, radius: int):
    """Per query: items and relevant items within distance <= radius."""
    r = min(radius, hist.bits)
    within = hist.total[:, : r + 1].sum(axis=1)
    rel_within = hist.relevant[:, : r + 1].sum(axis=1)
    return within, rel_within


def _mean_recall(rel_within, n_rel) -> float:
    has = n_rel > 0
    if not np.any(has):
        return 0.0
    return float((rel_within[has] / n_rel[has]).mean())


def precision_at_radius(
    query_codes: ArrayLike, query_labels: ArrayLike, db_codes: ArrayLike, db_labels: ArrayLike, radius: int = 2
) -> RadiusPrecision:
    """Precision of hash lookup: the database items within Hamming distance <= radius.

    Parameters
    ----------
    query_codes : uint8 array (nq, bits // 8)
    query_labels : int array (nq,) or 0/1 array (nq, c)
    db_codes : uint8 array (n, bits // 8)
    db_labels : int array (n,) or 0/1 array (n, c)
    radius : int >= 0
        Inclusive Hamming radius (2 is the field's usual "P@r=2").

    Returns
    -------
    RadiusPrecision
        Queries with nothing within the radius count as precision 0; ``n_empty`` says how many
        there were. (Ties do not matter here: a radius takes whole tie groups.)
    """
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    radius = check_radius(radius)
    hist = _histograms(q, ql, db, dl, bits)
    within, rel_within = _radius_stats(hist, radius)
    per_query = np.divide(rel_within, within, out=np.zeros(q.shape[0]), where=within > 0)
    prec = float(per_query.mean()) if q.shape[0] else 0.0
    return RadiusPrecision(
        prec,
        _mean_recall(rel_within, hist.n_relevant),
        radius,
        int(np.count_nonzero(within == 0)),
        per_query,
    )


def precision_recall_curve(
    query_codes: ArrayLike,
    query_labels: ArrayLike,
    db_codes: ArrayLike,
    db_labels: ArrayLike,
) -> PrecisionRecallCurve:
    """Precision and recall of hash lookup at every Hamming radius 0..bits.

    Same conventions as :func:`precision_at_radius` (queries retrieving nothing count 0 in the
    precision; recall averages over queries with a relevant item).
    """
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    hist = _histograms(q, ql, db, dl, bits)
    within = np.cumsum(hist.total, axis=1)
    rel_within = np.cumsum(hist.relevant, axis=1)
    n_rel = hist.n_relevant
    nq = q.shape[0]
    prec = np.divide(rel_within, within, out=np.zeros(within.shape), where=within > 0)
    has = n_rel > 0
    if np.any(has):
        recall = (rel_within[has] / n_rel[has, None]).mean(axis=0)
    else:
        recall = np.zeros(bits + 1)
    return PrecisionRecallCurve(
        np.arange(bits + 1, dtype=np.int64),
        prec.mean(axis=0) if nq else np.zeros(bits + 1),
        recall,
        np.count_nonzero(within == 0, axis=0).astype(np.int64),
    )


def _check_ns(ns, n_db: int) -> np.ndarray:
    if ns is None:
        ns = np.unique(np.linspace(1, n_db, num=min(n_db, 20)).round().astype(np.int64))
        return ns
    arr = np.atleast_1d(np.asarray(ns))
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ns must be integer cut-offs, got {describe(arr)}")
    arr = arr.astype(np.int64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"ns must be a non-empty list of cut-offs, got {describe(ns)}")
    if arr.min() < 1 or arr.max() > n_db:
        raise ValueError(f"cut-offs must lie in 1..{n_db} (the database size), got {arr.tolist()}")
    return arr


def precision_at_n(
    query_codes: ArrayLike,
    query_labels: ArrayLike,
    db_codes: ArrayLike,
    db_labels: ArrayLike,
    ns: Optional[ArrayLike] = None,
    ties: str = "average",
) -> PrecisionAtN:
    """Precision (and recall) of the first N items of the Hamming ranking, for several N.

    Parameters
    ----------
    query_codes, query_labels, db_codes, db_labels
        As in :func:`deephash.metrics.mean_average_precision`.
    ns : sequence of int in 1..n, optional
        Cut-offs (default: 20 points evenly spread over 1..n).
    ties : {"average", "id"}
        ``"average"``: expected value over orders within ties (a tie group straddling N
        contributes N' * r / size relevant items for its N' positions inside); ``"id"``: rank
        by (distance, database position) with the engine.

    Returns
    -------
    PrecisionAtN
    """
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    ties = check_ties(ties)
    ns = _check_ns(ns, db.shape[0])
    nq = q.shape[0]
    if ties == "average":
        hist = _histograms(q, ql, db, dl, bits)
        n_rel = hist.n_relevant
        cum_n = np.cumsum(hist.total, axis=1)
        cum_r = np.cumsum(hist.relevant, axis=1)
        rel_at = np.zeros((nq, ns.shape[0]))
        for j, cut in enumerate(ns):
            g = np.argmax(cum_n >= cut, axis=1)
            rows = np.arange(nq)
            before_n = cum_n[rows, g] - hist.total[rows, g]
            before_r = cum_r[rows, g] - hist.relevant[rows, g]
            frac = (cut - before_n) / hist.total[rows, g]
            rel_at[:, j] = before_r + frac * hist.relevant[rows, g]
    else:
        kmax = int(ns.max())
        rel_at = np.zeros((nq, ns.shape[0]))
        n_rel = np.zeros(nq, np.int64)
        for s, e, relk in ranked_relevance(q, ql, db, dl, bits, kmax):
            cum = np.cumsum(relk, axis=1)
            rel_at[s:e] = cum[:, ns - 1]
        # Recall needs the total relevant count per query, which the top-k ranking lacks.
        hist = _histograms(q, ql, db, dl, bits)
        n_rel = hist.n_relevant
    precision = (rel_at / ns[None, :]).mean(axis=0) if nq else np.zeros(ns.shape[0])
    has = n_rel > 0
    recall = (rel_at[has] / n_rel[has, None]).mean(axis=0) if np.any(has) else np.zeros(ns.shape[0])
    return PrecisionAtN(ns, precision, recall, ties)
