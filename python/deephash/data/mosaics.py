"""Multi-label retrieval sets built from single-label images: 2x2 mosaics.

No multi-label image set ships with deephash, so one is built, seeded and documented: each item
is a 2x2 mosaic of four source images, and its multi-hot label is the set of classes present.
Relevance (a shared class) stays selective because a mosaic holds at most ``max_classes``
distinct classes, and graded relevance (the number of shared classes) has several levels, which
is what ranking metrics such as NDCG and weighted mAP (and methods such as DSRH) need.

The rule (:func:`mosaic_split`), all draws from ``numpy.random.default_rng(seed)``:

1. **Pools.** Each class's images are permuted and cut into a query pool, a training pool and a
   database pool: the query and training pools hold ``ceil(1.25 * 4 * n / C)`` images per class
   (n mosaics of the split, C classes: 25% more than the expected demand), the database pool the
   rest. When the query or training split (drawn in step 2) needs more images of a class than
   its pool holds, the missing ones move to it from the front of that class's database pool.
   The pools are disjoint, so no source image of a query or training mosaic appears in any
   other split.
2. **Classes of a mosaic.** Its number of distinct classes k is uniform on 1..max_classes; the
   k classes are drawn without replacement; the four cells get each of the k classes once and
   the remaining 4 - k cells a uniform draw among the k; the cell order is shuffled.
3. **Images of a cell.** Each class's pool is consumed in the order of a seeded permutation,
   repeated (a fresh permutation each round) when the split needs more cells of the class than
   its pool holds -- never for the query and training splits (step 1), so no image is used twice
   there; the database reuses its images (about 7.9 times each for the CIFAR-10 default),
   always in different mosaics. The four images of one mosaic are always distinct.

``RetrievalSplit.indices`` holds, for each split, the sources: int64 (m, 4) positions of the
cells' images (top-left, top-right, bottom-left, bottom-right) in the pooled source set, so the
disjointness can be checked.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

from .splits import RetrievalSplit, SplitIndices, _count

__all__ = ["cifar10_mosaics", "compose_mosaics", "digits_mosaics", "mosaic_split"]

# Pool size of the query and training splits relative to their expected per-class demand.
POOL_SLACK = 1.25
# Cells per mosaic.
CELLS = 4


def _cell_classes(rng, m: int, n_classes: int, max_classes: int) -> np.ndarray:
    """int64 (m, 4): the class of each cell (rule 2 of the module doc)."""
    k = rng.integers(1, max_classes + 1, size=m)
    chosen = np.argsort(rng.random((m, n_classes)), axis=1)[:, :max_classes]
    # Cells 0..k-1 take each chosen class once; the others a uniform pick among the k.
    extra = (rng.random((m, CELLS)) * k[:, None]).astype(np.int64)
    slot = np.where(np.arange(CELLS)[None, :] < k[:, None], np.arange(CELLS)[None, :], extra)
    cells = np.take_along_axis(chosen, slot, axis=1)
    return np.take_along_axis(cells, np.argsort(rng.random((m, CELLS)), axis=1), axis=1)


def _stream(rng, pool: np.ndarray, demand: int) -> np.ndarray:
    """The first ``demand`` images of a pool consumed in rounds of seeded permutations.

    A round starts with images that were not among the previous round's last 3, so that up to
    4 consecutive draws (the cells of one class in one mosaic) are distinct.
    """
    out = [rng.permutation(pool)]
    total = out[0].shape[0]
    while total < demand:
        nxt = rng.permutation(pool)
        recent = np.isin(nxt, out[-1][-(CELLS - 1) :])
        out.append(np.concatenate([nxt[~recent], nxt[recent]]))
        total += nxt.shape[0]
    return np.concatenate(out)[:demand]


def _assign(rng, cells: np.ndarray, pools: Sequence[np.ndarray]) -> np.ndarray:
    """int64 (m, 4) source positions for the cell classes (rule 3)."""
    flat = cells.ravel()  # row-major: a mosaic's cells of one class are consecutive draws
    sources = np.empty(flat.shape[0], np.int64)
    for c, pool in enumerate(pools):
        where = np.nonzero(flat == c)[0]
        if where.size:
            sources[where] = _stream(rng, pool, where.shape[0])
    return sources.reshape(cells.shape)


def mosaic_sources(
    labels, n_query: int, n_train: int, n_database: int, max_classes: int = 3, seed: int = 0
) -> Tuple[SplitIndices, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sources and multi-hot labels of the three splits (see the module doc).

    Parameters
    ----------
    labels : int array (n,)
        Class ids 0..C-1 of the source images.

    Returns
    -------
    SplitIndices
        int64 (m, 4) source positions per split (query, train, database).
    (query_y, train_y, db_y) : uint8 arrays (m, C), multi-hot
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be 1-D class ids, got dtype {labels.dtype} shape {labels.shape}")
    sizes = [_count(n_query, "n_query"), _count(n_train, "n_train"), _count(n_database, "n_database")]
    if isinstance(max_classes, bool) or not isinstance(max_classes, (int, np.integer)):
        raise TypeError(f"max_classes must be an int, got {type(max_classes).__name__}")
    n_classes = int(labels.max(initial=-1)) + 1
    if not 1 <= max_classes <= min(CELLS, n_classes):
        raise ValueError(f"max_classes must lie in 1..{min(CELLS, n_classes)}, got {max_classes}")
    rng = np.random.default_rng(seed)
    pools = [[], [], []]
    nq, nt = (math.ceil(POOL_SLACK * CELLS * s / n_classes) for s in sizes[:2])
    for c in range(n_classes):
        members = rng.permutation(np.nonzero(labels == c)[0]).astype(np.int64)
        for j, part in enumerate((members[:nq], members[nq : nq + nt], members[nq + nt :])):
            pools[j].append(part)
    cells = [_cell_classes(rng, size, n_classes, max_classes) for size in sizes]
    # A query or training split that needs more images of a class than its pool holds takes
    # the missing ones from the front of that class's database pool (no reuse there).
    for j in (0, 1):
        need = np.bincount(cells[j].ravel(), minlength=n_classes)
        for c in range(n_classes):
            extra = int(need[c]) - pools[j][c].shape[0]
            if extra > 0:
                pools[j][c] = np.concatenate([pools[j][c], pools[2][c][:extra]])
                pools[2][c] = pools[2][c][extra:]
    for c in range(n_classes):
        # Distinct cells across permutation rounds need 2 * 3 database images per class.
        if pools[2][c].shape[0] < 2 * (CELLS - 1) and sizes[2] > 0:
            raise ValueError(
                f"class {c} has {int(np.count_nonzero(labels == c))} images, too few for the query "
                f"and training mosaics plus a database pool of at least {2 * (CELLS - 1)}; ask "
                "for fewer query or training mosaics"
            )
    sources, ys = [], []
    for size, split_cells, split_pools in zip(sizes, cells, pools):
        sources.append(_assign(rng, split_cells, split_pools))
        y = np.zeros((size, n_classes), np.uint8)
        y[np.arange(size)[:, None], split_cells] = 1
        ys.append(y)
    return SplitIndices(*sources), tuple(ys)


def compose_mosaics(images, sources) -> np.ndarray:
    """2x2 mosaics of source images.

    Parameters
    ----------
    images : array (n, H, W) or (n, H, W, ch)
    sources : int array (m, 4)
        Positions of the top-left, top-right, bottom-left and bottom-right images.

    Returns
    -------
    array (m, 2H, 2W[, ch]) of the images' dtype
    """
    images = np.asarray(images)
    sources = np.asarray(sources)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be (n, H, W) or (n, H, W, ch), got shape {images.shape}")
    if sources.ndim != 2 or sources.shape[1] != CELLS:
        raise ValueError(f"sources must have shape (m, 4), got {sources.shape}")
    m, h, w = sources.shape[0], images.shape[1], images.shape[2]
    out = np.empty((m, 2 * h, 2 * w) + images.shape[3:], images.dtype)
    for j, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[:, r * h : (r + 1) * h, c * w : (c + 1) * w] = images[sources[:, j]]
    return out


def mosaic_split(
    images,
    labels,
    classes: Sequence[str],
    name: str,
    n_query: int,
    n_train: int,
    n_database: int,
    max_classes: int = 3,
    seed: int = 0,
) -> RetrievalSplit:
    """A multi-label retrieval split of 2x2 mosaics (rule in the module doc).

    Parameters
    ----------
    images : array (n, H, W) or (n, H, W, ch)
    labels : int array (n,)
        Class ids 0..C-1.
    classes : sequence of C str
    name : str
    n_query, n_train, n_database : int
        Mosaics per split.
    max_classes : int in 1..4
        Most distinct classes in one mosaic.
    seed : int

    Returns
    -------
    RetrievalSplit
        x: mosaics (m, 2H, 2W[, ch]); y: multi-hot uint8 (m, C); indices: (m, 4) sources.
    """
    idx, (qy, ty, dy) = mosaic_sources(labels, n_query, n_train, n_database, max_classes, seed)
    return RetrievalSplit(
        compose_mosaics(images, idx.query),
        qy,
        compose_mosaics(images, idx.train),
        ty,
        compose_mosaics(images, idx.database),
        dy,
        tuple(classes),
        idx,
        name,
    )


def cifar10_mosaics(
    n_query: int = 1000,
    n_train: int = 5000,
    n_database: int = 59000,
    max_classes: int = 3,
    seed: int = 0,
    path=None,
    cache_dir=None,
) -> RetrievalSplit:
    """Multi-label CIFAR-10: 64x64 mosaics of four 32x32 CIFAR-10 images (all 60,000 pooled).

    Sizes follow the 1k protocol: 1,000 query, 5,000 training and 59,000 database mosaics. The
    query pool holds 500 images per class and the training pool 2,500 (5,000 and 25,000 images,
    no image used twice), the database pool the other 3,000 per class (30,000 images, each in
    about 7.9 database mosaics). Every mosaic has 1, 2 or 3 distinct classes (a third each); a
    query and a database mosaic share a class about 36% of the time (10% for single-label
    CIFAR-10), and share 2 or 3 classes about 4% of the time (measured at seeds 0-4).

    Parameters
    ----------
    n_query, n_train, n_database, max_classes, seed
        See :func:`mosaic_split`.
    path, cache_dir
        See :func:`deephash.data.load_cifar10`.

    Returns
    -------
    RetrievalSplit
        x: uint8 (m, 64, 64, 3) (the database takes 725 MB); y: multi-hot uint8 (m, 10);
        name ``"cifar10-mosaics"``.
    """
    from .cifar10 import load_cifar10

    data = load_cifar10(path, cache_dir)
    return mosaic_split(
        data.images,
        data.labels,
        data.classes,
        "cifar10-mosaics",
        n_query,
        n_train,
        n_database,
        max_classes,
        seed,
    )


def digits_mosaics(
    n_query: int = 50, n_train: int = 250, n_database: int = 1000, max_classes: int = 3, seed: int = 0
) -> RetrievalSplit:
    """Multi-label digits, for fast tests: 16x16 mosaics of scikit-learn's 8x8 digits.

    Pools per class (about 180 images): 25 query and 125 training images, the rest (about 30)
    for the database, whose 1,000 mosaics reuse each image about 13 times.

    Returns
    -------
    RetrievalSplit
        x: float32 (m, 256), the 16x16 mosaic's pixels in [0, 1] row by row (as
        :func:`deephash.data.digits`, whose rows are 8x8); y: multi-hot uint8 (m, 10).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    split = mosaic_split(
        images,
        d.target.astype(np.int64),
        [str(i) for i in range(10)],
        "digits-mosaics",
        n_query,
        n_train,
        n_database,
        max_classes,
        seed,
    )
    flat = [x.reshape(x.shape[0], -1) for x in (split.query_x, split.train_x, split.db_x)]
    return split._replace(query_x=flat[0], train_x=flat[1], db_x=flat[2])
