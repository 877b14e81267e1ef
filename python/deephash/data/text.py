"""Short-text topic data sets from the STC2 release (SearchSnippets, StackOverflow)."""

from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

from ._paths import find_data_file

__all__ = [
    "STC2_NAMES",
    "TextDataset",
    "load_stc2",
    "stc2_split",
    "stc2_text_split",
    "text_query_split",
    "tfidf_features",
]

STC2_NAMES = ("SearchSnippets", "StackOverflow")


class TextDataset(NamedTuple):
    """Texts and topic labels.

    Attributes
    ----------
    texts : list of str
    labels : int64 array (n,)
        Zero-based (the files count from 1).
    name : str
    """

    texts: List[str]
    labels: np.ndarray
    name: str

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0


def load_stc2(name: str = "SearchSnippets", path=None) -> TextDataset:
    """Loads ``<name>.txt`` (one text per line) and ``<name>_gnd.txt`` (its labels).

    Parameters
    ----------
    name : {"SearchSnippets", "StackOverflow"}
    path : str or os.PathLike, optional
        The directory holding the two files (default: ``<data root>/stc2``).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing files; texts and labels of different lengths.
    """
    if name not in STC2_NAMES:
        raise ValueError(f"name must be one of {STC2_NAMES}, got {name!r}")
    if path is None:
        folder = find_data_file("stc2")
    else:
        folder = find_data_file(f"{name}.txt", path).parent
    text_file = find_data_file(f"{name}.txt", folder)
    gnd_file = find_data_file(f"{name}_gnd.txt", folder)
    texts = text_file.read_text(encoding="utf-8").splitlines()
    raw = gnd_file.read_text(encoding="utf-8").split()
    labels = np.asarray([int(v) for v in raw], dtype=np.int64) - 1
    # A trailing empty line in the text file is not a text.
    while len(texts) > len(labels) and texts and texts[-1] == "":
        texts.pop()
    if len(texts) != len(labels):
        raise ValueError(f"{text_file} has {len(texts)} lines but {gnd_file} has {len(labels)} labels")
    return TextDataset(texts, labels, name)


def tfidf_features(train_texts, texts_list, dim: int = 256, seed: int = 0):
    """TF-IDF vectors reduced to ``dim`` dimensions by truncated SVD (LSA), fitted on
    ``train_texts`` only, then applied to each list in ``texts_list``.

    A no-download text representation for the feature backbones (``"features"``, ``"mlp"``).

    Returns
    -------
    list of float32 arrays (m, dim), L2-normalised rows.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    train = vec.fit_transform(train_texts)
    dim = min(dim, train.shape[1] - 1)
    svd = TruncatedSVD(n_components=dim, random_state=seed).fit(train)
    out = []
    for texts in texts_list:
        z = svd.transform(vec.transform(texts)).astype(np.float32)
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        out.append(z)
    return out


def stc2_split(
    name: str = "SearchSnippets",
    n_query_per_class: int = 50,
    n_train_per_class: int = 250,
    seed: int = 0,
    dim: int = 256,
    path=None,
):
    """A retrieval split of an STC2 text set, with TF-IDF + LSA features.

    Queries and training texts are drawn stratified with ``seed`` (the defaults fit
    SearchSnippets' smallest class, 370 texts: 400 queries and 2,000 training texts there,
    1,000 and 5,000 for StackOverflow's 20 classes); the database is every other
    text (training texts included), shuffled. The TF-IDF vocabulary and the SVD are fitted on
    the training texts only.

    Returns
    -------
    RetrievalSplit
        ``x``: float32 (m, dim) features; labels int64 (m,).
    """
    from .splits import RetrievalSplit, stratified_split

    ds = load_stc2(name, path)
    idx = stratified_split(ds.labels, n_query_per_class, n_train_per_class, seed=seed)
    texts = np.asarray(ds.texts, dtype=object)
    q, t, db = tfidf_features(
        list(texts[idx.train]), [texts[idx.query], texts[idx.train], texts[idx.database]], dim, seed
    )
    return RetrievalSplit(
        q,
        ds.labels[idx.query],
        t,
        ds.labels[idx.train],
        db,
        ds.labels[idx.database],
        tuple(str(i) for i in range(ds.n_classes)),
        idx,
        f"{name}/tfidf{q.shape[1]}",
    )


def text_query_split(labels, query_fraction: float = 0.1, seed: int = 0):
    """Query / database positions: a fraction of each class as queries, the rest the database.

    The rule of the STC2 hashing papers: for each class in label order, ``round(query_fraction
    * size)`` items (at least one) are drawn without replacement by one
    ``numpy.random.default_rng(seed)`` (``rng.choice`` per class, in turn); every other item is
    in the database, which is also the training set of unsupervised methods.

    Parameters
    ----------
    labels : int array (n,)
    query_fraction : float in (0, 1)
    seed : int

    Returns
    -------
    SplitIndices
        ``query``: int64, class by class in draw order; ``database`` = ``train``: int64, the
        remaining positions in increasing order.
    """
    from .splits import SplitIndices

    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be 1-D class ids, got dtype {labels.dtype} shape {labels.shape}")
    if isinstance(query_fraction, bool) or not isinstance(query_fraction, (int, float)) or not 0 < query_fraction < 1:
        raise ValueError(f"query_fraction must be a number in (0, 1), got {query_fraction!r}")
    rng = np.random.default_rng(seed)
    query = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        nq = max(1, int(round(query_fraction * members.size)))
        if nq >= members.size:
            raise ValueError(f"class {int(c)} has {members.size} items: too few for {nq} queries and a database")
        query.append(rng.choice(members, nq, replace=False))
    query = np.concatenate(query).astype(np.int64) if query else np.zeros(0, np.int64)
    mask = np.ones(labels.size, dtype=bool)
    mask[query] = False
    database = np.flatnonzero(mask).astype(np.int64)
    return SplitIndices(query, database, database)


def stc2_text_split(name: str = "SearchSnippets", query_fraction: float = 0.1, seed: int = 0, path=None):
    """A retrieval split of an STC2 text set that keeps the texts themselves.

    As the STC2 hashing papers evaluate: 10% of each class as queries
    (:func:`text_query_split`), every other text in the database, which is also the training
    set (unsupervised methods fit on it, as the papers do). Text backbones (``"tfidf"``,
    ``"minilm"``) take the texts directly; compare :func:`stc2_split`, which gives TF-IDF + LSA
    vectors on a smaller stratified protocol.

    Returns
    -------
    RetrievalSplit
        ``query_x``, ``train_x``, ``db_x``: 1-D object arrays of str; labels int64 (m,);
        ``train_x is db_x``.
    """
    from .splits import RetrievalSplit

    ds = load_stc2(name, path)
    idx = text_query_split(ds.labels, query_fraction, seed)
    texts = np.empty(len(ds.texts), dtype=object)
    texts[:] = ds.texts
    db = texts[idx.database]
    return RetrievalSplit(
        texts[idx.query],
        ds.labels[idx.query],
        db,
        ds.labels[idx.database],
        db,
        ds.labels[idx.database],
        tuple(str(i) for i in range(ds.n_classes)),
        idx,
        f"{name}/texts",
    )
