"""Encoding a large collection over Ray workers, the codes going straight into an index."""

from __future__ import annotations

import collections
import numbers

import numpy as np

from .._validate import as_ids, describe
from .ray_support import ensure_ray
from .ray_support import require_ray as _ray

__all__ = ["encode"]


class _Encoder:
    """A Ray actor holding one copy of the fitted method (received once, at start-up)."""

    def __init__(self, method, threads):
        if threads is not None:
            try:
                import torch

                torch.set_num_threads(int(threads))
            except ImportError:
                pass
        if hasattr(method, "config") and hasattr(method.config, "replace"):
            method.config = method.config.replace(progress=False)
        self._method = method

    def encode(self, x):
        return self._method.encode(x)


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def encode(
    method,
    dataset,
    *,
    num_workers: int = 2,
    batch_size: int = 4096,
    index=None,
    ids=None,
    threads_per_worker=1,
    return_codes: bool = True,
    actor_options=None,
    timeout: float = 60.0,
):
    """Encodes ``dataset`` with a fitted hashing ``method`` on ``num_workers`` Ray actors.

    The method is put in Ray's object store once; each worker actor loads it once and then
    encodes batches of ``batch_size`` consecutive items. Batches are handed out round-robin with
    at most two in flight per worker, and their codes are taken back in dataset order, so the
    result (and the order of the adds to ``index``) is that of ``method.encode(dataset)``.

    Parameters
    ----------
    method : deephash.methods.HashingMethod
        A fitted method (anything picklable with ``encode(x) -> uint8 (n, code_bytes)``).
    dataset : array-like (n, ...)
        Inputs ``method.encode`` accepts, sliceable along the first axis (a NumPy array of
        images, feature vectors, a list of texts).
    num_workers : int
    batch_size : int
        Items per task. Keep it a multiple of the method's internal encoding chunk (128 images
        with the default ``feature_batch_size``, 4096 vectors) so that every forward pass sees
        the same items as in one process and the float outputs, hence the codes, are the same.
    index : ShardedIndex or BinaryIndex, optional
        Each batch's codes are added to it in dataset order (with ``ids`` when given, else the
        index's default ids).
    ids : int64 array (n,), optional
    threads_per_worker : int or None
        PyTorch threads in each worker (None: the worker's default).
    return_codes : bool
        Also return all codes (False keeps the driver's memory to one batch per worker).
    actor_options : dict, optional
        Extra ``ray.remote`` options for the worker actors (``num_cpus``, ``num_gpus``, ...).
    timeout : float
        Seconds to wait for any one batch (its worker's start-up included) before giving up
        with ``TimeoutError`` (e.g. ``actor_options`` the cluster cannot schedule); default 60.

    Returns
    -------
    codes : uint8 array (n, code_bytes), or None when ``return_codes`` is False
    """
    num_workers = _check_positive(num_workers, "num_workers")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < float(timeout) < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    batch_size = _check_positive(batch_size, "batch_size")
    if not hasattr(method, "encode"):
        raise TypeError(f"method must be a fitted hashing method, got {describe(method)}")
    try:
        n = len(dataset)
    except TypeError:
        raise TypeError(f"dataset must be sized and sliceable, got {describe(dataset)}") from None
    if ids is not None:
        ids = as_ids(ids, n, stored=True)
    ray = _ray()
    ensure_ray()
    from ray.exceptions import GetTimeoutError

    model_ref = ray.put(method)  # shipped once; every worker reads this one object
    cls = ray.remote(_Encoder).options(**dict(actor_options or {}))
    workers = [cls.remote(model_ref, threads_per_worker) for _ in range(num_workers)]
    chunks = []
    pending = collections.deque()

    def take():
        start, stop, ref = pending.popleft()
        try:
            codes = ray.get(ref, timeout=float(timeout))
        except GetTimeoutError:
            raise TimeoutError(
                f"encode: the batch of items {start}:{stop} did not come back within {float(timeout):g} s "
                "(timeout=); the workers may be unschedulable (actor_options), overloaded or hung"
            ) from None
        if index is not None:
            index.add(codes, None if ids is None else ids[start:stop])
        if return_codes:
            chunks.append(codes)

    try:
        for i, start in enumerate(range(0, n, batch_size)):
            stop = min(n, start + batch_size)
            pending.append((start, stop, workers[i % num_workers].encode.remote(dataset[start:stop])))
            if len(pending) >= 2 * num_workers:
                take()
        while pending:
            take()
    finally:
        for w in workers:
            ray.kill(w)
    if not return_codes:
        return None
    if not chunks:
        return np.zeros((0, method.code_bits // 8), np.uint8)
    return np.ascontiguousarray(np.concatenate(chunks))
