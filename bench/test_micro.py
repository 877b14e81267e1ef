"""pytest-benchmark microbenchmarks of the engine (benchmarks only; not part of the tests).

python -m pytest bench/test_micro.py --benchmark-only
"""

import numpy as np
import pytest

import deephash


@pytest.fixture(scope="module", params=[64, 256])
def flat(request):
    bits = request.param
    rng = np.random.default_rng(0)
    index = deephash.FlatIndex(bits)
    index.add(rng.integers(0, 256, size=(200_000, bits // 8), dtype=np.uint8))
    queries = rng.integers(0, 256, size=(100, bits // 8), dtype=np.uint8)
    return index, queries


@pytest.mark.parametrize("threads", [1, 2])
def test_flat_knn(benchmark, flat, threads):
    index, queries = flat
    deephash.set_num_threads(threads)
    benchmark.extra_info.update(simd=deephash.simd_level(), threads=threads, bits=index.bits)
    benchmark(index.search, queries, 100)
    deephash.set_num_threads(0)


def test_flat_single_query(benchmark, flat):
    index, queries = flat
    benchmark.extra_info.update(simd=deephash.simd_level(), bits=index.bits)
    benchmark(index.search, queries[:1], 10)


def test_flat_range(benchmark, flat):
    index, queries = flat
    benchmark.extra_info.update(simd=deephash.simd_level(), bits=index.bits)
    benchmark(index.range_search, queries, index.bits // 4)


def test_pack_bits(benchmark):
    x = np.random.default_rng(1).standard_normal((100_000, 64)).astype(np.float32)
    benchmark(deephash.pack_bits, x)
