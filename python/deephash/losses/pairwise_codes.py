"""Pairs plus a squared distance to codes learned beside the network (DSDH, DFH, ADSH)."""

from __future__ import annotations

from .base import PairwiseHashLoss, Supervision, check_outputs, check_targets
from .parts import CodeSquared, nonnegative, upcast

__all__ = ["PairwiseCodeLoss"]


class PairwiseCodeLoss(PairwiseHashLoss):
    """A pairwise loss plus ``weight * mean((u - b)^2)`` towards given codes b in {-1, +1}.

    The pair part is composed as in :class:`~deephash.losses.PairwiseHashLoss` (``pair``, mean
    over the pairs; no ``quantization``); the codes are the batch's rows of codes kept beside
    the network -- the run's target codes (``Supervision.TARGETS``), which a method's hook
    updates by discrete optimisation, or codes a subclass derives in :meth:`batch_codes`.

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
    labels : tensor (n,) int or (n, c) multi-hot
    codes : float tensor (n, bits) of -1 / +1
    ref_u, ref_labels : optional, as for PairwiseHashLoss

    Parameters
    ----------
    pair : callable (u, v, s) -> (n, m)
        The pair part.
    weight : float
        Weight of the codes term in the mean-reduced loss.
    item_weight : float or None
        For objectives written as sums (``sum over pairs + c * sum over items of ||b_i -
        u_i||^2``, n items): ``c``. The same balance under mean reductions is ``weight = c *
        bits / n`` (the pair sum has n terms per item, the item sum ``bits``), set when training
        starts (``on_fit_start``, from the run's n and code length); ``weight`` is then ignored.
    """

    consumes = frozenset({Supervision.PAIRS, Supervision.TARGETS})

    def __init__(self, pair, weight: float = 0.0, weight_name: str = "weight", item_weight=None):
        super().__init__(pair=pair, weight=weight, weight_name=weight_name)
        self.item_weight = None if item_weight is None else nonnegative("item_weight", item_weight)
        self.to_codes = CodeSquared()

    def on_fit_start(self, run) -> None:
        if self.item_weight is not None:
            bits = run.targets.shape[1] if run.targets is not None else None
            if bits is None:
                raise ValueError(f"{type(self).__name__}: item_weight needs the run's target codes (n, bits)")
            self.weight = self.item_weight * bits / run.n

    def batch_codes(self, inputs):
        """The codes the batch's outputs are pulled towards: the target codes by default."""
        return inputs.targets

    def step_loss(self, inputs):
        return self(inputs.u, inputs.labels, self.batch_codes(inputs), inputs.ref_u, inputs.ref_labels)

    def forward(self, u, labels, codes, ref_u=None, ref_labels=None):
        check_outputs(u)
        if codes is None:
            raise ValueError(f"{type(self).__name__} needs the batch's codes (n, bits) of -1/+1, got None")
        check_targets(u, codes)
        out_dtype = u.dtype
        work, u, codes = upcast(u, codes)  # once: the pair part then computes in the working dtype
        loss = super().forward(u, labels, ref_u, ref_labels)
        if self.weight:
            loss = loss + self.weight * self.to_codes(u, codes)
        return loss.to(out_dtype)
