"""Cross-modal hashing on the Wikipedia set: CCA-ITQ, SCM-Seq and DCMH, both directions.

Protocol: train on the 2,173 training pairs; the 693 test pairs are the queries; an image query
ranks the texts (and a text query the images) of the test split ("test" database) or of
train+test ("train+test", database in data order: training pairs first). mAP over the whole
ranking, tie-aware ("average") with the by-id figure beside it. Relevance: same category.

    python bench/crossmodal_wiki.py                 # the test table (16/32/64 bits, 3 seeds)
    python bench/crossmodal_wiki.py --validate      # DCMH's (gamma, eta) grid on a validation split

``--validate`` splits the training pairs 80/20 (seeded) and reports validation mAP only: nothing
is chosen on the test queries.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import deephash.methods as M
from deephash import metrics
from deephash.data import load_wiki

# (gamma, eta): the paper's (1, 1), and around the setting a first 32-bit, 20-epoch pass favoured
GRID = [(1.0, 1.0), (1.0, 0.0), (100.0, 0.0), (100.0, 0.1), (100.0, 1.0), (300.0, 0.1), (1000.0, 0.1)]


def make(name, bits, seed, epochs, gamma=None, eta=None):
    if name == "DCMH":
        kw = {} if gamma is None else {"quantization": gamma, "balance": eta}  # the paper's gamma, eta
        return M.DCMH(bits=bits, seed=seed, epochs=epochs, progress=False, **kw)
    return getattr(M, name)(bits=bits, seed=seed)


def both(m, xi, xt, y, qi, qt, qy, ties="average"):
    r = metrics.cross_modal_map(
        m.encode_image(qi), m.encode_text(qt), qy, m.encode_image(xi), m.encode_text(xt), y, ties=ties
    )
    return r.image_to_text.map, r.text_to_image.map


def validate(w, args):
    tr = np.nonzero(~w.is_test)[0]
    perm = np.random.default_rng(0).permutation(tr)
    nv = len(tr) // 5
    va, fi = perm[:nv], perm[nv:]
    x, t, y = w.image_features, w.text_features, w.labels
    print(f"validation: {len(fi)} fitting pairs, {len(va)} validation pairs (queries and database)")
    for name in ("CCAITQ", "SCM"):
        for bits in args.bits:
            m = make(name, bits, 0, args.epochs).fit(x[fi], t[fi], y[fi])
            i2t, t2i = both(m, x[va], t[va], y[va], x[va], t[va], y[va])
            print(f"{name:6s} {bits:3d} bits                       {i2t:.4f} {t2i:.4f}", flush=True)
    for bits in args.bits:
        for gamma, eta in GRID:
            m = make("DCMH", bits, 0, args.epochs, gamma, eta).fit(x[fi], t[fi], y[fi])
            i2t, t2i = both(m, x[va], t[va], y[va], x[va], t[va], y[va])
            print(f"DCMH   {bits:3d} bits gamma={gamma:<6g} eta={eta:<5g} {i2t:.4f} {t2i:.4f}", flush=True)


def test_table(w, args):
    tr, te = ~w.is_test, w.is_test
    x, t, y = w.image_features, w.text_features, w.labels
    dbs = {"test": te, "train+test": np.ones_like(te)}
    print(
        "| method | bits | database | image->text (average) | image->text (id) "
        "| text->image (average) | text->image (id) | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.methods:
        for bits in args.bits:
            res = {db: [] for db in dbs}
            fit_s = []
            for seed in args.seeds:
                t0 = time.perf_counter()
                m = make(name, bits, seed, args.epochs).fit(x[tr], t[tr], y[tr])
                fit_s.append(time.perf_counter() - t0)
                for db, sel in dbs.items():
                    a = both(m, x[sel], t[sel], y[sel], x[te], t[te], y[te])
                    b = both(m, x[sel], t[sel], y[sel], x[te], t[te], y[te], ties="id")
                    res[db].append((a[0], b[0], a[1], b[1]))
            for db in dbs:
                v = np.array(res[db])
                cells = [
                    f"{mu:.3f} ± {sd:.3f}" if len(args.seeds) > 1 else f"{mu:.3f}"
                    for mu, sd in zip(v.mean(0), v.std(0))
                ]
                print(f"| {name} | {bits} | {db} | " + " | ".join(cells) + f" | {np.median(fit_s):.1f} |", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--validate", action="store_true", help="DCMH's grid on a validation split")
    p.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=["CCAITQ", "SCM", "DCMH"])
    p.add_argument("--epochs", type=int, default=50, help="DCMH epochs (default 50)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--data-path", default=None)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    w = load_wiki(args.data_path)
    (validate if args.validate else test_table)(w, args)


if __name__ == "__main__":
    main()
