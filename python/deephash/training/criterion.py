"""What a training step feeds the loss: the batch, mined triplets, a memory bank.

:class:`Criterion` wraps a :class:`deephash.losses.HashLoss` and an optional miner (the method
passes both); :class:`MemoryBank` wraps them the same way and pairs each batch with the latest
outputs of the whole training set, as pytorch-metric-learning's ``CrossBatchMemory`` wraps a loss.
The loop calls ``criterion.step_loss(inputs)`` and skips the step when it returns None.
"""

from __future__ import annotations

from ..losses.base import LABELLED, RELATIONAL, LossInputs, Supervision

__all__ = ["Criterion", "CrossModalBank", "MemoryBank"]


class Criterion:
    """A loss and, for triplet losses, the miner that draws its triplets from the batch.

    Parameters
    ----------
    loss : deephash.losses.HashLoss
    miner : deephash.training.TripletMiner or None
        Required when the loss consumes triplets (graded when it consumes graded triplets).
    """

    def __init__(self, loss, miner=None):
        consumes = loss.consumes
        wants = Supervision.GRADED_TRIPLETS in consumes or Supervision.TRIPLETS in consumes
        if wants and miner is None:
            raise ValueError(f"{type(loss).__name__} consumes triplets: pass a miner (deephash.training.TripletMiner)")
        if miner is not None:
            if not wants:
                raise ValueError(f"{type(loss).__name__} consumes no triplets; a miner would be ignored")
            graded = Supervision.GRADED_TRIPLETS in consumes
            if miner.graded != graded:
                raise ValueError(
                    f"{type(loss).__name__} consumes {'graded' if graded else 'plain'} triplets but the "
                    f"miner draws {'graded' if miner.graded else 'plain'} ones (TripletMiner(graded=...))"
                )
        self.loss = loss
        self.miner = miner

    @property
    def consumes(self) -> frozenset:
        return self.loss.consumes

    @property
    def min_batch(self) -> int:
        """Batches smaller than this are skipped (a pair or a triplet needs two outputs)."""
        return 2 if self.consumes & RELATIONAL else 1

    def check(self, labels, targets) -> None:
        """Fails before training when the data cannot feed the loss."""
        name = type(self.loss).__name__
        if self.consumes & LABELLED and labels is None:
            raise ValueError(f"{name} consumes {sorted(str(c) for c in self.consumes & LABELLED)} and needs labels")
        if Supervision.TARGETS in self.consumes and targets is None:
            raise ValueError(f"{name} consumes target codes; none were made")
        if self.miner is not None:
            from .mining import check_rankable

            check_rankable(labels, self.miner.graded)  # not a silently idle loop

    def pool(self, inputs: LossInputs):
        """(labels, training-set ids) of the items triplets are drawn from: the batch here."""
        return inputs.labels, inputs.ids

    def step_loss(self, inputs: LossInputs):
        """The step's 0-d loss, or None when the batch gives the loss nothing to learn from."""
        if self.miner is not None:
            pool_labels, pool_ids = self.pool(inputs)
            inputs.triplets, inputs.gains = self.miner.mine(inputs.labels, inputs.ids, pool_labels, pool_ids)
            if inputs.triplets.shape[0] == 0 and Supervision.PAIRS not in self.consumes:
                return None  # nothing to rank in this batch
        return self.loss.step_loss(inputs)

    def no_step_hint(self) -> str:
        if self.miner is None:
            return ""
        return (
            " (no triplets: each anchor needs an item sharing a label with it and one "
            "less relevant; do the labels hold at least two classes?)"
        )


class MemoryBank(Criterion):
    """A criterion whose pairs and triplets reach every training item seen so far.

    Keeps the latest (detached, float32) outputs of the n training items; each step writes the
    batch's rows, then hands the loss ``ref_u`` / ``ref_labels``: the rows written so far (an
    initial pass would give stale outputs from eval-mode batch norm), all n once every item has
    been visited. Triplets are drawn from the same pool.

    Parameters
    ----------
    loss : deephash.losses.HashLoss
        Consumes pairs or triplets.
    size, bits : int
        Training items; code length.
    labels : tensor (size,) or (size, c)
        Labels of all training items, on the training device.
    miner : TripletMiner or None
    """

    def __init__(self, loss, size: int, bits: int, labels, miner=None):
        super().__init__(loss, miner)
        if not loss.consumes & RELATIONAL:
            raise ValueError(f"{type(loss).__name__} consumes neither pairs nor triplets: a memory bank has no use")
        import torch

        device = labels.device
        self.labels = labels
        self.outputs = torch.zeros(size, bits, device=device)
        self.seen = torch.zeros(size, dtype=torch.bool, device=device)
        self.ids = torch.arange(size, device=device)
        self._full = False

    @property
    def min_batch(self) -> int:
        return 1

    def pool(self, inputs):
        return inputs.ref_labels, inputs.ref_ids

    def step_loss(self, inputs):
        idx = inputs.ids
        self.outputs[idx] = inputs.u.detach().float()
        if not self._full and not bool(self.seen.all()):
            self.seen[idx] = True
            inputs.ref_u, inputs.ref_labels = self.outputs[self.seen], self.labels[self.seen]
            inputs.ref_ids = self.ids[self.seen]
        else:
            self._full = True
            inputs.ref_u, inputs.ref_labels, inputs.ref_ids = self.outputs, self.labels, self.ids
        return super().step_loss(inputs)


class CrossModalBank(Criterion):
    """The criterion of one modality's stage in cross-modal training (DCMH): pairs the batch with
    every stored output of the other modality and hands the loss (:class:`deephash.losses.DCMHLoss`)
    the batch's rows of the shared codes and the modality's column sums; then stores the batch's
    outputs.

    Parameters
    ----------
    loss : deephash.losses.HashLoss
        Its ``step_loss`` reads ``u``, ``labels``, ``ref_u`` / ``ref_labels`` (the other
        modality), ``codes`` and ``u_sum``.
    modality : {"image", "text"}
    state : object
        ``outputs`` (dict modality -> float tensor (n, bits), the latest outputs), ``labels``
        (all n) and ``codes`` (float tensor (n, bits) of +-1), shared by both stages (DCMH's
        ``_SharedCodes`` hook keeps them).
    """

    min_batch = 1  # its pairs are with the other modality: a batch of one still has them

    def __init__(self, loss, modality, state):
        super().__init__(loss)
        self.modality, self.state = modality, state
        self.other = "text" if modality == "image" else "image"

    def step_loss(self, inputs):
        st, idx = self.state, inputs.ids
        own = st.outputs[self.modality]
        inputs.u = u = inputs.u.float()
        # Column sums of this modality over all n items, the batch's share live.
        inputs.u_sum = (own.sum(0) - own[idx].sum(0)) + u.sum(0)
        inputs.ref_u, inputs.ref_labels, inputs.codes = st.outputs[self.other], st.labels, st.codes[idx]
        loss = self.loss.step_loss(inputs)
        own[idx] = u.detach()  # not in the loss's graph: safe before backward
        return loss
