"""DSRH loss (Zhao, Huang, Wang & Tan, "Deep Semantic Ranking Based Hashing for Multi-Label Image
Retrieval", CVPR 2015)."""

from __future__ import annotations


from .parts import nonnegative, positive_int
from .base import LossInputs, Supervision, check_outputs
from .triplet import TripletHashLoss

__all__ = ["DSRHLoss"]


class DSRHLoss(TripletHashLoss):
    r"""Gain-weighted triplet ranking surrogate on Hamming distances, plus a bit-balance term.

    DSRH ranks the database by graded relevance r = number of labels shared with the query, and
    optimises a surrogate of NDCG: for a query q and items i, j with :math:`r_i > r_j`,

    .. math:: \omega(r_i, r_j)\,[d_H(h_q, h_i) - d_H(h_q, h_j) + \rho]_+,
              \qquad \omega(r_i, r_j) = (2^{r_i} - 2^{r_j}) / Z,

    over relaxed codes :math:`h \in (-1, 1)^q` (the paper's :math:`2\sigma(z) - 1 =
    \tanh(z/2)`; the method's tanh head learns the scale of z) with the Hamming distance
    relaxed to :math:`d_H(x, y) = (q - x^\top y) / 2`, plus the regulariser
    :math:`\tfrac{\alpha}{2}\|\mathrm{mean}_q\, h(q)\|^2` that keeps every bit balanced (the
    paper's other regulariser, weight decay, is ``TrainConfig.weight_decay``). Here Z is the
    sum of the step's gains, so the ranking term is the gain-weighted mean of the hinges::

        d(x, y) = 0.5 * (bits - x . y)
        L_rank = sum_t g_t * max(d(a_t, p_t) - d(a_t, n_t) + margin, 0) / sum_t g_t
        L_reg  = 0.5 * || mean over the batch of u ||^2
        L = L_rank + alpha * L_reg                  (:meth:`step_loss`)

    with g_t = 2**r(a, p) - 2**r(a, n) > 0 from the trainer's graded triplets. With int class
    labels r is 0 or 1, every gain is 1, and L_rank is a plain triplet hinge.

    ``loss(anchor, positive, negative, gains)`` is ``L_rank``; :meth:`regulariser` is
    ``L_reg``; the trainer calls :meth:`step_loss` (both).

    Parameters
    ----------
    bits : int
        Code length q.
    margin : float, optional
        The hinge margin rho in Hamming units; default ``bits / 32``.
    alpha : float, default 0.1
        Weight of the balance regulariser.
    """

    consumes = frozenset({Supervision.GRADED_TRIPLETS})

    def __init__(self, bits: int, margin: float | None = None, alpha: float = 0.1):
        super().__init__()
        self.bits = positive_int("bits", bits)
        self.margin = nonnegative("margin", self.bits / 32.0 if margin is None else margin)
        self.alpha = nonnegative("alpha", alpha)

    def compute_loss(self, anchor, positive, negative, gains):
        if anchor.shape[1] != self.bits:
            raise ValueError(f"outputs must have {self.bits} columns (bits), got {anchor.shape[1]}")
        if bool((gains <= 0).any()):
            raise ValueError("gains must be > 0 (the positive must be more relevant than the negative)")
        d_pos = 0.5 * (self.bits - (anchor * positive).sum(1))
        d_neg = 0.5 * (self.bits - (anchor * negative).sum(1))
        hinge = (d_pos - d_neg + self.margin).clamp_min(0)
        return (gains * hinge).sum() / gains.sum()

    def regulariser(self, u):
        """0.5 * ||mean over rows of u||^2 (0 when every bit is balanced): u (n, bits) -> 0-d."""
        check_outputs(u)
        return 0.5 * u.mean(0).pow(2).sum()

    def step_loss(self, inputs: LossInputs):
        t = inputs.triplets
        pool = inputs.pool()
        rank = self(inputs.u[t[:, 0]], pool[t[:, 1]], pool[t[:, 2]], inputs.gains)
        if self.alpha == 0:
            return rank
        return rank + self.alpha * self.regulariser(inputs.u)
