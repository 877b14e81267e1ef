"""scikit-learn's bundled 8x8 handwritten digits: the no-download default data set."""

from __future__ import annotations

import numpy as np

from .splits import RetrievalSplit, stratified_split, take_split

__all__ = ["digits"]


def digits(n_query_per_class: int = 20, n_train_per_class: int = 100, seed: int = 0) -> RetrievalSplit:
    """The 1,797 digits of ``sklearn.datasets.load_digits`` as a retrieval split.

    Parameters
    ----------
    n_query_per_class : int
        Queries per digit (default 20: 200 queries).
    n_train_per_class : int
        Training items per digit (default 100: 1,000).
    seed : int

    Returns
    -------
    RetrievalSplit
        ``x``: float32 (m, 64) pixel intensities scaled to [0, 1]; labels int64 (m,) = the
        digit. The database is every non-query item (1,597 by default), training items
        included, in a seeded order.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is in the [torch] extra
        raise ImportError("the digits data set needs scikit-learn (pip install scikit-learn)") from e
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = stratified_split(y, n_query_per_class, n_train_per_class, seed=seed)
    return take_split(x, y, idx, [str(i) for i in range(10)], "digits")
