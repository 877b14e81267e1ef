"""Short-text topic data sets from the STC2 release (SearchSnippets, StackOverflow)."""
from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

from ._paths import find_data_file

__all__ = ["STC2_NAMES", "TextDataset", "load_stc2", "stc2_split", "tfidf_features"]

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
        raise ValueError(
            f"{text_file} has {len(texts)} lines but {gnd_file} has {len(labels)} labels"
        )
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
        q, ds.labels[idx.query], t, ds.labels[idx.train], db, ds.labels[idx.database],
        tuple(str(i) for i in range(ds.n_classes)), idx, f"{name}/tfidf{q.shape[1]}",
    )
