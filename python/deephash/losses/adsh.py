"""ADSH loss (Jiang & Li, "Asymmetric Deep Supervised Hashing", AAAI 2018)."""

from __future__ import annotations

from .pairwise_codes import PairwiseCodeLoss
from .parts import nonnegative

__all__ = ["ADSHLoss", "InnerProductFit"]


class InnerProductFit:
    """Per pair ``(u_i . v_j - scale * (2 s_ij - 1))^2``: inner products fitted to +-scale, (n, m)."""

    def __init__(self, scale: float):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a number > 0, got {scale!r}")
        self.scale = float(scale)

    def __call__(self, u, v, s):
        return (u @ v.T - self.scale * (2.0 * s - 1.0)).pow(2)


class ADSHLoss(PairwiseCodeLoss):
    r"""ADSH's query-network loss: query outputs against the database codes V.

    For the sampled database items i (the batch, outputs u_i = tanh(F(x_i))) and every
    database item j (code v_j in {-1, +1}), with ``S_ij = +1`` for a similar pair and -1
    otherwise and c the code length, ADSH minimises::

        sum_i sum_j (u_i . v_j - c S_ij)^2  +  gamma sum_i ||v_i - u_i||^2

    (v_i: the sampled item's own database code). With mean reductions::

        L = mean over (i, j) of (u_i . v_j - c S_ij)^2  +  (gamma * bits / n) * mean over i, k of (u_ik - v_ik)^2

    The batch's codes v_i are the run's target codes (``Supervision.TARGETS``), which hold V;
    the references v_j are V and all the labels (taken from the run when training starts, or
    given to ``forward``).

    Parameters
    ----------
    bits : int
        c.
    gamma : float
        The paper's gamma.
    weight : float or None
        The codes term's weight in the mean-reduced loss; None: ``gamma * bits / n`` at fit start.
    """

    def __init__(self, bits: int, gamma: float, weight=None):
        gamma = nonnegative("gamma", gamma)
        item = gamma if weight is None else None
        super().__init__(InnerProductFit(bits), weight=0.0 if weight is None else weight, item_weight=item)
        self.gamma = gamma
        self._database = None

    def on_fit_start(self, run) -> None:
        super().on_fit_start(run)
        self._database = (run.targets, run.labels)  # updated in place by the method's code step

    def step_loss(self, inputs):
        if self._database is None:
            raise ValueError("ADSHLoss compares with the database codes: train it in a run, or call it directly")
        codes, labels = self._database
        return self(inputs.u, inputs.labels, inputs.targets, codes, labels)
