"""Data sets by name: what the ``--data`` option of the ``deephash`` command accepts."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .._typing import PathLike
from .cifar10 import cifar10_protocol
from .digits import digits
from .image_folder import load_image_folder
from .splits import RetrievalSplit, SplitIndices, stratified_split, take_split
from .text import stc2_split, stc2_text_split
from .wiki import load_wiki

__all__ = ["load_pairs", "load_split"]


def _per_class(n_query: int, n_train: int) -> dict:
    kw = {}
    if n_query:
        kw["n_query_per_class"] = n_query
    if n_train:
        kw["n_train_per_class"] = n_train
    return kw


def load_split(
    spec: str,
    seed: int = 0,
    data_path: Optional[PathLike] = None,
    n_query: int = 0,
    n_train: int = 0,
    image_size: Optional[int] = None,
) -> RetrievalSplit:
    """Resolves a data set name or file to a :class:`RetrievalSplit`.

    ``digits`` (bundled with scikit-learn), ``cifar10`` / ``cifar10:1k`` / ``cifar10:10k``
    (the protocols; archive found via ``data_path``, ``DEEPHASH_DATA`` or ../shared/data),
    ``wiki-image`` / ``wiki-text`` (one modality of the cross-modal features; the original
    test split gives the queries, the train split the training set and the database),
    ``searchsnippets`` / ``stackoverflow`` (STC2 short texts as TF-IDF + LSA features, 50
    queries and 250 training texts per class), ``searchsnippets:text`` /
    ``stackoverflow:text`` (the raw texts, for text backbones: 10% of each class as queries,
    the rest as training set and database), a ``.txt`` file (one text per line, unlabelled:
    10% as queries, all as training set and database), a
    ``.npz`` file holding either ``x`` and ``labels`` or the six arrays ``query_x query_y
    train_x train_y db_x db_y``, or an image folder / tar of one.
    ``n_query`` / ``n_train`` are per class, for sources that get a stratified split
    (0: defaults of each source). ``image_size``: images of an image folder are resized to
    ``image_size`` x ``image_size`` (needed when their sizes differ).

    Raises
    ------
    ValueError
        ``spec`` is neither a known name nor an existing file or folder, or the file's arrays
        do not fit together, or an archive is unreadable.
    """
    name = spec.lower()
    if name == "digits":
        return digits(seed=seed, **_per_class(n_query, n_train))
    if name.startswith("cifar10") and not Path(spec).exists():
        protocol = name.split(":", 1)[1] if ":" in name else "1k"
        return cifar10_protocol(protocol, seed=seed, path=data_path)
    if name in ("searchsnippets:text", "stackoverflow:text"):
        stc_name = "SearchSnippets" if name.startswith("search") else "StackOverflow"
        stc_path = None if data_path is None else Path(data_path) / "stc2"
        return stc2_text_split(stc_name, seed=seed, path=stc_path)
    if name in ("searchsnippets", "stackoverflow"):
        stc_name = "SearchSnippets" if name == "searchsnippets" else "StackOverflow"
        stc_path = None if data_path is None else Path(data_path) / "stc2"
        return stc2_split(stc_name, seed=seed, path=stc_path, **_per_class(n_query, n_train))
    if name in ("wiki-image", "wiki-text"):
        w = load_wiki(data_path)
        x = w.image_features if name == "wiki-image" else w.text_features
        x = x.astype(np.float32)
        rng = np.random.default_rng(seed)
        train = np.nonzero(~w.is_test)[0]
        idx = SplitIndices(np.nonzero(w.is_test)[0], train, rng.permutation(train))
        return take_split(x, w.labels, idx, w.classes, name)
    p = Path(spec).expanduser()
    if not p.exists():
        raise ValueError(
            f"unknown data set {spec!r}: not digits, cifar10[:1k|:10k], searchsnippets, "
            "stackoverflow, wiki-image, wiki-text, "
            "nor an existing .npz file, image folder or tar archive"
        )
    if p.suffix.lower() == ".txt":
        return _text_file_split(p, seed)
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            keys = set(z.files)
            six = ("query_x", "query_y", "train_x", "train_y", "db_x", "db_y")
            if set(six) <= keys:
                arrays = [z[k] for k in six]
                for a, b, part in ((0, 1, "query"), (2, 3, "train"), (4, 5, "db")):
                    if arrays[a].shape[0] != arrays[b].shape[0]:
                        raise ValueError(
                            f"{p}: {part}_y has {arrays[b].shape[0]} labels for {arrays[a].shape[0]} rows of {part}_x"
                        )
                ys = arrays[1::2]
                n_cls = ys[0].shape[1] if ys[0].ndim == 2 else int(max(a.max() for a in ys)) + 1
                empty = np.zeros(0, np.int64)
                return RetrievalSplit(
                    *arrays,
                    tuple(str(i) for i in range(n_cls)),
                    SplitIndices(empty, empty, empty),
                    p.stem,
                )
            if not {"x", "labels"} <= keys:
                raise ValueError(f"{p} must hold arrays 'x' and 'labels' (or {', '.join(six)})")
            x, y = z["x"], z["labels"]
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{p}: 'labels' has {y.shape[0]} entries for {x.shape[0]} rows of 'x'")
        classes = [str(c) for c in np.unique(y)]
    else:
        try:
            folder = load_image_folder(p, size=None if image_size is None else (image_size, image_size))
        except (tarfile.TarError, EOFError, zlib.error) as e:  # a corrupt or truncated archive
            raise ValueError(f"{p} is not a readable image folder or tar archive: {e}") from None
        x, y, classes = folder.images, folder.labels, folder.classes
    counts = np.bincount(np.unique(y, return_inverse=True)[1])
    nq = n_query or max(1, int(counts.min()) // 10)
    nt = n_train or max(1, min(500, (int(counts.min()) - nq) // 2))
    idx = stratified_split(y, nq, nt, seed=seed)
    return take_split(x, y, idx, classes, p.stem)


def load_pairs(
    spec: str, data_path: Optional[PathLike] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paired image-text data for the cross-modal methods.

    ``wiki`` (the Wikipedia set, its original split) or a ``.npz`` with ``image_x``, ``text_x``,
    ``labels`` and ``is_test`` (bool, True for query pairs).

    Returns
    -------
    image_x, text_x, labels, is_test : arrays with the same number of rows (is_test bool)

    Raises
    ------
    ValueError
        Not ``wiki`` nor an existing ``.npz``, arrays missing, or row counts that differ.
    """
    if spec.lower() == "wiki":
        w = load_wiki(data_path)
        return w.image_features, w.text_features, w.labels, w.is_test
    p = Path(spec).expanduser()
    if p.suffix != ".npz" or not p.exists():
        raise ValueError(
            f"cross-modal methods take paired data: --data wiki or a .npz with image_x, "
            f"text_x, labels, is_test; got {spec!r}"
        )
    with np.load(p, allow_pickle=False) as z:
        keys = ("image_x", "text_x", "labels", "is_test")
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise ValueError(f"{p} lacks {', '.join(missing)} (a paired set needs {', '.join(keys)})")
        img, txt, y, is_test = (z[k] for k in keys)
    if not len(img) == len(txt) == len(y) == len(is_test):
        raise ValueError(
            f"{p}: image_x, text_x, labels and is_test must have the same rows, got "
            f"{len(img)}, {len(txt)}, {len(y)}, {len(is_test)}"
        )
    return img, txt, y, is_test.astype(bool)


def _text_file_split(p: Path, seed: int) -> RetrievalSplit:
    """A text file, one text per non-empty line, as an unlabelled split of raw texts (labels
    are all 0): a seeded 10% (at least 1) as queries; every text in the training set and the
    database."""
    try:
        lines = [t for t in p.read_text(encoding="utf-8").splitlines() if t.strip()]
    except UnicodeDecodeError as e:
        raise ValueError(f"{p} is not UTF-8 text ({e})") from None
    if not lines:
        raise ValueError(f"{p} holds no text (one text per line expected)")
    texts = np.empty(len(lines), dtype=object)
    texts[:] = lines
    rng = np.random.default_rng(seed)
    query = np.sort(rng.permutation(len(lines))[: max(1, len(lines) // 10)])
    every = np.arange(len(lines))
    y = np.zeros(len(lines), dtype=np.int64)
    return take_split(texts, y, SplitIndices(query, every, every), ("0",), p.stem)
