"""Weighted Hamming search against a NumPy oracle (float64 sums of the quantised weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deephash
from deephash import _core

LEVELS = [
    lv
    for lv in ("scalar", "avx2", "avx512")
    if ["scalar", "avx2", "avx512"].index(lv) <= ["scalar", "avx2", "avx512"].index(_core.detected_simd_level())
]


@pytest.fixture
def simd(request):
    """Runs the test at a given SIMD level, then restores the detected level."""

    def set_level(name):
        assert _core._set_simd_level(name) == name

    yield set_level
    _core._set_simd_level(_core.detected_simd_level())


def quantise(w, bits):
    """The documented quantisation: unit 2**e, e = E - P, units = rint(w / 2**e)."""
    w = np.asarray(w, dtype=np.float32)
    P = 22 - math.ceil(math.log2(bits))
    mx = float(w.max())
    if mx == 0.0:
        return np.zeros(bits), 0
    E = int(np.frexp(np.float64(mx))[1])
    e = max(E - P, -149)
    return np.rint(np.ldexp(w.astype(np.float64), -e)), e


def oracle_dist(codes, queries, w):
    """(nq, n) float64 distances: exact sums of the quantised weights, scaled back."""
    bits = codes.shape[1] * 8
    w = np.asarray(w, dtype=np.float32)
    rows = np.broadcast_to(w, (queries.shape[0], bits)) if w.ndim == 1 else w
    out = np.empty((queries.shape[0], codes.shape[0]))
    for i, q in enumerate(queries):
        units, e = quantise(rows[i], bits)
        diff = np.unpackbits(codes ^ q, axis=1, bitorder="little").astype(np.float64)
        out[i] = np.ldexp(diff @ units, e)
    return out


def oracle_knn(codes, ids, queries, w, k):
    d = oracle_dist(codes, queries, w)
    n = codes.shape[0]
    od = np.full((len(queries), k), np.inf, dtype=np.float32)
    oi = np.full((len(queries), k), -1, dtype=np.int64)
    for r in range(len(queries)):
        order = np.lexsort((np.arange(n), ids, d[r]))[:k]
        od[r, : len(order)] = d[r, order].astype(np.float32)
        oi[r, : len(order)] = ids[order]
    return od, oi


def make(rng, n, bits):
    return rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)


def weight_sets(rng, bits):
    return {
        "uniform": rng.random(bits).astype(np.float32),
        "mask": (rng.random(bits) < 0.5).astype(np.float32) * np.float32(0.7),
        "wide_range": (rng.random(bits) * 100).astype(np.float32) ** 3,
        "zeros": np.zeros(bits, np.float32),
        "tiny": (rng.random(bits) * 1e-38).astype(np.float32),
        "few_distinct": rng.choice(np.array([0, 0.5, 1.5], np.float32), bits),
    }


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("bits", [8, 32, 64, 72, 128, 256])
def test_knn_matches_oracle(simd, level, bits):
    simd(level)
    rng = np.random.default_rng(bits)
    codes = make(rng, 700, bits)
    ids = rng.permutation(700).astype(np.int64)
    flat = deephash.FlatIndex(bits)
    flat.add(codes, ids)
    q = make(rng, 5, bits)
    for name, w in weight_sets(rng, bits).items():
        d, i = flat.search(q, 25, weights=w)
        assert d.dtype == np.float32 and i.dtype == np.int64
        od, oi = oracle_knn(codes, ids, q, w, 25)
        np.testing.assert_array_equal(d, od, err_msg=name)
        np.testing.assert_array_equal(i, oi, err_msg=name)


@pytest.mark.parametrize("bits", [64, 128, 40])
def test_per_query_weights(bits):
    rng = np.random.default_rng(1)
    codes = make(rng, 900, bits)
    ids = np.arange(900, dtype=np.int64)
    flat = deephash.FlatIndex(bits)
    flat.add(codes)
    q = make(rng, 6, bits)
    w = rng.random((6, bits)).astype(np.float32)
    w[2] = 0  # one query with every bit switched off
    w[3] = (rng.random(bits) < 0.3).astype(np.float32)  # one mask
    d, i = flat.search(q, 30, weights=w)
    od, oi = oracle_knn(codes, ids, q, w, 30)
    np.testing.assert_array_equal(d, od)
    np.testing.assert_array_equal(i, oi)
    # Row r equals a search with row r's weights alone.
    for r in range(6):
        d1, i1 = flat.search(q[r : r + 1], 30, weights=w[r])
        np.testing.assert_array_equal(d1[0], d[r])
        np.testing.assert_array_equal(i1[0], i[r])


def test_unit_weights_equal_hamming():
    rng = np.random.default_rng(2)
    codes = make(rng, 2000, 64)
    flat = deephash.FlatIndex(64)
    flat.add(codes)
    q = make(rng, 8, 64)
    d0, i0 = flat.search(q, 50)
    d1, i1 = flat.search(q, 50, weights=np.ones(64, np.float32))
    np.testing.assert_array_equal(i1, i0)
    np.testing.assert_array_equal(d1, d0.astype(np.float32))


def test_zero_weights_switch_bits_off():
    rng = np.random.default_rng(3)
    codes = make(rng, 500, 64)
    flat = deephash.FlatIndex(64)
    flat.add(codes)
    q = make(rng, 4, 64)
    w = np.ones(64, np.float32)
    w[32:] = 0  # keep only the first 32 bits
    d, i = flat.search(q, 20, weights=w)
    low = deephash.FlatIndex(32)
    low.add(np.ascontiguousarray(codes[:, :4]))
    d32, i32 = low.search(np.ascontiguousarray(q[:, :4]), 20)
    np.testing.assert_array_equal(i, i32)
    np.testing.assert_array_equal(d, d32.astype(np.float32))


@pytest.mark.parametrize("level", LEVELS)
def test_range_search_matches_oracle(simd, level):
    simd(level)
    rng = np.random.default_rng(4)
    bits = 64
    codes = make(rng, 800, bits)
    flat = deephash.FlatIndex(bits)
    flat.add(codes)
    q = make(rng, 4, bits)
    w = rng.random(bits).astype(np.float32)
    dist = oracle_dist(codes, q, w)
    for radius in (0.0, 8.0, float(np.float32(dist[0, 17])), math.inf):
        lims, d, i = flat.range_search(q, radius, weights=w)
        assert lims.dtype == np.int64 and d.dtype == np.float32
        for r in range(4):
            sel = np.nonzero(dist[r] <= radius)[0]
            order = sel[np.lexsort((sel, dist[r, sel]))]
            np.testing.assert_array_equal(i[lims[r] : lims[r + 1]], order)
            np.testing.assert_array_equal(d[lims[r] : lims[r + 1]], dist[r, order].astype(np.float32))
    # Inclusive: the code at exactly the radius is returned.
    lims, _, i = flat.range_search(q[:1], float(np.float32(dist[0, 17])), weights=w)
    assert 17 in i


def test_k_larger_than_n_pads_with_inf():
    rng = np.random.default_rng(5)
    flat = deephash.FlatIndex(64)
    flat.add(make(rng, 3, 64))
    d, i = flat.search(make(rng, 2, 64), 5, weights=rng.random(64).astype(np.float32))
    assert (i[:, 3:] == -1).all() and np.isinf(d[:, 3:]).all()
    assert np.isfinite(d[:, :3]).all()


def test_multi_index_weighted_equals_flat():
    rng = np.random.default_rng(6)
    codes = make(rng, 3000, 64)
    flat = deephash.FlatIndex(64)
    mi = deephash.MultiIndex(64)
    flat.add(codes)
    mi.add(codes)
    q = make(rng, 5, 64)
    for w in (rng.random(64).astype(np.float32), rng.random((5, 64)).astype(np.float32)):
        for a, b in zip(flat.search(q, 40, weights=w), mi.search(q, 40, weights=w)):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(flat.range_search(q, 10.0, weights=w), mi.range_search(q, 10.0, weights=w)):
            np.testing.assert_array_equal(a, b)


def test_threads_agree():
    rng = np.random.default_rng(7)
    codes = make(rng, 100_000, 64)
    flat = deephash.FlatIndex(64)
    flat.add(codes)
    q = make(rng, 3, 64)
    w = rng.random(64).astype(np.float32)
    before = deephash.get_num_threads()
    try:
        out = []
        for t in (1, 2):
            deephash.set_num_threads(t)
            out.append(flat.search(q, 64, weights=w))
    finally:
        deephash.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_accepted_inputs():
    rng = np.random.default_rng(8)
    flat = deephash.FlatIndex(16)
    flat.add(make(rng, 50, 16))
    q = make(rng, 2, 16)
    w32 = rng.random(16).astype(np.float32)
    ref = flat.search(q, 5, weights=w32)
    for w in (w32.astype(np.float64), list(map(float, w32))):
        for a, b in zip(ref, flat.search(q, 5, weights=w)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "w, exc",
    [
        (-np.ones(64, np.float32), ValueError),
        (np.full(64, np.nan, np.float32), ValueError),
        (np.full(64, np.inf, np.float32), ValueError),
        (np.ones(63, np.float32), ValueError),
        (np.ones((3, 64), np.float32), ValueError),  # 2 queries
        (np.ones((2, 64, 1), np.float32), ValueError),
        (np.full(64, 1e300), ValueError),  # overflows float32
        (np.full(64, 3e38, np.float32), ValueError),  # distances would overflow
        (np.ones(64, np.int64), TypeError),
        (np.ones(64, bool), TypeError),
        ("heavy", TypeError),
    ],
)
def test_bad_weights(w, exc):
    flat = deephash.FlatIndex(64)
    flat.add(np.zeros((4, 8), np.uint8))
    q = np.zeros((2, 8), np.uint8)
    with pytest.raises(exc):
        flat.search(q, 2, weights=w)
    with pytest.raises(exc):
        flat.range_search(q, 1.0, weights=w)


def test_bad_radius():
    flat = deephash.FlatIndex(64)
    flat.add(np.zeros((4, 8), np.uint8))
    q = np.zeros((1, 8), np.uint8)
    w = np.ones(64, np.float32)
    with pytest.raises(ValueError):
        flat.range_search(q, -0.5, weights=w)
    with pytest.raises(ValueError):
        flat.range_search(q, math.nan, weights=w)
    with pytest.raises(TypeError):
        flat.range_search(q, "1", weights=w)


@settings(max_examples=30, deadline=None)
@given(
    nbytes=st.integers(1, 12),
    n=st.integers(1, 200),
    k=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e6, 1e20]),
    distinct=st.integers(1, 4),
)
def test_property_matches_oracle(nbytes, n, k, seed, scale, distinct):
    rng = np.random.default_rng(seed)
    bits = nbytes * 8
    codes = make(rng, n, bits)
    ids = rng.integers(0, max(2, n // 3), n).astype(np.int64)  # repeated ids: ties by position
    flat = deephash.FlatIndex(bits)
    flat.add(codes, ids)
    levels = (rng.random(distinct) * scale).astype(np.float32)
    w = rng.choice(levels, bits)
    q = make(rng, 2, bits)
    d, i = flat.search(q, k, weights=w)
    od, oi = oracle_knn(codes, ids, q, w, k)
    np.testing.assert_array_equal(d, od)
    np.testing.assert_array_equal(i, oi)


@pytest.mark.parametrize("level", LEVELS)
def test_radius_exactly_at_a_distance(simd, level):
    # Weights with few distinct values give exactly representable ties: a radius equal to the
    # smallest distance must return exactly the codes at that distance (inclusive bound), also
    # when every other code of their SIMD block is farther.
    simd(level)
    rng = np.random.default_rng(16)
    codes = make(rng, 2000, 64)
    flat = deephash.FlatIndex(64)
    flat.add(codes)
    for w in (rng.choice(np.array([1, 2], np.float32), 64), rng.choice(np.array([0, 0.5, 1.5], np.float32), 64)):
        q = make(rng, 6, 64)
        dist = oracle_dist(codes, q, w)
        for r in range(6):
            radius = float(dist[r].min())
            lims, d, i = flat.range_search(q[r : r + 1], radius, weights=w)
            expect = np.nonzero(dist[r] == radius)[0]
            np.testing.assert_array_equal(np.sort(i), expect)
            d1, i1 = flat.search(q[r : r + 1], 1, weights=w)
            assert d1[0, 0] == np.float32(radius) and i1[0, 0] == expect[0]


def test_float64_radius_rounds_down_to_float32():
    # Distances 1 and 1 + 2**-17 (exact in float32 and in the quantisation). A float64 radius
    # just below the second one, which float32 would round up onto it, must exclude it.
    flat = deephash.FlatIndex(8)
    flat.add(np.array([[0b1], [0b11]], dtype=np.uint8))
    q = np.zeros((1, 1), np.uint8)
    w = np.zeros(8, np.float32)
    w[0] = 1.0
    w[1] = 2.0**-17
    d, i = flat.search(q, 2, weights=w)
    assert d[0, 0] == 1.0 and d[0, 1] == np.float32(1 + 2.0**-17)
    radius = 1 + 2.0**-17 - 2.0**-30
    assert np.float32(radius) == d[0, 1]
    lims, dd, ii = flat.range_search(q, radius, weights=w)
    np.testing.assert_array_equal(ii, [0])
    lims, dd, ii = flat.range_search(q, 1 + 2.0**-17, weights=w)
    np.testing.assert_array_equal(ii, [0, 1])


def fast_oracle_knn(codes, ids, q, w, k):
    """Oracle for one query over many codes: per-byte tables of quantised units (exact sums)."""
    bits = codes.shape[1] * 8
    units, e = quantise(w, bits)
    table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(
        np.float64
    )  # (256, 8)
    d = np.zeros(codes.shape[0])
    for p in range(codes.shape[1]):
        d += (table @ units[8 * p : 8 * p + 8])[codes[:, p] ^ q[p]]
    order = np.lexsort((np.arange(len(d)), ids, d))[:k]
    return np.ldexp(d[order], e).astype(np.float32), ids[order]


@pytest.mark.parametrize("increasing_ids", [True, False])
def test_split_database_single_query(increasing_ids):
    # One query over a large index with 2 threads splits the database into parts whose
    # selections are merged (also ranking by position when ids increase).
    rng = np.random.default_rng(18)
    n = 600_000
    codes = make(rng, n, 64)
    ids = np.arange(n, dtype=np.int64) if increasing_ids else rng.permutation(n).astype(np.int64)
    flat = deephash.FlatIndex(64)
    flat.add(codes, ids)
    q = make(rng, 1, 64)
    before = deephash.get_num_threads()
    try:
        for w in (rng.random(64).astype(np.float32), (rng.random(64) < 0.4).astype(np.float32)):
            out = []
            for t in (1, 2):
                deephash.set_num_threads(t)
                out.append(flat.search(q, 50, weights=w))
            for a, b in zip(*out):
                np.testing.assert_array_equal(a, b)
            od, oi = fast_oracle_knn(codes, ids, q[0], w, 50)
            np.testing.assert_array_equal(out[0][0][0], od)
            np.testing.assert_array_equal(out[0][1][0], oi)
    finally:
        deephash.set_num_threads(before)
