"""Timing helpers shared by the engine benchmarks: medians, per-query times, thread settings."""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Callable, Iterator

import numpy as np

from .. import _core

__all__ = ["faiss_module", "interleaved", "median_time", "per_query_interleaved", "per_query_time", "threads"]


def median_time(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run unless ``warmup=False``."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def per_query_time(search: Callable, queries: np.ndarray, repeats: int) -> float:
    """Median over ``repeats`` of the mean seconds per single-query call (after one warm-up pass)."""

    def run():
        for i in range(queries.shape[0]):
            search(queries[i : i + 1])

    return median_time(run, repeats) / queries.shape[0]


def faiss_module():
    """The ``faiss`` module when faiss-cpu is installed (the benchmark reference), else None."""
    try:
        import faiss  # optional, benchmark only
    except ImportError:
        return None
    return faiss


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Runs the block with ``n`` threads in deephash and in faiss; restores deephash's count after.

    faiss (OpenMP) has no getter for its setting, so it is left at ``n``; every benchmark sets
    the count it measures with through this, so none depends on what another left behind.
    """
    previous = _core.get_num_threads()
    _core.set_num_threads(n)
    faiss = faiss_module()
    if faiss is not None:
        faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        _core.set_num_threads(previous)


def interleaved(fns, repeats: int):
    """Runs each fn once per round, round-robin, ``repeats`` rounds (after one warm-up round), so
    that load bursts on a shared machine hit every variant alike.

    Returns
    -------
    (list of float, list of float)
        The median time of each fn, and for each fn the median over rounds of its time / the
        first fn's time.
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[j].append(time.perf_counter() - t0)
    med = [statistics.median(t) for t in times]
    ratios = [statistics.median(a / b for a, b in zip(t, times[0])) for t in times]
    return med, ratios


def per_query_interleaved(variants, repeats: int):
    """``variants``: (search, queries) pairs; each pass makes one single-query call per row.

    Passes run round-robin as in :func:`interleaved`; returns the median seconds per query of each
    variant and the median per-round ratio of its per-query time to variant 0's.
    """

    def single_pass(search, queries):
        def run():
            for i in range(queries.shape[0]):
                search(queries[i : i + 1])

        return run

    med, ratios = interleaved([single_pass(s, q) for s, q in variants], repeats)
    counts = [q.shape[0] for _, q in variants]
    return ([t / c for t, c in zip(med, counts)], [r * counts[0] / c for r, c in zip(ratios, counts)])
