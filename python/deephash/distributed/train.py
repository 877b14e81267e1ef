"""Data-parallel training of the deep hashing methods on Ray actors (torch.distributed, gloo).

``TrainConfig(num_workers=W)`` (or ``deephash train --workers W``) makes ``method.fit`` call
:func:`fit_data_parallel`: W Ray actors each run the method's own training loop
(:func:`deephash.methods.trainer.train_network`) on the same seeded batch order. Of every batch of
``batch_size`` items, worker r runs the network forward and backward on its contiguous part
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

import socket

import numpy as np

from .sharded_index import _ray, ensure_ray

__all__ = ["fit_data_parallel"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


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


def make_data_parallel(method, rank: int, world: int) -> None:
    """Makes this process's ``method.fit`` one of ``world`` data-parallel workers (see module
    docstring). Needs ``torch.distributed`` initialised; changes only this method object.
    Returns the gradient hooks' handles (``remove()`` them after training)."""
    import torch
    import torch.distributed as dist

    from ..models.hash_head import HeadOutput

    build = method._training_network
    hooks = []

    def training_network(x, device, rng, torch_mod):
        net = build(x, device, rng, torch_mod)
        for g in net.groups:
            g["params"] = list(g["params"])  # may be generators; Adam reads them again
        for g in net.groups:
            for p in g["params"]:
                if p.requires_grad:
                    hooks.append(p.register_post_accumulate_grad_hook(_sum_grad))
        forward = net.forward

        def parallel_forward(idx_np, idx):
            b = len(idx_np)
            per = -(-b // world)
            part = idx_np[rank * per : (rank + 1) * per]
            # Every worker needs a part of the same size for the all-gather: pad the last ones
            # with items of the batch; the padding rows are cut off after the gather (no gradient).
            if len(part) < per:
                part = np.concatenate([part, idx_np[: per - len(part)]])
            out = forward(part, torch.from_numpy(part).to(idx.device))
            if isinstance(out, HeadOutput):
                return HeadOutput(*(None if v is None else _gather_rows(v, rank, world, b) for v in out))
            return _gather_rows(out, rank, world, b)

        net.forward = parallel_forward
        return net

    def _sum_grad(p):
        dist.all_reduce(p.grad)  # the whole batch's gradient: the sum of the workers' rows

    method._training_network = training_network
    return hooks


def _fingerprint(method) -> str:
    """sha256 of the fitted network's weights (workers must end identical)."""
    import hashlib

    h = hashlib.sha256()
    for module in (method._backbone, method._head):
        for v in module.state_dict().values():
            h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def _average_buffers(method, world: int) -> None:
    """Averages floating buffers (batch-norm running statistics, which each worker gathered from
    its own part of the batches) so that every worker ends with the same model."""
    import torch.distributed as dist

    for module in (method._backbone, method._head):
        for b in module.buffers():
            if b.is_floating_point():
                dist.all_reduce(b)
                b.div_(world)


class _TrainWorker:
    """One data-parallel worker (a Ray actor)."""

    def __init__(self, threads):
        import torch

        if threads is not None:
            torch.set_num_threads(int(threads))

    def rendezvous(self):
        ray = _ray()
        return ray.util.get_node_ip_address(), _free_port()

    def fit(self, method, x, labels, rank, world, host, port):
        import torch.distributed as dist

        dist.init_process_group("gloo", init_method=f"tcp://{host}:{port}", rank=rank, world_size=world)
        try:
            method.config = method.config.replace(num_workers=1, progress=False)
            hooks = make_data_parallel(method, rank, world)
            # Object-store arrays are read-only; the training code may write (standardise, ...).
            method.fit(np.array(x), None if labels is None else np.array(labels))
            for h in hooks:
                h.remove()
            _average_buffers(method, world)
            del method._training_network  # the instance override: back to the class's method
            return (method if rank == 0 else None), _fingerprint(method)
        finally:
            dist.destroy_process_group()


def fit_data_parallel(method, x, labels=None, *, num_workers=None, threads_per_worker=1, actor_options=None):
    """Trains ``method`` on ``num_workers`` Ray actors (default ``method.config.num_workers``).

    ``x`` and ``labels`` are put in Ray's object store once; one torch.distributed (gloo) group
    joins the workers. Returns ``method``, fitted with the weights every worker ends with
    (checked identical on all of them).
    """
    config = method.config
    world = config.num_workers if num_workers is None else int(num_workers)
    if world < 1:
        raise ValueError(f"num_workers must be >= 1, got {world}")
    ray = _ray()
    ensure_ray()
    cls = ray.remote(_TrainWorker).options(**dict(actor_options or {}))
    workers = [cls.remote(threads_per_worker) for _ in range(world)]
    try:
        host, port = ray.get(workers[0].rendezvous.remote())
        x_ref = ray.put(np.asarray(x))
        y_ref = None if labels is None else ray.put(np.asarray(labels))
        results = ray.get([w.fit.remote(method, x_ref, y_ref, r, world, host, port) for r, w in enumerate(workers)])
    finally:
        for w in workers:
            ray.kill(w)
    if len({fp for _, fp in results}) != 1:
        raise RuntimeError("data-parallel workers ended with different weights")
    fitted = results[0][0]
    method.__dict__.update(fitted.__dict__)
    method.config = config
    return method
