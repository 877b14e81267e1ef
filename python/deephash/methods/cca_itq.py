"""CCA-ITQ: canonical correlation analysis, then one ITQ rotation shared by both modalities.

Gong, Lazebnik, Gordo & Perronnin, "Iterative Quantization: A Procrustean Approach to Learning
Binary Codes for Large-Scale Image Retrieval" (TPAMI 2013), section on CCA-ITQ; the unsupervised
cross-modal baseline of DCMH's comparison.
"""

from __future__ import annotations

import numpy as np

from ._itq import itq_rotation
from .crossmodal import LinearCrossModalMethod
from .hyperparameters import Hyperparameter

__all__ = ["CCAITQ"]


class CCAITQ(LinearCrossModalMethod):
    """CCA to a common space, a seeded Gaussian map to ``bits`` dimensions, one ITQ rotation.

    Fit: scikit-learn's ``CCA(n_components=c)`` on the training pairs (``c`` = ``n_components``,
    at most ``min(d_image, d_text)`` -- 10 on the Wikipedia set, whose texts are 10-d LDA
    topics); each modality's projections are standardised (CCA components have unit
    correlation, not unit variance). For ``bits > c`` a seeded Gaussian matrix W (c, bits) maps
    the CCA space to ``bits`` dimensions (random projections keep angles, so correlated pairs
    stay close); for ``bits <= c`` the first ``bits`` components are kept. One ITQ rotation R
    (``deephash.methods._itq.itq_rotation``) is learned on both modalities' training
    projections stacked, so that both quantise into the same code space. Encoding is affine:
    bit k of x is ``((x - mean) @ P @ W @ R)_k > 0``. Labels are ignored (unsupervised).

    Hyperparameters
    ---------------
    n_components : int, default 10
        CCA dimensions (clipped to the smaller input dimension and to n - 1).
    itq_iterations : int, default 50
        (Formerly ``itq_iter``, still accepted with a DeprecationWarning.)
        ITQ alternations (the paper's 50).
    cca_max_iter : int, default 1000
        scikit-learn CCA's iteration limit (its default 500 warns on the Wikipedia set).
    """

    name = "CCAITQ"
    supervised = False
    hyperparameters = (
        Hyperparameter("n_components", 10, "CCA directions kept (capped by the data)", int, low=1),
        Hyperparameter("itq_iterations", 50, "alternations of the ITQ rotation", int, low=0),
        Hyperparameter("cca_max_iter", 1000, "iterations of scikit-learn's CCA", int, low=1),
    )
    renamed = {"itq_iter": "itq_iterations"}

    def _learn(self, image_x, text_x, labels):
        import warnings

        from sklearn.cross_decomposition import CCA
        from sklearn.exceptions import ConvergenceWarning

        n = image_x.shape[0]
        c = int(min(self.params["n_components"], image_x.shape[1], text_x.shape[1], n - 1))
        if c < 1:
            raise ValueError(
                f"CCA needs at least 2 pairs and 1 dimension, got n={n}, "
                f"d_image={image_x.shape[1]}, d_text={text_x.shape[1]}"
            )
        cca = CCA(n_components=c, max_iter=int(self.params["cca_max_iter"]))
        with warnings.catch_warnings():
            # a component that has not met the tolerance is still a usable projection
            warnings.simplefilter("ignore", ConvergenceWarning)
            cca.fit(image_x, text_x)
        maps = []
        for x, which in ((image_x, "x"), (text_x, "y")):
            d = x.shape[1]
            mean = x.mean(0)
            # CCA's transform is affine; read its linear part off the unit vectors, so that only
            # the public API is used and the stored model is just (mean, matrix).
            zero = np.zeros((1, d))
            if which == "x":
                lin = cca.transform(np.eye(d)) - cca.transform(zero)
            else:
                lin = (
                    cca.transform(np.zeros((d, image_x.shape[1])), np.eye(d))[1]
                    - cca.transform(np.zeros((1, image_x.shape[1])), zero)[1]
                )
            std = ((x - mean) @ lin).std(0)
            maps.append((mean, lin / np.where(std > 1e-12, std, 1.0)))
        if self.bits > c:
            w = np.random.default_rng(self.seed).standard_normal((c, self.bits))
        else:
            w = np.eye(c)[:, : self.bits]
        maps = [(mean, lin @ w) for mean, lin in maps]
        v = np.vstack([(x - mean) @ p for x, (mean, p) in zip((image_x, text_x), maps)])
        r = itq_rotation(v, n_iter=int(self.params["itq_iterations"]), seed=self.seed)
        return [(mean, p @ r) for mean, p in maps]
