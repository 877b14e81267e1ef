"""Every registered method on the bundled 8x8 digits: mAP@ALL at one code length.

Split: ``deephash.data.digits()`` (seed 0: 200 queries, 1,000 training items, database = the
1,597 non-query items). Each method is trained with its default hyperparameters (nothing is
chosen on the queries); unsupervised methods get no labels. Prints tie-aware mAP@ALL
(``ties="average"``) with the by-id figure beside it, and the fit time.

Usage::

    PYTHONPATH=python python bench/digits_methods.py --bits 32 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=None, help="comma-separated names (default: all registered)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args(argv)

    import torch

    import deephash.methods as M
    from deephash.data import digits
    from deephash.methods.registry import method_names
    from deephash.metrics import mean_average_precision

    torch.set_num_threads(args.threads)
    names = args.methods.split(",") if args.methods else list(method_names())
    split = digits(seed=args.seed)
    print(f"{split}; {args.bits} bits; torch threads {args.threads}")
    print("| method | mAP (average ties) | mAP (by id) | fit s |\n| --- | ---: | ---: | ---: |")
    rows = []
    for name in names:
        cls = M.method_class(name)
        model = (
            cls(bits=args.bits, seed=args.seed, progress=False)
            if issubclass(cls, M.DeepHashingMethod)
            else cls(bits=args.bits, seed=args.seed)
        )
        t = time.perf_counter()
        model.fit(split.train_x, split.train_y if cls.supervised else None)
        fit_s = time.perf_counter() - t
        q, db = model.encode(split.query_x), model.encode(split.db_x)
        avg = mean_average_precision(q, split.query_y, db, split.db_y, ties="average").map
        by_id = mean_average_precision(q, split.query_y, db, split.db_y, ties="id").map
        rows.append((cls.name, avg, by_id, fit_s))
        print(f"| {cls.name} | {avg:.4f} | {by_id:.4f} | {fit_s:.1f} |", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
