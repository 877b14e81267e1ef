"""Times FlatIndex.search alone, for A/B runs of two builds (alternate them, compare the minima).

    for r in 1 2 3; do for b in old new; do PYTHONPATH=/tmp/eb/$b python bench/flat_scan_ab.py $b; done; done

1,000,000 random codes, 1,000 queries, k = 100, 64 and 256 bits, default threads; 5 searches per
length after a warm-up; prints min and median in ms.
"""

import sys
import time

import numpy as np

import deephash


def main(label: str) -> None:
    rng = np.random.default_rng(0)
    out = []
    for bits in (64, 256):
        db = rng.integers(0, 256, (1_000_000, bits // 8), dtype=np.uint8)
        q = rng.integers(0, 256, (1000, bits // 8), dtype=np.uint8)
        index = deephash.FlatIndex(bits)
        index.add(db)
        index.search(q[:50], 100)
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            index.search(q, 100)
            ts.append(time.perf_counter() - t)
        out.append(f"{bits}: min {min(ts) * 1e3:.0f} med {np.median(ts) * 1e3:.0f} ms")
    print(label, "  ".join(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
