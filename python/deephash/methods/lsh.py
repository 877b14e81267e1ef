"""LSH: random-hyperplane hashing (Charikar, STOC 2002), the unsupervised baseline."""

from __future__ import annotations

import numpy as np

from .projection import ProjectionHashing, feature_mean, project_linear
from .hyperparameters import Hyperparameter

__all__ = ["LSH"]


class LSH(ProjectionHashing):
    """Sign random projections: bit k of x is ``(f(x) - mean) . w_k > 0`` with w_k ~ N(0, I).

    ``f`` is the backbone's features: by default the input vectors themselves
    (``backbone="features"``, needs only NumPy); ``"tfidf"`` or ``"minilm"`` for texts,
    ``"hog"`` or ``"efficientnet_lite0"`` for images (frozen, see
    :mod:`deephash.methods.frozen_features`). ``fit`` only draws the hyperplanes (from
    ``seed``) and, with ``center=True``, the mean of the training features: labels are
    accepted and ignored.

    Hyperparameters
    ---------------
    center : bool, default True
        Subtract the training mean first, so that the hyperplanes pass through the data's
        centre (otherwise non-negative inputs such as pixels give nearly constant bits).
    """

    name = "LSH"
    hyperparameters = (Hyperparameter("center", True, "subtract the training mean before projecting", bool),)

    def _learn(self, f):
        d = f.shape[1]
        planes = np.random.default_rng(self.seed).standard_normal((d, self.bits))
        mean = feature_mean(f) if self.params["center"] else np.zeros(d)
        return {"planes": planes, "offset": mean @ planes}

    def _project(self, f, a):
        return project_linear(f, a["planes"], a["offset"])
