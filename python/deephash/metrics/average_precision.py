"""Mean average precision of Hamming ranking, with explicit handling of ties."""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .._validate import check_k
from ._histograms import _histograms
from ._ranking import ranked_relevance
from ._relevance import check_pair
from ._tie_math import group_precision_sum, harmonic, hypergeom_pmf, log_factorial

__all__ = ["MeanAveragePrecision", "mean_average_precision"]

TIES = ("average", "id")


class MeanAveragePrecision(NamedTuple):
    """Result of :func:`mean_average_precision`.

    Attributes
    ----------
    map : float
        Mean over all queries of ``ap`` (queries without a relevant item count 0).
    ap : float64 array (nq,)
        Average precision of each query.
    topk : int or None
        The cut-off used (None: the whole ranking, mAP@ALL).
    ties : str
        ``"average"`` or ``"id"``.
    n_no_relevant : int
        Queries with no relevant item in the database (or, with topk, none within the top K);
        their AP is 0.
    """

    map: float
    ap: np.ndarray
    topk: Optional[int]
    ties: str
    n_no_relevant: int

    def __float__(self) -> float:
        return float(self.map)


def check_topk(topk, n: int) -> Optional[int]:
    """None (the whole ranking) or a positive int."""
    return None if topk is None else check_k(topk, "topk")


def check_ties(ties) -> str:
    if ties not in TIES:
        raise ValueError(f"ties must be 'average' or 'id', got {ties!r}")
    return ties


def mean_average_precision(
    query_codes, query_labels, db_codes, db_labels, topk=None, ties: str = "average"
) -> MeanAveragePrecision:
    """Mean average precision (mAP) of ranking the database by Hamming distance to each query.

    Parameters
    ----------
    query_codes : uint8 array (nq, bits // 8)
        Packed codes (see :func:`deephash.pack_bits`).
    query_labels : int array (nq,) or 0/1 array (nq, c)
        Class ids, or multi-hot rows. A database item is relevant to a query when they share at
        least one label.
    db_codes : uint8 array (n, bits // 8)
    db_labels : int array (n,) or 0/1 array (n, c)
    topk : int or None
        None: mAP over the whole ranking (mAP@ALL). K: AP of the first K items, normalised the
        way the deep-hashing literature does (DPSH, DSH, HashNet, DeepHash-pytorch): by the
        number of relevant items retrieved within the top K, **not** by all relevant items::

            AP@K = (1 / R_K) * sum_{k <= K, item k relevant} precision@k,

        with R_K the relevant items among the first K (AP@K = 0 when R_K = 0). For K >= n this
        equals mAP@ALL.
    ties : {"average", "id"}
        Hamming distances take only bits + 1 values, so most items are tied and the order
        within a tie changes the result. ``"id"``: rank by (distance, database position) -- the
        result then depends on the database order (the standard protocols shuffle it with a
        fixed seed); this is what ``FlatIndex.search`` returns. ``"average"`` (default): the
        tie-aware AP of McSherry & Najork (ECIR 2008), the expected AP over all orders within
        each group of tied items, computed in closed form per distance; it does not depend on
        the database order. With ``topk``, a tie group straddling position K contributes its
        exact expected value too: AP@K is averaged over the hypergeometric number x of the
        group's relevant items that fall inside the top K (so both the sum of precisions and
        the normaliser R_K vary with x, and ``E[sum / R_K]`` is returned, not a ratio of
        expectations).

    Returns
    -------
    MeanAveragePrecision
        ``float(result)`` is the mAP.

    Notes
    -----
    ``ties="average"`` works from per-query distance histograms (vectorised popcount in
    blocks of queries), with no sort: 1,000 queries against 59,000 codes take about 0.2-0.4 s on
    two cores. ``ties="id"`` needs the ranking itself: for top-k with k a small share of the
    database it comes from the engine (``deephash.FlatIndex.search``, sorted by (distance,
    id)), otherwise from a stable radix sort of each distance row -- the same order.
    """
    q, ql, db, dl, bits = check_pair(query_codes, query_labels, db_codes, db_labels)
    ties = check_ties(ties)
    n = db.shape[0]
    k = check_topk(topk, n)
    kk = n if k is None else min(k, n)
    if ties == "id":
        ap = _ap_by_id(q, ql, db, dl, bits, kk)
    else:
        ap = _ap_average(_histograms(q, ql, db, dl, bits), kk)
    return _result(ap, k, ties)


def _result(ap_and_nrel, k, ties) -> MeanAveragePrecision:
    ap, nrel = ap_and_nrel
    m = float(ap.mean()) if ap.shape[0] else 0.0
    return MeanAveragePrecision(m, ap, k, ties, int(np.count_nonzero(nrel == 0)))


def _ap_average(hist, k: int):
    """Tie-aware AP@k from histograms; returns (ap (nq,), expected relevant within k (nq,))."""
    total, rel = hist.total, hist.relevant
    nq = total.shape[0]
    n = int(total[0].sum()) if nq else 0
    H = harmonic(n + 1)
    cum_n = np.cumsum(total, axis=1)
    cum_r = np.cumsum(rel, axis=1)
    before_n = cum_n - total
    before_r = cum_r - rel
    contrib = group_precision_sum(total, rel, before_n, before_r, H)
    if k >= n:
        sums = contrib.sum(axis=1)
        nrel = cum_r[:, -1]
        ap = np.divide(sums, nrel, out=np.zeros(nq), where=nrel > 0)
        return ap, nrel
    inside = cum_n <= k
    sums_inside = np.where(inside, contrib, 0.0).sum(axis=1)
    r_inside = np.where(inside, rel, 0).sum(axis=1)
    ap = np.divide(sums_inside, r_inside, out=np.zeros(nq), where=r_inside > 0)
    nrel = r_inside.astype(np.float64)
    # The straddling group g (first group with cum_n > k), of which m = k - before_n items
    # fall inside the top k (0 < m < size when it truly straddles).
    g = np.argmax(~inside, axis=1)
    rows = np.arange(nq)
    N = before_n[rows, g]
    m = k - N
    size = total[rows, g]
    rg = rel[rows, g]
    straddle = (m > 0) & (rg > 0)
    if np.any(straddle):
        lf = log_factorial(n + 1)
        for i in np.nonzero(straddle)[0]:
            x, p = hypergeom_pmf(int(size[i]), int(rg[i]), int(m[i]), lf)
            R = int(r_inside[i])
            t = group_precision_sum(m[i], x, N[i], R, H)
            denom = R + x
            vals = np.divide(sums_inside[i] + t, denom, out=np.zeros(x.shape[0]), where=denom > 0)
            ap[i] = float(np.dot(p, vals))
            nrel[i] = R + float(np.dot(p, x))
    return ap, nrel


def _ap_by_id(q, ql, db, dl, bits, k: int):
    """AP@k ranking by (distance, position); returns (ap (nq,), relevant within k (nq,))."""
    nq = q.shape[0]
    ap = np.zeros(nq)
    nrel = np.zeros(nq, np.int64)
    for s, e, relk in ranked_relevance(q, ql, db, dl, bits, k):
        # Work on the relevant items only: the j-th relevant item of a row, at 0-based rank c,
        # contributes precision j / (c + 1).
        rows, cols = np.nonzero(relk)
        counts = np.bincount(rows, minlength=e - s)
        starts = np.cumsum(counts) - counts
        j = np.arange(1, rows.shape[0] + 1) - starts[rows]
        sums = np.bincount(rows, weights=j / (cols + 1.0), minlength=e - s)
        ap[s:e] = np.divide(sums, counts, out=np.zeros(e - s), where=counts > 0)
        nrel[s:e] = counts
    return ap, nrel
