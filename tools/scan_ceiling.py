"""The Hamming scan's ceiling on this CPU beside the engine's FlatIndex time (a roofline in a table).

Runs the ``deephash_scan_ceiling`` microbenchmark (``bench/ceiling``, built by
``tools/dev_build.sh`` into ``build/dev/bench/ceiling``): per SIMD level the fastest fused XOR +
popcount + compare a core manages on 64/128/256-bit codes held in L1, in L2 and streamed from
memory, and the memory bandwidth with 1 and 2 threads. Then times ``FlatIndex.search`` of the same
work at each level (1,000,000 random codes x 1,000 queries, k = 100, one thread) and prints, per
(bits, level): the ceiling in G pairs/s, the time 1e9 pairs take at it, the engine's time and the
ratio. ``--single`` adds one query over 10,000,000 64-bit codes with 1 and 2 threads (alternating)
beside the time the bandwidth allows.

Rates are per second of CPU time (the benchmark thread's, the process's for the one-thread
search): on a shared machine time slices given to other processes do not count. Wall-time
figures are printed too, and the load average before and after. Usage::

    bash tools/dev_build.sh && PYTHONPATH=python python tools/scan_ceiling.py
    PYTHONPATH=python python tools/scan_ceiling.py --bits 64 --levels avx512 --repeats 5 --single
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = ROOT / "build" / "dev" / "bench" / "ceiling" / "deephash_scan_ceiling"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", type=Path, default=DEFAULT_BINARY)
    p.add_argument("--bits", type=int, nargs="+", default=[64, 128, 256], choices=[64, 128, 256])
    p.add_argument("--levels", nargs="+", default=None, help="default: every level this CPU runs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--scalar-nq", type=int, default=50, help="queries timed at the scalar level (scaled up)")
    p.add_argument("--mem-mib", type=int, default=512)
    p.add_argument("--single", action="store_true", help="also one query over 10M codes, 1 vs 2 threads")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def cpu_name() -> tuple[str, str]:
    model, flags = "unknown", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                keep = ["popcnt", "avx2", "avx512f", "avx512bw", "avx512_vpopcntdq", "avx512vbmi", "avx512_bitalg"]
                flags = " ".join(f for f in keep if f in have)
    except OSError:
        pass
    return model, flags


def run_ceiling(binary: Path, bits, repeats: int, mem_mib: int):
    if not binary.exists():
        raise SystemExit(f"{binary} not found: build it with `bash tools/dev_build.sh` (or pass --binary PATH)")
    cmd = [str(binary), "--bits", ",".join(map(str, bits)), "--repeats", str(repeats), "--mem-mib", str(mem_mib)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def time_search(index, q, k: int, repeats: int):
    """(median CPU seconds, median wall seconds) of index.search(q, k)."""
    index.search(q[: max(1, len(q) // 20)], k)  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        index.search(q, k)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return float(np.median(cpu)), float(np.median(wall))


def engine_times(args, levels):
    """{(bits, level): (cpu s, wall s)} for nq queries over n codes, one thread (scaled for scalar)."""
    import deephash
    from deephash import _core

    deephash.set_num_threads(1)
    rng = np.random.default_rng(0)
    out = {}
    try:
        for bits in args.bits:
            db = rng.integers(0, 256, (args.n, bits // 8), dtype=np.uint8)
            q = rng.integers(0, 256, (args.nq, bits // 8), dtype=np.uint8)
            index = deephash.FlatIndex(bits)
            index.add(db)
            for level in levels:
                _core._set_simd_level(level)
                nq = min(args.nq, args.scalar_nq) if level == "scalar" else args.nq
                c, w = time_search(index, q[:nq], 100, args.repeats)
                out[(bits, level)] = (c * args.nq / nq, w * args.nq / nq)
                print(f"  engine {bits}-bit {level}: {out[(bits, level)][0] * 1e3:.1f} ms cpu", file=sys.stderr)
    finally:
        _core._set_simd_level(_core.detected_simd_level())
        deephash.set_num_threads(0)
    return out


def single_query(repeats: int):
    """Medians (1-thread ms, 2-thread ms, median per-round ratio) of one 10-NN query over 10M codes."""
    import deephash

    rng = np.random.default_rng(1)
    index = deephash.FlatIndex(64)
    index.add(rng.integers(0, 256, (10_000_000, 8), dtype=np.uint8))
    q = rng.integers(0, 256, (64, 8), dtype=np.uint8)
    t = {1: [], 2: []}
    try:
        for r in range(max(3, repeats) * 3):
            for threads in (1, 2) if r % 2 == 0 else (2, 1):
                deephash.set_num_threads(threads)
                qi = q[r % len(q) : r % len(q) + 1]
                index.search(qi, 10)
                s = time.perf_counter()
                index.search(qi, 10)
                t[threads].append(time.perf_counter() - s)
    finally:
        deephash.set_num_threads(0)
    ratios = np.array(t[1]) / np.array(t[2])
    return float(np.median(t[1]) * 1e3), float(np.median(t[2]) * 1e3), float(np.median(ratios))


def main(argv=None) -> int:
    args = parse_args(argv)
    from deephash import _core

    order = ["scalar", "avx2", "avx512"]
    supported = order[: order.index(_core.detected_simd_level()) + 1]
    levels = [lv for lv in (args.levels or supported) if lv in supported]
    model, flags = cpu_name()
    load0 = os.getloadavg()
    ceiling = run_ceiling(args.binary, args.bits, args.repeats, args.mem_mib)
    engine = engine_times(args, levels)
    single = single_query(args.repeats) if args.single else None
    load1 = os.getloadavg()

    scan = {(r["level"], r["bits"], r["where"], r["form"]): r for r in ceiling if r["kind"] == "scan"}
    bw = {r["threads"]: r for r in ceiling if r["kind"] == "bandwidth"}
    print(f"CPU: {model} ({os.cpu_count()} cpus; {flags})")
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f}")
    work = args.n * args.nq
    print(
        f"ceiling: fused xor+popcount+compare, 1 thread, G pairs / CPU second (best of the cmp and min "
        f"forms; L2 and memory beside it); engine: FlatIndex {args.n:,} codes x {args.nq:,} queries, "
        f"k = 100, 1 thread, CPU ms (median of {args.repeats})"
    )
    print(
        "| bits | level | ceiling L1 | L2 | memory | 1e9 pairs at ceiling | engine, same work | engine G pairs/s "
        "| engine / ceiling time |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for bits in args.bits:
        for level in levels:
            best = {
                where: max(scan[(level, bits, where, f)]["gpairs_per_s"] for f in ("cmp", "min"))
                for where in ("L1", "L2", "mem")
            }
            t1e9 = 1.0 / best["L1"]  # seconds for 1e9 pairs at the L1 ceiling
            ceil_same = work / 1e9 * t1e9
            eng_cpu, eng_wall = engine[(bits, level)]
            ratio = eng_cpu / ceil_same
            scaled = "*" if level == "scalar" and args.scalar_nq < args.nq else ""
            print(
                f"| {bits} | {level} | {best['L1']:.2f} | {best['L2']:.2f} | {best['mem']:.2f} | "
                f"{t1e9 * 1e3:.0f} ms | {eng_cpu * 1e3:.0f} ms{scaled} (wall {eng_wall * 1e3:.0f}) | "
                f"{work / eng_cpu / 1e9:.2f} | {ratio:.2f}x |"
            )
            rows.append(
                {
                    "bits": bits,
                    "level": level,
                    "ceiling_gpairs": best,
                    "ms_per_1e9_pairs": t1e9 * 1e3,
                    "engine_cpu_ms": eng_cpu * 1e3,
                    "engine_wall_ms": eng_wall * 1e3,
                    "ratio": ratio,
                }
            )
    if any(lv == "scalar" for lv in levels) and args.scalar_nq < args.nq:
        print(f"* scalar: {args.scalar_nq} queries timed, scaled to {args.nq:,}")
    bw1, bw2 = bw[1]["gb_per_s"], bw[2]["gb_per_s"]
    print(
        f"memory bandwidth (streaming read of {args.mem_mib} MiB; per thread CPU second, summed over the "
        f"threads): 1 thread {bw1:.1f} GB/s, 2 threads {bw2:.1f} GB/s (2 vs 1: {bw2 / bw1:.2f}x); per wall "
        f"second {bw[1]['gb_per_s_wall']:.1f} and {bw[2]['gb_per_s_wall']:.1f} GB/s"
    )
    if single:
        t1, t2, ratio = single
        floor1, floor2 = 80e6 / (bw1 * 1e9) * 1e3, 80e6 / (bw2 * 1e9) * 1e3
        print(
            f"one query, 10,000,000 64-bit codes (80 MB), k = 10, wall medians: 1 thread {t1:.2f} ms, "
            f"2 threads {t2:.2f} ms, 2 vs 1 thread {ratio:.2f}x (median per-round ratio); "
            f"reading 80 MB at the measured bandwidth takes {floor1:.2f} ms (1 thread) / {floor2:.2f} ms (2)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "cpu": model,
                    "flags": flags,
                    "load": [load0, load1],
                    "ceiling": ceiling,
                    "rows": rows,
                    "single": single,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
