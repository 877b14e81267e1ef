"""Engine benchmark: deephash beside faiss-cpu (when installed), in one run, as a table.

``python -m deephash.bench`` (or ``deephash bench``) runs a default size that finishes in
seconds; ``--full`` runs the sizes of the project's targets (1,000,000 codes, 1,000 queries,
k = 100; one query over 10,000,000 codes). Every row names the SIMD level and thread count.
Times are medians of ``--repeats`` runs; ratios are faiss time / deephash time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from . import _core
from .index import FlatIndex

__all__ = ["BenchRow", "main", "median_time", "print_header", "print_row", "print_table", "run_flat",
           "run_single_query"]


@dataclass
class BenchRow:
    case: str
    simd: str
    threads: int
    deephash_s: float
    faiss_s: Optional[float]
    note: str = ""

    @property
    def ratio(self) -> Optional[float]:
        return None if self.faiss_s is None else self.faiss_s / self.deephash_s


def median_time(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Median wall time of fn() over `repeats` runs, after one warm-up run unless warmup=False."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _faiss():
    try:
        import faiss  # noqa: PLC0415 (optional, benchmark only)
    except ImportError:
        return None
    return faiss


def _set_threads(n: int) -> None:
    _core.set_num_threads(n)
    faiss = _faiss()
    if faiss is not None:
        faiss.omp_set_num_threads(n)


def run_flat(bits: int, n: int, nq: int, k: int, threads: int, repeats: int, seed: int = 0) -> BenchRow:
    """k-NN of nq queries over n uniformly random codes, deephash.FlatIndex vs faiss.IndexBinaryFlat."""
    rng = np.random.default_rng(seed)
    db = rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)
    q = rng.integers(0, 256, size=(nq, bits // 8), dtype=np.uint8)
    _set_threads(threads)
    index = FlatIndex(bits)
    index.add(db)
    ours = median_time(lambda: index.search(q, k), repeats)
    theirs, note = None, "faiss-cpu not installed"
    faiss = _faiss()
    if faiss is not None:
        findex = faiss.IndexBinaryFlat(bits)
        findex.add(db)
        theirs = median_time(lambda: findex.search(q, k), repeats)
        d1, i1 = index.search(q, k)
        d2, _ = findex.search(q, k)
        note = "same distances" if np.array_equal(d1, d2) else "DISTANCES DIFFER"
    # Memory held beside the codes and ids themselves (target: at most 5% above n*b/8 + 8n).
    note += f"; memory {index.memory_bytes() / (n * bits // 8 + 8 * n):.3f}x codes+ids"
    return BenchRow(f"flat {bits}-bit n={n:,} nq={nq:,} k={k}", _core.simd_level(), threads,
                    ours, theirs, note)


def run_single_query(bits: int, n: int, k: int, repeats: int, seed: int = 1) -> List[BenchRow]:
    """One query over n codes with 1 thread and with all threads (the database is split).

    The machine's speed drifts (shared host), so the thread counts alternate in `repeats`
    rounds of 5 timed calls each; times are medians over rounds and the speedup is the median of
    the per-round ratios. faiss is timed after all of deephash's rounds.
    """
    rng = np.random.default_rng(seed)
    db = rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)
    q = rng.integers(0, 256, size=(1, bits // 8), dtype=np.uint8)
    index = FlatIndex(bits)
    index.add(db)
    faiss = _faiss()
    findex = None
    if faiss is not None:
        findex = faiss.IndexBinaryFlat(bits)
        findex.add(db)
    counts = sorted({1, os.cpu_count() or 1})
    ours = {t: [] for t in counts}
    theirs = {t: [] for t in counts}
    for _ in range(repeats):
        for t in counts:
            _set_threads(t)
            ours[t].append(median_time(lambda: index.search(q, k), 5))
    # faiss afterwards, so that only deephash's thread counts alternate within the rounds.
    for _ in range(repeats if findex is not None else 0):
        for t in counts:
            _set_threads(t)
            theirs[t].append(median_time(lambda: findex.search(q, k), 5))
    rows = [BenchRow(f"single query {bits}-bit n={n:,} k={k}", _core.simd_level(), t,
                     statistics.median(ours[t]),
                     statistics.median(theirs[t]) if findex is not None else None)
            for t in counts]
    if len(counts) == 2:
        ratio = statistics.median(a / b for a, b in zip(ours[counts[0]], ours[counts[1]]))
        rows[1].note = f"{ratio:.2f}x over 1 thread (median of per-round ratios)"
    return rows


def print_header(file=None) -> None:
    head = f"{'case':<44} {'simd':<7} {'thr':>3} {'deephash':>11} {'faiss':>11} {'faiss/dh':>9}  note"
    print(head, file=file)
    print("-" * len(head), file=file, flush=True)


def print_row(r: BenchRow, file=None) -> None:
    f = "-" if r.faiss_s is None else f"{r.faiss_s * 1e3:9.2f}ms"
    ratio = "-" if r.ratio is None else f"{r.ratio:8.2f}x"
    print(f"{r.case:<44} {r.simd:<7} {r.threads:>3} {r.deephash_s * 1e3:9.2f}ms {f:>11} "
          f"{ratio:>9}  {r.note}", file=file, flush=True)


def print_table(rows: List[BenchRow], file=None) -> None:
    print_header(file)
    for r in rows:
        print_row(r, file)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="deephash bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="the target sizes (takes minutes)")
    p.add_argument("--n", type=int, default=None, help="database codes (default 200,000; full 1,000,000)")
    p.add_argument("--nq", type=int, default=None, help="queries (default 200; full 1,000)")
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--bits", type=int, nargs="+", default=[64, 256])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--single-n", type=int, default=None,
                   help="codes for the single-query row (default 1,000,000; full 10,000,000)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    n = args.n or (1_000_000 if args.full else 200_000)
    nq = args.nq or (1000 if args.full else 200)
    single_n = args.single_n or (10_000_000 if args.full else 1_000_000)
    for b in args.bits:
        if b <= 0 or b % 8:
            p.error(f"--bits must be positive multiples of 8, got {b}")
    print(f"deephash engine benchmark: SIMD {_core.simd_level()} (detected "
          f"{_core.detected_simd_level()}), medians of {args.repeats} runs", flush=True)
    print_header()
    previous = _core.get_num_threads()
    try:
        for bits in args.bits:
            print_row(run_flat(bits, n, nq, args.k, args.threads, args.repeats))
        for r in run_single_query(64, single_n, 10, args.repeats):
            print_row(r)
        from .bench_mih import run_multi_index, run_weighted  # issue 3 rows

        for r in run_multi_index(single_n, 300, args.repeats) + run_weighted(n, nq, args.repeats):
            print_row(r)
    finally:
        _core.set_num_threads(previous)
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
