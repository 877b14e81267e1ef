"""Hyperparameter validation of DRSCH and DSRH on a split of the *training* data only.

Digits: the 1,000 training items of ``deephash.data.digits()`` split 800 / 200 (seeded);
train on the 800, rank them for the 200 (mAP@ALL, tie-aware). DRSCH's ``weight_lr_scale``:
mAP of a 48-bit model's 12 and 24 heaviest bits and of all 48 on the same split. Digits mosaics
(multi-label, DSRH only): the 250 training mosaics of ``digits_mosaics()`` split 200 / 50;
NDCG@100 of the 50 against the 200. The queries and database of either split are never used.

    PYTHONPATH=python python bench/validate_drsch_dsrh.py
"""

from __future__ import annotations

import itertools

import deephash.data
import deephash.methods as M
import numpy as np
import torch
from deephash.metrics import mean_average_precision, ndcg_at_k


def split(x, y, n_val, seed=0):
    perm = np.random.default_rng(seed).permutation(len(x))
    v, t = perm[:n_val], perm[n_val:]
    return x[t], y[t], x[v], y[v]


def main(bits=32, epochs=15):
    torch.set_num_threads(1)
    d = deephash.data.digits()
    xt, yt, xv, yv = split(d.train_x, d.train_y, 200)
    mo = deephash.data.digits_mosaics()
    mt, myt, mv, myv = split(mo.train_x, mo.train_y, 50)

    def digits_map(m):
        return float(mean_average_precision(m.encode(xv), yv, m.encode(xt), yt))

    print(f"{bits} bits, {epochs} epochs; validation mAP@ALL (digits), NDCG@100 (mosaics)")
    fracs = (32, 16, 8, 2)
    for frac, lam in itertools.product(fracs, (0.1, 1.0)):
        m = M.DRSCH(
            bits=bits, seed=0, epochs=epochs, progress=False, lam=lam, margin=bits / frac, weight_lr_scale=1.0
        ).fit(xt, yt)
        w = m.bit_weights
        wmap = float(mean_average_precision(m.encode(xv), yv, m.encode(xt), yt, weights=w))
        print(f"DRSCH margin=bits/{frac} lam={lam:<4} mAP {digits_map(m):.3f}  weighted {wmap:.3f}")
    for scale in (1.0, 10.0, 50.0):
        m = M.DRSCH(bits=48, seed=0, epochs=epochs, progress=False, weight_lr_scale=scale).fit(xt, yt)
        w = m.bit_weights
        cells = []
        for b in (12, 24, 48):
            score = mean_average_precision(m.encode(xv, bits=b), yv, m.encode(xt, bits=b), yt)
            cells.append(f"{b} bits {float(score):.3f}")
        print(f"DRSCH 48 bits weight_lr_scale={scale:<4} weights {w.min():.2f}-{w.max():.2f}  " + "  ".join(cells))
    for frac, alpha in itertools.product(fracs, (0.1, 1.0)):
        kw = {"bits": bits, "seed": 0, "epochs": epochs, "progress": False, "alpha": alpha, "margin": bits / frac}
        m = M.DSRH(**kw).fit(xt, yt)
        mm = M.DSRH(**kw).fit(mt, myt)
        ndcg = float(ndcg_at_k(mm.encode(mv), myv, mm.encode(mt), myt, k=100))
        print(f"DSRH margin=bits/{frac} alpha={alpha:<4} mAP {digits_map(m):.3f}  mosaics NDCG@100 {ndcg:.3f}")


if __name__ == "__main__":
    main()
