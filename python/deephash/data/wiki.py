"""The Wikipedia cross-modal data set (Rasiwasia et al., ACM MM 2010), standard features."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from ._paths import find_data_file

__all__ = ["WIKI_FILE", "WikiCrossModal", "load_wiki"]

WIKI_FILE = "wiki-crossmodal.npz"


class WikiCrossModal(NamedTuple):
    """2,866 image-text pairs, 10 categories.

    Attributes
    ----------
    image_features : float64 (n, 128)
        SIFT bag-of-visual-words histograms.
    text_features : float64 (n, 10)
        LDA topic proportions.
    labels : int64 (n,)
        Category ids (the one-hot rows of the file, decoded).
    is_test : bool (n,)
        The original 2,173 / 693 train / test split.
    classes : tuple of str
    """

    image_features: np.ndarray
    text_features: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    classes: Tuple[str, ...]


def load_wiki(path=None) -> WikiCrossModal:
    """Loads ``wiki-crossmodal.npz`` (the file, or the directory holding it; default: data root)."""
    f = find_data_file(WIKI_FILE, path)
    with np.load(f, allow_pickle=False) as z:
        one_hot = z["labels"]
        if one_hot.ndim != 2 or not np.all(one_hot.sum(axis=1) == 1):
            raise ValueError(f"{f}: labels must be one-hot rows")
        return WikiCrossModal(
            z["image_features"],
            z["text_features"],
            one_hot.argmax(axis=1).astype(np.int64),
            z["split"].astype(bool),
            tuple(str(c) for c in z["class_names"]),
        )
