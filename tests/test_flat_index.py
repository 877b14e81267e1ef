"""FlatIndex against the NumPy oracle at every SIMD level, with 1 and 2 threads."""

import numpy as np
import pytest

import deephash
from conftest import clustered_codes, knn_oracle, random_codes, range_oracle

WIDTHS = [8, 16, 24, 32, 40, 64, 72, 128, 256, 512, 1024]


@pytest.mark.parametrize("bits", WIDTHS)
def test_knn_matches_oracle(bits, level, threads):
    rng = np.random.default_rng(bits)
    db = random_codes(rng, 1037, bits)  # odd count: vector tails
    q = random_codes(rng, 9, bits)
    index = deephash.FlatIndex(bits)
    index.add(db)
    for k in (1, 7, 100):
        d, i = index.search(q, k)
        ed, ei = knn_oracle(q, db, np.arange(len(db)), k)
        assert d.dtype == np.int32 and i.dtype == np.int64 and d.shape == (9, k)
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(i, ei)


@pytest.mark.parametrize("bits", WIDTHS)
def test_range_matches_oracle(bits, level, threads):
    rng = np.random.default_rng(100 + bits)
    db = clustered_codes(rng, 800, bits, centres=5, flip=0.05)
    q = clustered_codes(rng, 6, bits, centres=5, flip=0.05)
    ids = rng.permutation(10_000)[:800].astype(np.int64)
    index = deephash.FlatIndex(bits)
    index.add(db, ids)
    for radius in (0, 1, bits // 8, bits // 2):
        lims, d, i = index.range_search(q, radius)
        el, ed, ei = range_oracle(q, db, ids, radius)
        np.testing.assert_array_equal(lims, el)
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(i, ei)


def test_large_index_split_across_threads_matches_single_thread(level):
    # One query over many codes: the database is split between threads and merged.
    rng = np.random.default_rng(7)
    db = clustered_codes(rng, 300_000, 64, centres=50, flip=0.1)
    q = db[:3].copy()
    index = deephash.FlatIndex(64)
    index.add(db, rng.permutation(len(db)).astype(np.int64))
    deephash.set_num_threads(1)
    try:
        d1, i1 = index.search(q, 50)
        l1 = index.range_search(q, 6)
        deephash.set_num_threads(2)
        d2, i2 = index.search(q, 50)
        l2 = index.range_search(q, 6)
    finally:
        deephash.set_num_threads(0)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(i1, i2)
    for a, b in zip(l1, l2):
        np.testing.assert_array_equal(a, b)
    ed, ei = knn_oracle(q, index.codes, index.ids, 50)
    np.testing.assert_array_equal(d1, ed)
    np.testing.assert_array_equal(i1, ei)


def test_all_codes_equal_ties_broken_by_id(level, threads):
    db = np.full((500, 8), 0xA5, dtype=np.uint8)
    ids = np.arange(500, 0, -1, dtype=np.int64) * 3  # decreasing: not scan order
    index = deephash.FlatIndex(64)
    index.add(db, ids)
    d, i = index.search(db[:2], 10)
    assert (d == 0).all()
    np.testing.assert_array_equal(i[0], np.sort(ids)[:10])


def test_many_ties_small_alphabet(level, threads):
    rng = np.random.default_rng(3)
    db = (rng.integers(0, 4, size=(3000, 4)) * 0x11).astype(np.uint8)
    index = deephash.FlatIndex(32)
    index.add(db)
    q = db[:5]
    d, i = index.search(q, 200)
    ed, ei = knn_oracle(q, db, np.arange(3000), 200)
    np.testing.assert_array_equal(d, ed)
    np.testing.assert_array_equal(i, ei)


def test_k_larger_than_n_pads_with_minus_one():
    index = deephash.FlatIndex(16)
    index.add(np.array([[1, 0], [3, 0]], dtype=np.uint8))
    d, i = index.search(np.array([[0, 0]], dtype=np.uint8), 4)
    np.testing.assert_array_equal(i, [[0, 1, -1, -1]])
    np.testing.assert_array_equal(d, [[1, 2, 2**31 - 1, 2**31 - 1]])


def test_empty_index():
    index = deephash.FlatIndex(64)
    d, i = index.search(np.zeros((3, 8), np.uint8), 5)
    assert (i == -1).all() and d.shape == (3, 5)
    lims, dd, ii = index.range_search(np.zeros((3, 8), np.uint8), 64)
    np.testing.assert_array_equal(lims, [0, 0, 0, 0])
    assert dd.size == 0 and ii.size == 0


def test_zero_queries():
    index = deephash.FlatIndex(64)
    index.add(np.zeros((4, 8), np.uint8))
    d, i = index.search(np.zeros((0, 8), np.uint8), 3)
    assert d.shape == (0, 3) and i.shape == (0, 3)


def test_duplicate_ids_are_kept_and_ordered_by_insertion():
    index = deephash.FlatIndex(8)
    index.add(np.array([[1], [1], [0]], dtype=np.uint8), np.array([5, 5, 5]))
    assert len(index) == 3
    d, i = index.search(np.array([[0]], np.uint8), 3)
    np.testing.assert_array_equal(d, [[0, 1, 1]])
    np.testing.assert_array_equal(i, [[5, 5, 5]])
    assert index.remove([5]) == 3 and len(index) == 0


def test_default_ids_continue_from_count_and_remove():
    rng = np.random.default_rng(11)
    db = random_codes(rng, 100, 64)
    index = deephash.FlatIndex(64)
    index.add(db[:60])
    index.add(db[60:])
    np.testing.assert_array_equal(index.ids, np.arange(100))
    assert index.remove(np.array([3, 50, 99, 1000])) == 3
    assert len(index) == 97
    d, i = index.search(db, 1)
    assert set(i[:, 0]) == set(range(100)) - {3, 50, 99}
    keep = np.setdiff1d(np.arange(100), [3, 50, 99])
    ed, ei = knn_oracle(db, db[keep], keep, 5)
    d5, i5 = index.search(db, 5)
    np.testing.assert_array_equal(d5, ed)
    np.testing.assert_array_equal(i5, ei)


def test_memory_is_codes_plus_ids():
    n = 200_000
    index = deephash.FlatIndex(64)
    index.add(np.zeros((n, 8), np.uint8))
    assert index.memory_bytes() <= 1.05 * (n * 8 + 8 * n)
    for _ in range(20):  # many small batches: growth stays bounded too
        index.add(np.zeros((1000, 8), np.uint8))
    assert index.memory_bytes() <= 1.05 * (len(index) * 16)


def test_results_identical_across_levels():
    from conftest import SUPPORTED_LEVELS, simd_level

    rng = np.random.default_rng(5)
    for bits in (64, 256, 72):
        db = clustered_codes(rng, 5000, bits)
        q = clustered_codes(rng, 20, bits)
        index = deephash.FlatIndex(bits)
        index.add(db)
        results = []
        for lv in SUPPORTED_LEVELS:
            with simd_level(lv):
                results.append(index.search(q, 30))
        for r in results[1:]:
            np.testing.assert_array_equal(r[0], results[0][0])
            np.testing.assert_array_equal(r[1], results[0][1])


def test_simd_level_and_threads_api():
    assert deephash.simd_level() in ("scalar", "avx2", "avx512")
    deephash.set_num_threads(3)
    assert deephash.get_num_threads() == 3
    deephash.set_num_threads(0)
    assert deephash.get_num_threads() >= 1


@pytest.mark.parametrize("shuffled_ids", [False, True])
def test_whole_ranking_large_k(shuffled_ids, threads):
    # k above the buffer size that switches write-out to the counting sort by distance.
    rng = np.random.default_rng(17)
    db = clustered_codes(rng, 6000, 32, centres=4, flip=0.2)
    ids = rng.permutation(6000).astype(np.int64) if shuffled_ids else np.arange(6000)
    index = deephash.FlatIndex(32)
    index.add(db, ids)
    q = db[:3]
    d, i = index.search(q, 6100)
    ed, ei = knn_oracle(q, db, ids, 6100)
    np.testing.assert_array_equal(d, ed)
    np.testing.assert_array_equal(i, ei)
