"""Exact merge of per-shard results into the answer of one index holding every code.

One :class:`~deephash.FlatIndex` orders results by (distance, id, insertion order). Each shard
returns its own best entries in that order together with each entry's global insertion number
``seq``; sorting the union by (distance, id, seq) and keeping the first k therefore gives exactly
the single index's rows: an entry of the global top-k is in the top-k of its own shard, because
every entry that beats it inside the shard also beats it globally.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PAD_DISTANCE", "merge_knn", "merge_range"]

PAD_DISTANCE = 2**31 - 1  # FlatIndex's distance for missing results (inf when weighted)


def merge_knn(parts, nq: int, k: int, weighted: bool):
    """Merges per-shard k-NN rows.

    Parameters
    ----------
    parts : list of (distances (nq, k_s), ids (nq, k_s), seq (nq, k_s))
        Each shard's rows, no padding (``k_s = min(k, shard size)``).
    nq, k : int
    weighted : bool
        Distances are float32 (padding ``inf``) rather than int32 (padding ``2**31 - 1``).

    Returns
    -------
    distances : int32 or float32 (nq, k), ids : int64 (nq, k)
    """
    dtype = np.float32 if weighted else np.int32
    out_d = np.full((nq, k), np.inf if weighted else PAD_DISTANCE, dtype=dtype)
    out_i = np.full((nq, k), -1, dtype=np.int64)
    parts = [p for p in parts if p[0].shape[1]]
    width = sum(p[0].shape[1] for p in parts)
    if width == 0 or nq == 0:
        return out_d, out_i
    d = np.concatenate([p[0] for p in parts], axis=1)
    ids = np.concatenate([p[1] for p in parts], axis=1)
    take = min(k, width)
    fast = _merge_by_key(d, ids, take, weighted)
    if fast is not None:
        out_d[:, :take], out_i[:, :take] = fast
        return out_d, out_i
    seq = np.concatenate([p[2] for p in parts], axis=1)
    if width > k:
        # Only entries at or below each row's k-th smallest distance can be in its top k: sort
        # those (about k per row, more with ties) instead of all num_shards * k.
        kth = np.partition(d, k - 1, axis=1)[:, k - 1 : k]
        keep = d <= kth
    else:
        keep = np.ones(d.shape, dtype=bool)
    rows, cols = np.nonzero(keep)  # row-major: rows ascending
    dd, ii, ss = d[rows, cols], ids[rows, cols], seq[rows, cols]
    order = np.lexsort((ss, ii, dd, rows))
    starts = np.zeros(nq, dtype=np.int64)
    np.cumsum(keep.sum(axis=1)[:-1], out=starts[1:])
    sel = order[starts[:, None] + np.arange(take)[None, :]]
    out_d[:, :take] = dd[sel]
    out_i[:, :take] = ii[sel]
    return out_d, out_i


def _merge_by_key(d, ids, take: int, weighted: bool):
    """The common case in one sort: ids in [0, 2**32) and no (distance, id) pair twice in a row.

    Then (distance, id) orders the row completely (insertion numbers break no tie) and packs into
    one int64 key per entry: distance bits << 32 | id (a float32 distance >= 0, inf included,
    orders like its bit pattern). Each shard's row is already sorted, so a stable sort of the
    concatenated rows merges sorted runs in linear time. Returns None where the case does not
    hold (the caller sorts by (distance, id, insertion number)).
    """
    if ids.size == 0 or ids.min() < 0 or ids.max() >= 2**32:
        return None
    bits = d.view(np.int32) if weighted else d
    if bits.min() < 0:
        return None
    key = (bits.astype(np.int64) << 32) | ids
    key.sort(axis=1, kind="stable")
    if np.any(key[:, 1:] == key[:, :-1]):  # the same (distance, id) twice: needs insertion numbers
        return None
    key = key[:, :take]
    dist = (key >> 32).astype(np.int32)
    return (dist.view(np.float32) if weighted else dist), key & 0xFFFFFFFF


def merge_range(parts, nq: int, weighted: bool):
    """Merges per-shard range-search results (lims, distances, ids, seq) into (lims, d, ids)."""
    dtype = np.float32 if weighted else np.int32
    rows = [np.repeat(np.arange(nq), np.diff(p[0])) for p in parts]
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    d = np.concatenate([p[1] for p in parts]).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    ids = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    seq = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.int64)
    order = np.lexsort((seq, ids, d, r))
    lims = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=nq), out=lims[1:])
    return lims, d[order], ids[order].astype(np.int64, copy=False)
