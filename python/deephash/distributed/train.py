"""Data-parallel training of the deep hashing methods on Ray actors (torch.distributed, gloo).

``TrainConfig(num_workers=W)`` (or ``deephash train --workers W``) makes ``method.fit`` call
:func:`fit_data_parallel`: W Ray actors each run the method's own training loop
(:func:`deephash.training.train`) on the same seeded batch order, made data-parallel by a
public hook of the run (:class:`DataParallel`, passed as ``fit(..., callbacks=[...])``). Of
every batch of ``batch_size`` items, worker r runs the network forward and backward on its contiguous part
(``ceil(b / W)`` items); the outputs are all-gathered so that every worker computes the loss of
the *whole* batch, and its memory bank receives the whole batch's outputs, exactly as one process
would. Backward through the gather keeps each worker's own rows; the parameter gradients, summed
over the workers (all-reduce), are those of the whole-batch loss, and every worker takes the same
optimiser step.

Relation to one process: the same effective batch (``batch_size``), the same pairs and memory
bank, the same objective; results differ only by floating-point summation order, and by batch
statistics of batch-norm layers (each worker normalises its own part, as DistributedDataParallel
without SyncBatchNorm; their running statistics are averaged over the workers at the end) and by
random flips, which are drawn for each worker's part. With the same
seed and ``num_workers``, training is reproducible run to run (fixed thread count per worker, and
gloo reduces in a fixed order).

Backend: gloo on CPU (the measured choice here: a CPU-only machine). A GPU cluster would use
NCCL; nothing else changes.
"""

from __future__ import annotations

import numpy as np

from .ray_support import ensure_ray, free_port, require_ray

__all__ = ["DataParallel", "fit_data_parallel"]


def _gather_rows(t, rank: int, world: int, b: int):
    """All workers' equal-size parts, concatenated in rank order and cut to the batch's b rows.

    Backward hands each worker the gradient of its own rows only: every worker computes the same
    whole-batch loss from the same gathered outputs, so that gradient is already the whole-batch
    one for those rows (no reduction here; parameter gradients are summed afterwards).
    """
    import torch
    import torch.distributed as dist

    class AllGather(torch.autograd.Function):
        @staticmethod
        def forward(ctx, part):
            parts = [torch.empty_like(part) for _ in range(world)]
            dist.all_gather(parts, part.contiguous())
            ctx.rows = part.shape[0]
            return torch.cat(parts)

        @staticmethod
        def backward(ctx, grad):
            return grad[rank * ctx.rows : (rank + 1) * ctx.rows]

    return AllGather.apply(t)[:b]


class DataParallel:
    """A training-run hook (:mod:`deephash.training.hooks`) that makes this process one of
    ``world`` data-parallel workers (see the module docstring). Needs ``torch.distributed``
    initialised; changes only the run it is given to.

    At ``on_fit_start`` it wraps each stage's ``net.forward`` (this worker's part of the batch,
    then an all-gather) and sums the gradients of the network's parameters over the workers as
    they are accumulated; at ``on_fit_end`` it removes those gradient hooks, averages floating
    buffers (batch-norm statistics) and records ``fingerprint``, the sha256 of the trained weights.
    """

    def __init__(self, rank: int, world: int):
        self.rank, self.world = int(rank), int(world)
        self._handles = []
        self.fingerprint = None

    def on_fit_start(self, run) -> None:
        for stage in run.stages:
            net = stage.net
            for g in net.groups:
                for p in g["params"]:
                    if p.requires_grad:
                        self._handles.append(p.register_post_accumulate_grad_hook(_sum_grad))
            net.forward = self._parallel(net.forward)

    def _parallel(self, forward):
        import torch

        from ..models.hash_head import HeadOutput

        rank, world = self.rank, self.world

        def parallel_forward(idx_np, idx, *args, **kwargs):
            b = len(idx_np)
            per = -(-b // world)
            part = idx_np[rank * per : (rank + 1) * per]
            # Every worker needs a part of the same size for the all-gather: pad the last ones
            # with items of the batch; the padding rows are cut off after the gather (no gradient).
            if len(part) < per:
                part = np.concatenate([part, idx_np[: per - len(part)]])
            out = forward(part, torch.from_numpy(part).to(idx.device), *args, **kwargs)
            if isinstance(out, HeadOutput):
                return HeadOutput(*(None if v is None else _gather_rows(v, rank, world, b) for v in out))
            return _gather_rows(out, rank, world, b)

        return parallel_forward

    def on_fit_end(self, run) -> None:
        import hashlib

        import torch.distributed as dist

        for h in self._handles:
            h.remove()
        self._handles = []
        modules = [m for st in run.stages for m in st.net.modules]
        # batch-norm running statistics, gathered by each worker from its own part of the batches
        for module in modules:
            for b in module.buffers():
                if b.is_floating_point():
                    dist.all_reduce(b)
                    b.div_(self.world)
        h = hashlib.sha256()
        for module in modules:
            for v in module.state_dict().values():
                h.update(v.detach().cpu().numpy().tobytes())
        self.fingerprint = h.hexdigest()


def _sum_grad(p):
    import torch.distributed as dist

    dist.all_reduce(p.grad)  # the whole batch's gradient: the sum of the workers' rows


class _TrainWorker:
    """One data-parallel worker (a Ray actor)."""

    def __init__(self, threads):
        import torch

        if threads is not None:
            torch.set_num_threads(int(threads))

    def rendezvous(self):
        ray = require_ray()
        return ray.util.get_node_ip_address(), free_port()

    def fit(self, method, x, labels, rank, world, host, port, callbacks=()):
        import torch.distributed as dist

        dist.init_process_group("gloo", init_method=f"tcp://{host}:{port}", rank=rank, world_size=world)
        try:
            method.config = method.config.replace(num_workers=1, progress=False)
            hook = DataParallel(rank, world)
            # Object-store arrays are read-only; the training code may write (standardise, ...).
            y = None if labels is None else np.array(labels)
            method.fit(np.array(x), y, callbacks=[hook, *callbacks])
            return (method if rank == 0 else None), hook.fingerprint
        finally:
            dist.destroy_process_group()


def fit_data_parallel(
    method, x, labels=None, *, num_workers=None, threads_per_worker=1, actor_options=None, callbacks=()
):
    """Trains ``method`` on ``num_workers`` Ray actors (default ``method.config.num_workers``).

    ``x`` and ``labels`` are put in Ray's object store once; one torch.distributed (gloo) group
    joins the workers. Returns ``method``, fitted with the weights every worker ends with
    (checked identical on all of them). ``callbacks``: extra hooks of each worker's run (they
    travel to the workers, so they must pickle).
    """
    config = method.config
    world = config.num_workers if num_workers is None else int(num_workers)
    if world < 1:
        raise ValueError(f"num_workers must be >= 1, got {world}")
    ray = require_ray()
    ensure_ray()
    cls = ray.remote(_TrainWorker).options(**dict(actor_options or {}))
    workers = [cls.remote(threads_per_worker) for _ in range(world)]
    try:
        host, port = ray.get(workers[0].rendezvous.remote())
        x_ref = ray.put(np.asarray(x))
        y_ref = None if labels is None else ray.put(np.asarray(labels))
        results = ray.get(
            [w.fit.remote(method, x_ref, y_ref, r, world, host, port, list(callbacks)) for r, w in enumerate(workers)]
        )
    finally:
        for w in workers:
            ray.kill(w)
    if len({fp for _, fp in results}) != 1:
        raise RuntimeError("data-parallel workers ended with different weights")
    fitted = results[0][0]
    method.__dict__.update(fitted.__dict__)
    method.config = config
    return method
