"""Times FlatIndex.search alone, for A/B runs of two builds (alternate them, compare the minima).

    for r in 1 2 3; do for b in old new; do PYTHONPATH=/tmp/eb/$b python bench/flat_scan_ab.py $b; done; done
    ... python bench/flat_scan_ab.py new --threads 1 --bits 64 128 256     # one thread, CPU time too

1,000,000 random codes, 1,000 queries, k = 100, 64 and 256 bits (``--bits``), default threads
(``--threads``); 5 searches per length after a warm-up; prints min and median in ms of wall time
and, with ``--threads 1``, of the process's CPU time (on a shared machine, time slices given to
other processes do not count).
"""

import argparse
import time

import numpy as np

import deephash


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("label", nargs="?", default="")
    p.add_argument("--threads", type=int, default=0, help="0: deephash's default")
    p.add_argument("--bits", type=int, nargs="+", default=[64, 256])
    args = p.parse_args(argv)
    deephash.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    out = []
    for bits in args.bits:
        db = rng.integers(0, 256, (1_000_000, bits // 8), dtype=np.uint8)
        q = rng.integers(0, 256, (1000, bits // 8), dtype=np.uint8)
        index = deephash.FlatIndex(bits)
        index.add(db)
        index.search(q[:50], 100)
        ts, cs = [], []
        for _ in range(5):
            t, c = time.perf_counter(), time.process_time()
            index.search(q, 100)
            ts.append(time.perf_counter() - t)
            cs.append(time.process_time() - c)
        row = f"{bits}: min {min(ts) * 1e3:.0f} med {np.median(ts) * 1e3:.0f} ms"
        if args.threads == 1:
            row += f" (cpu min {min(cs) * 1e3:.0f} med {np.median(cs) * 1e3:.0f})"
        out.append(row)
    print(args.label, deephash.simd_level(), "  ".join(out), flush=True)


if __name__ == "__main__":
    main()
