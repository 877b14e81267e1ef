"""The fast CPU engines (``DEEPHASH_ENGINE``) against today's PyTorch path, side by side in one run.

Parts (``--part``, default all):

- ``encode``: ``DPSH.encode`` of decoded CIFAR-10 test images (uint8 32x32, resized to 160 px in
  the network) with a frozen EfficientNet-Lite0 backbone (feature cache off, so every image goes
  through the network), ``DEEPHASH_ENGINE`` = torch / onnx / openvino in turn, the order rotating
  each repeat; img/s medians and the median of the per-repeat ratios to torch; the codes' bit
  agreement with torch's.
- ``fill``: the CPU fine-tuning recipe's activation cache fill (``extract_features`` of
  ``BelowCut(backbone, 11)`` into an empty cache folder, shards written), same alternation.
- ``e2e``: ``collection build``-style, JPEG files -> codes in a ``FlatIndex``: today's path (decode
  every file with Pillow in the process, ``encode`` with ``DEEPHASH_ENGINE=torch``, add) against
  :func:`deephash.data.encode_images` (decoding in a worker process ahead of the network, JPEG
  draft mode, the ``auto`` engine, adding batch by batch); on CIFAR-10's own JPEG files (32x32)
  and on "photos" (the same images enlarged to 640x480, saved as JPEG quality 90), alternating.
- ``agreement``: CIFAR-10 1k protocol (a seeded subset of the database, ``--database``): a DPSH
  frozen-feature model (30 epochs) trained on ``--train`` images, then queries and
  database encoded by each engine: bit agreement with torch and mAP@ALL (tie-aware) of each.
  ``--bf16`` adds OpenVINO with bfloat16 inference (``DEEPHASH_ENGINE_PRECISION=bf16``, opt-in:
  measured here to report the precision trade-off).

The machine is shared: ratios come from the same run, alternating engines; the load average is
printed before and after. Usage::

    PYTHONPATH=python python bench/bench_engine.py --threads 2 --repeats 5 --json bench/results/engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["all", "encode", "fill", "e2e", "agreement"], default="all")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--images", type=int, default=256, help="images per timed encode / fill")
    p.add_argument("--batch", type=int, default=128, help="TrainConfig.feature_batch_size")
    p.add_argument("--engines", default="torch,onnx,openvino")
    p.add_argument("--train", type=int, default=5000, help="agreement: training images (of 5,000)")
    p.add_argument("--database", type=int, default=10000, help="agreement: database images (of 59,000)")
    p.add_argument("--bits", type=int, default=48)
    p.add_argument("--bf16", action="store_true", help="agreement: also OpenVINO in bfloat16")
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    return {"cpu": model, "cores": os.cpu_count(), "load": os.getloadavg()}


def load_avg() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def set_engine(name: str) -> None:
    os.environ["DEEPHASH_ENGINE"] = name


def alternate(engines, repeats, fn):
    """{engine: [seconds per repeat]}; the engine order rotates each repeat."""
    times = {e: [] for e in engines}
    for r in range(repeats):
        order = engines[r % len(engines) :] + engines[: r % len(engines)]
        for e in order:
            set_engine(e)
            t = time.perf_counter()
            fn(e)
            times[e].append(time.perf_counter() - t)
    return times


def summary(times, n, what):
    rows = []
    base = np.array(times["torch"])
    for e, ts in times.items():
        ts = np.array(ts)
        ratio = float(np.median(base / ts))
        rows.append({"engine": e, "img_per_s": float(n / np.median(ts)), "ratio": ratio, "seconds": ts.tolist()})
        print(f"  {what} {e:9s} {n / np.median(ts):7.1f} img/s   x{ratio:.2f} of torch (median of paired ratios)")
    return rows


def frozen_model(bits, batch, train_x, train_y, cache_dir, epochs=3):
    from deephash.methods import DPSH, TrainConfig

    cfg = TrainConfig(epochs=epochs, progress=False, cache_dir=cache_dir, feature_batch_size=batch)
    return DPSH(bits, backbone={"name": "efficientnet_lite0", "resolution": 160}, config=cfg).fit(train_x, train_y)


def bit_agreement(a, b) -> float:
    return float(np.mean(np.unpackbits(a) == np.unpackbits(b)))


def part_encode(args, engines, data, out):
    rng = np.random.default_rng(0)
    x = data.images[data.is_test][rng.permutation(10000)[: args.images]]
    train = rng.permutation(50000)[:300]
    with tempfile.TemporaryDirectory() as tmp:
        set_engine("torch")
        model = frozen_model(args.bits, args.batch, data.images[train], data.labels[train], tmp)
    model.config.cache_dir = False  # every encode runs the network
    warm = {}
    for e in engines:  # the first call exports (or loads) the graph: timed apart
        set_engine(e)
        t = time.perf_counter()
        model.encode(x[:8])
        warm[e] = time.perf_counter() - t
    codes = {}

    def run(e):
        codes[e] = model.encode(x)

    times = alternate(engines, args.repeats, run)
    print(f"encode: {args.images} CIFAR-10 images, EfficientNet-Lite0 160 px, {args.threads} threads")
    rows = summary(times, len(x), "encode")
    for r in rows:
        r["bit_agreement"] = bit_agreement(codes[r["engine"]], codes["torch"])
        r["first_call_s"] = warm[r["engine"]]
        print(f"  {r['engine']:9s} bits agreeing with torch {r['bit_agreement']:.5f}, first {warm[r['engine']]:.1f} s")
    out["encode"] = rows


def part_fill(args, engines, data, out):
    from deephash.models import build_backbone, extract_features, normalize_spec
    from deephash.models.partial import BelowCut, activation_tag

    x = data.images[data.is_test][: args.images]
    backbone, info = build_backbone(normalize_spec({"name": "efficientnet_lite0", "resolution": 160}), x.shape)
    tag = activation_tag(info.cache_tag, 11)
    for e in engines:  # export / load first, untimed
        set_engine(e)
        extract_features(BelowCut(backbone, 11), x, progress=False, batch_size=args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        count = iter(range(10**6))

        def run(e):
            folder = os.path.join(tmp, f"{e}{next(count)}")
            extract_features(
                BelowCut(backbone, 11), x, tag=tag, cache_dir=folder, progress=False, batch_size=args.batch
            )

        times = alternate(engines, args.repeats, run)
    print(f"activation cache fill: {args.images} images, cut 11, {args.threads} threads")
    out["fill"] = summary(times, len(x), "fill")


def write_jpegs(images, folder, size=None):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, arr in enumerate(images):
        im = Image.fromarray(arr)
        if size is not None:
            im = im.resize(size, Image.BICUBIC)
        path = os.path.join(folder, f"{i:05d}.jpg")
        im.save(path, quality=90)
        paths.append(path)
    return paths


def part_e2e(args, engines, data, out):
    import deephash
    from deephash.data import encode_images
    from PIL import Image

    rng = np.random.default_rng(1)
    x = data.images[data.is_test][rng.permutation(10000)[: args.images]]
    train = rng.permutation(50000)[:300]
    with tempfile.TemporaryDirectory() as tmp:
        set_engine("torch")
        model = frozen_model(args.bits, args.batch, data.images[train], data.labels[train], tmp)
        model.config.cache_dir = False
        sets = {"cifar 32x32": write_jpegs(x, os.path.join(tmp, "small"))}
        sets["photos 640x480"] = write_jpegs(x, os.path.join(tmp, "photos"), (640, 480))
        set_engine("auto")
        list(encode_images(model, sets["cifar 32x32"][:8], 32, workers=0))  # export / load: untimed

        def today(paths):
            images = []
            for p in paths:
                with Image.open(p) as im:
                    images.append(np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR)))
            index = deephash.FlatIndex(model.code_bits)
            index.add(model.encode(np.stack(images)))
            return index

        def streamed(paths):
            index = deephash.FlatIndex(model.code_bits)
            for pos, codes in encode_images(model, paths, 32, batch_size=args.batch, workers=1):
                index.add(codes, pos)
            return index

        out["e2e"] = {}
        for name, paths in sets.items():
            runs = {"torch": lambda: today(paths), "auto": lambda: streamed(paths)}
            times = {e: [] for e in runs}
            for r in range(args.repeats):
                for e in ["torch", "auto"] if r % 2 == 0 else ["auto", "torch"]:
                    set_engine(e)
                    t = time.perf_counter()
                    runs[e]()
                    times[e].append(time.perf_counter() - t)
            print(f"end to end, {name}: {len(paths)} JPEG files -> codes in a FlatIndex, {args.threads} threads")
            out["e2e"][name] = summary(times, len(paths), "e2e")


def part_agreement(args, engines, data, out):
    from deephash.data.cifar10 import protocol_indices
    from deephash.metrics import mean_average_precision

    split = protocol_indices(data.labels, data.is_test, "1k", seed=0)
    rng = np.random.default_rng(0)
    train = split.train[: args.train]
    db = split.database[np.sort(rng.permutation(split.database.size)[: args.database])]
    with tempfile.TemporaryDirectory() as tmp:
        set_engine("auto")  # training features: any engine (the same trained model is compared below)
        model = frozen_model(args.bits, args.batch, data.images[train], data.labels[train], tmp, epochs=30)
    model.config.cache_dir = False
    runs = list(engines) + (["openvino-bf16"] if args.bf16 else [])
    res = {}
    for e in runs:
        set_engine("openvino" if e == "openvino-bf16" else e)
        os.environ["DEEPHASH_ENGINE_PRECISION"] = "bf16" if e == "openvino-bf16" else ""
        t = time.perf_counter()
        q, d = model.encode(data.images[split.query]), model.encode(data.images[db])
        m = mean_average_precision(q, data.labels[split.query], d, data.labels[db]).map
        res[e] = (q, d, float(m), time.perf_counter() - t)
    os.environ.pop("DEEPHASH_ENGINE_PRECISION", None)
    print(f"agreement: 1k protocol, {args.train} training images, {len(db)} database items, {args.bits} bits")
    rows = []
    for e, (q, d, m, secs) in res.items():
        a, b = np.unpackbits(np.concatenate([q, d])), np.unpackbits(np.concatenate(res["torch"][:2]))
        differ = int(np.count_nonzero(a != b))
        row = {"engine": e, "bit_agreement": 1 - differ / a.size, "bits_differing": differ, "bits": int(a.size)}
        row.update({"map": m, "map_minus_torch": m - res["torch"][2], "seconds": secs})
        rows.append(row)
        print(
            f"  {e:14s} bits agreeing {1 - differ / a.size:.6f} ({differ} of {a.size} differ)  "
            f"mAP@ALL {m:.4f} ({m - res['torch'][2]:+.4f})  {secs:.0f} s"
        )
    out["agreement"] = rows


def main(argv=None):
    args = parse_args(argv)
    import torch

    from deephash.data import load_cifar10

    torch.set_num_threads(args.threads)
    engines = args.engines.split(",")
    if engines[0] != "torch":
        raise SystemExit("--engines must start with torch (the reference)")
    out = {"machine": machine(), "threads": args.threads, "repeats": args.repeats, "argv": sys.argv[1:]}
    print(out["machine"], "|", load_avg())
    data = load_cifar10()
    parts = (("encode", part_encode), ("fill", part_fill), ("e2e", part_e2e), ("agreement", part_agreement))
    for part, fn in parts:
        if args.part in ("all", part):
            fn(args, engines, data, out)
            print("  |", load_avg())
    out["load_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
