"""MultiIndex (multi-index hashing) returns exactly what FlatIndex returns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deephash
from conftest import clustered_codes as _clustered
from conftest import random_codes
from deephash import _core

WIDTHS = [32, 64, 72, 128, 256]


def clustered_codes(rng, n, bits):
    return _clustered(rng, n, bits, centres=20, flip=0.08)


def adversarial_codes(rng, n, bits):
    """Few distinct codes, many exact duplicates and ties."""
    base = random_codes(rng, 5, bits)
    return np.ascontiguousarray(base[rng.integers(0, 5, n)])


DATA = {
    "random": random_codes,
    "clustered": clustered_codes,
    "duplicates": adversarial_codes,
    "all_equal": lambda rng, n, bits: np.repeat(random_codes(rng, 1, bits), n, axis=0),
}


def pair(bits, codes, ids=None, m=None, strategy="hashing"):
    flat = deephash.FlatIndex(bits)
    mi = deephash.MultiIndex(bits, m)
    mi.strategy = strategy
    flat.add(codes, ids)
    mi.add(codes, ids)
    return flat, mi


def assert_same(flat, mi, queries, ks=(1, 7, 40), radii=None):
    for k in ks:
        d1, i1 = flat.search(queries, k)
        d2, i2 = mi.search(queries, k)
        np.testing.assert_array_equal(d2, d1)
        np.testing.assert_array_equal(i2, i1)
    bits = flat.bits
    for r in radii if radii is not None else (0, 2, bits // 6):
        a = flat.range_search(queries, r)
        b = mi.range_search(queries, r)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(y, x)


def queries_for(rng, codes, bits, nq=24):
    """Half near stored codes (a few flipped bits), half random."""
    near = codes[rng.integers(0, codes.shape[0], nq // 2)].copy()
    near[:, 0] ^= np.uint8(1 << 3)
    return np.ascontiguousarray(np.concatenate([near, random_codes(rng, nq - nq // 2, bits)]))


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("kind", sorted(DATA))
def test_equals_flat(bits, kind, level):
    rng = np.random.default_rng(bits * 7 + len(kind))
    codes = DATA[kind](rng, 1500, bits)
    flat, mi = pair(bits, codes)
    q = queries_for(rng, codes, bits)
    assert_same(flat, mi, q)
    # The hashing path answered (no silent fallback to the scan in forced mode).
    assert mi.stats().hashed_queries > 0
    assert mi.m == _core.MultiIndex.auto_m(bits, len(mi))


@pytest.mark.parametrize("strategy", ["auto", "linear", "hashing"])
def test_strategies_agree(strategy, level):
    rng = np.random.default_rng(3)
    codes = clustered_codes(rng, 4000, 64)
    flat, mi = pair(64, codes, strategy=strategy)
    assert_same(flat, mi, queries_for(rng, codes, 64))
    stats = mi.stats()
    if strategy == "linear":
        assert stats.hashed_queries == 0
    if strategy == "hashing":
        assert stats.hashed_queries > 0


@pytest.mark.parametrize("m", [2, 3, 5, 8, 64])
def test_fixed_m(m, level):
    rng = np.random.default_rng(m)
    codes = clustered_codes(rng, 1000, 64)
    flat, mi = pair(64, codes, m=m)
    assert mi.m == m
    assert_same(flat, mi, queries_for(rng, codes, 64, 12), ks=(1, 10))


def test_uneven_substrings_and_wide_codes(level):
    # 72 = 5 substrings of 15/15/14/14/14 bits; 256 bits with m=9 gives 29/28-bit substrings
    # (hashed tables).
    rng = np.random.default_rng(11)
    for bits, m in ((72, 5), (256, 9), (40, 3)):
        codes = clustered_codes(rng, 1200, bits)
        flat, mi = pair(bits, codes, m=m)
        assert_same(flat, mi, queries_for(rng, codes, bits, 16), ks=(1, 25))


def test_adds_and_removes_between_searches(level):
    rng = np.random.default_rng(5)
    bits = 64
    flat, mi = deephash.FlatIndex(bits), deephash.MultiIndex(bits)
    mi.strategy = "hashing"
    next_id = 0
    for step in range(6):
        n = [3000, 40, 700, 1, 2500, 90][step]
        codes = clustered_codes(rng, n, bits)
        ids = np.arange(next_id, next_id + n, dtype=np.int64)
        if step == 3:
            ids = np.array([7], dtype=np.int64)  # a duplicate id
        next_id += n
        flat.add(codes, ids)
        mi.add(codes, ids)
        drop = rng.choice(next_id, size=max(1, n // 5), replace=False)
        assert mi.remove(drop) == flat.remove(drop)
        assert len(mi) == len(flat)
        np.testing.assert_array_equal(mi.ids, flat.ids)
        q = queries_for(rng, np.asarray(flat.codes), bits, 16)
        assert_same(flat, mi, q, ks=(1, 12), radii=(0, 9))
    # The tail (codes added since the last table build) was exercised.
    assert mi.stats().indexed <= len(mi)


def test_remove_everything_then_add():
    rng = np.random.default_rng(6)
    codes = random_codes(rng, 500, 64)
    flat, mi = pair(64, codes)
    assert mi.remove(np.arange(500)) == 500
    flat.remove(np.arange(500))
    d, i = mi.search(codes[:3], 5)
    assert (i == -1).all() and (d == 2**31 - 1).all()
    more = random_codes(rng, 300, 64)
    flat.add(more)
    mi.add(more)
    assert_same(flat, mi, more[:10], ks=(3,))


def test_m_retunes_as_index_grows():
    rng = np.random.default_rng(8)
    mi = deephash.MultiIndex(64)
    mi.add(random_codes(rng, 200, 64))
    small_m = mi.m
    mi.add(random_codes(rng, 150_000, 64))
    assert small_m == _core.MultiIndex.auto_m(64, 200)
    assert mi.m == _core.MultiIndex.auto_m(64, len(mi))
    assert mi.m < small_m


def test_k_larger_than_n_and_empty():
    rng = np.random.default_rng(9)
    empty = deephash.MultiIndex(64)
    d, i = empty.search(random_codes(rng, 2, 64), 4)
    assert (i == -1).all() and (d == 2**31 - 1).all()
    lims, _, _ = empty.range_search(random_codes(rng, 2, 64), 10)
    np.testing.assert_array_equal(lims, [0, 0, 0])
    codes = random_codes(rng, 30, 64)
    flat, mi = pair(64, codes)
    assert_same(flat, mi, codes[:5], ks=(29, 30, 31, 100), radii=(64,))


@pytest.mark.parametrize("mmap", [False, True])
def test_save_load(tmp_path, mmap):
    rng = np.random.default_rng(10)
    codes = clustered_codes(rng, 2000, 72)
    ids = rng.permutation(10**6)[:2000].astype(np.int64)
    flat, mi = pair(72, codes, ids, m=4)
    path = tmp_path / "mi.dh"
    mi.save(path)
    back = deephash.load(path, mmap=mmap)
    assert isinstance(back, deephash.MultiIndex)
    assert len(back) == 2000 and back.bits == 72 and back.m == 4
    back.strategy = "hashing"
    assert_same(flat, back, queries_for(rng, codes, 72, 12), ks=(1, 9))
    # Still dynamic after loading.
    more = clustered_codes(rng, 100, 72)
    back.add(more)
    flat.add(more)
    back.remove(ids[:50])
    flat.remove(ids[:50])
    assert_same(flat, back, more[:8], ks=(5,))


def test_auto_m_saved_as_automatic(tmp_path):
    rng = np.random.default_rng(12)
    mi = deephash.MultiIndex(64)
    mi.add(random_codes(rng, 3000, 64))
    mi.save(tmp_path / "a.dh")
    back = deephash.load(tmp_path / "a.dh")
    assert back.m == mi.m and back._impl.fixed_m == 0


def test_threads_agree():
    rng = np.random.default_rng(13)
    codes = clustered_codes(rng, 5000, 64)
    flat, mi = pair(64, codes, strategy="auto")
    q = queries_for(rng, codes, 64, 40)
    before = deephash.get_num_threads()
    try:
        results = []
        for t in (1, 2):
            deephash.set_num_threads(t)
            results.append(mi.search(q, 10) + mi.range_search(q, 6))
    finally:
        deephash.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert_same(flat, mi, q, ks=(10,), radii=(6,))


def test_fallback_on_uniform_data_is_exact(level):
    # Uniformly random codes with a large k: hashing is hopeless, the scan answers.
    rng = np.random.default_rng(14)
    codes = random_codes(rng, 60_000, 64)
    flat, mi = pair(64, codes, strategy="auto")
    q = random_codes(rng, 30, 64)
    assert_same(flat, mi, q, ks=(500,), radii=(20,))
    assert mi.stats().linear_queries > 0


@pytest.mark.parametrize("bits, n", [(64, 200_000), (64, 1_000_000), (128, 100_000), (256, 500_000)])
def test_memory_within_3x_flat(bits, n):
    rng = np.random.default_rng(15)
    codes = random_codes(rng, n, bits)
    flat, mi = pair(bits, codes)
    assert mi.memory_bytes() <= 3 * flat.memory_bytes()


def test_validation():
    with pytest.raises(ValueError, match="m must be in"):
        deephash.MultiIndex(64, m=1)  # 64-bit substrings: longer than 32 bits
    with pytest.raises(ValueError, match="m must be in"):
        deephash.MultiIndex(64, m=65)
    with pytest.raises(TypeError):
        deephash.MultiIndex(64, m=2.5)
    with pytest.raises(ValueError):
        deephash.MultiIndex(60)
    mi = deephash.MultiIndex(64)
    with pytest.raises(TypeError):
        mi.add(np.zeros((3, 8), dtype=np.int32))
    with pytest.raises(ValueError):
        mi.add(np.zeros((3, 7), dtype=np.uint8))
    with pytest.raises(ValueError):
        mi.search(np.zeros((1, 8), dtype=np.uint8), 0)
    with pytest.raises(ValueError):
        mi.range_search(np.zeros((1, 8), dtype=np.uint8), -1)
    with pytest.raises(ValueError):
        mi.strategy = "fast"
    assert repr(mi) == "MultiIndex(bits=64, n=0)"


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    nbits=st.sampled_from([8, 16, 24, 64]),
    m=st.integers(1, 8),
    k=st.integers(1, 40),
    radius=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
    levels=st.integers(1, 4),
)
def test_property_equals_flat(n, nbits, m, k, radius, seed, levels):
    # Codes with few distinct bit patterns (bits drawn from a small pool) give many ties.
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2, (levels, nbits), dtype=np.uint8)
    bits_arr = pool[rng.integers(0, levels, n)] ^ (rng.random((n, nbits)) < 0.05)
    codes = np.packbits(bits_arr, axis=1, bitorder="little")
    ids = rng.integers(0, max(2, n // 2), n).astype(np.int64)  # repeated ids
    m = max(m, -(-nbits // 32))
    m = min(m, nbits)
    flat, mi = pair(nbits, codes, ids, m=m)
    q = np.ascontiguousarray(codes[rng.integers(0, n, 3)])
    assert_same(flat, mi, q, ks=(k,), radii=(radius,))


def test_concurrent_searches_from_threads():
    # The GIL is released during searches: answers from several Python threads at once equal
    # the sequential ones.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(17)
    codes = clustered_codes(rng, 20_000, 64)
    mi = deephash.MultiIndex(64)
    mi.add(codes)
    qs = [queries_for(rng, codes, 64, 8) for _ in range(8)]
    expected = [mi.search(q, 10) + mi.range_search(q, 5) for q in qs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: mi.search(q, 10) + mi.range_search(q, 5), qs))
    for e, g in zip(expected, got):
        for a, b in zip(e, g):
            np.testing.assert_array_equal(a, b)
