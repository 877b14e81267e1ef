"""The standard CIFAR-10 deep-hashing protocol for every registered method (DPSH, DSH, DHN, CNNH,
CNNHPlus, DLBHC, DNNH, LSH, ...).

Protocol (DPSH, IJCAI 2016): from all 60,000 images, 1,000 queries (100 per class) and 5,000
training images (500 per class), stratified and seeded; the other 59,000 images are the
database (training images included). Score: mAP over the whole ranking (mAP@ALL), tie-aware
(``ties="average"``: the expected AP over all orders within each Hamming-distance tie); the
by-position variant (``ties="id"``, on the protocol's shuffled database) is printed beside it.

CPU mode (default): frozen ImageNet EfficientNet-Lite0 features (computed once, cached on disk
per image by deephash.models.FeatureCache), hash heads trained on them. GPU mode
(``--finetune``): the backbone trains too; see bench/train_gpu.sh.

Usage::

    PYTHONPATH=python python bench/cifar_protocol.py                      # everything, CPU
    PYTHONPATH=python python bench/cifar_protocol.py --methods DPSH --bits 48 --finetune \\
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
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="DPSH,DSH,DHN,LSH",
                   help="comma-separated registered names (case-insensitive), e.g. CNNH,CNNHPlus,DLBHC,DNNH")
    p.add_argument("--bits", default="12,24,32,48")
    p.add_argument("--protocol", default="1k", choices=["1k", "10k"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=160, help="EfficientNet input size")
    p.add_argument("--epochs", type=int, default=None, help="default: 30 frozen, 15 fine-tuned")
    p.add_argument("--lr", type=float, default=None,
                   help="head learning rate; default 3e-4 frozen, 1e-3 fine-tuned (backbone 0.1x)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--finetune", action="store_true", help="train the backbone too (GPU)")
    p.add_argument("--flip", action="store_true", help="random horizontal flips (fine-tuning)")
    p.add_argument("--head-hidden", default=None,
                   help="hash head hidden widths, e.g. 256 or 512,256 ('' for none; default auto)")
    p.add_argument("--device", default=None)
    p.add_argument("--data", default=None, help="cifar10-jpeg.tar.xz or its directory")
    p.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/deephash/features)")
    p.add_argument("--json", default=None, help="write the records here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import deephash.methods as M
    from deephash.data import cifar10_protocol
    from deephash.metrics import mean_average_precision

    methods = [m.strip().upper() for m in args.methods.split(",") if m.strip()]
    classes = [M.method_class(name) for name in methods]  # unknown names fail before loading data
    bits_list = [int(b) for b in args.bits.split(",")]
    epochs = args.epochs or (15 if args.finetune else 30)
    lr = args.lr or (1e-3 if args.finetune else 3e-4)
    t0 = time.perf_counter()
    split = cifar10_protocol(args.protocol, seed=args.seed, path=args.data)
    print(f"{split}  (loaded in {time.perf_counter() - t0:.1f} s)", flush=True)
    backbone = {"name": "efficientnet_lite0", "resolution": args.resolution}
    common = dict(progress=not args.quiet, device=args.device, batch_size=args.batch_size,
                  cache_dir=args.cache_dir if args.cache_dir else None)
    records = []
    header = f"{'method':8} {'bits':>4} {'mAP(avg ties)':>13} {'mAP(id ties)':>12} {'published':>9} " \
             f"{'train s':>8} {'encode s':>8}"
    print(header, flush=True)
    for cls in classes:
        deep = issubclass(cls, M.DeepHashingMethod)
        for bits in bits_list:
            if not deep:
                model = cls(bits=bits, backbone=backbone, seed=args.seed, **common)
            else:
                hidden = None if args.head_hidden is None else \
                    [int(h) for h in args.head_hidden.split(",") if h.strip()]
                model = cls(bits=bits, backbone=backbone, seed=args.seed, epochs=epochs, lr=lr,
                            finetune=args.finetune, flip=args.flip, head_hidden=hidden, **common)
            t = time.perf_counter()
            model.fit(split.train_x, split.train_y)
            train_s = time.perf_counter() - t
            t = time.perf_counter()
            qc = model.encode(split.query_x)
            dc = model.encode(split.db_x)
            enc_s = time.perf_counter() - t
            m_avg = float(mean_average_precision(qc, split.query_y, dc, split.db_y, ties="average").map)
            m_id = float(mean_average_precision(qc, split.query_y, dc, split.db_y, ties="id").map)
            pub = PUBLISHED.get(cls.name, {}).get(bits)
            rec = {"method": cls.name, "bits": bits, "map_average_ties": round(m_avg, 4),
                   "map_id_ties": round(m_id, 4), "published": pub, "train_s": round(train_s, 1),
                   "encode_s": round(enc_s, 1), "epochs": epochs if deep else None, "flip": args.flip,
                   "lr": lr if deep else None, "finetune": args.finetune,
                   "backbone": backbone, "protocol": args.protocol, "seed": args.seed}
            records.append(rec)
            print(f"{cls.name:8} {bits:>4} {m_avg:>13.4f} {m_id:>12.4f} "
                  f"{'' if pub is None else f'{pub:.4f}':>9} {train_s:>8.1f} {enc_s:>8.1f}", flush=True)
            if args.json:
                os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
                with open(args.json, "w") as f:
                    json.dump(records, f, indent=1)
    print(f"total {time.perf_counter() - t0:.1f} s", flush=True)
    return records


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
