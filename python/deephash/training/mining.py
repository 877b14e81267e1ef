"""Seeded, cheap triplet mining for the triplet losses: within the batch plus the memory bank.

The rule (the same for plain and graded triplets): relevance r(a, j) of pool item j to anchor a
is the number of labels they share (1 or 0 for int class ids). For each anchor of the batch,
``per_anchor`` triplets are drawn independently:

1. the positive j uniformly among the pool items with r(a, j) > 0, the anchor itself excluded;
2. the negative k uniformly among the pool items with r(a, k) < r(a, j).

The pool is the memory bank (the latest outputs of every training item visited so far, which
includes the batch) when the trainer keeps one, else the batch. Anchors with no positive or no
negative in the pool get no triplet. Graded triplets also carry the gain
2**r(a, j) - 2**r(a, k) (DSRH's NDCG-style weight); plain triplets are the same draw with r
capped at 1. The cost per step is O(batch x pool) comparisons; draws come from a
``torch.Generator`` seeded once per fit, on the CPU, so they do not depend on the device.
"""

from __future__ import annotations

import numbers

__all__ = ["TripletMiner", "check_rankable", "relevance"]


def relevance(labels, ref_labels):
    """r[i, j] = number of labels shared by item i and reference j: int64 tensor (n, m).

    ``labels`` (n,) int class ids or (n, c) multi-hot, ``ref_labels`` of the same kind.
    """
    if labels.ndim == 1:
        return (labels[:, None] == ref_labels[None, :]).long()
    return (labels.float() @ ref_labels.float().T).round().long()


def _uniform_choice(torch, mask, k: int, gen):
    """k independent uniform draws per row among the True columns of ``mask`` (rows, m).

    Inverse-CDF sampling: the running count of True columns is searched for a uniformly drawn
    rank (torch.multinomial does the same job many times slower). Every row needs a True.
    """
    counts = mask.cumsum(1, dtype=torch.int32)
    total = counts[:, -1:]
    u = torch.rand((mask.shape[0], k), generator=gen, dtype=torch.float64)
    rank = (u * total.double()).floor().int().clamp_max(total - 1) + 1
    return torch.searchsorted(counts, rank).long()


class TripletMiner:
    """Draws (anchor, positive, negative) triplets by the rule in the module docstring.

    Parameters
    ----------
    per_anchor : int
        Triplets drawn per anchor (and step).
    seed : int
        Seeds the draws.
    graded : bool
        Return gains 2**r_pos - 2**r_neg with r the shared-label count (else r is capped at 1
        and no gains are returned).
    """

    def __init__(self, per_anchor: int = 4, seed: int = 0, graded: bool = False):
        if isinstance(per_anchor, bool) or not isinstance(per_anchor, numbers.Integral) or per_anchor <= 0:
            raise ValueError(f"per_anchor must be a positive int, got {per_anchor!r}")
        from .._torch import require_torch

        self._torch = require_torch()
        self.per_anchor = int(per_anchor)
        self.graded = bool(graded)
        self._gen = self._torch.Generator().manual_seed(int(seed))

    def mine(self, labels, ids, ref_labels, ref_ids):
        """Triplets for one batch.

        Parameters
        ----------
        labels : tensor (b,) or (b, c)
            Labels of the batch (the anchors).
        ids : int64 tensor (b,)
            Training-set positions of the anchors.
        ref_labels : tensor (m,) or (m, c)
            Labels of the pool.
        ref_ids : int64 tensor (m,)
            Training-set positions of the pool items (to exclude each anchor from its own
            positives).

        Returns
        -------
        triplets : int64 tensor (t, 3)
            (anchor row in the batch, positive row in the pool, negative row in the pool), on
            the labels' device.
        gains : float32 tensor (t,) or None
            2**r_pos - 2**r_neg when graded.
        """
        torch = self._torch
        device = labels.device
        r = relevance(labels, ref_labels).cpu().to(torch.int16)  # small counts, less memory traffic
        if not self.graded:
            r = r.clamp_max(1)
        not_self = ids.cpu()[:, None] != ref_ids.cpu()[None, :]
        pos_ok = (r > 0) & not_self
        has_neg = (r == 0).any(1)  # a negative needs r < r_pos, and r_pos >= 1
        rows = torch.nonzero(pos_ok.any(1) & has_neg).flatten()
        if rows.numel() == 0:
            empty = torch.zeros((0, 3), dtype=torch.long, device=device)
            return empty, (torch.zeros(0, device=device) if self.graded else None)
        k = self.per_anchor
        pos = _uniform_choice(torch, pos_ok[rows], k, self._gen)
        anchors = rows[:, None].expand(-1, k).reshape(-1)
        pos = pos.reshape(-1)
        r_pos = r[anchors, pos]
        neg_ok = r[anchors] < r_pos[:, None]
        neg = _uniform_choice(torch, neg_ok, 1, self._gen).flatten()
        triplets = torch.stack([anchors, pos, neg], 1).to(device)
        if not self.graded:
            return triplets, None
        gains = (2.0 ** r_pos.double() - 2.0 ** r[anchors, neg].double()).float().to(device)
        return triplets, gains


def check_rankable(labels, graded: bool = False) -> None:
    """Raises ValueError when the labels give the triplet rule above nothing to draw.

    A triplet needs an anchor a, a positive j != a with r(a, j) >= 1 and a negative k with
    r(a, k) < r(a, j) (plain triplets: r capped at 1). Checked on the distinct label rows
    (with their counts), a block of anchors at a time, stopping at the first that works.

    Parameters
    ----------
    labels : tensor (n,) int class ids or (n, c) multi-hot
    graded : bool
        Graded relevance (shared-label counts) instead of similar / dissimilar.
    """
    import torch

    if labels.ndim == 1:
        rows, counts = torch.unique(labels, return_counts=True)
    else:
        rows, counts = torch.unique(labels, dim=0, return_counts=True)
    p = rows.shape[0]
    for start in range(0, p, 1024):
        stop = min(start + 1024, p)
        r = relevance(rows[start:stop], rows)
        if not graded:
            r = r.clamp_max(1)
        pos_ok = r > 0
        own = torch.arange(start, stop, device=r.device)
        # an anchor's own label row is a positive only through another item with that row
        pos_ok[own - start, own] &= counts[start:stop] >= 2
        best_pos = torch.where(pos_ok, r, torch.full_like(r, -1)).max(1).values
        if bool((best_pos > r.min(1).values).any()):
            return
    kind = "graded (shared-label counts)" if graded else "similar / dissimilar"
    raise ValueError(
        f"the labels give nothing to rank, no triplets ({kind}): some item needs another item "
        f"sharing a label with it and a third that is less relevant to it; got {labels.shape[0]} items "
        f"with {p} distinct label {'value' if labels.ndim == 1 else 'row'}(s)"
    )
