"""Convolutional text hashing (Xu, Wang, Liu, Tian, Zhang & Hao, IJCAI 2015)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["TextCNNHash", "laplacian_eigenmaps", "spectral_target_codes"]


def spectral_target_codes(
    texts,
    bits: int,
    neighbors: int = 10,
    min_df: int = 2,
    seed: int = 0,
    svd=None,
    rotation: str = "itq",
    itq_iterations: int = 50,
):
    """Binary codes from the texts' similarity structure: the first stage of Xu et al.

    TF-IDF vectors (``min_df``, sublinear tf, fitted on these texts; with ``svd`` = d, reduced to
    their d leading latent-semantic dimensions by a truncated SVD and scaled to unit length) ->
    symmetric k-nearest-neighbour graph under cosine similarity -> Laplacian eigenmaps
    (:func:`laplacian_eigenmaps`: ``bits`` dimensions, the trivial one dropped) -> binary codes:

    - ``rotation="median"`` (the paper): each dimension thresholded at its median;
    - ``rotation="itq"`` (default): each text's embedding scaled to unit length (as in Ng, Jordan & Weiss's
      spectral clustering), centred and rotated by ITQ (:func:`deephash.methods._itq.itq_rotation`,
      ``itq_iterations`` alternations) before the median threshold. Eigenvectors of sparse kNN graphs of short texts
      concentrate on small groups of texts; a bit taken from one such vector splits the rest
      of the corpus arbitrarily, and the rotation spreads every bit over all dimensions.

    Either way every bit is balanced.

    Returns
    -------
    numpy.ndarray, float32 (n, bits) in {-1, +1}
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import kneighbors_graph

    if rotation not in ("median", "itq"):
        raise ValueError(f"rotation must be 'median' or 'itq', got {rotation!r}")
    if svd is not None and (isinstance(svd, bool) or not isinstance(svd, int) or svd < 1):
        raise ValueError(f"svd must be None or an int >= 1, got {svd!r}")
    texts = [str(t) for t in texts]
    n = len(texts)
    if n <= bits + 1:
        raise ValueError(f"{bits} target bits need more than {bits + 1} training texts, got {n}")
    try:
        vectors = TfidfVectorizer(min_df=min_df, sublinear_tf=True).fit_transform(texts)
    except ValueError as e:
        raise ValueError(f"no vocabulary for the target codes: {e}") from None
    if svd is not None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize

        dims = min(int(svd), vectors.shape[1] - 1, n - 1)
        vectors = normalize(TruncatedSVD(max(dims, 1), random_state=seed).fit_transform(vectors))
    k = min(int(neighbors), n - 1)
    graph = kneighbors_graph(vectors, k, metric="cosine", mode="connectivity", include_self=False)
    graph = ((graph + graph.T) > 0).astype(np.float64)
    emb = laplacian_eigenmaps(graph, bits, seed)
    if rotation == "itq":
        from ._itq import itq_rotation

        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        emb = emb - emb.mean(axis=0)
        emb = emb @ itq_rotation(emb, itq_iterations, seed)
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
    TF-IDF vectors, rotated by ITQ and thresholded at the median (the paper thresholds the
    eigenmaps at the median directly: ``target_rotation="median"``). Stage 2: the ``"text_cnn"``
    backbone (frozen MiniLM word-piece embeddings, a trained convolution, max pooling over time)
    and a linear hash layer, trained with the logistic loss against the target bits
    (:class:`deephash.losses.TargetCodeLoss`). Unsupervised: labels are ignored.

    Hyperparameters
    ---------------
    Training runs ``TrainConfig.epochs`` (default 50, like every deep method); the validation
    below used ``epochs=3``, which is enough for this network and 15x faster: pass
    ``TextCNNHash(bits=32, epochs=3)`` for that recipe.

    Validated at 32 bits (3 epochs) on 10% of each class of the STC2 databases as queries, the
    rest as training set and database; mAP SearchSnippets / StackOverflow (ITQ on TF-IDF on the
    same split: .299 / .512):

    ==============================================  =============
    targets                                          mAP
    ==============================================  =============
    k = 10, median (the paper)                       .663 / .500
    k = 30, median                                   .503 / .566
    k = 10, ITQ rotation (default)                   .732 / .616
    k = 30 over a 100-d truncated SVD, ITQ rotation  .488 / .639
    ==============================================  =============

    neighbors : int, default 10
        k of the kNN graph.
    target_min_df : int, default 2
        TF-IDF ``min_df`` of the graph's vectors.
    target_svd : int or None, default None
        Build the graph over this many latent-semantic (truncated SVD) dimensions of the TF-IDF
        vectors instead of the vectors themselves.
    target_rotation : {"itq", "median"}, default "itq"
        How the eigenmaps become bits (see :func:`spectral_target_codes`).
    """

    name = "TextCNNHash"
    supervised = False
    default_backbone = "text_cnn"
    hyperparameters = (
        Hyperparameter("neighbors", 10, "k of the texts' kNN graph", int, low=1),
        Hyperparameter("target_min_df", 2, "TF-IDF min_df of the graph's vectors", int, low=1),
        Hyperparameter("target_svd", None, "SVD dimensions of the graph (None: TF-IDF)", int, low=1, none=True),
        Hyperparameter("target_rotation", "itq", "how the eigenmaps become bits", choices=("itq", "median")),
        Hyperparameter("itq_iterations", 50, "alternations of the targets' ITQ rotation", int, low=0),
    )

    def make_targets(self, x, labels):
        p = self.params
        return spectral_target_codes(
            x,
            self.bits,
            p["neighbors"],
            p["target_min_df"],
            self.seed,
            svd=p["target_svd"],
            rotation=p["target_rotation"],
            itq_iterations=p["itq_iterations"],
        )

    def make_loss(self):
        from ..losses.text_cnn_hash import TargetCodeLoss

        return TargetCodeLoss()
