"""DRSCH bit-scalable codes on the bundled digits: one 48-bit model truncated to its b heaviest
bits vs models trained at each length, ranked by plain and by weighted Hamming distance.

Protocol: ``deephash.data.digits()`` (seeded: 200 queries, 1,000 training items, database =
the 1,597 non-queries); mAP@ALL, tie-aware (``ties="average"``) with the by-(distance, id)
figure in brackets; weighted = ``mean_average_precision(..., weights=m.search_weights(b))``
(the engine's weighted distance with the weights of the kept bits). Hyperparameters are the
method's defaults (chosen on a split of the training set, never on these queries). Mean and
range over seeds.

    PYTHONPATH=python python bench/drsch_bit_scalable.py [--seeds 0 1 2] [--epochs 50]
"""

from __future__ import annotations

import argparse
import time

import deephash.data
import deephash.methods as M
import numpy as np
import torch
from deephash.metrics import mean_average_precision

LENGTHS = (12, 24, 32, 48)


def scores(q, db, d, weights=None):
    return tuple(
        float(mean_average_precision(q, d.query_y, db, d.db_y, ties=t, weights=weights)) for t in ("average", "id")
    )


def index_order_codes(m, x, b):
    """The first b bits in bit-index order (no use of the weights), for comparison."""
    from deephash import pack_bits

    u = m.transform(x)[:, :b]
    pad = -(-b // 8) * 8 - b
    return pack_bits(np.ascontiguousarray(np.concatenate([u, np.zeros((len(u), pad), u.dtype)], 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = deephash.data.digits()
    rows = {}  # (row name, b) -> list over seeds of (plain avg, plain id, weighted avg, weighted id)
    t0 = time.perf_counter()
    for seed in args.seeds:
        kw = {"seed": seed, "epochs": args.epochs, "progress": False}
        big = M.DRSCH(bits=48, **kw).fit(d.train_x, d.train_y)
        for b in LENGTHS:
            q, db = big.encode(d.query_x, bits=b), big.encode(d.db_x, bits=b)
            w = big.search_weights(b)
            rows.setdefault(("one 48-bit model, b heaviest bits", b), []).append(scores(q, db, d) + scores(q, db, d, w))
            qi, dbi = index_order_codes(big, d.query_x, b), index_order_codes(big, d.db_x, b)
            wi = np.zeros(qi.shape[1] * 8, np.float32)
            wi[:b] = big.bit_weights[:b]
            rows.setdefault(("one 48-bit model, first b bits by index", b), []).append(
                scores(qi, dbi, d) + scores(qi, dbi, d, wi)
            )
            own = big if b == 48 else M.DRSCH(bits=b, **kw).fit(d.train_x, d.train_y)
            q, db = own.encode(d.query_x), own.encode(d.db_x)
            rows.setdefault(("trained at b bits", b), []).append(
                scores(q, db, d) + scores(q, db, d, own.search_weights())
            )
    print(f"seeds {args.seeds}, {args.epochs} epochs, {time.perf_counter() - t0:.0f} s")
    names = list(dict.fromkeys(k[0] for k in rows))
    print("| codes | ranking | " + " | ".join(f"{b} bits" for b in LENGTHS) + " |")
    print("|---|---|" + "---|" * len(LENGTHS))
    for name in names:
        for j, ranking in ((0, "Hamming"), (2, "weighted Hamming")):
            cells = []
            for b in LENGTHS:
                v = np.array(rows[(name, b)])
                cells.append(
                    f"{v[:, j].mean():.3f} ({v[:, j + 1].mean():.3f}) [{v[:, j].min():.3f}-{v[:, j].max():.3f}]"
                )
            print(f"| {name} | {ranking} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
