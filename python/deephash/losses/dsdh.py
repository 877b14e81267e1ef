"""DSDH loss (Li, Sun, He & Tan, "Deep Supervised Discrete Hashing", NeurIPS 2017)."""

from __future__ import annotations

from .pairwise_codes import PairwiseCodeLoss
from .parts import PairLikelihood, nonnegative

__all__ = ["DSDHLoss"]


class DSDHLoss(PairwiseCodeLoss):
    r"""The network's part of DSDH: pairwise likelihood plus a pull towards the discrete codes.

    DSDH minimises over the network outputs U, the binary codes B and a linear classifier W::

        J = -sum_{s_ij} (s_ij theta_ij - log(1 + e^theta_ij))  +  mu sum_i ||y_i - W^T b_i||^2
            + nu ||W||^2  +  eta sum_i ||b_i - u_i||^2,      theta_ij = u_i . u_j / 2

    by alternation. The network step (this loss) sees B and W as constants, so the classifier
    term drops out; with mean reductions::

        L = mean over pairs of [softplus(theta_ij) - s_ij theta_ij]  +  weight * mean over i, k of (u_ik - b_ik)^2

    B is the run's target codes (``Supervision.TARGETS``), updated with W by the method's hook
    (:class:`deephash.methods.dsdh.DiscreteCodeStep`). The sums above over n^2 pairs and n
    items correspond, with these means, to ``weight = eta * bits / n`` (set when training
    starts, see :class:`~deephash.losses.PairwiseCodeLoss`'s ``item_weight``) unless ``weight``
    is given.

    Parameters
    ----------
    eta : float
        The paper's eta.
    weight : float or None
        The codes term's weight in the mean-reduced loss; None: ``eta * bits / n`` at fit start.
    """

    def __init__(self, eta: float, weight=None):
        eta = nonnegative("eta", eta)
        item = eta if weight is None else None
        super().__init__(PairLikelihood(scale=0.5), weight=0.0 if weight is None else weight, item_weight=item)
        self.eta = eta
