"""Query / training / database splits for retrieval experiments."""

from __future__ import annotations

import operator
from typing import NamedTuple, Tuple

import numpy as np

__all__ = ["RetrievalSplit", "SplitIndices", "stratified_split", "take_split"]


class SplitIndices(NamedTuple):
    """Positions into a pooled data set.

    Attributes
    ----------
    query, train, database : int64 arrays
        Disjoint query and database sets; train is a subset of the database unless the split
        was made with ``train_in_database=False``. The database order is shuffled (seeded).
    """

    query: np.ndarray
    train: np.ndarray
    database: np.ndarray


class RetrievalSplit(NamedTuple):
    """A data set split for a retrieval experiment.

    Attributes
    ----------
    query_x, train_x, db_x : arrays (nq, ...), (nt, ...), (n, ...)
        Inputs: uint8 images (m, H, W, 3), float32 feature rows (m, d), or str arrays of texts.
    query_y, train_y, db_y : int64 (m,) class ids, or 0/1 uint8 (m, c) multi-hot rows.
    classes : tuple of str
        Class names; label i is ``classes[i]``.
    indices : SplitIndices
        Positions of each part in the pooled data set the split was drawn from.
    name : str
        Data set and protocol, e.g. ``"cifar10/1k"``.
    """

    query_x: np.ndarray
    query_y: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    db_x: np.ndarray
    db_y: np.ndarray
    classes: Tuple[str, ...]
    indices: SplitIndices
    name: str

    def __repr__(self) -> str:
        return (
            f"RetrievalSplit({self.name!r}: query {len(self.query_y)}, train {len(self.train_y)}, "
            f"database {len(self.db_y)}, {len(self.classes)} classes)"
        )


def _count(v, name: str) -> int:
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(v).__name__}") from None
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def stratified_split(
    labels,
    n_query_per_class: int,
    n_train_per_class: int,
    seed: int = 0,
    train_in_database: bool = True,
) -> SplitIndices:
    """Draws a class-stratified query / train / database split.

    For every class, a seeded permutation of its items gives ``n_query_per_class`` queries, then
    ``n_train_per_class`` training items. The database is every item that is not a query
    (training items included, as in the standard deep-hashing protocols) in a seeded random
    order; with ``train_in_database=False`` the training items are left out of it.

    Parameters
    ----------
    labels : int array (n,)
        Class ids.
    n_query_per_class, n_train_per_class : int
    seed : int
        Same seed, same split.

    Returns
    -------
    SplitIndices
        query and train are sorted by class, then by the permutation.

    Raises
    ------
    ValueError
        A class has fewer than n_query_per_class + n_train_per_class items.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be 1-D class ids, got dtype {labels.dtype} shape {labels.shape}")
    nq = _count(n_query_per_class, "n_query_per_class")
    nt = _count(n_train_per_class, "n_train_per_class")
    rng = np.random.default_rng(seed)
    query, train = [], []
    for c in np.unique(labels):
        members = np.nonzero(labels == c)[0]
        if members.shape[0] < nq + nt:
            raise ValueError(
                f"class {c} has {members.shape[0]} items, fewer than the {nq} queries + {nt} "
                "training items per class asked for"
            )
        members = rng.permutation(members)
        query.append(members[:nq])
        train.append(members[nq : nq + nt])
    query = np.concatenate(query).astype(np.int64)
    train = np.concatenate(train).astype(np.int64)
    mask = np.ones(labels.shape[0], bool)
    mask[query] = False
    if not train_in_database:
        mask[train] = False
    database = rng.permutation(np.nonzero(mask)[0]).astype(np.int64)
    return SplitIndices(query, train, database)


def take_split(x, y, indices: SplitIndices, classes, name: str) -> RetrievalSplit:
    """Builds a :class:`RetrievalSplit` from pooled inputs ``x`` and labels ``y``."""
    x = np.asarray(x)
    y = np.asarray(y)
    return RetrievalSplit(
        x[indices.query],
        y[indices.query],
        x[indices.train],
        y[indices.train],
        x[indices.database],
        y[indices.database],
        tuple(classes),
        indices,
        name,
    )
