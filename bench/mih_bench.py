"""Multi-index hashing and weighted Hamming search, side by side with faiss-cpu.

Rows:
  * clustered 64-bit codes (10,000 random centres, each bit flipped with probability 0.1;
    queries drawn the same way), single queries, k = 10, one thread: faiss IndexBinaryFlat,
    faiss IndexBinaryMultiHash, deephash FlatIndex, deephash MultiIndex (+ exactness checks);
  * uniformly random 64-bit codes (the worst case for hashing): MultiIndex vs FlatIndex;
  * building the index (time) and memory next to FlatIndex;
  * weighted search, random 64-bit codes, k = 100, one thread: shared weights, per-query
    weights and a 0/1 mask vs unweighted FlatIndex.

Every time is the median of --repeats runs. Usage:
  PYTHONPATH=python python bench/mih_bench.py               # full size (10M codes)
  PYTHONPATH=python python bench/mih_bench.py --n 1000000 --nw 200000 --queries 200   # quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deephash
from deephash._bench import clustered_codes, faiss_module, median_time, random_codes, threads
from deephash._bench.timing import interleaved, per_query_interleaved


def row(name, t, ref=None, unit="ms", extra=""):
    scale = 1e3 if unit == "ms" else 1.0
    ratio = f"{ref / t:8.1f}x" if ref else " " * 9
    print(f"  {name:<48} {t * scale:10.3f} {unit}  {ratio}  {extra}")


def bench_clustered(args, faiss, rng):
    bits = 64
    print(
        f"\n== clustered {bits}-bit codes: n={args.n:,}, 10,000 centres, flip 0.1, k={args.k}, "
        f"single queries, 1 thread, SIMD {deephash.simd_level()} =="
    )
    centres = np.packbits(rng.integers(0, 2, (10000, bits), dtype=np.uint8), axis=1, bitorder="little")
    codes = clustered_codes(rng, args.n, bits, centres)
    q = clustered_codes(rng, args.queries, bits, centres)
    qf = q[: args.flat_queries]

    flat = deephash.FlatIndex(bits)
    flat.add(codes)
    t0 = time.perf_counter()
    mi = deephash.MultiIndex(bits)
    mi.add(codes)
    build = time.perf_counter() - t0
    ref_d, ref_i = flat.search(q, args.k)
    d, i = mi.search(q, args.k)
    exact = bool((d == ref_d).all() and (i == ref_i).all())

    names, variants, notes = [], [], []
    if faiss is not None:
        fi = faiss.IndexBinaryFlat(bits)
        fi.add(codes)
        names.append("faiss IndexBinaryFlat")
        variants.append((lambda x: fi.search(x, args.k), qf))
        notes.append("")
        for nhash, b, nflip in ((3, 21, 1), (4, 16, 2)):
            mh = faiss.IndexBinaryMultiHash(bits, nhash, b)
            mh.nflip = nflip
            mh.add(codes)
            fd, _ = mh.search(q, args.k)
            same = float(np.mean(np.all(fd.astype(np.int64) == ref_d, axis=1)))
            names.append(f"faiss IndexBinaryMultiHash(nhash={nhash}, b={b}, nflip={nflip})")
            variants.append((lambda x, mh=mh: mh.search(x, args.k), qf))
            notes.append(f"exact distance lists: {same:.1%}")
    names.append("deephash FlatIndex")
    variants.append((lambda x: flat.search(x, args.k), qf))
    notes.append("")
    names.append("deephash MultiIndex")
    variants.append((lambda x: mi.search(x, args.k), q))
    notes.append("")
    med, ratios = per_query_interleaved(variants, args.repeats)
    st = mi.stats()
    notes[-1] = f"m={mi.m}; exact: {exact}; hashed {st.hashed_queries}, scanned {st.linear_queries}"
    for j, name in enumerate(names):
        speed = f"{1 / ratios[j]:8.1f}x" if faiss is not None else ""
        print(f"  {name:<56} {med[j] * 1e3:9.3f} ms  {speed}  {notes[j]}")
    print("  (speedups: median over rounds of faiss IndexBinaryFlat time / this time)")
    j_flat = names.index("deephash FlatIndex")
    print(f"  MultiIndex vs deephash FlatIndex: {med[j_flat] / med[-1]:.1f}x faster")
    fm, mm = flat.memory_bytes(), mi.memory_bytes()
    print(
        f"  build MultiIndex: {build:.2f} s; memory: FlatIndex {fm / 2**20:.1f} MiB, "
        f"MultiIndex {mm / 2**20:.1f} MiB ({mm / fm:.2f}x)"
    )
    return exact


def bench_uniform(args, rng):
    bits = 64
    print(f"\n== uniformly random {bits}-bit codes: n={args.n:,}, k={args.k}, 1 thread ==")
    codes = random_codes(rng, args.n, bits)
    q = random_codes(rng, args.flat_queries, bits)
    flat = deephash.FlatIndex(bits)
    flat.add(codes)
    mi = deephash.MultiIndex(bits)
    mi.add(codes)
    (t_flat, t_mi), (_, r) = per_query_interleaved(
        [(lambda x: flat.search(x, args.k), q), (lambda x: mi.search(x, args.k), q)], args.repeats
    )
    row("deephash FlatIndex (single queries)", t_flat)
    row("deephash MultiIndex (single queries)", t_mi, extra=f"{r:.2f}x FlatIndex's time (median of per-round ratios)")
    qb = random_codes(rng, args.batch, bits)
    (t_flat_b, t_mi_b), (_, r_b) = interleaved(
        [lambda: flat.search(qb, args.k), lambda: mi.search(qb, args.k)], args.repeats
    )
    row(f"deephash FlatIndex ({args.batch} queries, one call)", t_flat_b)
    row(
        f"deephash MultiIndex ({args.batch} queries, one call)",
        t_mi_b,
        extra=f"{r_b:.2f}x FlatIndex's time (median of per-round ratios)",
    )
    d1, i1 = flat.search(qb, args.k)
    d2, i2 = mi.search(qb, args.k)
    print(f"  exact: {bool((d1 == d2).all() and (i1 == i2).all())}; stats {mi.stats()}")


def bench_weighted(args, faiss, rng):
    bits = 64
    n, nq, k = args.nw, args.wq, 100
    print(f"\n== weighted search: uniformly random {bits}-bit codes, n={n:,}, {nq} queries, k={k}, 1 thread ==")
    codes = random_codes(rng, n, bits)
    q = random_codes(rng, nq, bits)
    flat = deephash.FlatIndex(bits)
    flat.add(codes)
    w = rng.random(bits).astype(np.float32)
    wq = rng.random((nq, bits)).astype(np.float32)
    mask = (rng.random(bits) < 0.5).astype(np.float32)
    t_faiss = None
    if faiss is not None:
        fi = faiss.IndexBinaryFlat(bits)
        fi.add(codes)
        t_faiss = median_time(lambda: fi.search(q, k), args.repeats)
        row("faiss IndexBinaryFlat (unweighted)", t_faiss, unit="s")
    (t_u, t_w, t_wq, t_m), (_, r_w, r_wq, r_m) = interleaved(
        [
            lambda: flat.search(q, k),
            lambda: flat.search(q, k, weights=w),
            lambda: flat.search(q, k, weights=wq),
            lambda: flat.search(q, k, weights=mask),
        ],
        args.repeats,
    )
    row("deephash FlatIndex unweighted", t_u, t_faiss, unit="s")
    row(
        "deephash FlatIndex weighted (shared weights)",
        t_w,
        t_faiss,
        unit="s",
        extra=f"{r_w:.2f}x unweighted (median of per-round ratios)",
    )
    row("deephash FlatIndex weighted (per-query weights)", t_wq, t_faiss, unit="s", extra=f"{r_wq:.2f}x unweighted")
    row("deephash FlatIndex weighted (0/1 mask)", t_m, t_faiss, unit="s", extra=f"{r_m:.2f}x unweighted")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="codes (clustered and uniform rows)")
    ap.add_argument("--queries", type=int, default=1000, help="single queries timed for MultiIndex")
    ap.add_argument("--flat-queries", type=int, default=50, help="single queries timed for scans")
    ap.add_argument("--batch", type=int, default=100, help="queries of the batched uniform row")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nw", type=int, default=1_000_000, help="codes of the weighted rows")
    ap.add_argument("--wq", type=int, default=1000, help="queries of the weighted rows")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["clustered", "uniform", "weighted"], default=None)
    args = ap.parse_args(argv)
    faiss = faiss_module()
    rng = np.random.default_rng(args.seed)
    print(
        f"deephash MultiIndex / weighted benchmark; SIMD {deephash.simd_level()}, threads 1, "
        f"faiss {'yes' if faiss else 'not installed'}"
    )
    with threads(1):
        if args.only in (None, "clustered"):
            bench_clustered(args, faiss, rng)
        if args.only in (None, "uniform"):
            bench_uniform(args, rng)
        if args.only in (None, "weighted"):
            bench_weighted(args, faiss, rng)


if __name__ == "__main__":
    main()
