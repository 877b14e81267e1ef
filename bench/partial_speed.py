"""Speed of the pieces of the partial fine-tuning recipe on CIFAR-10 images (CPU by default).

Measures, side by side in one run (so that ratios survive a busy machine), medians of
``--repeats``:

- activation caching (stem + blocks below the cut, float16 out) in images/s, per batch size
  and with the network in channels-last vs contiguous memory;
- one training step (batch ``--batch-size``: top blocks + head forward/backward + Adam) of DPSH
  on cached activations, beside a frozen-features head step and a whole-network step;
- encoding 1,000 images: from cached activations (top only) vs from pixels (whole network).

Usage::

    PYTHONPATH=python python bench/partial_speed.py --images 512 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--resolution", type=int, default=160)
    p.add_argument("--cut", type=int, default=11)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    import torch
    from deephash.data import load_cifar10
    from deephash.losses import DPSHLoss
    from deephash.models import (
        HashHead,
        build_backbone,
        images_to_tensor,
        normalize_spec,
    )
    from deephash.models.partial import BelowCut, maps_to_input

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, resolution {args.resolution}, cut {args.cut}",
        flush=True,
    )
    data = load_cifar10()
    x = data.images[np.random.default_rng(0).permutation(len(data.labels))[: args.images]]
    y = torch.from_numpy(data.labels[: args.images])
    spec = normalize_spec({"name": "efficientnet_lite0", "resolution": args.resolution})
    net, _ = build_backbone(spec, x.shape)
    net.eval()
    below = BelowCut(net, args.cut)

    def cache_rate(bs, channels_last=True):
        if not channels_last:
            net.net.to(memory_format=torch.contiguous_format)

        def run():
            with torch.inference_mode():
                for s in range(0, len(x), bs):
                    below(images_to_tensor(x[s : s + bs], torch))

        t = median_time(run, args.repeats)
        net.net.to(memory_format=torch.channels_last)
        return len(x) / t

    for bs in (64, 128):
        print(f"activation caching, batch {bs:>3}, channels-last: {cache_rate(bs):7.1f} img/s", flush=True)
    print(f"activation caching, batch 128, contiguous:     {cache_rate(128, False):7.1f} img/s", flush=True)

    with torch.inference_mode():
        acts = torch.cat([below(images_to_tensor(x[s : s + 128], torch)) for s in range(0, len(x), 128)])
        feats = torch.cat([net(images_to_tensor(x[s : s + 128], torch)) for s in range(0, len(x), 128)])
    acts, feats = acts.clone(), feats.clone()  # normal tensors, usable by autograd
    head = HashHead(1280, 48)
    loss = DPSHLoss()
    b = args.batch_size
    from deephash.losses.base import LossInputs

    def step(forward, params):
        opt = torch.optim.Adam(params, lr=1e-4)

        def run():
            out = forward()
            lv = loss.step_loss(LossInputs(u=out, out=out, labels=y[:b]))
            opt.zero_grad()
            lv.backward()
            opt.step()

        return run

    net.train()
    head.train()
    partial = step(
        lambda: head(net.upper(maps_to_input(acts[:b]), args.cut)),
        net.upper_parameters(args.cut) + list(head.parameters()),
    )
    frozen_head = HashHead(1280, 48, hidden=[256], standardize=False)
    frozen = step(lambda: frozen_head(feats[:b]), list(frozen_head.parameters()))
    xb = images_to_tensor(x[:b], torch)
    full = step(lambda: head(net(xb)), list(net.parameters()) + list(head.parameters()))
    partial()  # warm-up
    tp = median_time(partial, args.repeats)
    tf = median_time(frozen, args.repeats)
    tw = median_time(full, args.repeats)
    print(
        f"training step, batch {b}: partial {tp * 1000:.0f} ms, frozen head {tf * 1000:.1f} ms, "
        f"whole network {tw * 1000:.0f} ms",
        flush=True,
    )
    net.eval()
    head.eval()

    def encode_cached():
        with torch.inference_mode():
            for s in range(0, len(x), 128):
                head(net.upper(maps_to_input(acts[s : s + 128]), args.cut))

    def encode_pixels():
        with torch.inference_mode():
            for s in range(0, len(x), 128):
                a = below(images_to_tensor(x[s : s + 128], torch))
                head(net.upper(maps_to_input(a), args.cut))

    tc = median_time(encode_cached, args.repeats) * 1000 / len(x)
    tpx = median_time(encode_pixels, args.repeats) * 1000 / len(x)
    print(
        f"encoding per 1,000 images: from cached activations {tc:.1f} s, from pixels {tpx:.1f} s; "
        f"59,000 images: {tc * 59:.0f} s / {tpx * 59:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
