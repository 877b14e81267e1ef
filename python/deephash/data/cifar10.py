"""CIFAR-10 and its deep-hashing retrieval protocols."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from ._paths import find_data_file
from .image_folder import load_image_folder_splits
from .splits import RetrievalSplit, SplitIndices, stratified_split, take_split

__all__ = ["CIFAR10_FILE", "Cifar10", "cifar10_protocol", "load_cifar10"]

CIFAR10_FILE = "cifar10-jpeg.tar.xz"
PROTOCOLS = ("1k", "10k")


class Cifar10(NamedTuple):
    """All 60,000 CIFAR-10 images, the 50,000 training images first.

    Attributes
    ----------
    images : uint8 (60000, 32, 32, 3)
    labels : int64 (60000,)
    is_test : bool (60000,)
        True for the 10,000 images of the original test set.
    classes : tuple of str
    """

    images: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    classes: Tuple[str, ...]


def load_cifar10(path=None, cache_dir=None) -> Cifar10:
    """Loads CIFAR-10 from the image-folder archive ``cifar10-jpeg.tar.xz``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The archive, or the directory holding it (default: the data root, see
        :func:`deephash.data.data_root`). A directory of ``train/<class>/*`` and
        ``test/<class>/*`` works too.
    cache_dir : optional
        Where the decoded arrays are cached (see :func:`load_image_folder`).
    """
    from pathlib import Path

    if path is not None and Path(path).is_dir() and (Path(path) / "train").is_dir():
        src = Path(path)
    else:
        src = find_data_file(CIFAR10_FILE, path)
    both = load_image_folder_splits(src, ["train", "test"], cache_dir=cache_dir)
    train, test = both["train"], both["test"]
    if train.classes != test.classes:
        raise ValueError(f"train and test classes differ in {src}: {train.classes} vs {test.classes}")
    images = np.concatenate([train.images, test.images])
    labels = np.concatenate([train.labels, test.labels])
    is_test = np.zeros(labels.shape[0], bool)
    is_test[train.labels.shape[0] :] = True
    return Cifar10(images, labels, is_test, train.classes)


def protocol_indices(labels, is_test, protocol: str = "1k", seed: int = 0) -> SplitIndices:
    """Split positions of a protocol over pooled CIFAR-10 (see :func:`cifar10_protocol`)."""
    if protocol == "1k":
        return stratified_split(labels, 100, 500, seed=seed)
    if protocol == "10k":
        rng = np.random.default_rng(seed)
        train = np.nonzero(~is_test)[0].astype(np.int64)
        query = np.nonzero(is_test)[0].astype(np.int64)
        return SplitIndices(query, train, rng.permutation(train))
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def cifar10_protocol(protocol: str = "1k", seed: int = 0, path=None, cache_dir=None) -> RetrievalSplit:
    """The standard CIFAR-10 deep-hashing protocols.

    Parameters
    ----------
    protocol : {"1k", "10k"}
        ``"1k"`` (DPSH, IJCAI 2016, and most later work): from all 60,000 images, 1,000 queries
        (100 per class) and 5,000 training images (500 per class), drawn stratified with
        ``seed``; the database is the other 59,000 images, training images included.
        ``"10k"``: the original split -- the 10,000 test images are the queries, the 50,000
        training images are both the training set and the database.
    seed : int
        Seeds the draw and the database order (the database is shuffled, so that ranking ties
        by position is not biased by class order).
    path, cache_dir
        See :func:`load_cifar10`.

    Returns
    -------
    RetrievalSplit
        Images uint8 (m, 32, 32, 3), labels int64 (m,).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    data = load_cifar10(path, cache_dir)
    idx = protocol_indices(data.labels, data.is_test, protocol, seed)
    return take_split(data.images, data.labels, idx, data.classes, f"cifar10/{protocol}")
