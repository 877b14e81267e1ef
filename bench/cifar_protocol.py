"""The standard CIFAR-10 deep-hashing protocol for every registered method (DPSH, DSH, DHN, CNNH,
CNNHPlus, DLBHC, DNNH, LSH, ...).

Protocol (DPSH, IJCAI 2016): from all 60,000 images, 1,000 queries (100 per class) and 5,000
training images (500 per class), stratified and seeded; the other 59,000 images are the
database (training images included). Score: mAP over the whole ranking (mAP@ALL), tie-aware
(``ties="average"``: the expected AP over all orders within each Hamming-distance tie); the
by-position variant (``ties="id"``, on the protocol's shuffled database) is printed beside it.

Recipes (``--recipe``): ``frozen`` (default; frozen ImageNet EfficientNet-Lite0 features,
computed once and cached on disk per image by deephash.models.FeatureCache, hash heads trained
on them), ``partial`` (the CPU fine-tuning recipe: the backbone below block
``--train-from-block`` runs once per image, its float16 activations -- and those of the
flipped images with ``--flip`` -- cached on disk; the blocks above and the head train; see
deephash.models.partial) and ``full`` (the whole backbone trains: a GPU job, see
bench/train_gpu.sh; ``--finetune`` is its old spelling).

The run is resumable: with ``--json``, rows already in that file (same method, bits, protocol,
seed, split and recipe) are skipped, so a long run can span several sittings. Each record says
the device and the recipe. With ``--json``, a retrieval picture per row (10 queries, one per
class, and their top 10; deephash.plots.retrieval_grid) is written beside it, and the time to
fill the activation cache (``partial``) is a record of its own (``"method": "(cache)"``).

``--split validation`` carves a validation protocol from the 5,000 training images only (500
queries, 50 per class; the other 4,500 train and are the database), to choose epochs and
learning rates without looking at the protocol's queries.

Usage::

    PYTHONPATH=python python bench/cifar_protocol.py                      # frozen, everything
    # the CPU recipe, DPSH/DSH/DHN at 4 lengths (resumable; rerun the same command to continue)
    PYTHONPATH=python python bench/cifar_protocol.py --methods DPSH,DSH,DHN --recipe partial \
        --flip --json bench/results/cifar_partial.json --quiet
    # the other methods at 48 bits, same recipe, same file
    PYTHONPATH=python python bench/cifar_protocol.py --methods CNNH,CNNHPlus,DLBHC,DNNH --bits 48 \
        --recipe partial --flip --json bench/results/cifar_partial.json --quiet
    PYTHONPATH=python python bench/cifar_protocol.py --methods DPSH --bits 48 --finetune \
        --device cuda --epochs 20 --json out/dpsh48.json                  # one GPU run

Prints one row per (method, bits) with mAP, training and encoding times, and writes a JSON
list of the same records with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

PUBLISHED = {  # mAP@ALL on this protocol as published (ImageNet-pretrained nets; DSH from scratch)
    "DPSH": {12: 0.713, 24: 0.727, 32: 0.744, 48: 0.757},
    "DHN": {12: 0.555, 24: 0.594, 32: 0.603, 48: 0.621},
    "DSH": {12: 0.6157, 48: 0.6755},
    # as reported in later papers' tables (e.g. DPSH's) for this protocol
    "CNNH": {12: 0.439, 24: 0.511, 32: 0.509, 48: 0.522},
    "CNNHPlus": {12: 0.465, 24: 0.521, 32: 0.521, 48: 0.532},
    "DNNH": {12: 0.552, 24: 0.566, 32: 0.558, 48: 0.581},
    # the papers' figures at 48 bits as DeepHash-pytorch's README lists them (its "paper" column,
    # protocol "cifar10-1" / "cifar10": 1,000 queries, 5,000 training images, database the rest)
    "DSDH": {48: 0.820},
    "DTSH": {48: 0.774},
    "DFH": {48: 0.844},
    "ADSH": {48: 0.939},  # asymmetric: learns the database's codes from its labels
    "GreedyHash": {48: 0.822},  # the same README column; the authors' cifar1.py uses this protocol
    # no paper figure on this protocol: DeepHash-pytorch's own AlexNet runs (CSQ.py, DPN.py headers)
    "CSQ": {64: 0.787},
    "DPN": {48: 0.778},
    "OrthoHash": {64: 0.824},  # kamwoh/orthohash README, "ep1" protocol, best of its evaluations
}


RECIPE_DEFAULTS = {  # (epochs, lr, batch size) when not given; partial: chosen on --split validation
    "frozen": (30, 3e-4, 128),
    "partial": (8, 1e-3, 32),
    "full": (15, 1e-3, 128),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--methods",
        default="DPSH,DSH,DHN,LSH",
        help="comma-separated registered names (case-insensitive), e.g. CNNH,CNNHPlus,DLBHC,DNNH",
    )
    p.add_argument("--bits", default="12,24,32,48")
    p.add_argument(
        "--protocol",
        default="1k",
        choices=["1k", "10k"],
        help="1k: 1,000 queries / 5,000 train / 59,000 database; 10k: 10,000 test queries / 50,000 train = database",
    )
    p.add_argument(
        "--split",
        default="test",
        choices=["test", "validation"],
        help="validation: a protocol carved from the training images only",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--recipe",
        default=None,
        choices=sorted(RECIPE_DEFAULTS),
        help="frozen (default), partial (CPU fine-tuning above a cut) or full (GPU)",
    )
    p.add_argument(
        "--train-from-block",
        type=int,
        default=11,
        help="partial: first trained EfficientNet-Lite0 block of 16 (default 11)",
    )
    p.add_argument(
        "--feature-shift",
        type=int,
        default=0,
        help="partial: random shift of cached activation maps, in cells (default 0)",
    )
    p.add_argument("--resolution", type=int, default=160, help="EfficientNet input size")
    p.add_argument("--epochs", type=int, default=None, help="default: 30 frozen, 8 partial, 15 full")
    p.add_argument(
        "--lr", type=float, default=None, help="head learning rate; default 3e-4 frozen, 1e-3 otherwise (backbone 0.1x)"
    )
    p.add_argument("--backbone-lr-scale", type=float, default=0.1)
    p.add_argument(
        "--lr-schedule",
        default="constant",
        choices=["constant", "cosine"],
        help="cosine: every learning rate decays to 0 over the run",
    )
    p.add_argument("--batch-size", type=int, default=None, help="default: 128 frozen and full, 32 partial")
    p.add_argument("--finetune", action="store_true", help="same as --recipe full")
    p.add_argument(
        "--flip", action="store_true", help="random horizontal flips (full: per batch; partial: cached flipped views)"
    )
    p.add_argument(
        "--head-hidden", default=None, help="hash head hidden widths, e.g. 256 or 512,256 ('' for none; default auto)"
    )
    p.add_argument(
        "--memory-bank",
        default=None,
        choices=["on", "off"],
        help="pairs against stored outputs of the whole training set (default: the "
        "method's own choice: on for frozen features, off when convolutions train)",
    )
    p.add_argument("--device", default=None)
    p.add_argument("--data", default=None, help="cifar10-jpeg.tar.xz or its directory")
    p.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/deephash/features)")
    p.add_argument("--json", default=None, help="write the records here (and resume from them)")
    p.add_argument("--no-grid", action="store_true", help="no retrieval pictures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.finetune:
        if args.recipe not in (None, "full"):
            p.error("--finetune is --recipe full")
        args.recipe = "full"
    args.recipe = args.recipe or "frozen"
    return args


def validation_indices(train_y, seed):
    """The validation carve of the training items: 10% of each class as queries (50 of 500),
    the rest train and are the database (``stratified_split`` with seed + 1)."""
    import numpy as np

    from deephash.data.splits import stratified_split

    per_class = len(train_y) // len(np.unique(train_y))
    return stratified_split(train_y, per_class // 10, per_class - per_class // 10, seed=seed + 1)


def validation_split(split, seed):
    """500 queries (50 per class) from the training images; the other 4,500 train and are the database."""
    from deephash.data.splits import take_split

    idx = validation_indices(split.train_y, seed)
    return take_split(split.train_x, split.train_y, idx, split.classes, split.name + "/validation")


def fill_activation_cache(split, backbone, cut, flip, cache_dir, batch_size, device, progress):
    """Computes (or finds) the activations at the cut of every image the run needs.

    Returns (seconds, images looked at), images already cached included."""
    import numpy as np
    from deephash.models import build_backbone, default_cache_dir, extract_features
    from deephash.models.partial import BelowCut, activation_tag, check_cut

    net, info = build_backbone(backbone, split.train_x.shape)
    net.to(device)
    cut = check_cut(net, cut)
    below = BelowCut(net, cut)
    parts = [split.train_x, split.query_x, split.db_x]
    if flip:
        parts.append(np.ascontiguousarray(split.train_x[:, :, ::-1]))
    t = time.perf_counter()
    n = 0
    for part in parts:
        for s in range(0, len(part), 8192):  # bounded memory: 8,192 x 22 KB at 160 px, cut 11
            chunk = part[s : s + 8192]
            extract_features(
                below,
                chunk,
                tag=activation_tag(info.cache_tag, cut),
                cache_dir=cache_dir or default_cache_dir(),
                batch_size=batch_size,
                device=device,
                progress=progress,
                desc="activations",
            )
            n += len(chunk)
    return time.perf_counter() - t, n


def record_key(rec):
    return json.dumps(
        [rec["method"], rec["bits"], rec["protocol"], rec["seed"], rec.get("split"), rec.get("recipe")], sort_keys=True
    )


def write_grid(path, model_name, bits, split, qc, dc):
    import numpy as np
    from deephash.plots import retrieval_grid

    # one query per class, the first of each in the (seeded) query order
    sel = np.array([int(np.flatnonzero(split.query_y == c)[0]) for c in np.unique(split.query_y)])
    retrieval_grid(
        split.db_x,
        dc,
        path,
        qc[sel],
        query_images=split.query_x[sel],
        query_labels=split.query_y[sel],
        db_labels=split.db_y,
        k=10,
        title=f"{model_name} {bits} bits, {split.name}",
    )


def main(argv=None):
    args = parse_args(argv)
    import deephash.methods as M
    from deephash.data import cifar10_protocol
    from deephash.metrics import mean_average_precision
    from deephash.models import resolve_device

    methods = [m.strip().upper() for m in args.methods.split(",") if m.strip()]
    classes = [M.method_class(name) for name in methods]  # unknown names fail before loading data
    bits_list = [int(b) for b in args.bits.split(",")]
    epochs = args.epochs or RECIPE_DEFAULTS[args.recipe][0]
    lr = args.lr or RECIPE_DEFAULTS[args.recipe][1]
    args.batch_size = args.batch_size or RECIPE_DEFAULTS[args.recipe][2]
    device = str(resolve_device(args.device))
    records, done = [], set()
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            records = json.load(f)
        done = {record_key(r) for r in records if r.get("method") != "(cache)"}
    t0 = time.perf_counter()
    split = cifar10_protocol(args.protocol, seed=args.seed, path=args.data)
    if args.split == "validation":
        split = validation_split(split, args.seed)
    print(f"{split}  (loaded in {time.perf_counter() - t0:.1f} s)  device {device}", flush=True)
    backbone = {"name": "efficientnet_lite0", "resolution": args.resolution}
    recipe = {
        "mode": args.recipe,
        "resolution": args.resolution,
        "flip": args.flip,
        "batch_size": args.batch_size,
        "train_from_block": None,
        "feature_shift": 0,
    }
    if args.recipe == "partial":
        recipe.update(train_from_block=args.train_from_block, feature_shift=args.feature_shift)
    common = dict(
        progress=not args.quiet,
        device=args.device,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir if args.cache_dir else None,
    )

    def save():
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(records, f, indent=1)
            os.replace(tmp, args.json)

    if args.recipe == "partial":
        cache_s, n_img = fill_activation_cache(
            split, backbone, args.train_from_block, args.flip, args.cache_dir, 128, device, not args.quiet
        )
        print(
            f"activation cache: {n_img} images in {cache_s:.1f} s "
            f"({n_img / cache_s:.0f} img/s, includes images already cached)",
            flush=True,
        )
        records.append(
            {
                "method": "(cache)",
                "images": n_img,
                "seconds": round(cache_s, 1),
                "device": device,
                "recipe": recipe,
                "protocol": args.protocol,
                "split": args.split,
            }
        )
        save()
    header = (
        f"{'method':8} {'bits':>4} {'mAP(avg ties)':>13} {'mAP(id ties)':>12} {'published':>9} "
        f"{'train s':>8} {'encode s':>8}"
    )
    print(header, flush=True)
    for cls in classes:
        deep = issubclass(cls, M.DeepHashingMethod)
        for bits in bits_list:
            rec = {
                "method": cls.name,
                "bits": bits,
                "protocol": args.protocol,
                "seed": args.seed,
                "split": args.split,
                "recipe": dict(
                    recipe,
                    epochs=epochs,
                    lr=lr,
                    backbone_lr_scale=args.backbone_lr_scale,
                    head_hidden=args.head_hidden,
                    **({} if args.lr_schedule == "constant" else {"lr_schedule": args.lr_schedule}),
                    **({} if args.memory_bank is None else {"memory_bank": args.memory_bank}),
                )
                if deep
                else {"mode": "frozen", "resolution": args.resolution},
            }
            if record_key(rec) in done:
                print(f"{cls.name:8} {bits:>4}  (already in {args.json}, skipped)", flush=True)
                continue
            if not deep:
                # batch_size is a training setting: methods that do not train refuse it
                model = cls(
                    bits=bits,
                    backbone=backbone,
                    seed=args.seed,
                    **{k: v for k, v in common.items() if k != "batch_size"},
                )
            else:
                hidden = (
                    None if args.head_hidden is None else [int(h) for h in args.head_hidden.split(",") if h.strip()]
                )
                model = cls(
                    bits=bits,
                    backbone=backbone,
                    seed=args.seed,
                    epochs=epochs,
                    lr=lr,
                    finetune=args.recipe == "full",
                    flip=args.flip,
                    head_hidden=hidden,
                    backbone_lr_scale=args.backbone_lr_scale,
                    lr_schedule=args.lr_schedule,
                    train_from_block=args.train_from_block if args.recipe == "partial" else None,
                    feature_shift=args.feature_shift if args.recipe == "partial" else 0,
                    memory_bank=None if args.memory_bank is None else args.memory_bank == "on",
                    **common,
                )
            # asymmetric methods (ADSH) learn the database's codes from its labels: they train on
            # the database and are scored with their learned codes (reported apart)
            asymmetric = hasattr(cls, "database_codes")
            t = time.perf_counter()
            if asymmetric:
                model.fit(split.db_x, split.db_y)
            else:
                model.fit(split.train_x, split.train_y)
            train_s = time.perf_counter() - t
            t = time.perf_counter()
            qc = model.encode(split.query_x)
            dc = model.database_codes if asymmetric else model.encode(split.db_x)
            enc_s = time.perf_counter() - t
            if asymmetric:
                rec["asymmetric"] = True
            m_avg = float(mean_average_precision(qc, split.query_y, dc, split.db_y, ties="average").map)
            m_id = float(mean_average_precision(qc, split.query_y, dc, split.db_y, ties="id").map)
            pub = PUBLISHED.get(cls.name, {}).get(bits) if (args.protocol, args.split) == ("1k", "test") else None
            rec.update(
                {
                    "map_average_ties": round(m_avg, 4),
                    "map_id_ties": round(m_id, 4),
                    "published": pub,
                    "train_s": round(train_s, 1),
                    "encode_s": round(enc_s, 1),
                    "device": device,
                    "backbone": backbone,
                }
            )
            if args.json and not args.no_grid:
                stem = os.path.splitext(args.json)[0]
                grid = f"{stem}_{cls.name}_{bits}_{args.split}.png"
                write_grid(grid, cls.name, bits, split, qc, dc)
                rec["grid"] = os.path.basename(grid)
            records.append(rec)
            done.add(record_key(rec))
            print(
                f"{cls.name:8} {bits:>4} {m_avg:>13.4f} {m_id:>12.4f} "
                f"{'' if pub is None else f'{pub:.4f}':>9} {train_s:>8.1f} {enc_s:>8.1f}",
                flush=True,
            )
            save()
    print(f"total {time.perf_counter() - t0:.1f} s", flush=True)
    return records


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
