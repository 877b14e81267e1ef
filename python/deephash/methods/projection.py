"""The surface of the non-deep hashing methods (LSH, PCAH, SH, ITQ) and the PCA they share.

Each learns, from the features of the training inputs (:class:`FrozenFeatures`), a few arrays
that map a feature vector to ``bits`` real values whose signs are the code. The method writes
two functions, :meth:`ProjectionHashing._learn` and :meth:`ProjectionHashing._project`; fitting,
validation, encoding and persistence are here, once.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .._typing import ArrayLike, NDArray
from .base import HashingMethod
from .frozen_features import FrozenFeatures
from .inputs import as_inputs

__all__ = ["ProjectionHashing", "pca_projection", "project_linear"]

_METHOD_PREFIX = "m/"


def _is_sparse(f) -> bool:
    return hasattr(f, "tocsr") and not isinstance(f, np.ndarray)


def project_linear(f, w: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``f @ w - offset`` for dense or scipy-sparse features f (n, d); float64 (n, k)."""
    p = f @ w if _is_sparse(f) else np.asarray(f, dtype=np.float64) @ w
    return np.asarray(p, dtype=np.float64) - offset


def feature_mean(f) -> np.ndarray:
    """Column means of dense or sparse features, float64 (d,)."""
    return np.asarray(f.mean(0), dtype=np.float64).ravel()


def pca_projection(f, k: int, seed: int, method: str):
    """The top-k principal directions of the features, as ``(w (d, k), offset (k,))``.

    ``project_linear(f, w, offset)`` gives the zero-mean (over the training features)
    projections. Dense features: the eigenvectors of the covariance with the k largest
    eigenvalues, in decreasing order. Sparse features (raw TF-IDF): centring would densify
    them, so the directions are those of scikit-learn's ``TruncatedSVD(k,
    random_state=seed)`` (LSA) on the uncentred rows, and the projections are centred
    afterwards — the usual recipe for text.

    Raises
    ------
    ValueError
        k is not smaller than the feature dimension (dense: not larger than it).
    """
    d = f.shape[1]
    if _is_sparse(f):
        if k >= d:
            raise ValueError(
                f"{method} with {k} bits needs features of more than {k} dimensions; the TF-IDF "
                f"vocabulary has {d} terms"
            )
        from sklearn.decomposition import TruncatedSVD

        w = TruncatedSVD(n_components=k, random_state=seed).fit(f).components_.T.astype(np.float64)
    else:
        if k > d:
            raise ValueError(f"{method} with {k} bits needs features of at least {k} dimensions, got {d}")
        x = np.asarray(f, dtype=np.float64)
        xc = x - x.mean(0)
        vals, vecs = np.linalg.eigh(xc.T @ xc / max(x.shape[0] - 1, 1))
        w = vecs[:, np.argsort(vals, kind="stable")[::-1][:k]]
    offset = feature_mean(project_linear(f, w, 0.0))
    return w, offset


class ProjectionHashing(HashingMethod):
    """A non-deep hashing method: frozen features, then a learnt map to ``bits`` real values.

    ``fit(x, labels=None)`` accepts and ignores labels (scikit-learn's convention for
    unsupervised estimators), so every method can be called the same way. The backbone gives
    the input kind: vectors for ``"features"`` (default), images for ``"hog"`` or
    ``"efficientnet_lite0"``, a list of str for ``"tfidf"`` or ``"minilm"``.

    Subclasses write ``_learn(features) -> dict of arrays`` and ``_project(features, arrays)
    -> float (n, bits)``.
    """

    default_backbone = "features"
    supervised = False

    def _learn(self, f) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _project(self, f, arrays: dict) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _extractor(self) -> FrozenFeatures:
        if getattr(self, "_features", None) is None:
            self._features = FrozenFeatures(self.backbone, self.seed, self.config, self.name)
        return self._features

    def fit(self, x: ArrayLike, labels: Optional[ArrayLike] = None) -> ProjectionHashing:
        """Learns the projection from the training inputs ``x``; ``labels`` are ignored.

        Parameters
        ----------
        x : array (n, d) of vectors, images (n, H, W[, C]), or list of str (text backbones)
        labels : ignored

        Returns
        -------
        self
        """
        ext = self._extractor()
        x = as_inputs(x, ext.input_kind())
        self._input_shape = tuple(int(v) for v in x.shape[1:])
        f = ext.fit(x).transform(x)
        self._arrays = {k: np.asarray(v) for k, v in self._learn(f).items()}
        self._fitted = True
        return self

    def transform(self, x: ArrayLike) -> NDArray[np.float32]:
        """Real values whose signs are the code bits, float32 (n, bits)."""
        self._check_fitted()
        ext = self._extractor()
        x = as_inputs(x, ext.input_kind())
        if tuple(x.shape[1:]) != self._input_shape:
            raise ValueError(
                f"x must have per-item shape {self._input_shape} like the data {self.name} was "
                f"fitted on, got {tuple(x.shape[1:])}"
            )
        return np.asarray(self._project(ext.transform(x), self._arrays), dtype=np.float32)

    def _state(self):
        ext = self._extractor()
        meta = {"backbone": ext.saved_spec(), "input_shape": list(self._input_shape)}
        arrays = dict(ext.state())
        arrays.update({_METHOD_PREFIX + k: v for k, v in self._arrays.items()})
        return meta, arrays

    def _restore(self, meta, arrays):
        self._input_shape = tuple(meta["input_shape"])
        self._extractor().restore(arrays, self._input_shape)
        self._arrays = {
            k[len(_METHOD_PREFIX) :]: np.array(v) for k, v in arrays.items() if k.startswith(_METHOD_PREFIX)
        }
        self._fitted = True
