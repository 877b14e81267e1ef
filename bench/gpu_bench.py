"""GPU benchmark: deephash.GpuFlatIndex next to the PyTorch way, in the same run.

The PyTorch way: codes as +-1 fp16 vectors, chunked GEMM with the queries, torch.topk per chunk
and a merge; Hamming = (bits - dot) / 2. Both get the same random codes; every row compares the
two results' distances (ids can legitimately differ on ties, distances cannot).

    python bench/gpu_bench.py                 # the target sizes (100M codes; about 1 minute on an H100)
    python bench/gpu_bench.py --n 10000000    # smaller

Prints one line per run: what, n, bits, nq, k, milliseconds (median of --reps after a warm-up)
for deephash and for PyTorch, and the speed-up. Needs numpy; the PyTorch rows need a CUDA build
of torch (skipped with a note otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import deephash


def _timed(fn, reps, sync=None):
    out = fn()  # warm-up (kernel loading, allocator)
    if sync:
        sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


class TorchWay:
    """The PyTorch baseline over +-1 fp16 codes held on the GPU."""

    def __init__(self, torch, codes_u8_gpu, bits, chunk):
        self.torch, self.bits, self.chunk = torch, bits, chunk
        shifts = torch.arange(8, device=codes_u8_gpu.device, dtype=torch.uint8)
        n = codes_u8_gpu.shape[0]
        self.db = torch.empty((n, bits), dtype=torch.float16, device=codes_u8_gpu.device)
        for s in range(0, n, chunk):
            c = codes_u8_gpu[s : s + chunk]
            b = (c.unsqueeze(-1) >> shifts) & 1  # bit j = bit j % 8 of byte j // 8
            self.db[s : s + c.shape[0]] = b.reshape(c.shape[0], bits).to(torch.float16) * 2 - 1

    def pm1(self, q_u8_gpu):
        torch = self.torch
        shifts = torch.arange(8, device=q_u8_gpu.device, dtype=torch.uint8)
        b = (q_u8_gpu.unsqueeze(-1) >> shifts) & 1
        return b.reshape(q_u8_gpu.shape[0], self.bits).to(torch.float16) * 2 - 1

    def search(self, q_pm1, k):
        torch = self.torch
        best_s = best_i = None
        for s in range(0, self.db.shape[0], self.chunk):
            scores = q_pm1 @ self.db[s : s + self.chunk].T
            kk = min(k, scores.shape[1])
            v, i = torch.topk(scores, kk, dim=1)
            i = i + s
            if best_s is None:
                best_s, best_i = v, i
            else:
                v = torch.cat([best_s, v], 1)
                i = torch.cat([best_i, i], 1)
                best_s, j = torch.topk(v, min(k, v.shape[1]), dim=1)
                best_i = torch.gather(i, 1, j)
        dist = ((self.bits - best_s.float()) / 2).round().to(torch.int32)
        return dist, best_i


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--chunk", type=int, default=1 << 21, help="PyTorch way: codes per GEMM chunk")
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    args = p.parse_args(argv)

    if not deephash.cuda_available():
        from deephash.gpu_index import cuda_unavailable_reason

        print(f"no GPU: {cuda_unavailable_reason()}")
        return 1
    from deephash import _cuda

    torch = None
    if not args.no_torch:
        try:
            import torch as _torch

            if _torch.cuda.is_available():
                torch = _torch
            else:
                print("# torch has no CUDA here: PyTorch baseline not measured")
        except ImportError:
            print("# torch not installed: PyTorch baseline not measured")

    dev = args.device
    print(f"# device: {_cuda.device_description(dev)}; deephash max_k = {_cuda.max_k(dev)}")
    print(f"# median of {args.reps} runs after a warm-up; times in ms; numpy in/out for deephash rows")
    print(
        f"{'run':<34} {'n':>11} {'bits':>5} {'nq':>5} {'k':>5} {'deephash':>10} {'pytorch':>10} {'speed-up':>9}  check"
    )
    rng = np.random.default_rng(0)
    sync = (lambda: torch.cuda.synchronize(dev)) if torch else None

    def row(name, n, bits, nq, k, t_dh, t_pt, check):
        pt = f"{t_pt:10.2f}" if t_pt is not None else f"{'-':>10}"
        su = f"{t_pt / t_dh:8.1f}x" if t_pt is not None else f"{'-':>9}"
        print(f"{name:<34} {n:>11,} {bits:>5} {nq:>5} {k:>5} {t_dh:10.2f} {pt} {su}  {check}", flush=True)

    def run_size(n, bits, cases, weighted_cases=()):
        codes = rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)
        index = deephash.GpuFlatIndex(bits, dev)
        index.reserve(n)
        t0 = time.perf_counter()
        index.add(codes)
        t_add = (time.perf_counter() - t0) * 1e3
        print(f"# {n:,} x {bits}-bit codes added in {t_add:.0f} ms; device bytes {index.memory_bytes():,}")
        tw = None
        if torch is not None:
            try:
                tw = TorchWay(torch, torch.from_numpy(codes).cuda(dev), bits, args.chunk)
            except RuntimeError as e:  # out of memory for the fp16 copy
                print(f"# PyTorch way skipped at this size: {str(e).splitlines()[0]}")
                torch.cuda.empty_cache()
        del codes
        for name, nq, k in cases:
            q = rng.integers(0, 256, size=(nq, bits // 8), dtype=np.uint8)
            t_dh, (d, _) = _timed(lambda: index.search(q, k), args.reps)
            t_pt, check = None, "-"
            if tw is not None:
                qp = tw.pm1(torch.from_numpy(q).cuda(dev))
                t_pt, (pd, _) = _timed(lambda: tw.search(qp, k), args.reps, sync)
                check = "distances equal" if np.array_equal(pd.cpu().numpy(), d) else "DISTANCES DIFFER"
            row(name, n, bits, nq, k, t_dh, t_pt, check)
        for name, nq, k, per_query in weighted_cases:
            q = rng.integers(0, 256, size=(nq, bits // 8), dtype=np.uint8)
            w = rng.random((nq, bits) if per_query else bits).astype(np.float32)
            t_dh, _ = _timed(lambda: index.search(q, k, weights=w), args.reps)
            row(name, n, bits, nq, k, t_dh, None, "-")
        if torch is not None and tw is not None:
            del tw
            torch.cuda.empty_cache()
        index = None  # frees the device memory before the next size

    n = args.n
    run_size(
        n,
        64,
        [
            ("knn (target: <= 75 ms)", args.nq, args.k),
            ("single query (target: <= 1 ms)", 1, args.k),
            ("knn k=1000", args.nq, 1000),
            ("knn k=4096", 100, 4096),
        ],
        [("weighted, shared weights", args.nq, args.k, False), ("weighted, per-query weights", args.nq, args.k, True)],
    )
    run_size(max(n // 4, 1), 256, [("knn 256-bit", args.nq, args.k)])
    run_size(max(n // 20, 1), 1024, [("knn 1024-bit", args.nq, args.k)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
