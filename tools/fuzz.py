#!/usr/bin/env python3
"""Fuzzing of the index file loader and of the search entry points.

Two targets, each a function of bytes; a finding is a crash (the process dies), an exception of
a type the API does not document, or a result that differs from the NumPy oracle:

``load``
    byte 0 chooses which checksums to repair, the rest is written to a file and loaded with
    ``deephash.load`` (copied and memory-mapped); whatever loads is searched (checked against
    the oracle), added to and removed from. Repairing the checksums after a mutation lets the
    fuzzer reach the checks behind them (layout, kind, number of substrings, payload).
``search``
    the bytes are decoded into an index (flat or multi-index, code length, clustered codes,
    default or custom ids), queries, k, radius and weights, plus malformed arguments; every
    result is compared with the oracle, every refusal must be a TypeError or ValueError.

Engines: ``hypothesis`` (mutations of the committed seeds in tests/fuzz_corpus: bit flips,
header fields set to boundary values, truncation, extension, splicing, then optional checksum
and layout repair) and ``atheris`` (libFuzzer-driven; its coverage feedback sees the Python
layer only, the compiled core is not built with -fsanitize=fuzzer).

    python tools/fuzz.py --seconds 600                       # both targets, hypothesis
    python tools/fuzz.py --engine atheris --target load --seconds 600
    python tools/fuzz.py --write-corpus                      # regenerates tests/fuzz_corpus

tests/test_fuzz.py runs both targets for a few seconds with a derandomised hypothesis profile.
The other files deephash reads (model files, codes files, ShardedIndex manifests, write-ahead
logs, the CLI's file arguments) are fuzzed by tools/fuzz_files.py (tests/test_fuzz_files.py).
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import deephash
from deephash import _core

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fuzz_corpus"
HEADER = 128
# Header fields: (name, offset, struct format); see cpp/include/deephash/index_io.hpp.
FIELDS = [
    ("version", 8, "<I"),
    ("kind", 12, "<I"),
    ("bits", 16, "<Q"),
    ("count", 24, "<Q"),
    ("param", 32, "<Q"),
    ("codes_offset", 40, "<Q"),
    ("ids_offset", 48, "<Q"),
    ("file_size", 56, "<Q"),
    ("payload_checksum", 64, "<Q"),
]
INTERESTING = [
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    16,
    31,
    32,
    33,
    64,
    65,
    72,
    128,
    255,
    256,
    4096,
    8192,
    8200,
    2**16,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**62,
    2**63 - 1,
    2**63,
    2**64 - 8,
    2**64 - 1,
]
REPAIR_HEADER, REPAIR_PAYLOAD, REPAIR_LAYOUT = 1, 2, 4
MAX_FILE = 1 << 20  # layout repair makes files up to this size


class Finding(Exception):
    """A wrong result or an undocumented exception: what the fuzzer looks for."""


stats = {"load": 0, "loaded": 0, "search": 0}


# ----------------------------------------------------------------------------- oracle


def _distances(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    x = np.bitwise_xor(queries[:, None, :], codes[None, :, :])
    return np.bitwise_count(x).sum(axis=2, dtype=np.int64)


def _check_knn(index, queries: np.ndarray, k: int) -> None:
    """index.search(queries, k) against the (distance, id, position) order of a full scan."""
    dist, ids = index.search(queries, k)
    codes, stored = np.asarray(index.codes), np.asarray(index.ids)
    d = _distances(queries, codes)
    n = codes.shape[0]
    for i in range(queries.shape[0]):
        order = np.lexsort((np.arange(n), stored, d[i]))[:k]
        want_d = np.full(k, 2**31 - 1, np.int64)
        want_i = np.full(k, -1, np.int64)
        want_d[: order.size], want_i[: order.size] = d[i][order], stored[order]
        if not (np.array_equal(dist[i], want_d) and np.array_equal(ids[i], want_i)):
            raise Finding(
                f"{type(index).__name__} k={k} query {i}: got {list(zip(dist[i], ids[i]))}, "
                f"expected {list(zip(want_d, want_i))}"
            )


def _check_range(index, queries: np.ndarray, radius: int) -> None:
    lims, dist, ids = index.range_search(queries, radius)
    codes, stored = np.asarray(index.codes), np.asarray(index.ids)
    d = _distances(queries, codes)
    n = codes.shape[0]
    if lims.shape != (queries.shape[0] + 1,) or lims[0] != 0:
        raise Finding(f"range_search lims {lims}")
    for i in range(queries.shape[0]):
        hit = np.flatnonzero(d[i] <= radius)
        order = hit[np.lexsort((hit, stored[hit], d[i][hit]))] if n else hit
        got = (dist[lims[i] : lims[i + 1]], ids[lims[i] : lims[i + 1]])
        if not (np.array_equal(got[0], d[i][order]) and np.array_equal(got[1], stored[order])):
            raise Finding(f"{type(index).__name__} radius={radius} query {i} differs from the oracle")


def _exercise(index, rng: np.random.Generator) -> None:
    """Searches (checked), adds and removes on an index that loaded or was built."""
    n, cs = len(index), index.code_size
    q = rng.integers(0, 256, (3, cs), dtype=np.uint8)
    if n:
        q[0] = index.codes[int(rng.integers(n))]
    for k in (1, min(n, 4) + 1, n + 3):
        _check_knn(index, q, k)
    _check_range(index, q, int(rng.integers(0, index.bits + 1)))
    new_id = int(rng.integers(-(2**62), 2**62)) or 5
    index.add(q[1:2], [new_id])
    if len(index) != n + 1:
        raise Finding("add did not add one code")
    _check_knn(index, q, 2)
    removed = index.remove([new_id])
    if removed < 1 or len(index) != n + 1 - removed:
        raise Finding(f"remove of an added id removed {removed}")


# ----------------------------------------------------------------------------- load target


def _u64(data: bytes, off: int) -> int:
    return struct.unpack_from("<Q", data, off)[0] if len(data) >= off + 8 else 0


def repair(data: bytes, mode: int) -> bytes:
    """Makes the layout, payload checksum and header checksum of mutated file bytes consistent."""
    if len(data) < HEADER:
        return data
    buf = bytearray(data)
    if mode & REPAIR_LAYOUT:
        bits, count = _u64(buf, 16), _u64(buf, 24)
        code_size = bits // 8
        if code_size and count <= MAX_FILE and count * code_size <= MAX_FILE:
            ids_off = (HEADER + count * code_size + 63) // 64 * 64
            size = ids_off + 8 * count
            if size <= MAX_FILE:
                struct.pack_into("<QQQ", buf, 40, HEADER, ids_off, size)
                buf = buf[:size] + bytes(max(0, size - len(buf)))
    if mode & REPAIR_PAYLOAD:
        codes_off, ids_off = _u64(buf, 40), _u64(buf, 48)
        bits, count = _u64(buf, 16), _u64(buf, 24)
        codes_end = codes_off + count * (bits // 8)
        if codes_off <= codes_end <= len(buf) and ids_off + 8 * count <= len(buf):
            c = _core._checksum64(bytes(buf[codes_off:codes_end]))
            c = _core._checksum64(bytes(buf[ids_off : ids_off + 8 * count]), c)
            struct.pack_into("<Q", buf, 64, c)
    if mode & REPAIR_HEADER:
        struct.pack_into("<Q", buf, 120, _core._checksum64(bytes(buf[:120])))
    return bytes(buf)


def load_target(data: bytes, folder: Path) -> None:
    """Byte 0: repair mode; the rest: the file. Raises Finding (or crashes) on a bug."""
    stats["load"] += 1
    if not data:
        return
    content = repair(data[1:], data[0])
    path = folder / "fuzz.dhx"
    path.write_bytes(content)
    for mmap in (False, True):
        try:
            index = deephash.load(path, mmap=mmap)
        except ValueError:
            continue  # refused as not a (valid) deephash index: the documented outcome
        except Exception as e:
            raise Finding(f"load raised {type(e).__name__}: {e}") from e
        stats["loaded"] += 1
        _exercise(index, np.random.default_rng(len(content)))


def mutate(seed: bytes, ops) -> bytes:
    """Applies hypothesis-drawn mutations: (op, a, b) with op in flip/field/truncate/extend/splice."""
    buf = bytearray(seed)
    for op, a, b in ops:
        if op == "flip" and buf:
            buf[a % len(buf)] ^= (b % 255) + 1
        elif op == "field":
            name, off, fmt = FIELDS[a % len(FIELDS)]
            value = INTERESTING[b % len(INTERESTING)] % (1 << (8 * struct.calcsize(fmt)))
            if len(buf) >= off + struct.calcsize(fmt):
                struct.pack_into(fmt, buf, off, value)
        elif op == "truncate":
            del buf[a % (len(buf) + 1) :]
        elif op == "extend":
            buf += bytes([b % 256]) * (a % 200)
        elif op == "splice" and buf:
            pos = a % len(buf)
            buf[pos : pos + 8] = struct.pack("<Q", INTERESTING[b % len(INTERESTING)])
    return bytes(buf)


# ----------------------------------------------------------------------------- search target


class Reader:
    """Deterministic decoding of fuzzer bytes (zeros once they run out)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        v = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return v

    def int(self, lo: int, hi: int) -> int:
        """An int in [lo, hi]."""
        v = self.byte() | self.byte() << 8 | self.byte() << 16
        return lo + v % (hi - lo + 1)

    def choice(self, seq):
        return seq[self.byte() % len(seq)]


BITS = [8, 16, 24, 32, 40, 64, 72, 128, 256, 520]


def _expect_refusal(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except (TypeError, ValueError):
        return
    except Exception as e:
        raise Finding(f"{fn.__name__} raised {type(e).__name__}: {e}") from e
    raise Finding(f"{fn.__name__}{args!r:.200} was accepted")


def search_target(data: bytes) -> None:
    """Builds an index from the bytes, checks searches against the oracle and bad calls."""
    stats["search"] += 1
    r = Reader(data)
    bits = r.choice(BITS)
    cs = bits // 8
    kind = r.choice(["flat", "multi", "multi_m", "multi_hashing", "multi_linear"])
    if kind == "flat":
        index = deephash.FlatIndex(bits)
    else:
        lo = -(-bits // 32)
        m = r.int(lo, max(lo, min(bits, 24))) if kind == "multi_m" else None
        index = deephash.MultiIndex(bits, m)
        if kind in ("multi_hashing", "multi_linear"):
            index.strategy = kind.split("_")[1]
    rng = np.random.default_rng(r.int(0, 2**20))
    n = r.int(0, 300)
    centers = rng.integers(0, 256, (r.int(1, 4), cs), dtype=np.uint8)
    flips = rng.random((n, cs * 8)) < r.int(0, 30) / 100
    codes = centers[rng.integers(0, centers.shape[0], n)] ^ np.packbits(flips, axis=1, bitorder="little")
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    id_mode = r.choice(["default", "custom", "duplicates"])
    if id_mode == "default":
        index.add(codes)
    else:
        span = 10 if id_mode == "duplicates" else 2**62
        ids = rng.integers(-span, span, n)
        ids[ids == -1] = 0
        index.add(codes, ids)
    for _ in range(r.int(0, 3)):
        what = r.choice(["knn", "range", "remove", "add", "weighted", "bad"])
        q = rng.integers(0, 256, (r.int(1, 4), cs), dtype=np.uint8)
        if len(index) and r.byte() % 2:
            q[0] = index.codes[r.int(0, len(index) - 1)]
        if what == "knn":
            _check_knn(index, q, r.choice([1, 2, 5, 17, len(index) + 1, 1000]))
        elif what == "range":
            _check_range(index, q, r.int(0, bits))
        elif what == "remove" and len(index):
            ids = index.ids[rng.integers(0, len(index), r.int(1, 5))].copy()
            index.remove(ids)
            _check_knn(index, q, 3)
        elif what == "add":
            index.add(q, rng.integers(0, 2**40, q.shape[0]))
        elif what == "weighted":
            w = rng.random(bits).astype(np.float32) * r.int(0, 10)
            dist, ids = index.search(q, 5, weights=w)
            if not np.all(dist[:, 1:] >= dist[:, :-1]):  # (inf padding compares equal)
                raise Finding(f"weighted distances not sorted: {dist}")
            ones = np.ones(bits, np.float32)
            wd, wi = index.search(q, 5, weights=ones)
            d0, i0 = index.search(q, 5)
            valid = i0 >= 0
            if not (np.array_equal(wi, i0) and np.array_equal(wd[valid], d0[valid].astype(np.float32))):
                raise Finding("weights of ones differ from the unweighted search")
        else:
            bad = r.choice(["dtype", "shape", "strides", "k0", "kneg", "radius", "nan", "ids", "pad"])
            if bad == "dtype":
                _expect_refusal(index.search, q.astype(np.int16), 3)
            elif bad == "shape":
                _expect_refusal(index.search, q[:, :-1] if cs > 1 else q.reshape(-1, 1, cs), 3)
            elif bad == "strides":
                strided = np.repeat(q, 2, axis=1)[:, ::2]
                if not strided.flags.c_contiguous:  # (a single byte is contiguous whatever its strides)
                    _expect_refusal(index.search, strided, 3)
            elif bad == "k0":
                _expect_refusal(index.search, q, 0)
            elif bad == "kneg":
                _expect_refusal(index.search, q, -r.int(1, 2**20))
            elif bad == "radius":
                _expect_refusal(index.range_search, q, -r.int(1, 100))
            elif bad == "nan":
                w = np.ones(bits, np.float32)
                w[r.int(0, bits - 1)] = np.nan
                _expect_refusal(index.search, q, 3, weights=w)
            elif bad == "ids":
                _expect_refusal(index.add, q, np.zeros(q.shape[0] + 1, np.int64))
            else:
                _expect_refusal(index.add, q, np.full(q.shape[0], -1, np.int64))


# ----------------------------------------------------------------------------- corpus


def write_corpus(folder: Path = CORPUS) -> list[Path]:
    """A few tiny valid and invalid index files: the seeds of both engines."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = []

    def save(name, index):
        p = folder / name
        index.save(p)
        written.append(p)
        return p.read_bytes()

    flat = deephash.FlatIndex(64)
    flat.add(rng.integers(0, 256, (5, 8), dtype=np.uint8), [3, -7, 2**40, 3, 0])
    good = save("flat_64bit_5codes.seed", flat)
    save("flat_8bit_empty.seed", deephash.FlatIndex(8))
    multi = deephash.MultiIndex(16, 2)
    multi.add(rng.integers(0, 256, (20, 2), dtype=np.uint8))
    save("multi_16bit_m2_20codes.seed", multi)
    multi = deephash.MultiIndex(72)
    multi.add(rng.integers(0, 256, (7, 9), dtype=np.uint8))
    save("multi_72bit_auto_7codes.seed", multi)
    for name, content in [
        ("truncated.seed", good[:100]),
        ("bad_magic.seed", b"DEEPHASX" + good[8:]),
        ("trailing.seed", good + b"\0" * 8),
    ]:
        (folder / name).write_bytes(content)
        written.append(folder / name)
    return written


def corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("*.seed"))]


# ----------------------------------------------------------------------------- engines


def hypothesis_tests(folder: Path, max_examples: int, derandomize: bool):
    """The two targets as hypothesis tests (also used by tests/test_fuzz.py)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = corpus()
    ops = st.lists(
        st.tuples(
            st.sampled_from(["flip", "field", "truncate", "extend", "splice"]),
            st.integers(0, 2**16),
            st.integers(0, 2**16),
        ),
        max_size=5,
    )
    profile = settings(
        max_examples=max_examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @profile
    @given(st.sampled_from(seeds), ops, st.integers(0, 7))
    def fuzz_load(seed, mutations, mode):
        load_target(bytes([mode]) + mutate(seed, mutations), folder)

    @profile
    @given(st.binary(max_size=256))
    def fuzz_search(data):
        search_target(data)

    return {"load": fuzz_load, "search": fuzz_search}


def run_hypothesis(targets, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tests = hypothesis_tests(Path(tmp), max_examples=200, derandomize=False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for t in targets:
                tests[t]()


def _instrument(atheris) -> None:
    """Coverage feedback from the deephash package and this file (instrumenting everything
    imported, numpy and hypothesis included, takes minutes on a busy machine)."""
    import gc
    import types

    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and (obj.__module__ or "").split(".")[0] in ("deephash", __name__):
            try:
                atheris.instrument_func(obj)
            except Exception as e:  # a function atheris cannot patch: fuzz it uninstrumented
                print(f"not instrumented: {obj.__qualname__}: {e}", file=sys.stderr)


def run_atheris(target: str, seconds: float) -> None:
    import atheris

    with tempfile.TemporaryDirectory() as tmp:
        seeds = Path(tmp) / "corpus"
        seeds.mkdir()
        if target == "load":
            for i, s in enumerate(corpus()):
                for mode in (0, REPAIR_HEADER | REPAIR_PAYLOAD):
                    (seeds / f"{i}_{mode}").write_bytes(bytes([mode]) + s)
        else:
            (seeds / "0").write_bytes(bytes(64))
        folder = Path(tmp)

        def one_input(data: bytes) -> None:
            if target == "load":
                load_target(data, folder)
            else:
                search_target(data)

        _instrument(atheris)
        atheris.Setup(
            [sys.argv[0], f"-max_total_time={int(seconds)}", "-rss_limit_mb=4096", "-timeout=10", str(seeds)], one_input
        )
        atheris.Fuzz()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    ap.add_argument("--target", choices=("load", "search", "both"), default="both")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--write-corpus", action="store_true", help="regenerate tests/fuzz_corpus")
    args = ap.parse_args(argv)
    if args.write_corpus:
        for p in write_corpus():
            print(p, p.stat().st_size)
        return 0
    targets = ["load", "search"] if args.target == "both" else [args.target]
    t0 = time.monotonic()
    if args.engine == "atheris":
        if len(targets) != 1:
            ap.error("atheris fuzzes one --target at a time")
        run_atheris(targets[0], args.seconds)  # exits the process when done
    run_hypothesis(targets, args.seconds)
    dt = time.monotonic() - t0
    print(
        f"hypothesis: {stats['load']} load executions ({stats['loaded']} files loaded), "
        f"{stats['search']} search executions in {dt:.0f} s; no findings"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
