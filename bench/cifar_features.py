"""Every image hashing method on frozen CIFAR-10 features: the 1k/5k/59k table, the multi-label
mosaics table, DRSCH's bit-scalable table and DLBHC's coarse-to-fine search.

Features: ImageNet EfficientNet-Lite0 at 160x160, global-average-pooled (1280-d), computed from
the float16 activations at block 11 that ``bench/cifar_protocol.py --recipe partial`` caches
(the blocks above the cut run once per image here, with their pretrained weights). They differ
from ``--recipe frozen``'s features only by that float16 rounding at the cut, and they are
stored apart from the library's feature cache (``--features``, default
``~/.cache/deephash/bench/cifar10-effl0-r160-cut11f16-gap.npy``, 60,000 x 1280 float32 in
``load_cifar10`` order), so the two never mix. Every deep method trains its hash head on them
(backbone ``"features"``: standardised features -> 256 ReLU -> its head; Adam lr 3e-4, batch
128, 30 epochs -- the frozen recipe, chosen for DPSH on a validation split of the training set;
each method's own hyperparameters at their defaults), seed 0.

Parts (``--part``, default all; each resumable through ``--json``: rows already there are
skipped):

- ``table``: the CIFAR-10 1k protocol (1,000 queries / 5,000 train / 59,000 database), every
  supervised image method and the LSH/ITQ baselines at 12/24/32/48 bits, tie-aware mAP@ALL with
  the by-id figure, beside the published figures.
- ``mosaics``: the multi-label CIFAR-10 mosaics (``deephash.data.cifar10_mosaics``, seed 0:
  1,000 / 5,000 / 59,000 2x2 mosaics). A mosaic's feature is the mean of its four images'
  features: what global average pooling over the four tiles gives when receptive fields do not
  cross tile borders. mAP@ALL (relevant = a shared class), weighted mAP@ALL, NDCG@100 and ACG@100
  (graded relevance = shared classes), each tie-aware / by id.
- ``drsch``: DRSCH's bit-scalable codes on the 1k protocol: one 48-bit model's b heaviest bits
  vs models trained at b bits, plain and weighted Hamming ranking (and the first b bits by index).
- ``dlbhc``: DLBHC at 48 bits on the 1k protocol: Hamming ranking alone vs coarse-to-fine
  (``deephash.rerank``: the 1,000 nearest codes re-ranked by the Euclidean distance of the
  latent-layer vectors), mAP@100 and P@100 of each, and the search time of each on the 59,000
  database (1,000 queries, median of 5).

Usage::

    PYTHONPATH=python python bench/cifar_features.py --json bench/results/cifar_features.json
    PYTHONPATH=python python bench/cifar_features.py --part mosaics --bits 48 --json ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar_protocol import PUBLISHED, validation_indices

CUT = 11
RESOLUTION = 160
SUPERVISED = ["DPSH", "DSH", "DHN", "CNNH", "CNNHPlus", "DNNH", "DLBHC", "DRSCH", "DSRH", "SDH"]
BASELINES = ["LSH", "ITQ"]
RECIPE = {"epochs": 30, "lr": 3e-4, "batch_size": 128, "head_hidden": [256]}
LENGTHS = (12, 24, 32, 48)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", default="all", choices=["all", "table", "mosaics", "drsch", "dlbhc"])
    p.add_argument("--methods", default=",".join(SUPERVISED + BASELINES), help="table and mosaics parts")
    p.add_argument("--bits", default="12,24,32,48")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--split",
        default="test",
        choices=["test", "validation"],
        help="validation: 500 queries drawn from the 5,000 training items, the other 4,500 train and are the database",
    )
    p.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a method hyperparameter (JSON value)"
    )
    p.add_argument("--data", default=None, help="cifar10-jpeg.tar.xz or its directory")
    p.add_argument(
        "--features",
        default=os.path.join(
            os.path.expanduser("~"), ".cache", "deephash", "bench", "cifar10-effl0-r160-cut11f16-gap.npy"
        ),
    )
    p.add_argument("--json", default=None, help="write the records here (and resume from them)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the heads are small)")
    return p.parse_args(argv)


def cifar_features(data, path):
    """float32 (60000, 1280) pooled features, computed once (through the activation cache)."""
    if os.path.exists(path):
        f = np.load(path, mmap_mode="r")
        if f.shape[0] == data.images.shape[0]:
            return np.asarray(f)
    import torch
    from deephash.models import build_backbone, default_cache_dir, extract_features
    from deephash.models.partial import BelowCut, activation_tag, maps_to_input

    net, info = build_backbone({"name": "efficientnet_lite0", "resolution": RESOLUTION}, data.images.shape)
    net.eval()
    out = np.empty((data.images.shape[0], 1280), np.float32)
    t = time.perf_counter()
    for s in range(0, len(out), 8192):
        a = extract_features(
            BelowCut(net, CUT),
            data.images[s : s + 8192],
            tag=activation_tag(info.cache_tag, CUT),
            cache_dir=default_cache_dir(),
            batch_size=128,
            progress=False,
        )
        with torch.inference_mode():
            for b in range(0, len(a), 256):
                x = maps_to_input(torch.from_numpy(np.ascontiguousarray(a[b : b + 256])))
                out[s + b : s + b + len(x)] = net.upper(x, CUT).numpy()
        print(f"features {s + len(a)}/{len(out)} ({time.perf_counter() - t:.0f} s)", flush=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path + ".tmp.npy", out)
    os.replace(path + ".tmp.npy", path)
    return out


PARAMS = {}  # --param NAME=VALUE, for every method of the run


def make(name, bits, seed):
    import deephash.methods as M

    cls = M.method_class(name)
    if issubclass(cls, M.DeepHashingMethod):
        return cls(bits=bits, backbone="features", seed=seed, progress=False, **RECIPE, **PARAMS)
    return cls(bits=bits, seed=seed, **PARAMS)


def fit_encode(name, bits, seed, tx, ty, qx, dx):
    m = make(name, bits, seed)
    t = time.perf_counter()
    m.fit(tx, ty)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    qc, dc = m.encode(qx), m.encode(dx)
    return m, qc, dc, train_s, time.perf_counter() - t


def both(fn, *args, **kw):
    """(tie-aware, by id) values of a metric."""
    return [round(float(fn(*args, ties=t, **kw)), 4) for t in ("average", "id")]


class Records:
    def __init__(self, path, variant=None):
        self.path = path
        self.variant = variant  # {"split": ..., "params": ...} when not the defaults
        self.rows = []
        if path and os.path.exists(path):
            with open(path) as f:
                self.rows = json.load(f)
        self.done = {self.key(r) for r in self.rows}

    @staticmethod
    def key(r):
        return (r["part"], r["method"], r.get("bits"), r["seed"], json.dumps(r.get("variant"), sort_keys=True))

    def has(self, part, method, bits, seed):
        if (part, method, bits, seed, json.dumps(self.variant, sort_keys=True)) in self.done:
            print(f"{part:8} {method:9} {bits}  (already in {self.path}, skipped)", flush=True)
            return True
        return False

    def add(self, rec):
        if self.variant:
            rec["variant"] = self.variant
        self.rows.append(rec)
        self.done.add(self.key(rec))
        print(json.dumps(rec), flush=True)
        if self.path:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path + ".tmp", "w") as f:
                json.dump(self.rows, f, indent=1)
            os.replace(self.path + ".tmp", self.path)


def validation(parts, split, seed):
    """(query, train, database) parts, or a validation protocol carved from the training part
    by ``cifar_protocol.validation_indices`` (the rule of ``--split validation`` there), so the
    two benchmarks validate alike."""
    if split == "test":
        return parts
    tx, ty = parts[1]
    idx = validation_indices(ty, seed)
    return [(tx[i], ty[i]) for i in (idx.query, idx.train, idx.database)]


def protocol(data, feats, seed, split="test"):
    from deephash.data.cifar10 import protocol_indices

    idx = protocol_indices(data.labels, data.is_test, "1k", seed)
    y = data.labels
    return validation([(feats[i], y[i]) for i in (idx.query, idx.train, idx.database)], split, seed)


def part_table(args, data, feats, rec):
    from deephash.metrics import mean_average_precision

    (qx, qy), (tx, ty), (dx, dy) = protocol(data, feats, args.seed, args.split)
    for name in args.methods:
        for bits in args.bits:
            if rec.has("table", name, bits, args.seed):
                continue
            _, qc, dc, train_s, enc_s = fit_encode(name, bits, args.seed, tx, ty, qx, dx)
            rec.add(
                {
                    "part": "table",
                    "method": name,
                    "bits": bits,
                    "seed": args.seed,
                    "map": both(mean_average_precision, qc, qy, dc, dy),
                    "published": PUBLISHED.get(name, {}).get(bits) if args.split == "test" else None,
                    "train_s": round(train_s, 1),
                    "encode_s": round(enc_s, 2),
                }
            )


def part_mosaics(args, data, feats, rec):
    from deephash.data.mosaics import mosaic_sources
    from deephash.metrics import acg_at_k, mean_average_precision, ndcg_at_k, weighted_map

    idx, (qy, ty, dy) = mosaic_sources(data.labels, 1000, 5000, 59000, seed=args.seed)
    parts = [(feats[s].mean(axis=1), y) for s, y in zip((idx.query, idx.train, idx.database), (qy, ty, dy))]
    (qx, qy), (tx, ty), (dx, dy) = validation(parts, args.split, args.seed)
    for name in args.methods:
        for bits in args.bits:
            if rec.has("mosaics", name, bits, args.seed):
                continue
            try:
                _, qc, dc, train_s, enc_s = fit_encode(name, bits, args.seed, tx, ty, qx, dx)
            except (TypeError, ValueError) as e:  # a method that cannot take multi-hot labels says so
                rec.add({"part": "mosaics", "method": name, "bits": bits, "seed": args.seed, "error": str(e)})
                continue
            rec.add(
                {
                    "part": "mosaics",
                    "method": name,
                    "bits": bits,
                    "seed": args.seed,
                    "map": both(mean_average_precision, qc, qy, dc, dy),
                    "weighted_map": both(weighted_map, qc, qy, dc, dy),
                    "ndcg100": both(ndcg_at_k, qc, qy, dc, dy, k=100),
                    "acg100": both(acg_at_k, qc, qy, dc, dy, k=100),
                    "train_s": round(train_s, 1),
                    "encode_s": round(enc_s, 2),
                }
            )


def part_drsch(args, data, feats, rec):
    from deephash.metrics import mean_average_precision
    from drsch_bit_scalable import index_order_codes

    (qx, qy), (tx, ty), (dx, dy) = protocol(data, feats, args.seed, args.split)

    def scores(m, b, by_index=False):
        if by_index:  # the first b bits in index order, weights in that order
            q, d = (index_order_codes(m, x, b) for x in (qx, dx))
            w = np.zeros(q.shape[1] * 8, np.float32)
            w[:b] = m.bit_weights[:b]
        else:
            q, d = m.encode(qx, bits=b), m.encode(dx, bits=b)
            w = m.search_weights(b)
        return both(mean_average_precision, q, qy, d, dy) + both(mean_average_precision, q, qy, d, dy, weights=w)

    models = {}
    for b in sorted(args.bits, reverse=True):
        key = f"DRSCH trained at {b}"
        if rec.has("drsch", key, b, args.seed):
            continue
        if 48 not in models:
            models[48] = make("DRSCH", 48, args.seed).fit(tx, ty)
        m = models[48] if b == 48 else make("DRSCH", b, args.seed).fit(tx, ty)
        row = {"part": "drsch", "method": key, "bits": b, "seed": args.seed}
        row["trained_at_b"] = scores(m, b)
        row["heaviest_of_48"] = scores(models[48], b)
        row["index_order_of_48"] = scores(models[48], b, by_index=True)
        row["weights_range_48"] = [
            round(float(models[48].bit_weights.min()), 3),
            round(float(models[48].bit_weights.max()), 3),
        ]
        rec.add(row)


def part_dlbhc(args, data, feats, rec):
    from deephash import FlatIndex, rerank
    from deephash.metrics import mean_average_precision, ranking_map, ranking_precision_at_n

    bits = 48
    if rec.has("dlbhc", "DLBHC", bits, args.seed):
        return
    (qx, qy), (tx, ty), (dx, dy) = protocol(data, feats, args.seed, args.split)
    m = make("DLBHC", bits, args.seed).fit(tx, ty)
    qc, dc = m.encode(qx), m.encode(dx)
    ql, dl = m.latent(qx), m.latent(dx)
    index = FlatIndex(bits)
    index.add(dc)
    k, shortlist = 100, 1000
    times = {"hamming": [], "coarse_to_fine": []}
    for _ in range(5):
        t = time.perf_counter()
        _, hid = index.search(qc, k)
        times["hamming"].append(time.perf_counter() - t)
        t = time.perf_counter()
        _, rid = rerank(index, qc, ql, dl, k, shortlist=shortlist)
        times["coarse_to_fine"].append(time.perf_counter() - t)
    row = {"part": "dlbhc", "method": "DLBHC", "bits": bits, "seed": args.seed, "k": k, "shortlist": shortlist}
    row["map_all_hamming"] = both(mean_average_precision, qc, qy, dc, dy)
    for name, ids in (("hamming", hid), ("coarse_to_fine", rid)):
        row[f"map{k}_{name}"] = round(float(ranking_map(ids, qy, dy).map), 4)
        row[f"p{k}_{name}"] = round(float(ranking_precision_at_n(ids, qy, dy, ns=[k]).precision[0]), 4)
        row[f"search_s_{name}"] = round(float(np.median(times[name])), 4)
    rec.add(row)


def main(argv=None):
    args = parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.bits = [int(b) for b in args.bits.split(",")]
    import torch
    from deephash.data import load_cifar10

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    data = load_cifar10(args.data)
    feats = cifar_features(data, args.features)
    print(f"data and features in {time.perf_counter() - t:.1f} s", flush=True)
    global PARAMS
    PARAMS = {}
    for item in args.param:
        name, _, value = item.partition("=")
        try:
            PARAMS[name] = json.loads(value)
        except json.JSONDecodeError:
            PARAMS[name] = value
    variant = {"split": args.split, "params": PARAMS} if (args.split != "test" or PARAMS) else None
    rec = Records(args.json, variant)
    parts = ["dlbhc", "drsch", "mosaics", "table"] if args.part == "all" else [args.part]
    for part in parts:
        globals()["part_" + part](args, data, feats, rec)
    return rec.rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
