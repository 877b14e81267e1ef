"""ADSH loss (Jiang & Li, "Asymmetric Deep Supervised Hashing", AAAI 2018)."""

from __future__ import annotations

from .base import pair_counts
from .pairwise_codes import PairwiseCodeLoss
from .parts import nonnegative

__all__ = ["ADSHLoss", "InnerProductFit", "dissimilar_target"]


def dissimilar_target(labels) -> float:
    """The authors' code's "soft constraint": r = similar / dissimilar pairs of the database
    (labels (n,) or (n, c) tensor), so a dissimilar pair's target is -r instead of -1 (the ten
    CIFAR-10 classes: about 1/9). 1.0 when there are no dissimilar pairs."""
    similar, total = pair_counts(labels)
    return similar / (total - similar) if total > similar else 1.0


class InnerProductFit:
    """Per pair ``(u_i . v_j - scale * S_ij)^2`` with ``S_ij = 1`` for a similar pair and
    ``-dissimilar`` otherwise: inner products fitted to the scaled similarities, (n, m)."""

    def __init__(self, scale: float, dissimilar: float = 1.0):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a number > 0, got {scale!r}")
        self.scale = float(scale)
        self.dissimilar = nonnegative("dissimilar", dissimilar)

    def similarity(self, s):
        """s (n, m) float {0, 1} -> S in {-dissimilar, 1}."""
        return s * (1.0 + self.dissimilar) - self.dissimilar

    def __call__(self, u, v, s):
        return (u @ v.T - self.scale * self.similarity(s)).pow(2)


class ADSHLoss(PairwiseCodeLoss):
    r"""ADSH's query-network loss: query outputs against the database codes V.

    For the sampled database items i (the batch, outputs u_i = tanh(F(x_i))) and every
    database item j (code v_j in {-1, +1}), with ``S_ij = +1`` for a similar pair and ``-r``
    otherwise (the paper: r = 1; the authors' code: r = similar / dissimilar pairs,
    :func:`dissimilar_target`) and c the code length, ADSH minimises::

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
    dissimilar : float or None
        r; None: :func:`dissimilar_target` of the training labels at fit start (1 until then).
    """

    def __init__(self, bits: int, gamma: float, weight=None, dissimilar=None):
        gamma = nonnegative("gamma", gamma)
        item = gamma if weight is None else None
        pair = InnerProductFit(bits, 1.0 if dissimilar is None else dissimilar)
        super().__init__(pair, weight=0.0 if weight is None else weight, item_weight=item)
        self.gamma = gamma
        self.fixed_dissimilar = dissimilar is not None
        self._database = None

    def on_fit_start(self, run) -> None:
        super().on_fit_start(run)
        if not self.fixed_dissimilar:
            self.pair.dissimilar = dissimilar_target(run.labels)
        self._database = (run.targets, run.labels)  # updated in place by the method's code step

    def step_loss(self, inputs):
        if self._database is None:
            raise ValueError("ADSHLoss compares with the database codes: train it in a run, or call it directly")
        codes, labels = self._database
        return self(inputs.u, inputs.labels, inputs.targets, codes, labels)
