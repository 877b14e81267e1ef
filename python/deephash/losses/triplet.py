"""Base class of the triplet losses: (anchor, similar, dissimilar) rows, optionally graded."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_outputs, torch
from .parts import upcast

__all__ = ["TripletHashLoss"]


class TripletHashLoss(HashLoss):
    """A loss over triplets of outputs: the anchor should be nearer the positive than the negative.

    The trainer mines the triplets (:class:`deephash.training.TripletMiner`) and calls
    ``loss(anchor, positive, negative, gains)`` with the rows gathered; subclasses implement
    :meth:`compute_loss`. This class validates shapes and dtypes, computes in at least float32
    and returns a 0-d tensor of ``anchor``'s dtype. With no triplets the loss is 0 (and still
    part of the graph, so a step with nothing to rank changes nothing).

    Set ``consumes = frozenset({Supervision.GRADED_TRIPLETS})`` in a subclass to receive the gains
    2**r_pos - 2**r_neg of graded relevance (r = number of shared labels); a graded loss called
    without gains raises ValueError.

    The triplets come from a miner the method passes to the run
    (:class:`deephash.training.TripletMiner`, with its own ``per_anchor``).

    Parameters of forward
    ---------------------
    anchor, positive, negative : float tensors (t, bits)
    gains : float tensor (t,), optional
    """

    consumes = frozenset({Supervision.TRIPLETS})

    def __init__(self, triplets_per_anchor=None):
        super().__init__()
        if triplets_per_anchor is not None:  # the miner's parameter now
            import warnings

            warnings.warn(
                f"{type(self).__name__}(triplets_per_anchor=...) is deprecated: the method passes "
                "deephash.training.TripletMiner(per_anchor=...) to the training run",
                DeprecationWarning,
                stacklevel=2,
            )
            k = triplets_per_anchor
            if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
                raise ValueError(f"triplets_per_anchor (the miner's per_anchor) must be a positive int, got {k!r}")
        #: Deprecated: read by DeepHashingMethod.make_miner when set.
        self.triplets_per_anchor = triplets_per_anchor

    def step_loss(self, inputs: LossInputs):
        t = inputs.triplets
        pool = inputs.pool()
        return self(inputs.u[t[:, 0]], pool[t[:, 1]], pool[t[:, 2]], inputs.gains)

    @property
    def graded(self) -> bool:
        return Supervision.GRADED_TRIPLETS in self.consumes

    def forward(self, anchor, positive, negative, gains=None):
        check_outputs(anchor, "anchor")
        for name, v in (("positive", positive), ("negative", negative)):
            check_outputs(v, name)
            if v.shape != anchor.shape:
                raise ValueError(f"{name} must have the anchor's shape {tuple(anchor.shape)}, got {tuple(v.shape)}")
        if gains is None and self.graded:
            raise ValueError(
                f"{type(self).__name__} ranks by graded relevance and needs gains (t,); got none "
                "(was it given labels to rank?)"
            )
        if gains is not None:
            if not isinstance(gains, torch.Tensor) or not gains.dtype.is_floating_point:
                raise TypeError("gains must be a floating-point torch tensor (t,)")
            if gains.shape != (anchor.shape[0],):
                raise ValueError(f"gains must have shape ({anchor.shape[0]},), got {tuple(gains.shape)}")
        out_dtype = anchor.dtype
        if anchor.shape[0] == 0:
            return (anchor.sum() * 0).to(out_dtype)
        _, a, p, n, g = upcast(anchor, positive, negative, gains)
        return self.compute_loss(a, p, n, g).to(out_dtype)

    def compute_loss(self, anchor, positive, negative, gains):  # pragma: no cover - abstract
        """(t, bits) x 3 (and gains (t,) or None) -> 0-d tensor."""
        raise NotImplementedError
