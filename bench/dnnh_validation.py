"""Validation sweep for DNNH's epsilon / triplets_per_anchor on a split of the digits TRAINING set.

The 1,000 training items of ``deephash.data.digits()`` are split (seed 0) into 800 to train and
200 to query against those 800; the digits queries are never used. 32 bits, 50 epochs, seed 0.

    PYTHONPATH=python python bench/dnnh_validation.py
"""

import itertools
import time

import numpy as np
import torch

import deephash.methods as M
from deephash.data import digits
from deephash.metrics import mean_average_precision

torch.set_num_threads(1)
s = digits()
rng = np.random.default_rng(0)
perm = rng.permutation(len(s.train_y))
va, tr = perm[:200], perm[200:]
x, y = s.train_x, s.train_y
for eps, k in itertools.product([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.45], [4, 8]):
    t = time.time()
    m = M.DNNH(bits=32, seed=0, progress=False, epsilon=eps, triplets_per_anchor=k).fit(x[tr], y[tr])
    v = mean_average_precision(m.encode(x[va]), y[va], m.encode(x[tr]), y[tr]).map
    print(f"epsilon={eps} triplets_per_anchor={k} val mAP {v:.4f} ({time.time() - t:.0f}s)", flush=True)
