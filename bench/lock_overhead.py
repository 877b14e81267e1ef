"""Per-call latency of small searches, where a fixed per-call cost (the index lock, the snapshot
views) would show most: one query, k = 10, 1 thread.

    PYTHONPATH=python python bench/lock_overhead.py              # this build
    PYTHONPATH=/path/to/other/python python bench/lock_overhead.py   # another build, to compare

Prints one line per case: the median over --rounds rounds of the mean time of --calls calls.
Run the builds alternately in one session and compare the ratios (the machine may be shared).
"""

import argparse
import statistics
import time

import deephash
import numpy as np


def clustered(rng, n, bits, centres=64, flip=0.05):
    c = rng.integers(0, 2, size=(centres, bits), dtype=np.uint8)
    noise = (rng.random((n, bits)) < flip).astype(np.uint8)
    return np.packbits(c[rng.integers(0, centres, size=n)] ^ noise, axis=1, bitorder="little")


def per_call(fn, calls: int, rounds: int) -> float:
    fn()
    means = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - t) / calls)
    return statistics.median(means)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    deephash.set_num_threads(1)
    rng = np.random.default_rng(0)
    flat_small = deephash.FlatIndex(64)
    flat_small.add(clustered(rng, 1000, 64))
    flat = deephash.FlatIndex(64)
    flat.add(clustered(rng, 100_000, 64))
    multi = deephash.MultiIndex(64)
    multi.add(clustered(rng, 1_000_000, 64))
    q = clustered(rng, 1, 64)
    cases = [
        ("FlatIndex 1,000 codes, search", lambda: flat_small.search(q, 10)),
        ("FlatIndex 1,000 codes, len()", lambda: len(flat_small)),
        ("FlatIndex 1,000 codes, .ids view", lambda: flat_small.ids),
        ("FlatIndex 100,000 codes, search", lambda: flat.search(q, 10)),
        ("MultiIndex 1,000,000 codes, search", lambda: multi.search(q, 10)),
    ]
    for name, fn in cases:
        calls = a.calls if "100,000" not in name else max(1, a.calls // 20)
        print(f"{name:<40} {per_call(fn, calls, a.rounds) * 1e6:10.2f} us", flush=True)
    print(f"MultiIndex stats: {multi.stats()}")


if __name__ == "__main__":
    main()
