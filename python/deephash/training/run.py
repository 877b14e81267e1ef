"""The run (what trains, on what, how) and the one training loop.

A :class:`Run` holds one or more :class:`Stage` s -- a network (:class:`TrainingNetwork`), the
:class:`~deephash.training.Criterion` that turns its outputs into a loss, and its optimiser --
the training data (labels, target codes), the :class:`~deephash.methods.TrainConfig` and the
hooks (:mod:`deephash.training.hooks`). :func:`train` runs every deep method: one stage for the
single-network methods, one per modality for DCMH (each epoch trains the stages in turn, each
over its own seeded permutation of the n training items).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List

from .hooks import HOOK_POINTS, CosineSchedule

__all__ = ["Run", "Stage", "TrainingNetwork", "progress", "train"]


def progress(iterable=None, **kw):
    """A tqdm progress bar (imported lazily)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


@dataclass
class TrainingNetwork:
    """What a stage trains.

    Attributes
    ----------
    forward : callable (idx_np, idx, augment=True) -> head output
        Training-mode outputs of the training items at positions ``idx_np`` (int64 numpy) /
        ``idx`` (the same on the device): a tensor (b, bits) or a ``HeadOutput``; ``augment``
        False turns random flips and shifts off. A hook may wrap it (data-parallel training).
    modules : list of torch.nn.Module
        The trained modules: put in train mode each epoch and in eval mode at the end.
    groups : list of dict
        Optimiser parameter groups (``{"params": [...], "lr": ...}``).
    bank_default : bool
        Whether a memory bank is used when ``TrainConfig.memory_bank`` is None (on when the
        trained part's outputs change slowly enough for stored ones to stay comparable).
    """

    forward: Callable
    modules: List = field(default_factory=list)
    groups: List = field(default_factory=list)
    bank_default: bool = True


@dataclass
class Stage:
    """One network trained by one criterion with its own Adam optimiser.

    ``step`` counts its optimisation steps; ``optimizer`` is made by :func:`train` from the
    network's groups and the loss's own trainable parameters (at ``TrainConfig.lr``).
    """

    net: TrainingNetwork
    criterion: object
    name: str = ""
    optimizer: object = None
    step: int = 0
    epoch_loss: float = float("nan")


class Run:
    """Everything one training needs, and its progress (read by hooks).

    Parameters
    ----------
    stages : list of Stage
    n : int
        Training items.
    config : TrainConfig
    rng : numpy.random.Generator
        Batch order (and whatever the networks draw, e.g. flips), in that order.
    device : torch.device
    labels : tensor (n,) int64 or (n, c) float on ``device``, or None
    targets : float tensor (n, bits) on ``device``, or None
    hooks : sequence of hooks (see :mod:`deephash.training.hooks`)
        ``TrainConfig.lr_schedule="cosine"`` adds a :class:`CosineSchedule` first; then every
        stage's loss and trained modules (e.g. a head) that define hook methods register
        themselves; then these.
    desc : str
        Progress-bar label.
    sampler : object or None
        Which training items each epoch visits, and in what order: an object with
        ``epoch_items(run)`` returning int64 positions in ``[0, n)`` (numpy) and optionally
        ``epoch_size`` (how many it returns, for ``steps_per_stage``). None (default): every
        item, in a fresh ``rng`` permutation each epoch. Methods that train on a sample of the
        items per round (ADSH) pass one; it may also be one of the hooks.

    Attributes
    ----------
    epoch : int
        The current epoch, from 0.
    stage : Stage
        The stage training now.
    loss : 0-d tensor
        The loss of the current step.
    batch_ids : int64 tensor
        Training-set positions of the current batch.
    postfix : dict
        Shown on the progress bar after each epoch.
    steps_per_stage : int
        ``epochs * ceil(epoch size / batch_size)``; the epoch size is n unless the sampler says.
    """

    def __init__(
        self, stages, *, n, config, rng, device, labels=None, targets=None, hooks=(), desc="training", sampler=None
    ):
        if not stages:
            raise ValueError("a run needs at least one stage")
        self.stages = list(stages)
        self.n = int(n)
        self.config = config
        self.rng = rng
        self.device = device
        self.labels = labels
        self.targets = targets
        # The parts register themselves: a loss or a trained module (a head) with hook methods
        # is called like any hook, after the schedule and before the hooks given here.
        parts = [st.criterion.loss for st in self.stages] + [m for st in self.stages for m in st.net.modules]
        parts = list({id(p): p for p in parts if _is_hook(p)}.values())
        self.hooks = ([CosineSchedule()] if config.lr_schedule == "cosine" else []) + parts + list(hooks)
        for h in self.hooks:
            if not _is_hook(h):
                raise TypeError(f"a hook needs one of the methods {HOOK_POINTS}, got {type(h).__name__}")
        self.desc = desc
        if sampler is not None and not callable(getattr(sampler, "epoch_items", None)):
            raise TypeError(f"a sampler needs a method epoch_items(run), got {type(sampler).__name__}")
        self.sampler = sampler
        size = self.n if sampler is None else int(getattr(sampler, "epoch_size", self.n))
        self.batch_size = min(config.batch_size, self.n)
        self.steps_per_stage = config.epochs * -(-size // self.batch_size)
        self.epoch = 0
        self.stage = self.stages[0]
        self.loss = None
        self.batch_ids = None
        self.postfix = {}

    def add_hook(self, hook) -> None:
        """Registers a hook after those given at construction."""
        self.hooks.append(hook)

    def call(self, point: str) -> None:
        """Calls every hook's ``point`` method (one of ``HOOK_POINTS``) with this run."""
        for h in self.hooks:
            fn = getattr(h, point, None)
            if fn is not None:
                fn(self)


def _is_hook(obj) -> bool:
    return any(callable(getattr(obj, p, None)) for p in HOOK_POINTS)


def _make_optimizer(torch, stage, cfg):
    for g in stage.net.groups:
        g["params"] = list(g["params"])  # may be generators; hooks read them again
    groups = list(stage.net.groups)
    own = [p for p in stage.criterion.loss.parameters() if p.requires_grad]
    if own:  # e.g. learned per-bit weights
        groups.append({"params": own, "lr": cfg.lr})
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _has_batch_norm(torch, modules) -> bool:
    return any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for m in modules for mod in m.modules())


def _epoch_items(run):
    """The sampler's positions for this epoch, checked: int64 (k,) in [0, n), k >= 1."""
    import numpy as np

    items = np.asarray(run.sampler.epoch_items(run))
    if items.ndim != 1 or items.size == 0 or items.dtype.kind not in "iu":
        raise ValueError(
            f"a sampler's epoch_items must give a non-empty 1-D int array, got {items.dtype} {items.shape}"
        )
    if int(items.min()) < 0 or int(items.max()) >= run.n:
        raise ValueError(f"a sampler's epoch_items must lie in [0, {run.n}), got [{items.min()}, {items.max()}]")
    return items.astype(np.int64, copy=False)


def train(run: Run) -> None:
    """Trains every stage of ``run`` for ``config.epochs`` passes over its n items, calling its hooks."""
    from .._torch import require_torch
    from ..losses.base import LABELLED, LossInputs, Supervision
    from ..models.hash_head import code_outputs

    torch = require_torch()
    cfg, n, bs = run.config, run.n, run.batch_size
    for st in run.stages:
        st.criterion.check(run.labels, run.targets)
        st.optimizer = _make_optimizer(torch, st, cfg)
        # batch norm in training mode cannot normalise a batch of one item
        st.min_batch = max(st.criterion.min_batch, 2 if _has_batch_norm(torch, st.net.modules) else 1)
    run.call("on_fit_start")
    epochs = range(cfg.epochs)
    bar = progress(epochs, desc=run.desc, unit="epoch", leave=False) if cfg.progress else None
    try:
        for epoch in bar if bar is not None else epochs:
            run.epoch = epoch
            run.call("on_epoch_start")
            for st in run.stages:
                run.stage = st
                consumes = st.criterion.consumes
                for m in st.net.modules:
                    m.train()
                perm = run.rng.permutation(n) if run.sampler is None else _epoch_items(run)
                total, steps = 0.0, 0
                for start in range(0, perm.size, bs):
                    idx_np = perm[start : start + bs]
                    if idx_np.size < st.min_batch:
                        continue
                    idx = torch.from_numpy(idx_np).to(run.device)
                    out = st.net.forward(idx_np, idx)
                    inputs = LossInputs(u=code_outputs(out), out=out, ids=idx)
                    if Supervision.VIEWS in consumes:  # a second augmented pass of the batch
                        inputs.views = (out, st.net.forward(idx_np, idx))
                    if run.labels is not None and consumes & LABELLED:
                        inputs.labels = run.labels[idx]
                    if run.targets is not None and Supervision.TARGETS in consumes:
                        inputs.targets = run.targets[idx]
                    loss = st.criterion.step_loss(inputs)
                    if loss is None:
                        continue
                    run.loss, run.batch_ids = loss, idx
                    run.call("on_step")
                    st.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    st.optimizer.step()
                    st.step += 1
                    total += float(loss.detach())
                    steps += 1
                if steps == 0:
                    raise ValueError(
                        f"{type(st.criterion.loss).__name__}: no training step was possible in an epoch"
                        + st.criterion.no_step_hint()
                    )
                st.epoch_loss = total / steps
            run.postfix = {"loss": f"{sum(st.epoch_loss for st in run.stages) / len(run.stages):.4f}"}
            run.call("on_epoch_end")
            if bar is not None:
                bar.set_postfix(**run.postfix)
    finally:
        if bar is not None:
            bar.close()
    for st in run.stages:
        for m in st.net.modules:
            m.eval()
    run.call("on_fit_end")
