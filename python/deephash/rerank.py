"""Coarse-to-fine search: a Hamming shortlist from the engine, re-ranked by exact Euclidean
distance between real-valued vectors (DLBHC's retrieval, Lin et al., CVPR 2015 workshops; it
works with any method's real-valued outputs: latent layers, relaxed codes or features).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ._typing import ArrayLike, Ids, NDArray
from ._validate import as_codes, as_ids, check_k, check_radius, describe
from .index import BinaryIndex

__all__ = ["rerank"]

# Float64 elements of (pairs, dim) differences held at once.
_BUDGET = 1 << 23


def _vectors(x, name: str) -> np.ndarray:
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a float numpy array (n, dim), got {describe(x)}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be float32 or float64 vectors (n, dim), got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, dim), got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return x


def _row_lookup(index, n_rows: int, db_ids) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Checks that every id in the index has a row; returns (sorted ids, their rows) for
    ``db_ids`` (None when ids are the rows themselves)."""
    stored = np.asarray(index.ids)
    if db_ids is None:
        if stored.size and (stored.min() < 0 or stored.max() >= n_rows):
            raise ValueError(
                f"db_vectors has {n_rows} rows, but the index holds ids in "
                f"{int(stored.min())}..{int(stored.max())}; row i of db_vectors must belong to "
                "the code with id i, or pass db_ids= to map the ids to rows"
            )
        return None
    ids = as_ids(db_ids, n_rows, "db_ids")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if sorted_ids.size > 1 and np.any(sorted_ids[1:] == sorted_ids[:-1]):
        raise ValueError("db_ids must be unique (one vector per id)")
    missing = ~np.isin(stored, sorted_ids)
    if np.any(missing):
        raise ValueError(
            f"{int(missing.sum())} id(s) of the index have no row in db_vectors (e.g. id "
            f"{int(stored[missing][0])} is not in db_ids)"
        )
    return sorted_ids, order


def rerank(
    index: BinaryIndex,
    query_codes: ArrayLike,
    query_vectors: ArrayLike,
    db_vectors: ArrayLike,
    k: int,
    shortlist: Optional[int] = None,
    radius: Optional[int] = None,
    db_ids: Optional[ArrayLike] = None,
    weights: Optional[ArrayLike] = None,
) -> Tuple[NDArray[np.float32], Ids]:
    """Exact k nearest neighbours by Euclidean distance within a Hamming shortlist.

    Step 1 (coarse): the index returns each query's candidates -- its ``shortlist`` nearest
    codes (``index.search``), or every code within Hamming distance ``radius``
    (``index.range_search``). Step 2 (fine): the candidates are ranked by the Euclidean
    distance between the query's vector and theirs, and the first k are returned.

    Parameters
    ----------
    index : FlatIndex, MultiIndex or GpuFlatIndex
        Holds the database codes.
    query_codes : uint8 array (nq, bits // 8)
    query_vectors : float array (nq, dim)
        Real-valued vectors of the queries (numpy or CPU torch tensor).
    db_vectors : float array (n, dim)
        Row i belongs to the code with id i, unless ``db_ids`` is given.
    k : int >= 1
        Results per query.
    shortlist : int >= 1, optional
        Candidates per query from the Hamming ranking (default ``10 * k`` when no radius).
    radius : int >= 0, optional
        Instead of ``shortlist``: every code within this Hamming distance (inclusive; a float
        with ``weights``). Give one of the two, not both.
    db_ids : int array (n,), optional
        ``db_ids[i]`` is the id of the code that row i of db_vectors belongs to (unique).
    weights : float32 array (bits,) or (nq, bits), optional
        Weighted Hamming distance for the shortlist (see ``BinaryIndex.search``).

    Returns
    -------
    distances : float32 array (nq, k)
        Euclidean distances (computed in float64, rounded to float32).
    ids : int64 array (nq, k)
        Rows sorted by (distance, id); with fewer than k candidates, padded with id -1 and
        distance ``inf`` (as a weighted search pads).

    Raises
    ------
    TypeError
        Vectors not float, ids not integers, k or shortlist not an int.
    ValueError
        Shapes disagree (rows of query_vectors vs query_codes, dims of the two vector sets),
        an id of the index has no vector (a mismatch), duplicate db_ids, both shortlist and
        radius given.
    """
    k = check_k(k)
    if shortlist is not None and radius is not None:
        raise ValueError("give shortlist (k' candidates) or radius, not both")
    qv = _vectors(query_vectors, "query_vectors")
    dbv = _vectors(db_vectors, "db_vectors")
    if dbv.shape[1] != qv.shape[1]:
        raise ValueError(
            f"query_vectors and db_vectors must have the same dimension, got {qv.shape[1]} and {dbv.shape[1]}"
        )
    nq = qv.shape[0]
    if not isinstance(index, BinaryIndex):
        raise TypeError(f"index must be a deephash index (FlatIndex, MultiIndex), got {describe(index)}")
    query_codes = as_codes(query_codes, index.bits, "query_codes")
    if query_codes.shape[0] != nq:
        raise ValueError(f"query_vectors must have one row per query code ({query_codes.shape[0]}), got {nq}")
    lookup = _row_lookup(index, dbv.shape[0], db_ids)
    if radius is None:
        shortlist = 10 * k if shortlist is None else check_k(shortlist, "shortlist")
        cand = index.search(query_codes, shortlist, weights=weights)[1]
        query_of = np.repeat(np.arange(nq, dtype=np.int64), cand.shape[1])
        cand = cand.ravel()
        keep = cand >= 0
        query_of, cand = query_of[keep], cand[keep]
    else:
        if weights is None:
            radius = check_radius(radius)
        lims, _, cand = index.range_search(query_codes, radius, weights=weights)
        query_of = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
    rows = cand if lookup is None else lookup[1][np.searchsorted(lookup[0], cand)]
    dist = np.empty(cand.shape[0])
    step = max(1, _BUDGET // max(qv.shape[1], 1))
    for s in range(0, cand.shape[0], step):
        e = min(s + step, cand.shape[0])
        # float64 differences (no cancellation, unlike |q|^2 + |x|^2 - 2 q.x), cast on the fly.
        diff = np.subtract(dbv[rows[s:e]], qv[query_of[s:e]], dtype=np.float64)
        dist[s:e] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    dist32 = dist.astype(np.float32)
    # One sort of every candidate by (query, distance, id); the first k of each query win.
    order = np.lexsort((cand, dist32, query_of))
    query_of, dist32, cand = query_of[order], dist32[order], cand[order]
    counts = np.bincount(query_of, minlength=nq)
    starts = np.cumsum(counts) - counts
    rank = np.arange(cand.shape[0]) - starts[query_of]
    top = rank < k
    out_d = np.full((nq, k), np.inf, np.float32)
    out_i = np.full((nq, k), -1, np.int64)
    out_d[query_of[top], rank[top]] = dist32[top]
    out_i[query_of[top], rank[top]] = cand[top]
    return out_d, out_i
