"""Speed of deephash.metrics at the CIFAR-10 protocol's size: 1,000 queries x 59,000 codes.

    PYTHONPATH=python python bench/bench_metrics.py [--bits 16 32 48 64] [--repeats 3]
    PYTHONPATH=python python bench/bench_metrics.py --ranking   # engine vs sort for ties="id"
    PYTHONPATH=python python bench/bench_metrics.py --ties      # tie handling on CIFAR-10 + LSH
    PYTHONPATH=python python bench/bench_metrics.py --graded --bits 48 --repeats 3
        # multi-label metrics (ACG/NDCG/weighted mAP), weights=, ranking_map, rerank, mosaics
    PYTHONPATH=python python bench/bench_metrics.py --mosaics-lsh --bits 12 24 32 48
        # baseline on the multi-label CIFAR-10 mosaics: LSH on 8x8-pooled pixels

Codes are drawn around one random center per class (10 classes, 15% bit noise), so that the
relevance structure and tie counts resemble trained codes; timings are best of --repeats.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deephash
from deephash import metrics


def _codes(rng, centers, labels, noise=0.15):
    flips = rng.random((labels.shape[0], centers.shape[1])) < noise
    return deephash.pack_bits(centers[labels] ^ flips)


def _best(fn, repeats):
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bits", type=int, nargs="+", default=[16, 32, 48, 64])
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--ndb", type=int, default=59000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--ranking", action="store_true", help="time the two ways of ranking by (distance, position) at several k"
    )
    p.add_argument(
        "--ties",
        action="store_true",
        help="mAP@ALL of LSH codes on CIFAR-10 pixels (1k protocol) under each tie rule, "
        "database shuffled and sorted by class",
    )
    p.add_argument(
        "--graded",
        action="store_true",
        help="multi-label metrics, weighted-Hamming mAP, ranking_map + rerank, and the "
        "CIFAR-10 mosaics build, each beside mAP@ALL in one run (medians)",
    )
    p.add_argument(
        "--mosaics-lsh",
        action="store_true",
        help="LSH baseline on the CIFAR-10 mosaics: mAP, weighted mAP, NDCG@100, ACG@100",
    )
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    if args.mosaics_lsh:
        return _mosaics_lsh(args)
    if args.graded:
        return _graded(args, rng)
    if args.ranking:
        return _ranking(args, rng)
    if args.ties:
        return _ties(args)
    print(
        f"deephash.metrics, {args.nq} queries x {args.ndb} codes, best of {args.repeats}; "
        f"simd={deephash.simd_level()} threads={deephash.get_num_threads()}"
    )
    print(
        f"{'bits':>4}  {'mAP@ALL avg':>12}  {'mAP@ALL id':>11}  {'mAP@1000 avg':>13}  "
        f"{'P@r=2':>7}  {'PR curve':>9}  mAP(avg / id)"
    )
    for bits in args.bits:
        centers = rng.integers(0, 2, (10, bits))
        ql = rng.integers(0, 10, args.nq)
        dl = rng.integers(0, 10, args.ndb)
        q, db = _codes(rng, centers, ql), _codes(rng, centers, dl)
        t_avg, m_avg = _best(lambda: metrics.mean_average_precision(q, ql, db, dl), args.repeats)
        t_id, m_id = _best(lambda: metrics.mean_average_precision(q, ql, db, dl, ties="id"), args.repeats)
        t_k, _ = _best(lambda: metrics.mean_average_precision(q, ql, db, dl, topk=1000), args.repeats)
        t_r, _ = _best(lambda: metrics.precision_at_radius(q, ql, db, dl, radius=2), args.repeats)
        t_pr, _ = _best(lambda: metrics.precision_recall_curve(q, ql, db, dl), args.repeats)
        print(
            f"{bits:>4}  {t_avg:>10.3f} s  {t_id:>9.3f} s  {t_k:>11.3f} s  {t_r:>5.3f} s  "
            f"{t_pr:>7.3f} s  {m_avg.map:.4f} / {m_id.map:.4f}"
        )


def _ties(args):
    """Why tie handling matters: the same codes, three answers."""
    from deephash import data, methods

    split = data.cifar10_protocol("1k", seed=args.seed)
    flat = lambda a: a.reshape(a.shape[0], -1).astype(np.float32) / 255.0  # noqa: E731
    order = np.argsort(split.db_y, kind="stable")
    print(
        f"CIFAR-10 1k protocol ({len(split.query_y)} queries x {len(split.db_y)} database), LSH on raw pixels, mAP@ALL"
    )
    print(f"{'bits':>4}  {'average':>8}  {'id, shuffled db':>15}  {'id, class-sorted db':>19}")
    for bits in args.bits:
        lsh = methods.LSH(bits=bits, seed=args.seed, progress=False).fit(flat(split.train_x))
        q, db = lsh.encode(flat(split.query_x)), lsh.encode(flat(split.db_x))
        avg = metrics.mean_average_precision(q, split.query_y, db, split.db_y).map
        by_id = metrics.mean_average_precision(q, split.query_y, db, split.db_y, ties="id").map
        sorted_db = metrics.mean_average_precision(q, split.query_y, db[order], split.db_y[order], ties="id").map
        print(f"{bits:>4}  {avg:>8.4f}  {by_id:>15.4f}  {sorted_db:>19.4f}")


def _ranking(args, rng):
    from deephash.metrics import _ranking as rk

    bits = args.bits[0]
    centers = rng.integers(0, 2, (10, bits))
    q = _codes(rng, centers, rng.integers(0, 10, args.nq))
    db = _codes(rng, centers, rng.integers(0, 10, args.ndb))
    print(f"ranking {args.nq} queries x {args.ndb} {bits}-bit codes by (distance, position), best of {args.repeats}")
    saved = rk.ENGINE_MAX_FRACTION
    try:
        for k in (100, 1000, 5000, args.ndb):
            times = {}
            for name, frac in (("engine", 1.0), ("sort", 0.0)):
                rk.ENGINE_MAX_FRACTION = frac
                times[name], _ = _best(lambda: [None for _ in rk.ranking(q, db, bits, k)], args.repeats)
            print(f"  k={k:>6}: engine (FlatIndex.search) {times['engine']:.3f} s, stable sort {times['sort']:.3f} s")
    finally:
        rk.ENGINE_MAX_FRACTION = saved


def _median(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), value


def _multi_hot(rng, m, n_classes=10, max_classes=3):
    """Rows with 1..max_classes labels, like the mosaics."""
    k = rng.integers(1, max_classes + 1, m)
    chosen = np.argsort(rng.random((m, n_classes)), axis=1)
    y = np.zeros((m, n_classes), np.uint8)
    y[np.arange(m)[:, None], chosen[:, :max_classes]] = np.arange(max_classes)[None, :] < k[:, None]
    return y


def _graded(args, rng):
    """Every new metric beside mAP@ALL in one run, rounds interleaved, medians."""
    bits = args.bits[0]
    centers = rng.integers(0, 2, (10, bits))
    ql, dl = _multi_hot(rng, args.nq), _multi_hot(rng, args.ndb)
    # Codes near the center of one of the item's classes (15% bit noise).
    pick = lambda y: np.argmax(y * rng.random(y.shape), axis=1)  # noqa: E731
    qi, di = pick(ql), pick(dl)  # one class per item: the class ids of the single-label rows
    q, db = _codes(rng, centers, qi), _codes(rng, centers, di)
    w = rng.random(bits).astype(np.float32)
    index = deephash.FlatIndex(bits)
    index.add(db)
    qv = rng.standard_normal((args.nq, 64)).astype(np.float32)
    dbv = rng.standard_normal((args.ndb, 64)).astype(np.float32)
    _, reranked = deephash.rerank(index, q, qv, dbv, 100, shortlist=1000)
    cases = [
        ("mAP@ALL, class ids (reference)", lambda: metrics.mean_average_precision(q, qi, db, di)),
        ("mAP@ALL, class ids, ties=id", lambda: metrics.mean_average_precision(q, qi, db, di, ties="id")),
        ("mAP@ALL, multi-hot", lambda: metrics.mean_average_precision(q, ql, db, dl)),
        ("mAP@ALL, multi-hot, ties=id", lambda: metrics.mean_average_precision(q, ql, db, dl, ties="id")),
        ("weighted mAP@ALL", lambda: metrics.weighted_map(q, ql, db, dl)),
        ("weighted mAP@ALL, ties=id", lambda: metrics.weighted_map(q, ql, db, dl, ties="id")),
        ("NDCG@100", lambda: metrics.ndcg_at_k(q, ql, db, dl, k=100)),
        ("NDCG@100, ties=id", lambda: metrics.ndcg_at_k(q, ql, db, dl, k=100, ties="id")),
        ("ACG@100", lambda: metrics.acg_at_k(q, ql, db, dl, k=100)),
        ("ACG@100, ties=id", lambda: metrics.acg_at_k(q, ql, db, dl, k=100, ties="id")),
        ("mAP@ALL weights=, class ids", lambda: metrics.mean_average_precision(q, qi, db, di, weights=w)),
        (
            "mAP@ALL weights=, class ids, ties=id",
            lambda: metrics.mean_average_precision(q, qi, db, di, weights=w, ties="id"),
        ),
        ("ranking_map of rerank ids (k=100)", lambda: metrics.ranking_map(reranked, ql, dl)),
        ("rerank k=100, shortlist 1000, dim 64", lambda: deephash.rerank(index, q, qv, dbv, 100, shortlist=1000)),
        ("FlatIndex.search k=1000 (for scale)", lambda: index.search(q, 1000)),
    ]
    print(
        f"{args.nq} queries x {args.ndb} {bits}-bit codes, multi-hot labels with 1-3 of 10 "
        f"classes; median of {args.repeats} interleaved rounds; simd={deephash.simd_level()} "
        f"threads={deephash.get_num_threads()}"
    )
    times = {name: [] for name, _ in cases}
    values = {}
    for _ in range(args.repeats):
        for name, fn in cases:
            t, values[name] = _median(fn, 1)
            times[name].append(t)
    ref = float(np.median(times[cases[0][0]]))
    print(f"| {'case':<40} | seconds | vs reference | value |")
    print(f"| {'---':<40} | ---: | ---: | ---: |")
    for name, _ in cases:
        t = float(np.median(times[name]))
        v = values[name]
        shown = f"{float(v):.4f}" if hasattr(v, "_fields") else ""
        print(f"| {name:<40} | {t:.3f} | {t / ref:.1f}x | {shown} |")
    try:
        from deephash import data

        data.load_cifar10()  # the first call decodes the JPEGs and caches the arrays
        t_load, c = _median(data.load_cifar10, args.repeats)
        t_build, split = _median(
            lambda: data.mosaic_split(
                c.images, c.labels, c.classes, "cifar10-mosaics", 1000, 5000, 59000, seed=args.seed
            ),
            args.repeats,
        )
        print(
            f"CIFAR-10 mosaics: load_cifar10 from its cache {t_load:.2f} s, then building "
            f"{split!r} (64x64x3 uint8) {t_build:.2f} s (medians of {args.repeats})"
        )
    except FileNotFoundError as e:
        print(f"cifar10_mosaics not timed: {e}")


def _mosaics_lsh(args):
    """The multi-label table's baseline row: LSH on average-pooled mosaic pixels."""
    from deephash import data, methods

    split = data.cifar10_mosaics(seed=args.seed)

    def pooled(x):  # (m, 64, 64, 3) -> (m, 192): 8x8 blocks averaged, in [0, 1]
        return x.reshape(x.shape[0], 8, 8, 8, 8, 3).mean(axis=(2, 4), dtype=np.float32).reshape(x.shape[0], -1) / 255.0

    print(f"{split!r}; LSH (centred, seed {args.seed}) on 8x8-pooled pixels (192 dims); each cell: tie-aware / by id")
    print("| bits | mAP@ALL | weighted mAP@ALL | NDCG@100 | ACG@100 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    args_q = (split.query_y,)
    for bits in args.bits:
        lsh = methods.LSH(bits=bits, seed=args.seed, progress=False).fit(pooled(split.train_x))
        q, db = lsh.encode(pooled(split.query_x)), lsh.encode(pooled(split.db_x))
        cells = []
        for fn, kw in (
            (metrics.mean_average_precision, {}),
            (metrics.weighted_map, {}),
            (metrics.ndcg_at_k, {"k": 100}),
            (metrics.acg_at_k, {"k": 100}),
        ):
            a = float(fn(q, *args_q, db, split.db_y, ties="average", **kw))
            b = float(fn(q, *args_q, db, split.db_y, ties="id", **kw))
            cells.append(f"{a:.4f} / {b:.4f}")
        print(f"| {bits} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
