"""Validation of codes and labels for the metrics, and the relevance relation.

Labels are either integer class ids of shape (n,) or multi-hot rows of shape (n, c); a query and
a database item are relevant to each other when they share at least one label. Graded relevance
(the grade) is the number of labels they share: 0 or 1 for class ids, 0..c for multi-hot rows.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_codes, describe

__all__ = ["check_pair", "grade_levels", "grade_totals", "grades", "labels_array", "relevance"]


def labels_array(labels, n: int, name: str, codes_name: str) -> np.ndarray:
    """Validates labels: n class ids (int64) or n multi-hot rows (bool)."""
    mod = type(labels).__module__
    if mod.startswith("torch") and hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be integer class ids (n,) or multi-hot 0/1 rows (n, c), got {describe(arr)}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, c), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one row per code in {codes_name} ({n}), got {arr.shape[0]}")
    if arr.ndim == 2:
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"multi-hot {name} must hold only 0 and 1")
        return np.ascontiguousarray(arr, dtype=np.bool_)
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_pair(query_codes, query_labels, db_codes, db_labels):
    """Validates (codes, labels) of queries and database; returns them as arrays plus bits.

    Returns
    -------
    query_codes, query_labels, db_codes, db_labels, bits
        Codes as C-contiguous uint8 (n, bits // 8); labels as int64 (n,) or bool (n, c).
    """
    db_arr = db_codes if hasattr(db_codes, "shape") else np.asarray(db_codes)
    if len(db_arr.shape) != 2:
        raise ValueError(f"db_codes must be a 2-D uint8 array (n, bits // 8), got {describe(db_arr)}")
    bits = db_arr.shape[1] * 8
    if bits == 0:
        raise ValueError("db_codes must have at least one byte per code")
    db = as_codes(db_arr, bits, "db_codes")
    q = as_codes(query_codes, bits, "query_codes")
    if db.shape[0] == 0:
        raise ValueError("db_codes is empty")
    ql = labels_array(query_labels, q.shape[0], "query_labels", "query_codes")
    dl = labels_array(db_labels, db.shape[0], "db_labels", "db_codes")
    if ql.ndim != dl.ndim or (ql.ndim == 2 and ql.shape[1] != dl.shape[1]):
        raise ValueError(
            "query_labels and db_labels must be of the same kind (both class ids (n,) or both "
            f"multi-hot with the same number of classes), got shapes {ql.shape} and {dl.shape}"
        )
    return q, ql, db, dl, bits


def relevance(query_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """Bool (nq, n): True where query i and database item j share at least one label."""
    if query_labels.ndim == 1:
        return query_labels[:, None] == db_labels[None, :]
    return (query_labels.astype(np.float32) @ db_labels.T.astype(np.float32)) > 0


def grades(query_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """uint8 (nq, n): the number of labels query i and database item j share."""
    if query_labels.ndim == 1:
        return (query_labels[:, None] == db_labels[None, :]).view(np.uint8)
    # float32 sums of 0/1 products are exact integers (c < 2**24).
    shared = query_labels.astype(np.float32) @ db_labels.T.astype(np.float32)
    return shared.astype(np.uint8) if query_labels.shape[1] < 256 else shared.astype(np.int32)


def grade_levels(query_labels: np.ndarray, db_labels: np.ndarray) -> int:
    """L: every grade lies in 0..L-1 (a bound from the label counts, no pairwise work)."""
    if query_labels.ndim == 1:
        return 2
    most = min(int(query_labels.sum(axis=1).max(initial=0)), int(db_labels.sum(axis=1).max(initial=0)))
    return most + 1


def grade_totals(ql, dl, levels: int) -> np.ndarray:
    """int64 (nq, levels): database items of each grade, per query."""
    nq, n = ql.shape[0], dl.shape[0]
    out = np.zeros((nq, levels), np.int64)
    if ql.ndim == 1:
        # Class sizes, looked up per query: no pairwise work.
        classes, sizes = np.unique(dl, return_counts=True)
        pos = np.minimum(np.searchsorted(classes, ql), max(classes.shape[0] - 1, 0))
        out[:, 1] = np.where(classes[pos] == ql, sizes[pos], 0) if classes.size else 0
    else:
        block = max(1, (1 << 24) // max(n, 1))
        for s in range(0, nq, block):
            e = min(s + block, nq)
            g = grades(ql[s:e], dl)
            for lev in range(1, levels):
                out[s:e, lev] = np.count_nonzero(g == lev, axis=1)
    out[:, 0] = n - out[:, 1:].sum(axis=1)
    return out
