#!/usr/bin/env python3
"""Fuzzing of every file deephash reads besides the index file (tools/fuzz.py covers that one).

Six targets, each a function of hypothesis-drawn mutations of a valid seed file; a finding is an
exception of a type the API does not document, a crash, a large allocation, or a result that
differs from an oracle that does not trust the file's own ids or counts:

``model``     a saved model (.npz): its JSON metadata mutated field by field (sizes, types,
              names) and/or its bytes; ``methods.load`` must refuse (ValueError/OSError) or give
              a model that encodes to ``bits``-wide codes — the original codes when the weights
              and metadata are intact — without growing the process by more than 512 MiB.
``codes``     a codes file (.npz / .npy) mutated as bytes; ``read_codes`` must refuse or give 2-D
              uint8 codes whose search (default ids = positions) equals a NumPy scan.
``manifest``  a ShardedIndex manifest (JSON fields or bytes); the driver's checks plus each
              shard's checkpoint load (no Ray) must refuse, or load exactly the saved codes (every
              file is pinned, so anything else is a finding), and never name a path outside the
              folder.
``wal``       a shard's write-ahead log (bytes); recovery must refuse, or hold exactly the state
              after the operations whose records survive unchanged as a prefix of the original
              log; a log that lost acknowledged operations must be refused when asked with the
              last acknowledged op (never a silent loss).
``driver``    a ShardedIndex driver record (``driver.json`` in a log_dir; JSON fields or bytes);
              ``recover``'s checks must refuse (ValueError) or give exactly the written
              configuration (the record's SHA-256 covers it, so anything else is a finding).
``cli``       a mutated file given to the CLI (``index --codes``, ``search --queries``,
              ``encode --model``, ``encode --input``, ``eval --query-labels``, ``search --index``):
              exit status 0 or 2, never an internal error or a traceback.

    python tools/fuzz_files.py --seconds 300                  # every target, hypothesis
    python tools/fuzz_files.py --target wal --seconds 60

tests/test_fuzz_files.py runs each target for a bounded number of derandomised examples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import deephash
from deephash import cli
from deephash.codes import read_codes, save_codes

TARGETS = ("model", "codes", "manifest", "wal", "driver", "cli")
stats = {t: 0 for t in TARGETS}
accepted = {t: 0 for t in TARGETS}  # examples the reader accepted (then checked by the oracle)
INTERESTING = [0, 1, -1, 7, 8, 9, 255, 2**16, 2**24 + 1, 2**31, 2**32, 2**40, 2**63 - 1, -(2**63)]
ODD_VALUES = [None, True, "", "../x", "/etc/passwd", "shard-00000-0123456789ab.dhi", [], {}, 1.5, [2**40], "64"]
MAX_GROWTH_KB = 512 * 1024


class Finding(Exception):
    """A wrong result or an undocumented exception: what the fuzzer looks for."""


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _search_oracle(codes: np.ndarray, queries: np.ndarray, k: int):
    """(distances, positions) of the k nearest codes, ordered by (distance, position)."""
    d = np.bitwise_count(queries[:, None, :] ^ codes[None, :, :]).sum(axis=2, dtype=np.int64)
    order = np.lexsort((np.broadcast_to(np.arange(codes.shape[0]), d.shape), d), axis=1)[:, :k]
    return np.take_along_axis(d, order, 1), order


def _check_search(codes: np.ndarray, what: str) -> None:
    """A FlatIndex over ``codes`` (ids = positions) answers like the NumPy scan."""
    if codes.shape[0] == 0 or codes.size > 1 << 20:
        return
    index = deephash.FlatIndex(codes.shape[1] * 8)
    index.add(codes)
    q = codes[: min(3, codes.shape[0])]
    k = min(5, codes.shape[0])
    d, i = index.search(q, k)
    want_d, want_i = _search_oracle(codes, q, k)
    if not (np.array_equal(d, want_d) and np.array_equal(i, want_i)):
        raise Finding(f"{what}: search differs from the NumPy scan")


# ----------------------------------------------------------------------------- mutations


def mutate_bytes(data: bytes, ops) -> bytes:
    """(op, a, b) in flip / truncate / extend / splice / zero, as tools/fuzz.py."""
    buf = bytearray(data)
    for op, a, b in ops:
        if op == "flip" and buf:
            buf[a % len(buf)] ^= (b % 255) + 1
        elif op == "truncate":
            del buf[a % (len(buf) + 1) :]
        elif op == "extend":
            buf += bytes([b % 256]) * (a % 64)
        elif op == "splice" and buf:
            pos = a % len(buf)
            buf[pos : pos + 8] = struct.pack("<q", INTERESTING[b % len(INTERESTING)])
        elif op == "zero" and buf:
            pos = a % len(buf)
            buf[pos : pos + 1 + b % 32] = bytes(len(buf[pos : pos + 1 + b % 32]))
    return bytes(buf)


def _paths(value, prefix=()):
    """Every path to a value inside nested dicts/lists."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:8]):
            yield from _paths(v, prefix + (i,))


def mutate_json(obj, ops):
    """(a, b, c): the a-th path gets INTERESTING/ODD value b (c picks which), or is deleted."""
    obj = json.loads(json.dumps(obj))
    for a, b, c in ops:
        paths = [p for p in _paths(obj) if p]
        if not paths:
            break
        path = paths[a % len(paths)]
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        if c % 5 == 0 and isinstance(parent, dict):
            del parent[path[-1]]
            continue
        value = INTERESTING[b % len(INTERESTING)] if c % 5 < 3 else ODD_VALUES[b % len(ODD_VALUES)]
        parent[path[-1]] = json.loads(json.dumps(value))  # a copy: never a shared or cyclic value
    return obj


# ----------------------------------------------------------------------------- seeds


class Seeds:
    """Valid files of every kind in a folder, built once (small, fast to mutate)."""

    def __init__(self, folder: Path):
        from deephash import methods
        from deephash.distributed import _log
        from deephash.distributed._shard import Shard

        self.folder = folder
        rng = np.random.default_rng(0)
        self.x = rng.random((40, 8)).astype(np.float32)
        self.models = {}
        lsh = methods.LSH(bits=16, seed=0).fit(self.x)
        lsh.save(folder / "lsh.npz")
        self.models["lsh"] = ((folder / "lsh.npz").read_bytes(), lsh.encode(self.x[:5]))
        try:
            dpsh = methods.DPSH(bits=8, seed=0, epochs=1, progress=False, backbone={"name": "mlp", "hidden": [8]})
            dpsh.fit(self.x, rng.integers(0, 3, 40))
            dpsh.save(folder / "dpsh.npz")
            self.models["dpsh"] = ((folder / "dpsh.npz").read_bytes(), dpsh.encode(self.x[:5]))
        except ImportError:  # no PyTorch: the shallow model only
            pass
        self.codes = rng.integers(0, 256, (30, 4), dtype=np.uint8)
        save_codes(folder / "c.npz", self.codes, rng.integers(0, 3, 30))
        np.save(folder / "c.npy", self.codes)
        self.codes_files = [(folder / "c.npz").read_bytes(), (folder / "c.npy").read_bytes()]
        np.save(folder / "x.npy", self.x)
        np.save(folder / "labels.npy", rng.integers(0, 3, 30))
        index = deephash.FlatIndex(32)
        index.add(self.codes)
        index.save(folder / "good.dhx")

        # A saved two-shard folder written as ShardedIndex.save writes it (no Ray needed).
        self.shard_dir = folder / "shards"
        self.shard_dir.mkdir()
        self.shard_codes = []
        entries = []
        for s in range(2):
            log = str(folder / f"seed-{s}.log")
            _log.WriteAheadLog.create(log, {"index": None, "op": 0})
            shard = Shard(32, "flat", {}, log)
            part = self.codes[s::2]
            shard.add(1, part, np.arange(s, 30, 2), np.arange(s, 30, 2))
            entries.append(shard.save(str(self.shard_dir), s, "0123456789ab"))
            self.shard_codes.append(part)
        self.manifest = {
            "format": "deephash.ShardedIndex",
            "version": 2,
            "bits": 32,
            "kind": "flat",
            "options": {},
            "num_shards": 2,
            "next_seq": 30,
            "shards": entries,
        }

        # A write-ahead log of known operations, and the truth after each.
        self.wal_path = folder / "wal-seed.log"
        _log.WriteAheadLog.create(str(self.wal_path), {"index": None, "op": 0})
        shard = Shard(32, "flat", {}, str(self.wal_path))
        self.wal_queries = rng.integers(0, 256, (3, 4), dtype=np.uint8)
        self.wal_truth = {0: self._state(shard)}
        self.wal_ends = {0: os.path.getsize(self.wal_path)}
        for op in range(1, 6):
            if op == 3:
                shard.remove(op, np.array([2, 3]))
            else:
                c = rng.integers(0, 256, (4, 4), dtype=np.uint8)
                shard.add(op, c, rng.integers(0, 6, 4), np.arange(4 * op, 4 * op + 4))
            self.wal_truth[op] = self._state(shard)
            self.wal_ends[op] = os.path.getsize(self.wal_path)
        self.wal = self.wal_path.read_bytes()

        # A log_dir as a ShardedIndex with two 32-bit multi-index shards leaves it.
        from deephash.distributed import _driver

        self.driver_dir = folder / "driver"
        self.driver_dir.mkdir()
        for s in range(2):
            _log.WriteAheadLog.create(str(self.driver_dir / f"shard-{s:05d}.log"), {"index": None, "op": 0})
        _driver.write_driver_record(str(self.driver_dir), 32, "multi", {"m": 2}, 2)
        self.driver = json.loads((self.driver_dir / _driver.DRIVER_RECORD).read_text())

    def _state(self, shard):
        n = shard.info()["n"]
        d, i, _ = shard.search(self.wal_queries, 30)
        return n, d.tolist(), i.tolist()


# ----------------------------------------------------------------------------- targets


def model_target(seeds: Seeds, which: str, json_ops, byte_ops, work: Path) -> None:
    from deephash import methods

    stats["model"] += 1
    data, expected = seeds.models[which]
    path = work / "model.npz"
    with np.load(io.BytesIO(data)) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["__meta__"]))
    new_meta = mutate_json(meta, json_ops)
    arrays["__meta__"] = np.array(json.dumps(new_meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(mutate_bytes(buf.getvalue(), byte_ops))
    before = _rss_kb()
    quiet = contextlib.redirect_stderr(io.StringIO())  # a mutated config may turn progress bars on
    try:
        with quiet:
            model = methods.load(path)
    except (ValueError, OSError):
        return
    except Exception as e:
        raise Finding(f"methods.load raised {type(e).__name__}: {e}") from e
    finally:
        if _rss_kb() - before > MAX_GROWTH_KB:
            raise Finding(f"methods.load grew the process by {(_rss_kb() - before) // 1024} MiB")
    accepted["model"] += 1
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            codes = model.encode(seeds.x[:5])
    except (ValueError, TypeError):
        return  # e.g. a changed input size: the documented refusal of encode
    except Exception as e:
        raise Finding(f"encode of a loaded model raised {type(e).__name__}: {e}") from e
    if codes.dtype != np.uint8 or codes.shape != (5, -(-model.code_bits // 8)):
        raise Finding(f"encode gave {codes.dtype} {codes.shape} for {model.code_bits} bits")
    if new_meta == meta and not byte_ops and not np.array_equal(codes, expected):
        raise Finding("an intact model encodes differently")


def codes_target(seeds: Seeds, which: int, byte_ops, work: Path) -> None:
    stats["codes"] += 1
    path = work / "codes.bin"
    path.write_bytes(mutate_bytes(seeds.codes_files[which], byte_ops))
    try:
        codes, labels = read_codes(path)
    except (ValueError, OSError):
        return
    except Exception as e:
        raise Finding(f"read_codes raised {type(e).__name__}: {e}") from e
    accepted["codes"] += 1
    if codes.dtype != np.uint8 or codes.ndim != 2 or not codes.flags.c_contiguous:
        raise Finding(f"read_codes returned {codes.dtype} {codes.shape}")
    if codes.shape[1] == 0:
        return
    _check_search(codes, "codes file")


def manifest_target(seeds: Seeds, json_ops, byte_ops, work: Path) -> None:
    from deephash.distributed import _log
    from deephash.distributed._shard import Shard
    from deephash.distributed.sharded_index import MANIFEST, _check_present, _read_manifest

    stats["manifest"] += 1
    folder = str(seeds.shard_dir)
    m = mutate_json(seeds.manifest, json_ops)
    raw = mutate_bytes(json.dumps(m).encode(), byte_ops)
    (seeds.shard_dir / MANIFEST).write_bytes(raw)
    try:
        got = _read_manifest(folder)
        for e in got["shards"]:
            for f in ("index", "seq"):
                p = os.path.realpath(os.path.join(folder, e[f]))
                if os.path.dirname(p) != os.path.realpath(folder):
                    raise Finding(f"the manifest check accepted a file outside the folder: {e[f]!r}")
                _check_present(os.path.join(folder, e[f]), e[f + "_size"], "manifest")
    except ValueError:
        return
    except Finding:
        raise
    except Exception as e:
        raise Finding(f"the manifest check raised {type(e).__name__}: {e}") from e
    accepted["manifest"] += 1
    for s, e in enumerate(got["shards"]):
        c = {k: e[k] for k in ("index", "index_size", "index_sha256", "seq", "seq_size", "seq_sha256")}
        c.update(shard=s, folder=folder, op=0, mmap=True)
        log = str(work / "manifest-shard.log")
        _log.WriteAheadLog.create(log, c)
        shard = Shard(got["bits"], got["kind"], got["options"], log)
        try:
            n = shard.info()["n"]
        except ValueError:
            continue
        except Exception as e:
            raise Finding(f"a shard of a checked manifest raised {type(e).__name__}: {e}") from e
        truth = seeds.shard_codes[s] if s < 2 else None
        if truth is None or n != truth.shape[0] or not np.array_equal(np.asarray(shard._index.codes), truth):
            raise Finding(f"shard {s} loaded {n} codes that are not the saved ones")


def driver_target(seeds: Seeds, json_ops, byte_ops, work: Path) -> None:
    from deephash.distributed import _driver

    stats["driver"] += 1
    raw = mutate_bytes(json.dumps(mutate_json(seeds.driver, json_ops)).encode(), byte_ops)
    (seeds.driver_dir / _driver.DRIVER_RECORD).write_bytes(raw)
    try:
        got = _driver.read_driver_record(str(seeds.driver_dir))
        _driver.shard_logs(str(seeds.driver_dir), got["num_shards"])
    except ValueError:
        return
    except Exception as e:
        raise Finding(f"the driver record check raised {type(e).__name__}: {e}") from e
    accepted["driver"] += 1
    keys = ("bits", "kind", "options", "num_shards")
    if {k: got[k] for k in keys} != {k: seeds.driver[k] for k in keys}:
        raise Finding(f"a mutated driver record was accepted with another configuration: {got}")


def wal_target(seeds: Seeds, byte_ops, work: Path) -> None:
    from deephash.distributed._shard import Shard

    stats["wal"] += 1
    data = mutate_bytes(seeds.wal, byte_ops)
    path = work / "wal.log"
    path.write_bytes(data)
    shard = Shard(32, "flat", {}, str(path))
    try:
        state = seeds._state(shard)
        op = shard.info()["op"]
    except ValueError:
        return
    except Exception as e:
        raise Finding(f"log recovery raised {type(e).__name__}: {e}") from e
    accepted["wal"] += 1
    if op not in seeds.wal_truth:
        raise Finding(f"recovery reached op {op}, which the log never held")
    end = seeds.wal_ends[op]
    after = path.read_bytes()
    if after != seeds.wal[:end]:
        raise Finding(f"recovery accepted op {op} from bytes that are not the original log's first {end}")
    if state != seeds.wal_truth[op]:
        raise Finding(f"recovered state at op {op} differs from the truth")
    if op < 5:
        try:
            shard.info(min_op=5)
        except ValueError:
            pass
        else:
            raise Finding(f"a log that lost ops {op + 1}..5 answered as if whole")
        if data[: len(seeds.wal)] == seeds.wal:
            raise Finding("recovery dropped acknowledged records that were intact")


def cli_target(seeds: Seeds, which: int, content_choice: int, byte_ops, work: Path) -> None:
    stats["cli"] += 1
    f = seeds.folder
    sources = [seeds.codes_files[0], seeds.codes_files[1], seeds.models["lsh"][0], (f / "x.npy").read_bytes()]
    bad = work / "arg.bin"
    bad.write_bytes(mutate_bytes(sources[content_choice % len(sources)], byte_ops))
    commands = [
        ["index", "--codes", bad, "--out", work / "i.dhx"],
        ["search", "--index", f / "good.dhx", "--queries", bad, "--show", "0"],
        ["search", "--index", bad, "--queries", f / "c.npz", "--show", "0"],
        ["encode", "--model", bad, "--input", f / "x.npy", "--out", work / "o.npz"],
        ["encode", "--model", f / "lsh.npz", "--input", bad, "--out", work / "o.npz"],
        ["eval", "--queries", f / "c.npz", "--database", f / "c.npz", "--query-labels", bad, "--no-plots"],
    ]
    argv = [str(a) for a in commands[which % len(commands)]]
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = cli.main(argv)
    except Exception as e:
        raise Finding(f"deephash {' '.join(argv)} raised {type(e).__name__}: {e}") from e
    text = err.getvalue()
    if rc not in (0, 2) or "internal error" in text or "Traceback" in text:
        raise Finding(f"deephash {argv[0]} exited {rc}: {text.strip()[:300]}")
    if rc == 0:
        accepted["cli"] += 1


# ----------------------------------------------------------------------------- engine


def hypothesis_tests(folder: Path, max_examples: int, derandomize: bool):
    """The targets as hypothesis tests (also used by tests/test_fuzz_files.py)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = Seeds(folder)
    work = folder / "work"
    work.mkdir(exist_ok=True)
    u = st.integers(0, 2**16)
    byte_ops = st.lists(st.tuples(st.sampled_from(["flip", "truncate", "extend", "splice", "zero"]), u, u), max_size=4)
    json_ops = st.lists(st.tuples(u, u, u), max_size=3)
    profile = settings(
        max_examples=max_examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @profile
    @given(st.sampled_from(sorted(seeds.models)), json_ops, st.one_of(st.just([]), byte_ops))
    def fuzz_model(which, jops, bops):
        model_target(seeds, which, jops, bops, work)

    @profile
    @given(st.integers(0, 1), byte_ops)
    def fuzz_codes(which, bops):
        codes_target(seeds, which, bops, work)

    @profile
    @given(json_ops, st.one_of(st.just([]), byte_ops))
    def fuzz_manifest(jops, bops):
        manifest_target(seeds, jops, bops, work)

    @profile
    @given(byte_ops)
    def fuzz_wal(bops):
        wal_target(seeds, bops, work)

    @profile
    @given(json_ops, st.one_of(st.just([]), byte_ops))
    def fuzz_driver(jops, bops):
        driver_target(seeds, jops, bops, work)

    @profile
    @given(st.integers(0, 5), st.integers(0, 3), byte_ops)
    def fuzz_cli(which, content, bops):
        cli_target(seeds, which, content, bops, work)

    return {
        "model": fuzz_model,
        "codes": fuzz_codes,
        "manifest": fuzz_manifest,
        "wal": fuzz_wal,
        "driver": fuzz_driver,
        "cli": fuzz_cli,
    }


def run(targets, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tests = hypothesis_tests(Path(tmp), max_examples=100, derandomize=False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for t in targets:
                tests[t]()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args(argv)
    targets = list(TARGETS) if args.target == "all" else [args.target]
    t0 = time.monotonic()
    run(targets, args.seconds)
    dt = time.monotonic() - t0
    for t in targets:
        print(f"{t}: {stats[t]} executions, {accepted[t]} accepted by the reader and checked; no findings")
    print(f"{dt:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
