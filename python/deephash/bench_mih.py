"""Benchmark rows for multi-index hashing and weighted search (used by ``deephash bench`` /
``bench/vs_faiss.py``, and by the detailed ``bench/mih_bench.py``).

faiss has no weighted search: weighted rows show faiss's *unweighted* IndexBinaryFlat time for
scale, and the note gives the ratio to deephash's unweighted FlatIndex.
"""
from __future__ import annotations

from typing import Callable, List

import numpy as np

from . import _core
from .bench import median_time
from .index import FlatIndex
from .multi_index import MultiIndex

__all__ = ["clustered_codes", "per_query_time", "run_multi_index", "run_weighted"]


def clustered_codes(rng, n: int, bits: int, centres: np.ndarray, p: float = 0.1,
                    chunk: int = 1 << 20) -> np.ndarray:
    """n packed codes: a random centre each (rows of ``centres``, packed), every bit flipped
    with probability p (drawn as uint16 < round(p * 65536), in chunks to bound memory)."""
    out = np.empty((n, bits // 8), dtype=np.uint8)
    thr = np.uint16(round(p * 65536))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        which = rng.integers(0, centres.shape[0], e - s)
        flips = np.packbits(rng.integers(0, 65536, (e - s, bits), dtype=np.uint16) < thr, axis=1,
                            bitorder="little")
        out[s:e] = centres[which] ^ flips
    return out


def _median(fn: Callable[[], object], repeats: int) -> float:
    return median_time(fn, repeats, warmup=False)


def per_query_time(search: Callable, queries: np.ndarray, repeats: int) -> float:
    """Median over repeats of the mean seconds per single-query call (one warm-up pass)."""
    def run():
        for i in range(queries.shape[0]):
            search(queries[i:i + 1])
    run()
    return _median(run, repeats) / queries.shape[0]


def _faiss():
    try:
        import faiss  # noqa: PLC0415 (optional, benchmark only)
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)
    return faiss


def run_multi_index(n: int, nq: int, repeats: int, k: int = 10, seed: int = 3) -> List:
    """Single queries, one thread, 64-bit codes: clustered (10,000 centres, flip 0.1) and
    uniformly random; MultiIndex vs faiss IndexBinaryFlat, notes vs deephash FlatIndex."""
    from .bench import BenchRow  # noqa: PLC0415 (avoid an import cycle)

    rng = np.random.default_rng(seed)
    bits = 64
    faiss = _faiss()
    prev = _core.get_num_threads()
    _core.set_num_threads(1)
    rows = []
    try:
        centres = np.packbits(rng.integers(0, 2, (10000, bits), dtype=np.uint8), axis=1,
                              bitorder="little")
        for kind in ("clustered", "uniform"):
            if kind == "clustered":
                db = clustered_codes(rng, n, bits, centres)
                q = clustered_codes(rng, nq, bits, centres)
            else:
                db = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
                q = rng.integers(0, 256, (nq, bits // 8), dtype=np.uint8)
            flat = FlatIndex(bits)
            flat.add(db)
            mi = MultiIndex(bits)
            mi.add(db)
            nflat = min(nq, 50)
            t_mi = per_query_time(lambda x: mi.search(x, k), q, repeats)
            t_flat = per_query_time(lambda x: flat.search(x, k), q[:nflat], repeats)
            d1, i1 = flat.search(q, k)
            d2, i2 = mi.search(q, k)
            exact = bool(np.array_equal(d1, d2) and np.array_equal(i1, i2))
            t_faiss = None
            if faiss is not None:
                fi = faiss.IndexBinaryFlat(bits)
                fi.add(db)
                t_faiss = per_query_time(lambda x: fi.search(x, k), q[:nflat], repeats)
            rows.append(BenchRow(
                f"MultiIndex {kind} 64b n={n:,} k={k} 1q", _core.simd_level(), 1, t_mi, t_faiss,
                f"{'exact' if exact else 'NOT EXACT'}; FlatIndex {t_flat * 1e3:.3f}ms "
                f"({t_flat / t_mi:.2f}x); m={mi.m}"))
    finally:
        _core.set_num_threads(prev)
    return rows


def run_weighted(n: int, nq: int, repeats: int, k: int = 100, seed: int = 4) -> List:
    """Weighted k-NN, 64-bit uniformly random codes, one thread: shared weights, per-query
    weights and a 0/1 mask, each against deephash's unweighted FlatIndex."""
    from .bench import BenchRow  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    bits = 64
    faiss = _faiss()
    db = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
    q = rng.integers(0, 256, (nq, bits // 8), dtype=np.uint8)
    prev = _core.get_num_threads()
    _core.set_num_threads(1)
    rows = []
    try:
        flat = FlatIndex(bits)
        flat.add(db)
        flat.search(q[:10], k)
        t_u = _median(lambda: flat.search(q, k), repeats)
        t_faiss = None
        if faiss is not None:
            fi = faiss.IndexBinaryFlat(bits)
            fi.add(db)
            t_faiss = _median(lambda: fi.search(q, k), repeats)
        weights = {
            "shared": rng.random(bits).astype(np.float32),
            "per-query": rng.random((nq, bits)).astype(np.float32),
            "0/1 mask": (rng.random(bits) < 0.5).astype(np.float32),
        }
        for name, w in weights.items():
            t_w = _median(lambda: flat.search(q, k, weights=w), repeats)
            rows.append(BenchRow(f"weighted {name} 64b n={n:,} nq={nq:,} k={k}",
                                 _core.simd_level(), 1, t_w, t_faiss,
                                 f"faiss unweighted; {t_w / t_u:.2f}x dh unweighted "
                                 f"({t_u * 1e3:.1f}ms)"))
    finally:
        _core.set_num_threads(prev)
    return rows
