"""FlatIndex rows of the engine benchmark: batched k-NN and one query over a large database."""

from __future__ import annotations

import os
import statistics
from typing import List

import numpy as np

from .. import _core
from ..index import FlatIndex
from .data import random_codes
from .rows import BenchRow
from .timing import faiss_module, median_time, threads

__all__ = ["run_flat", "run_single_query"]


def run_flat(bits: int, n: int, nq: int, k: int, n_threads: int, repeats: int, seed: int = 0) -> BenchRow:
    """k-NN of nq queries over n uniformly random codes, deephash.FlatIndex vs faiss.IndexBinaryFlat."""
    rng = np.random.default_rng(seed)
    db = random_codes(rng, n, bits)
    q = random_codes(rng, nq, bits)
    index = FlatIndex(bits)
    index.add(db)
    theirs, note = None, "faiss-cpu not installed"
    with threads(n_threads):
        ours = median_time(lambda: index.search(q, k), repeats)
        faiss = faiss_module()
        if faiss is not None:
            findex = faiss.IndexBinaryFlat(bits)
            findex.add(db)
            theirs = median_time(lambda: findex.search(q, k), repeats)
            d1, _ = index.search(q, k)
            d2, _ = findex.search(q, k)
            note = "same distances" if np.array_equal(d1, d2) else "DISTANCES DIFFER"
    # Memory held beside the codes and ids themselves (target: at most 5% above n*b/8 + 8n).
    note += f"; memory {index.memory_bytes() / (n * bits // 8 + 8 * n):.3f}x codes+ids"
    return BenchRow(f"flat {bits}-bit n={n:,} nq={nq:,} k={k}", _core.simd_level(), n_threads, ours, theirs, note)


def run_single_query(bits: int, n: int, k: int, repeats: int, seed: int = 1) -> List[BenchRow]:
    """One query over n codes with 1 thread and with all threads (the database is split).

    The machine's speed drifts (shared host), so the thread counts alternate in `repeats`
    rounds of 5 timed calls each; times are medians over rounds and the speedup is the median of
    the per-round ratios. faiss is timed after all of deephash's rounds.
    """
    rng = np.random.default_rng(seed)
    db = random_codes(rng, n, bits)
    q = random_codes(rng, 1, bits)
    index = FlatIndex(bits)
    index.add(db)
    faiss = faiss_module()
    findex = None
    if faiss is not None:
        findex = faiss.IndexBinaryFlat(bits)
        findex.add(db)
    counts = sorted({1, os.cpu_count() or 1})
    ours = {t: [] for t in counts}
    theirs = {t: [] for t in counts}
    for _ in range(repeats):
        for t in counts:
            with threads(t):
                ours[t].append(median_time(lambda: index.search(q, k), 5))
    # faiss afterwards, so that only deephash's thread counts alternate within the rounds.
    for _ in range(repeats if findex is not None else 0):
        for t in counts:
            with threads(t):
                theirs[t].append(median_time(lambda: findex.search(q, k), 5))
    rows = [
        BenchRow(
            f"single query {bits}-bit n={n:,} k={k}",
            _core.simd_level(),
            t,
            statistics.median(ours[t]),
            statistics.median(theirs[t]) if findex is not None else None,
        )
        for t in counts
    ]
    if len(counts) == 2:
        ratio = statistics.median(a / b for a, b in zip(ours[counts[0]], ours[counts[1]]))
        rows[1].note = f"{ratio:.2f}x over 1 thread (median of per-round ratios)"
    return rows
