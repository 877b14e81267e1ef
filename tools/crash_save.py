#!/usr/bin/env python3
"""Crash safety of index saves: processes killed with SIGKILL at random moments of save().

A child process builds a large index in two versions, saves the first (a save also removes the
stale temporaries of earlier kills), reports that it is ready and then saves the two versions
alternately until the parent kills it with SIGKILL after a seeded random delay. After every
kill the file must be exactly one of the versions (byte for byte; it loads with its checksum
verified) and at most one temporary (the killed child's own) may be left. At the end a process
whose PID is "reused" (simulated by temporaries pre-created under its PID, as a killed process
with that PID leaves them) must save successfully, leaving no temporary at all.

    python tools/crash_save.py --kills 200 --codes 2000000     # the longer run

tests/test_crash_safety.py runs a few kills.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import deephash


class CrashSafetyError(Exception):
    """The file or its temporaries are not as a crash-safe save must leave them."""


def versions(n: int, bits: int):
    """Two indexes of n codes (the same codes in two orders, different ids)."""
    codes = np.random.default_rng(7).integers(0, 256, (n, bits // 8), dtype=np.uint8)
    a = deephash.FlatIndex(bits)
    a.add(codes)
    b = deephash.FlatIndex(bits)
    b.add(np.ascontiguousarray(codes[::-1]), np.arange(n, dtype=np.int64) + 10**9)
    return a, b


def temporaries(path: Path) -> list[str]:
    pattern = re.compile(re.escape(path.name) + r"\.tmp-\d+-\d+")
    return sorted(n for n in os.listdir(path.parent) if pattern.fullmatch(n))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def child(path: str, n: int, bits: int, reuse_pid: bool) -> None:
    """Saves version A, says "ready", then saves B, A, B, ... until killed."""
    if reuse_pid:  # what a killed process with our PID would have left
        for i in range(3):
            Path(f"{path}.tmp-{os.getpid()}-{i}").write_bytes(b"left by a killed process")
    a, b = versions(n, bits)
    a.save(path)
    print("ready", flush=True)
    if reuse_pid:
        return
    i = 0
    while True:
        (b if i % 2 == 0 else a).save(path)
        i += 1


def _spawn(path: Path, n: int, bits: int, reuse_pid: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(path), "--codes", str(n), "--bits", str(bits)] + (
        ["--reuse-pid"] if reuse_pid else []
    )
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(folder: Path, kills: int, seed: int = 0, n: int = 1_000_000, bits: int = 128) -> dict:
    """Kills `kills` saving children; returns what happened (raises CrashSafetyError on a fault)."""
    path = folder / "index.dhx"
    a, b = versions(n, bits)
    t0 = time.perf_counter()
    a.save(folder / "a.ref")
    save_s = time.perf_counter() - t0
    b.save(folder / "b.ref")
    digests = {_digest(folder / "a.ref"): "A", _digest(folder / "b.ref"): "B"}
    (folder / "a.ref").unlink()
    (folder / "b.ref").unlink()
    del a, b
    rng = np.random.default_rng(seed)
    seen = {"A": 0, "B": 0}
    mid_write = 0
    for _ in range(kills):
        proc = _spawn(path, n, bits)
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise CrashSafetyError(f"child failed before its first save: {proc.communicate()[1]}")
        time.sleep(rng.uniform(0, 3 * save_s))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        left = temporaries(path)
        if len(left) > 1:
            raise CrashSafetyError(f"temporaries accumulate: {left}")
        mid_write += len(left)
        version = digests.get(_digest(path))
        if version is None:
            raise CrashSafetyError("after a kill the file is neither the old nor the new version")
        seen[version] += 1
        if len(deephash.load(path)) != n:  # checksums verified
            raise CrashSafetyError("the file does not load whole")
    # A process with a reused PID: its first save must succeed and clean up every temporary.
    proc = _spawn(path, n, bits, reuse_pid=True)
    out, err = proc.communicate(timeout=300)
    if proc.returncode != 0 or out.strip() != "ready":
        raise CrashSafetyError(f"save from a process with a reused PID failed: {err}")
    if temporaries(path):
        raise CrashSafetyError(f"temporaries left after a clean save: {temporaries(path)}")
    return {
        "kills": kills,
        "codes": n,
        "bits": bits,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "save_ms": round(save_s * 1e3, 1),
        "killed_mid_write": mid_write,
        "file_was_A": seen["A"],
        "file_was_B": seen["B"],
        "pid_reuse_save": "ok",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--codes", type=int, default=1_000_000)
    ap.add_argument("--bits", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=None, help="folder for the index (default: a temporary one)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reuse-pid", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.codes, args.bits, args.reuse_pid)
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t0 = time.perf_counter()
        result = run(Path(tmp), args.kills, args.seed, args.codes, args.bits)
        result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
