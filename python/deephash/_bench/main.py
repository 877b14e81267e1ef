"""Engine benchmark: deephash beside faiss-cpu (when installed), in one run, as a table.

``deephash bench`` runs a default size that finishes in seconds; ``--full`` runs the target
sizes (1,000,000 codes, 1,000 queries, k = 100; one query over 10,000,000 codes). Every row names
the SIMD level and thread count. Times are medians of ``--repeats`` runs; ratios are faiss time /
deephash time.
"""

from __future__ import annotations

import argparse

from .. import _core
from .flat import run_flat, run_single_query
from .mih import run_multi_index, run_weighted
from .rows import print_header, print_row

__all__ = ["main"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="deephash bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--full", action="store_true", help="the target sizes (takes minutes)")
    p.add_argument("--n", type=int, default=None, help="database codes (default 200,000; full 1,000,000)")
    p.add_argument("--nq", type=int, default=None, help="queries (default 200; full 1,000)")
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--bits", type=int, nargs="+", default=[64, 256])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--single-n", type=int, default=None, help="codes for the single-query row (default 1,000,000; full 10,000,000)"
    )
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    n = args.n or (1_000_000 if args.full else 200_000)
    nq = args.nq or (1000 if args.full else 200)
    single_n = args.single_n or (10_000_000 if args.full else 1_000_000)
    for b in args.bits:
        if b <= 0 or b % 8:
            p.error(f"--bits must be positive multiples of 8, got {b}")
    print(
        f"deephash engine benchmark: SIMD {_core.simd_level()} (detected "
        f"{_core.detected_simd_level()}), medians of {args.repeats} runs",
        flush=True,
    )
    print_header()
    for bits in args.bits:
        print_row(run_flat(bits, n, nq, args.k, args.threads, args.repeats))
    for r in run_single_query(64, single_n, 10, args.repeats):
        print_row(r)
    for r in run_multi_index(single_n, 300, args.repeats) + run_weighted(n, nq, args.repeats):
        print_row(r)
    return 0
