"""The one training loop of the deep hashing methods.

A method is a composition: a network (backbone + head, run by a :class:`TrainingNetwork`), a
loss that declares what it ``consumes`` (:mod:`deephash.losses.base`), and this loop, which
supplies it: seeded batch order, a memory bank of the latest outputs of the training set
(pairs and triplets), mined triplets (:mod:`deephash.methods.mining`), target codes, class
labels, Adam over the network's and the loss's own parameters, and a progress bar.

Where other training modes plug in, without another loop: how the training items reach the
trained part is :meth:`DeepHashingMethod._training_network` (frozen cached features, cached
activations at a backbone cut with the blocks above it trained, or the whole network);
unsupervised losses consume nothing and get ``labels=None``; losses with target codes get them
from the method's ``make_targets``; a data-parallel run executes this same loop per worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List

__all__ = ["TrainingNetwork", "progress", "train_network"]


def progress(iterable=None, **kw):
    """A tqdm progress bar (imported lazily)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


@dataclass
class TrainingNetwork:
    """What the loop trains.

    Attributes
    ----------
    forward : callable (idx_np, idx) -> head output
        Training-mode outputs of the training items at positions ``idx_np`` (int64 numpy) /
        ``idx`` (the same on the device): a tensor (b, bits) or a ``HeadOutput``.
    modules : list of torch.nn.Module
        Put in train mode each epoch and in eval mode at the end.
    groups : list of dict
        Optimiser parameter groups (``{"params": ..., "lr": ...}``).
    bank_default : bool
        Whether a memory bank is used when ``TrainConfig.memory_bank`` is None (on when the
        trained part's outputs change slowly enough for stored ones to stay comparable).
    """

    forward: Callable
    modules: List = field(default_factory=list)
    groups: List = field(default_factory=list)
    bank_default: bool = True


def _lr_schedule(opt, cfg, total_steps: int):
    """A function to call before each optimiser step that sets the step's learning rates."""
    if cfg.lr_schedule == "constant":
        return lambda: None
    base = [g["lr"] for g in opt.param_groups]
    step = [0]

    def set_lr():  # half a cosine from each group's rate down to 0 at the last step
        f = 0.5 * (1.0 + math.cos(math.pi * min(step[0], total_steps) / total_steps))
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * f
        step[0] += 1

    return set_lr


def train_network(
    net: TrainingNetwork,
    loss_fn,
    *,
    n: int,
    bits: int,
    cfg,
    rng,
    seed: int,
    device,
    labels=None,
    targets=None,
    desc: str = "training",
) -> None:
    """Trains ``net`` with ``loss_fn`` for ``cfg.epochs`` passes over the n training items.

    Parameters
    ----------
    net : TrainingNetwork
    loss_fn : deephash.losses.HashLoss
        Its ``consumes`` says what each step supplies.
    n, bits : int
        Training items; code length (width of the memory bank).
    cfg : TrainConfig
    rng : numpy.random.Generator
        Batch order (and whatever ``net.forward`` draws, e.g. flips), in that order.
    seed : int
        Seeds triplet mining (its own generator, so batch order does not depend on it).
    device : torch.device
    labels : tensor (n,) int64 or (n, c) float on ``device``, or None
    targets : float tensor (n, bits) on ``device``, or None
    """
    from ..losses.base import LABELLED, RELATIONAL, LossInputs
    from .._torch import require_torch
    from ..models.hash_head import code_outputs
    from .mining import TripletMiner, check_rankable

    torch = require_torch()
    consumes = loss_fn.consumes
    if consumes & LABELLED and labels is None:
        raise ValueError(f"{type(loss_fn).__name__} consumes {sorted(consumes & LABELLED)} and needs labels")
    if "targets" in consumes and targets is None:
        raise ValueError(f"{type(loss_fn).__name__} consumes target codes; none were made")
    relational = bool(consumes & RELATIONAL)
    graded = "graded_triplets" in consumes
    miner = None
    if graded or "triplets" in consumes:
        miner = TripletMiner(getattr(loss_fn, "triplets_per_anchor", 4), seed=seed, graded=graded)
        check_rankable(labels, graded)  # fail before training, not with a silently idle loop

    groups = list(net.groups)
    own = [p for p in loss_fn.parameters() if p.requires_grad]
    if own:  # e.g. learned per-bit weights
        groups.append({"params": own, "lr": cfg.lr})
    opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    use_bank = cfg.memory_bank
    if use_bank is None:
        use_bank = net.bank_default
    bank = seen = None
    all_ids = torch.arange(n, device=device)
    if relational and use_bank:
        # Filled as training visits the items; pairs use only the entries written so far
        # (an initial pass would give stale outputs from eval-mode batch norm).
        bank = torch.zeros(n, bits, device=device)
        seen = torch.zeros(n, dtype=torch.bool, device=device)
    bs = min(cfg.batch_size, n)
    # batch norm in training mode cannot normalise a batch of one item
    batch_norm = any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules for mod in m.modules())
    set_lr = _lr_schedule(opt, cfg, cfg.epochs * -(-n // bs))
    epochs = range(cfg.epochs)
    bar = progress(epochs, desc=desc, unit="epoch", leave=False) if cfg.progress else None
    try:
        for _ in bar if bar is not None else epochs:
            for m in net.modules:
                m.train()
            perm = rng.permutation(n)
            total, steps = 0.0, 0
            for start in range(0, n, bs):
                idx_np = perm[start : start + bs]
                if idx_np.size < 2 and (batch_norm or (relational and bank is None)):
                    continue  # a pair or a triplet needs two outputs; so does batch norm
                idx = torch.from_numpy(idx_np).to(device)
                out = net.forward(idx_np, idx)
                u = code_outputs(out)
                inputs = LossInputs(u=u, out=out)
                if labels is not None and consumes & LABELLED:
                    inputs.labels = labels[idx]
                if targets is not None and "targets" in consumes:
                    inputs.targets = targets[idx]
                pool_ids = idx
                if bank is not None:
                    bank[idx] = u.detach().float()
                    if not bool(seen.all()):
                        seen[idx] = True
                        inputs.ref_u, inputs.ref_labels = bank[seen], labels[seen]
                        pool_ids = all_ids[seen]
                    else:
                        inputs.ref_u, inputs.ref_labels, pool_ids = bank, labels, all_ids
                if miner is not None:
                    pool_labels = inputs.labels if bank is None else inputs.ref_labels
                    inputs.triplets, inputs.gains = miner.mine(inputs.labels, idx, pool_labels, pool_ids)
                    if inputs.triplets.shape[0] == 0 and "pairs" not in consumes:
                        continue  # nothing to rank in this batch
                loss = loss_fn.step_loss(inputs)
                set_lr()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach())
                steps += 1
            if steps == 0:
                raise ValueError(
                    f"{type(loss_fn).__name__}: no training step was possible in an epoch"
                    + (
                        " (no triplets: each anchor needs an item sharing a label with it and one "
                        "less relevant; do the labels hold at least two classes?)"
                        if miner is not None
                        else ""
                    )
                )
            if bar is not None:
                bar.set_postfix(loss=f"{total / steps:.4f}")
    finally:
        if bar is not None:
            bar.close()
    for m in net.modules:
        m.eval()
