#!/usr/bin/env python3
"""Before/after counts of the damaged-file categories: the same seeded random mutations of codes files, model
metadata, write-ahead logs and CLI file arguments, run against whatever deephash is on
PYTHONPATH (a checkout of the old code, then this one). Prints one JSON line of counts.

    AS_LIMIT_GB=10 PYTHONPATH=python python3 tools/safety_counts.py 300

(AS_LIMIT_GB caps the address space: crafted model metadata made old code allocate until the
OOM killer ended the run.)
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import resource
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_files as F  # mutation helpers only (mutate_bytes, mutate_json)
import deephash
from deephash import cli, methods
from deephash.codes import read_codes, save_codes
from deephash.distributed import _log
from deephash.distributed._shard import Shard

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
if os.environ.get("AS_LIMIT_GB"):
    lim = int(os.environ["AS_LIMIT_GB"]) << 30
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
rng = np.random.default_rng(12345)
tmp = Path(tempfile.mkdtemp())
ops_names = ["flip", "truncate", "extend", "splice", "zero"]


def byte_ops():
    return [
        (ops_names[rng.integers(5)], int(rng.integers(2**16)), int(rng.integers(2**16)))
        for _ in range(rng.integers(1, 4))
    ]


def json_ops():
    return [tuple(int(v) for v in rng.integers(0, 2**16, 3)) for _ in range(rng.integers(1, 3))]


res = {}
# codes files
x = np.random.default_rng(0).integers(0, 256, (30, 4), dtype=np.uint8)
save_codes(tmp / "c.npz", x, np.arange(30))
np.save(tmp / "c.npy", x)
seeds = [(tmp / "c.npz").read_bytes(), (tmp / "c.npy").read_bytes()]
bad = pickle_hint = 0
for i in range(N):
    p = tmp / "m.bin"
    p.write_bytes(F.mutate_bytes(seeds[i % 2], byte_ops()))
    try:
        read_codes(p)
    except (ValueError, OSError) as e:
        pickle_hint += "allow_pickle" in str(e)
    except Exception:
        bad += 1
res["codes"] = dict(cases=N, undocumented_exception=bad, allow_pickle_hint=pickle_hint)
# model metadata
xf = np.random.default_rng(0).random((40, 8)).astype(np.float32)
m = methods.DPSH(bits=8, seed=0, epochs=1, progress=False, backbone={"name": "mlp", "hidden": [8]}).fit(
    xf, np.arange(40) % 3
)
m.save(tmp / "d.npz")
with np.load(tmp / "d.npz") as z:
    arrays = dict(z)
meta = json.loads(str(arrays["__meta__"]))
bad = big = 0
kinds = {}
for i in range(N):
    a = dict(arrays, __meta__=np.array(json.dumps(F.mutate_json(meta, json_ops()))))
    np.savez(tmp / "mm.npz", **a)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            mod = methods.load(tmp / "mm.npz")
            mod.encode(xf[:3])
    except (ValueError, OSError):
        pass
    except BaseException as e:
        bad += 1
        kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before > 256 * 1024:
        big += 1
res["model_metadata"] = dict(cases=N, undocumented_exception=bad, kinds=kinds, grew_over_256MiB=big)
# write-ahead log: single byte flips of a 5-op log (every op acknowledged)
log = str(tmp / "s.log")
_log.WriteAheadLog.create(log, {"index": None, "op": 0})
s = Shard(32, "flat", {}, log)
r2 = np.random.default_rng(1)
for op in range(1, 6):
    s.add(
        op,
        r2.integers(0, 256, (20, 4), dtype=np.uint8),
        np.arange(op * 20, op * 20 + 20),
        np.arange(op * 20, op * 20 + 20),
    )
orig = Path(log).read_bytes()
silent = errors = 0
for i in range(N):
    d = bytearray(orig)
    d[int(rng.integers(len(d)))] ^= int(rng.integers(1, 256))
    Path(log).write_bytes(bytes(d))
    try:
        sh = Shard(32, "flat", {}, log)
        n = sh.info()["n"]
        if n != 100:
            silent += 1
    except Exception:
        errors += 1
res["wal_byte_flip"] = dict(cases=N, silent_loss=silent, refused=errors)
# CLI file arguments
bad = 0
lsh = methods.LSH(bits=16, seed=0).fit(xf)
lsh.save(tmp / "lsh.npz")
np.save(tmp / "x.npy", xf)
idx = deephash.FlatIndex(32)
idx.add(x)
idx.save(tmp / "good.dhx")
srcs = [seeds[0], seeds[1], (tmp / "lsh.npz").read_bytes(), (tmp / "x.npy").read_bytes()]
for i in range(N):
    b = tmp / "arg.bin"
    b.write_bytes(F.mutate_bytes(srcs[i % 4], byte_ops()))
    cmds = [
        ["index", "--codes", b, "--out", tmp / "i.dhx"],
        ["encode", "--model", b, "--input", tmp / "x.npy", "--out", tmp / "o.npz"],
        ["search", "--index", tmp / "good.dhx", "--queries", b, "--show", "0"],
        ["encode", "--model", tmp / "lsh.npz", "--input", b, "--out", tmp / "o.npz"],
    ]
    argv = [str(v) for v in cmds[(i // 4) % 4]]
    e = io.StringIO()
    try:
        with contextlib.redirect_stderr(e), contextlib.redirect_stdout(io.StringIO()):
            rc = cli.main(argv)
    except Exception:
        rc = "raised"
    if rc not in (0, 2) or "internal error" in e.getvalue() or "allow_pickle" in e.getvalue():
        bad += 1
res["cli_file_args"] = dict(cases=N, internal_error_or_pickle_hint=bad)
print(json.dumps(res))
