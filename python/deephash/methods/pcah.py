"""PCAH: the signs of the top principal components (the baseline of Wang et al., CVPR 2010)."""

from __future__ import annotations

from .projection import ProjectionHashing, pca_projection, project_linear

__all__ = ["PCAH"]


class PCAH(ProjectionHashing):
    """Bit k of x is the sign of its k-th principal component (centred on the training set).

    The top ``bits`` principal directions of the training features (see
    :func:`deephash.methods.projection.pca_projection`; raw TF-IDF uses a truncated SVD).
    Needs features of at least ``bits`` dimensions. The first components carry most of the
    variance, so long codes waste bits on noise — which ITQ's rotation corrects.
    """

    name = "PCAH"
    hyperparameters = ()

    def _learn(self, f):
        w, offset = pca_projection(f, self.bits, self.seed, self.name)
        return {"projection": w, "offset": offset}

    def _project(self, f, a):
        return project_linear(f, a["projection"], a["offset"])
