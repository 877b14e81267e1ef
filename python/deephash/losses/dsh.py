"""DSH loss (Liu, Wang, Shan & Chen, "Deep Supervised Hashing for Fast Image Retrieval", CVPR 2016)."""

from __future__ import annotations

from .base import PairwiseHashLoss
from .parts import AbsDistance, Contrastive, positive_int

__all__ = ["DSHLoss"]


class DSHLoss(PairwiseHashLoss):
    r"""Contrastive loss on real outputs with margin m, plus an L1 pull of each output toward +-1.

    DSH's per-pair loss (with :math:`s_{ij}=1` for similar pairs) is
    :math:`\tfrac12 s_{ij} \|u_i - v_j\|^2 + \tfrac12 (1 - s_{ij}) \max(m - \|u_i - v_j\|^2, 0)`
    with regulariser :math:`\alpha \| |u_i| - \mathbf{1} \|_1`. Here, with mean reductions::

        d_ij = ||u_i - v_j||^2
        L = mean over pairs of [0.5 * s_ij * d_ij + 0.5 * (1 - s_ij) * max(margin - d_ij, 0)]
            + alpha * mean over i of sum over k of | |u_ik| - 1 |

    (the paper adds the regulariser for both images of every pair; averaging it per image
    differs only by a constant factor on alpha.)

    Parameters
    ----------
    bits : int
        Code length k; the default margin is 2k (the paper's m = 2k: codes at Hamming distance
        h are 4h apart in squared Euclidean distance, so the margin asks for h >= k/2).
    margin : float, optional
        Overrides 2 * bits.
    alpha : float, default 0.01
        Regulariser weight (the paper's value).
    """

    def __init__(self, bits: int, margin: float | None = None, alpha: float = 0.01):
        margin = 2.0 * positive_int("bits", bits) if margin is None else margin
        super().__init__(pair=Contrastive(margin), quantization=AbsDistance(), weight=alpha, weight_name="alpha")

    @property
    def margin(self) -> float:
        return self.pair.margin

    @property
    def alpha(self) -> float:
        return self.weight
