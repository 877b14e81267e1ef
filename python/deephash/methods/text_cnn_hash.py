"""Convolutional text hashing (Xu, Wang, Liu, Tian, Zhang & Hao, IJCAI 2015)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod

__all__ = ["TextCNNHash", "laplacian_eigenmaps", "spectral_target_codes"]


def spectral_target_codes(texts, bits: int, neighbors: int = 10, min_df: int = 2, seed: int = 0):
    """Binary codes from the texts' similarity structure: the first stage of Xu et al.

    TF-IDF vectors (``min_df``, sublinear tf, fitted on these texts) -> symmetric k-nearest-
    neighbour graph under cosine similarity -> Laplacian eigenmaps (:func:`laplacian_eigenmaps`:
    ``bits`` dimensions, the trivial one dropped) -> each dimension thresholded at its median
    (so every bit is balanced).

    Returns
    -------
    numpy.ndarray, float32 (n, bits) in {-1, +1}
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import kneighbors_graph

    texts = [str(t) for t in texts]
    n = len(texts)
    if n <= bits + 1:
        raise ValueError(f"{bits} target bits need more than {bits + 1} training texts, got {n}")
    try:
        tfidf = TfidfVectorizer(min_df=min_df, sublinear_tf=True).fit_transform(texts)
    except ValueError as e:
        raise ValueError(f"no vocabulary for the target codes: {e}") from None
    k = min(int(neighbors), n - 1)
    graph = kneighbors_graph(tfidf, k, metric="cosine", mode="connectivity", include_self=False)
    graph = ((graph + graph.T) > 0).astype(np.float64)
    emb = laplacian_eigenmaps(graph, bits, seed)
    return np.where(emb > np.median(emb, axis=0), 1.0, -1.0).astype(np.float32)


def laplacian_eigenmaps(graph, dims: int, seed: int = 0) -> np.ndarray:
    """The ``dims`` leading non-trivial Laplacian eigenmaps of a symmetric sparse graph, (n, dims).

    The eigenvectors of the largest eigenvalues of ``D^-1/2 A D^-1/2`` (those of the smallest
    of the normalised Laplacian), the first (the trivial one, eigenvalue 1) dropped, mapped
    back by ``D^-1/2`` -- scikit-learn's SpectralEmbedding with ``norm_laplacian=True``.
    Solved by ARPACK in its plain largest-algebraic mode (sparse products only; ARPACK's
    shift-invert mode, which SpectralEmbedding uses, factorises the matrix and took over 15
    minutes on the 18,000-text kNN graph of StackOverflow). A graph with several components
    still embeds (the extra unit eigenvalues mark components). Seeded start vector.
    """
    from scipy.sparse import diags
    from scipy.sparse.linalg import eigsh

    n = graph.shape[0]
    deg = np.asarray(graph.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
    norm = diags(inv_sqrt) @ graph @ diags(inv_sqrt)
    v0 = np.random.default_rng(seed).uniform(-1, 1, n)
    vals, vecs = eigsh(norm, k=dims + 1, which="LA", v0=v0, tol=1e-6)
    order = np.argsort(vals)[::-1]
    emb = vecs[:, order[1:]] * inv_sqrt[:, None]
    # an eigenvector's sign is arbitrary: fix it (largest entry positive) so codes are reproducible
    flip = np.sign(emb[np.abs(emb).argmax(axis=0), np.arange(dims)])
    return emb * np.where(flip == 0, 1.0, flip)


class TextCNNHash(DeepHashingMethod):
    """Two stages, as in the paper: target codes from the texts' similarity graph, then a
    convolutional network that learns to predict them; unseen texts are encoded by the network.

    Stage 1 (:func:`spectral_target_codes`): Laplacian eigenmaps of a cosine kNN graph over
    TF-IDF vectors, thresholded at the median. Stage 2: the ``"text_cnn"`` backbone (frozen
    MiniLM word-piece embeddings, a trained convolution, max pooling over time) and a linear
    hash layer, trained with the logistic loss against the target bits
    (:class:`deephash.losses.TargetCodeLoss`). Unsupervised: labels are ignored.

    Hyperparameters
    ---------------
    neighbors : int, default 10
        k of the kNN graph. Validated at 32 bits on 10% of each class of the STC2 databases
        (the rest training): k = 10 gave mAP .663 / .500 (SearchSnippets / StackOverflow),
        k = 30 .503 / .566; 10 has the better mean.
    target_min_df : int, default 2
        TF-IDF ``min_df`` of the graph's vectors.
    """

    name = "TextCNNHash"
    supervised = False
    default_backbone = "text_cnn"
    hyperparameter_defaults = {"neighbors": 10, "target_min_df": 2}

    def make_targets(self, x, labels):
        return spectral_target_codes(x, self.bits, self.params["neighbors"], self.params["target_min_df"], self.seed)

    def make_loss(self):
        from ..losses.text_cnn_hash import TargetCodeLoss

        return TargetCodeLoss()
