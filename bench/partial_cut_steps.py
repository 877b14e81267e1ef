"""Time of one partial fine-tuning step (DPSH, batch 128, 48 bits, 160 px) at several cuts (CPU).

Usage::

    PYTHONPATH=python python bench/partial_cut_steps.py
"""

import statistics
import time

import numpy as np
import torch
from deephash.losses import DPSHLoss
from deephash.losses.base import LossInputs
from deephash.models import HashHead, build_backbone, images_to_tensor, normalize_spec
from deephash.models.partial import BelowCut, maps_to_input

# random pixels: only the time matters
x = np.random.default_rng(0).integers(0, 256, size=(128, 32, 32, 3), dtype=np.uint8)
y = torch.arange(128) % 10
net, _ = build_backbone(normalize_spec({"name": "efficientnet_lite0", "resolution": 160}), x.shape)
for cut in (15, 14, 13, 11):
    net.eval()
    with torch.inference_mode():
        a = BelowCut(net, cut)(images_to_tensor(x, torch))
    a = a.clone()
    head = HashHead(1280, 48)
    loss = DPSHLoss()
    opt = torch.optim.Adam(net.upper_parameters(cut) + list(head.parameters()), lr=1e-4)
    net.train()

    def run():
        out = head(net.upper(maps_to_input(a), cut))
        lv = loss.step_loss(LossInputs(u=out, out=out, labels=y))
        opt.zero_grad()
        lv.backward()
        opt.step()

    run()
    ts = []
    for _ in range(3):
        t = time.perf_counter()
        run()
        ts.append(time.perf_counter() - t)
    print(
        f"cut {cut}: step {statistics.median(ts):.2f} s (batch 128, 160 px, 2 threads)",
        flush=True,
    )
