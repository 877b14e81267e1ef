"""ITQ: iterative quantisation (Gong & Lazebnik, CVPR 2011; PAMI 2013), unsupervised."""

from __future__ import annotations

from ._itq import itq_rotation
from .projection import ProjectionHashing, pca_projection, project_linear
from .hyperparameters import Hyperparameter

__all__ = ["ITQ", "itq_projection"]


def itq_projection(f, bits: int, seed: int, n_iter: int = 50, method: str = "ITQ"):
    """ITQ's map of features f (n, d) to ``bits`` values: ``(projection (d, bits), offset (bits,))``.

    ``project_linear(f, projection, offset)`` are the rotated, zero-mean PCA projections whose
    signs are the ITQ codes; ``method`` names the caller in errors (too many bits).
    """
    w, offset = pca_projection(f, bits, seed, method)
    r = itq_rotation(project_linear(f, w, offset), n_iter, seed)
    return w @ r, offset @ r


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
    itq_iterations : int, default 50
        (Formerly ``n_iter``, still accepted with a DeprecationWarning.)
        ITQ alternations (the paper's 50).
    """

    name = "ITQ"
    hyperparameters = (Hyperparameter("itq_iterations", 50, "alternations of the ITQ rotation", int, low=0),)
    renamed = {"n_iter": "itq_iterations"}

    def _learn(self, f):
        projection, offset = itq_projection(f, self.bits, self.seed, self.params["itq_iterations"], self.name)
        return {"projection": projection, "offset": offset}

    def _project(self, f, a):
        return project_linear(f, a["projection"], a["offset"])
