"""deephash.distributed on one machine: ShardedIndex over Ray vs one FlatIndex, and parallel encoding.

    PYTHONPATH=python python bench/distributed_bench.py index  [--n 10000000 --nq 1000 --k 100]
    PYTHONPATH=python python bench/distributed_bench.py encode [--images 10000 --workers 1 2]
    PYTHONPATH=python python bench/distributed_bench.py train  [--per-class 200 --epochs 3]
    PYTHONPATH=python python bench/distributed_bench.py overhead [--shards 1 2 4 8 16]

``index``: one FlatIndex (all threads, in this process) and a ShardedIndex with ``--shards`` actors
(``threads // shards`` threads each) on the same codes; batch search and single-query latency,
alternating in rounds (medians), results checked identical; plus the pieces of the paper estimate
for large clusters: one core's scan rate, the driver merge for 16 shards, and the Ray round trip.

``encode``: a small CNN (DSH, small_cnn backbone, 1 epoch on 1,000 images; speed does not depend on
its quality) encodes CIFAR-10 test images in this process and with 1 and 2 Ray workers.

``train``: DPSH with the small_cnn backbone trained end to end on CIFAR-10 (``--per-class`` images
per class, seeded) in one process with 2 threads, and data-parallel on 1 and 2 Ray workers with one
thread each; mAP@ALL of 1,000 test queries against ``--database`` other test images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import deephash


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _ray_init(cpus):
    import ray

    root = os.path.dirname(os.path.dirname(os.path.abspath(deephash.__file__)))
    os.environ["PYTHONPATH"] = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return ray


def bench_index(args):
    from deephash.distributed import ShardedIndex
    from deephash.distributed._merge import merge_knn

    ray = _ray_init(args.threads)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (args.n, 8), dtype=np.uint8)
    queries = rng.integers(0, 256, (args.nq, 8), dtype=np.uint8)
    deephash.set_num_threads(args.threads)
    flat = deephash.FlatIndex(64)
    t_flat_add, _ = _timed(lambda: flat.add(codes))
    sh = ShardedIndex(64, args.shards, threads_per_shard=max(1, args.threads // args.shards))
    t_sh_add, _ = _timed(lambda: sh.add(codes))
    print(
        f"add {args.n} codes: FlatIndex {t_flat_add:.2f} s, ShardedIndex {t_sh_add:.2f} s "
        f"(incl. transfer to the actors and the fsynced logs)"
    )
    sh.search(queries[:10], args.k)  # warm-up
    flat.search(queries[:10], args.k)
    single, sharded = [], []
    for _ in range(args.rounds):
        t, a = _timed(lambda: flat.search(queries, args.k))
        single.append(t)
        t, b = _timed(lambda: sh.search(queries, args.k))
        sharded.append(t)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), "results differ"
    ms, mh = statistics.median(single), statistics.median(sharded)
    ratios = [b / a for a, b in zip(single, sharded)]
    print(
        f"batch {args.nq} queries k={args.k}: FlatIndex {ms:.3f} s, ShardedIndex({args.shards}) "
        f"{mh:.3f} s (medians of {args.rounds}); ratio of medians {mh / ms:.2f}x, median of the "
        f"per-round ratios {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{a:.2f}/{b:.2f}' for a, b in zip(single, sharded))} s)"
    )
    lat_l, lat_r = [], []
    for i in range(args.latency_reps):
        q = queries[i % args.nq : i % args.nq + 1]
        lat_l.append(_timed(lambda q=q: flat.search(q, args.k))[0])
        lat_r.append(_timed(lambda q=q: sh.search(q, args.k))[0])
    print(
        f"single query k={args.k}: local {statistics.median(lat_l) * 1e3:.2f} ms, over Ray "
        f"{statistics.median(lat_r) * 1e3:.2f} ms (medians of {args.latency_reps})"
    )

    # Pieces of the paper estimate: one core's scan rate, a 16-shard merge, the Ray round trip.
    deephash.set_num_threads(1)
    t1 = statistics.median(_timed(lambda: flat.search(queries, args.k))[0] for _ in range(2))
    rate = args.n * args.nq / t1
    print(f"1 thread: {args.nq} queries over {args.n} codes {t1:.3f} s = {rate / 1e9:.2f} G codes/s/core")
    deephash.set_num_threads(args.threads)
    # 16 shards' real answers (codes s, s + 16, ...), with their insertion numbers (= ids here).
    parts = []
    for s in range(16):
        part = deephash.FlatIndex(64)
        part.add(np.ascontiguousarray(codes[s::16]), np.arange(s, args.n, 16))
        d, i = part.search(queries, args.k)
        parts.append((d, i, i))
    tm = statistics.median(_timed(lambda: merge_knn(parts, args.nq, args.k, False))[0] for _ in range(3))
    one = [(d[:1], i[:1], i[:1]) for d, i, _ in parts]
    tm1 = statistics.median(_timed(lambda: merge_knn(one, 1, args.k, False))[0] for _ in range(20))
    assert np.array_equal(merge_knn(parts, args.nq, args.k, False)[1], flat.search(queries, args.k)[1])
    print(f"merge of 16 shards x {args.k}: {args.nq} queries {tm * 1e3:.1f} ms, 1 query {tm1 * 1e3:.3f} ms")
    tiny = ShardedIndex(64, args.shards)
    tiny.add(codes[:1000])
    rt = statistics.median(_timed(lambda: tiny.search(queries[:1], args.k))[0] for _ in range(args.latency_reps))
    print(f"Ray round trip ({args.shards} shards of 500 codes, 1 query): {rt * 1e3:.2f} ms")
    tiny.close()
    sh.close()
    ray.shutdown()


def bench_overhead(args):
    """Ray's share of a query: single-query latency over tiny shards, for several shard counts."""
    from deephash.distributed import ShardedIndex

    ray = _ray_init(2)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (1000, 8), dtype=np.uint8)
    for shards in args.shards:
        sh = ShardedIndex(64, shards)
        sh.add(codes)
        sh.search(codes[:1], 100)
        one = statistics.median(_timed(lambda sh=sh: sh.search(codes[:1], 100))[0] for _ in range(args.reps))
        batch = statistics.median(_timed(lambda sh=sh: sh.search(codes, 100))[0] for _ in range(5))
        print(
            f"{shards:2d} shards of {1000 // shards} codes: 1 query {one * 1e3:.2f} ms, "
            f"1000 queries {batch * 1e3:.1f} ms (medians)"
        )
        sh.close()
    ray.shutdown()


def bench_encode(args):
    import torch

    from deephash import methods as M
    from deephash.data.cifar10 import load_cifar10
    from deephash.distributed import encode

    ray = _ray_init(2)
    data = load_cifar10()
    train = data.images[~data.is_test][:1000]
    images = data.images[data.is_test][: args.images]
    torch.manual_seed(0)
    model = M.DSH(bits=64, backbone="small_cnn", seed=0, epochs=1, progress=False)
    model.fit(train, data.labels[~data.is_test][:1000])
    torch.set_num_threads(1)
    t1, expected = _timed(lambda: model.encode(images))
    torch.set_num_threads(2)
    t2, again = _timed(lambda: model.encode(images))
    print(f"one process: 1 thread {images.shape[0] / t1:.0f} images/s, 2 threads {images.shape[0] / t2:.0f} images/s")
    for w in args.workers:
        t, got = _timed(lambda w=w: encode(model, images, num_workers=w, batch_size=512))
        same = np.array_equal(got, expected) and np.array_equal(again, expected)
        print(
            f"Ray, {w} worker(s) x 1 thread: {images.shape[0] / t:.0f} images/s "
            f"(incl. start-up and shipping the model), codes identical: {same}"
        )
    ray.shutdown()


def bench_train(args):
    import torch

    from deephash import methods as M
    from deephash.data.cifar10 import load_cifar10
    from deephash.metrics import mean_average_precision

    ray = _ray_init(2)
    data = load_cifar10()
    rng = np.random.default_rng(0)
    train_pool = np.nonzero(~data.is_test)[0]
    test_pool = np.nonzero(data.is_test)[0]
    train = np.concatenate(
        [rng.choice(train_pool[data.labels[train_pool] == c], args.per_class, replace=False) for c in range(10)]
    )
    test = rng.permutation(test_pool)
    query, db = test[:1000], test[1000 : 1000 + args.database]
    xt, yt = data.images[train], data.labels[train]

    def dpsh(**kw):
        return M.DPSH(bits=32, backbone="small_cnn", seed=0, epochs=args.epochs, progress=False, **kw)

    for name, threads, workers in (
        ("one process, 2 threads", 2, 1),
        ("Ray, 1 worker x 1 thread", 1, 1),
        ("Ray, 2 workers x 1 thread", 1, 2),
    ):
        torch.set_num_threads(threads)
        if name.startswith("Ray"):
            from deephash.distributed.train import fit_data_parallel

            t, model = _timed(lambda w=workers: fit_data_parallel(dpsh(), xt, yt, num_workers=w))
        else:
            t, model = _timed(lambda: dpsh().fit(xt, yt))
        torch.set_num_threads(2)
        qc, dc = model.encode(data.images[query]), model.encode(data.images[db])
        ql, dl = data.labels[query], data.labels[db]
        m_avg = mean_average_precision(qc, ql, dc, dl).map
        m_id = mean_average_precision(qc, ql, dc, dl, ties="id").map
        print(
            f"{name}: {args.epochs} epochs on {len(train)} images {t:.1f} s ({t / args.epochs:.1f} s/epoch "
            f"incl. start-up), mAP@ALL {m_avg:.4f} (ties by id {m_id:.4f})"
        )
    ray.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("index")
    a.add_argument("--n", type=int, default=10_000_000)
    a.add_argument("--nq", type=int, default=1000)
    a.add_argument("--k", type=int, default=100)
    a.add_argument("--shards", type=int, default=2)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--rounds", type=int, default=5)
    a.add_argument("--latency-reps", type=int, default=50)
    e = sub.add_parser("encode")
    e.add_argument("--images", type=int, default=10000)
    e.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    o = sub.add_parser("overhead")
    o.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    o.add_argument("--reps", type=int, default=50)
    t = sub.add_parser("train")
    t.add_argument("--per-class", type=int, default=200)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--database", type=int, default=5000)
    args = p.parse_args()
    {"index": bench_index, "overhead": bench_overhead, "encode": bench_encode, "train": bench_train}[args.what](args)


if __name__ == "__main__":
    main()
