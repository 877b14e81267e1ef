"""pytest-benchmark microbenchmarks of MultiIndex and weighted search (benchmarks only).

PYTHONPATH=python python -m pytest bench/test_micro_mih.py --benchmark-only
"""

import numpy as np
import pytest

import deephash
from deephash._bench import clustered_codes


@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(0)
    centres = np.packbits(rng.integers(0, 2, (2000, 64), dtype=np.uint8), axis=1, bitorder="little")
    db = clustered_codes(rng, 1_000_000, 64, centres)
    q = clustered_codes(rng, 100, 64, centres)
    mi = deephash.MultiIndex(64)
    mi.add(db)
    flat = deephash.FlatIndex(64)
    flat.add(db)
    return mi, flat, q


def test_mih_single_queries(benchmark, clustered):
    mi, _, q = clustered
    deephash.set_num_threads(1)
    benchmark.extra_info.update(simd=deephash.simd_level(), threads=1, m=mi.m)
    benchmark(lambda: [mi.search(q[i : i + 1], 10) for i in range(q.shape[0])])
    deephash.set_num_threads(0)


def test_flat_single_queries_same_data(benchmark, clustered):
    _, flat, q = clustered
    deephash.set_num_threads(1)
    benchmark.extra_info.update(simd=deephash.simd_level(), threads=1)
    benchmark(lambda: [flat.search(q[i : i + 1], 10) for i in range(q.shape[0])])
    deephash.set_num_threads(0)


def test_mih_build(benchmark, clustered):
    _, flat, _ = clustered
    codes = np.array(flat.codes)

    def build():
        mi = deephash.MultiIndex(64)
        mi.add(codes)
        return mi

    benchmark.pedantic(build, rounds=3)


@pytest.mark.parametrize("kind", ["unweighted", "shared", "per-query", "mask"])
def test_weighted_knn(benchmark, clustered, kind):
    _, flat, _ = clustered
    rng = np.random.default_rng(1)
    q = rng.integers(0, 256, (100, 8), dtype=np.uint8)
    w = {
        "unweighted": None,
        "shared": rng.random(64).astype(np.float32),
        "per-query": rng.random((100, 64)).astype(np.float32),
        "mask": (rng.random(64) < 0.5).astype(np.float32),
    }[kind]
    deephash.set_num_threads(1)
    benchmark.extra_info.update(simd=deephash.simd_level(), threads=1, weights=kind)
    benchmark(flat.search, q, 100, weights=w)
    deephash.set_num_threads(0)
