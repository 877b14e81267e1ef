"""ITQ: iterative quantisation (Gong & Lazebnik, CVPR 2011; PAMI 2013), unsupervised."""

from __future__ import annotations

from ._itq import itq_rotation
from .projection import ProjectionHashing, pca_projection, project_linear

__all__ = ["ITQ"]


class ITQ(ProjectionHashing):
    """PCA to ``bits`` dimensions, then the orthogonal rotation that minimises the quantisation error.

    The projections V of the training features on their top ``bits`` principal directions
    (:func:`deephash.methods.projection.pca_projection`; raw TF-IDF uses a truncated SVD and
    centres the projections afterwards) are rotated by R from
    :func:`deephash.methods._itq.itq_rotation` (``n_iter`` alternations from a random
    orthogonal start drawn from ``seed``); the code of x is ``sign(V(x) R)``. PCA and rotation
    fold into one (d, bits) matrix.

    Hyperparameters
    ---------------
    n_iter : int, default 50
        ITQ alternations (the paper's 50).
    """

    name = "ITQ"
    hyperparameter_defaults = {"n_iter": 50}

    def _learn(self, f):
        w, offset = pca_projection(f, self.bits, self.seed, self.name)
        r = itq_rotation(project_linear(f, w, offset), self.params["n_iter"], self.seed)
        return {"projection": w @ r, "offset": offset @ r}

    def _project(self, f, a):
        return project_linear(f, a["projection"], a["offset"])
