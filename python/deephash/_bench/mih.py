"""MultiIndex and weighted-search rows of the engine benchmark (one thread, 64-bit codes)."""

from __future__ import annotations

from typing import List

import numpy as np

from .. import _core
from ..index import FlatIndex
from ..multi_index import MultiIndex
from .data import clustered_codes, random_codes
from .rows import BenchRow
from .timing import faiss_module, median_time, per_query_time, threads

__all__ = ["run_multi_index", "run_weighted"]


def run_multi_index(n: int, nq: int, repeats: int, k: int = 10, seed: int = 3) -> List[BenchRow]:
    """Single queries, one thread, 64-bit codes: clustered (10,000 centres, flip 0.1) and
    uniformly random; MultiIndex vs faiss IndexBinaryFlat, notes vs deephash FlatIndex."""
    rng = np.random.default_rng(seed)
    bits = 64
    faiss = faiss_module()
    rows = []
    with threads(1):
        centres = np.packbits(rng.integers(0, 2, (10000, bits), dtype=np.uint8), axis=1, bitorder="little")
        for kind in ("clustered", "uniform"):
            if kind == "clustered":
                db = clustered_codes(rng, n, bits, centres)
                q = clustered_codes(rng, nq, bits, centres)
            else:
                db = random_codes(rng, n, bits)
                q = random_codes(rng, nq, bits)
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
            rows.append(
                BenchRow(
                    f"MultiIndex {kind} 64b n={n:,} k={k} 1q",
                    _core.simd_level(),
                    1,
                    t_mi,
                    t_faiss,
                    f"{'exact' if exact else 'NOT EXACT'}; FlatIndex {t_flat * 1e3:.3f}ms "
                    f"({t_flat / t_mi:.2f}x); m={mi.m}",
                )
            )
    return rows


def run_weighted(n: int, nq: int, repeats: int, k: int = 100, seed: int = 4) -> List[BenchRow]:
    """Weighted k-NN, 64-bit uniformly random codes, one thread: shared weights, per-query
    weights and a 0/1 mask, each against deephash's unweighted FlatIndex."""
    rng = np.random.default_rng(seed)
    bits = 64
    faiss = faiss_module()
    db = random_codes(rng, n, bits)
    q = random_codes(rng, nq, bits)
    rows = []
    with threads(1):
        flat = FlatIndex(bits)
        flat.add(db)
        t_u = median_time(lambda: flat.search(q, k), repeats)
        t_faiss = None
        if faiss is not None:
            fi = faiss.IndexBinaryFlat(bits)
            fi.add(db)
            t_faiss = median_time(lambda: fi.search(q, k), repeats)
        weights = {
            "shared": rng.random(bits).astype(np.float32),
            "per-query": rng.random((nq, bits)).astype(np.float32),
            "0/1 mask": (rng.random(bits) < 0.5).astype(np.float32),
        }
        for name, w in weights.items():
            t_w = median_time(lambda: flat.search(q, k, weights=w), repeats)
            rows.append(
                BenchRow(
                    f"weighted {name} 64b n={n:,} nq={nq:,} k={k}",
                    _core.simd_level(),
                    1,
                    t_w,
                    t_faiss,
                    f"faiss unweighted; {t_w / t_u:.2f}x dh unweighted ({t_u * 1e3:.1f}ms)",
                )
            )
    return rows
