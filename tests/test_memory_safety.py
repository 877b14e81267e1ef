"""Memory safety under ordinary use: adding from the index's own views, views that outlive
mutations (copy-on-write snapshots), the limits on bits, threads and result size."""

import struct

import deephash
import numpy as np
import pytest
from conftest import clustered_codes, knn_oracle, random_codes
from deephash import _core

KINDS = ["flat", "multi", "flat-mmap", "multi-mmap"]


def make_index(kind, codes, tmp_path, ids=None):
    """An index of `kind` holding codes (and ids); '-mmap' kinds are saved and loaded mapped."""
    cls = deephash.MultiIndex if kind.startswith("multi") else deephash.FlatIndex
    index = cls(codes.shape[1] * 8)
    index.add(codes, ids)
    if kind.endswith("mmap"):
        path = tmp_path / "index.dhx"
        index.save(path)
        index = deephash.load(path, mmap=True)
    return index


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1000, 100_000])
def test_add_from_own_codes_view(kind, n, tmp_path):
    rng = np.random.default_rng(1)
    codes = random_codes(rng, n, 64)
    index = make_index(kind, codes, tmp_path)
    half = n // 2
    index.add(index.codes[:half])  # the storage grows while the source is read
    expected = np.concatenate([codes, codes[:half]])
    np.testing.assert_array_equal(index.codes, expected)
    np.testing.assert_array_equal(index.ids, np.arange(n + half))
    d, i = index.search(codes[:3], 2)
    np.testing.assert_array_equal(d[:, 0], 0)
    np.testing.assert_array_equal(i, [[0, n], [1, n + 1], [2, n + 2]])


@pytest.mark.parametrize("kind", KINDS)
def test_add_with_own_ids_view(kind, tmp_path):
    rng = np.random.default_rng(2)
    n = 50_000
    codes = random_codes(rng, n, 64)
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    index = make_index(kind, codes, tmp_path, ids)
    more = random_codes(rng, n, 64)
    index.add(more, index.ids[:n])  # ids read from the storage that grows
    np.testing.assert_array_equal(index.ids, np.concatenate([ids, ids]))
    np.testing.assert_array_equal(index.codes, np.concatenate([codes, more]))


@pytest.mark.parametrize("kind", KINDS)
def test_views_are_snapshots(kind, tmp_path):
    rng = np.random.default_rng(3)
    codes = clustered_codes(rng, 20_000, 64)
    index = make_index(kind, codes, tmp_path)
    v_codes, v_ids = index.codes, index.ids
    first_row = index.codes[0]
    before_codes, before_ids = v_codes.copy(), v_ids.copy()
    for _ in range(3):  # reallocating adds (and the unmapping of a loaded file)
        index.add(random_codes(rng, 30_000, 64))
    mid_ids = index.ids
    mid = mid_ids.copy()
    assert index.remove(np.arange(0, len(mid), 3)) > 0  # compaction while views are alive
    index.add(random_codes(rng, 10, 64))
    np.testing.assert_array_equal(v_codes, before_codes)
    np.testing.assert_array_equal(v_ids, before_ids)
    np.testing.assert_array_equal(first_row, codes[0])
    np.testing.assert_array_equal(mid_ids, mid)
    assert len(index) == len(mid) - len(np.arange(0, len(mid), 3)) + 10
    assert not v_codes.flags.writeable and not v_ids.flags.writeable
    with pytest.raises(ValueError):
        v_codes.flags.writeable = True


def test_remove_by_own_ids_view_and_view_after_clear(tmp_path):
    rng = np.random.default_rng(4)
    codes = random_codes(rng, 5000, 64)
    for kind in KINDS:
        index = make_index(kind, codes, tmp_path)
        view = index.ids
        assert index.remove(index.ids[:2500]) == 2500
        np.testing.assert_array_equal(index.ids, np.arange(2500, 5000))
        np.testing.assert_array_equal(view, np.arange(5000))
        assert index.remove(index.ids) == 2500
        assert len(index) == 0 and index.codes.shape == (0, 8)
        np.testing.assert_array_equal(view, np.arange(5000))


def test_remove_without_views_compacts_in_place():
    # No live view: remove keeps the buffer (memory does not double).
    rng = np.random.default_rng(5)
    index = deephash.FlatIndex(64)
    index.add(random_codes(rng, 10_000, 64))
    before = index.memory_bytes()
    index.remove(np.arange(0, 10_000, 2))
    assert index.memory_bytes() == before
    view = index.ids
    index.remove(np.arange(1, 10_000, 4))
    assert index.memory_bytes() < before  # a view was alive: the kept entries moved out
    assert len(view) == 5000


# -- limits --------------------------------------------------------------------------------


def test_bits_limit_in_constructors():
    assert _core.MAX_BITS == 8192
    for cls in (deephash.FlatIndex, deephash.MultiIndex):
        cls(_core.MAX_BITS)
        with pytest.raises(ValueError, match="8192"):
            cls(_core.MAX_BITS + 8)
        with pytest.raises(ValueError, match="8192"):
            cls(2**18)


def test_multi_index_at_max_bits_adds_fast():
    index = deephash.MultiIndex(_core.MAX_BITS)
    code = np.zeros((1, _core.MAX_BITS // 8), np.uint8)
    index.add(code)  # choosing m is linear in bits
    d, i = index.search(code, 2)
    assert d[0, 0] == 0 and i[0, 0] == 0 and i[0, 1] == -1
    assert _core.MultiIndex.auto_m(_core.MAX_BITS, 10**9) >= _core.MAX_BITS // 32


_M64 = 2**64 - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M64


def _checksum64(data: bytes, seed: int = 0) -> int:
    """Python port of deephash::checksum64 (cpp/src/index_io.cpp), to craft headers."""
    p1, p2 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F
    n = len(data)

    def rd(i):
        return int.from_bytes(data[i : i + 8], "little")

    h = [(seed + p1 + p2) & _M64, (seed + p2) & _M64, seed & _M64, (seed - p1) & _M64]
    i = 0
    while i + 32 <= n:
        for lane in range(4):
            h[lane] = (_rotl((h[lane] + rd(i + 8 * lane) * p2) & _M64, 31) * p1) & _M64
        i += 32
    acc = (_rotl(h[0], 1) + _rotl(h[1], 7) + _rotl(h[2], 12) + _rotl(h[3], 18)) & _M64
    while i + 8 <= n:
        acc = (_rotl(acc ^ ((rd(i) * p2) & _M64), 27) * p1 + p2) & _M64
        i += 8
    while i < n:
        acc = (_rotl(acc ^ ((data[i] * p1) & _M64), 11) * p2) & _M64
        i += 1
    acc ^= n
    acc ^= acc >> 33
    acc = (acc * p2) & _M64
    acc ^= acc >> 29
    acc = (acc * p1) & _M64
    acc ^= acc >> 32
    return acc


@pytest.mark.parametrize("cls", [deephash.FlatIndex, deephash.MultiIndex])
def test_loader_refuses_huge_bits(cls, tmp_path):
    path = tmp_path / "empty.dhx"
    cls(64).save(path)
    header = bytearray(path.read_bytes())
    assert len(header) == 128
    assert struct.unpack_from("<Q", header, 120)[0] == _checksum64(bytes(header[:120]))
    struct.pack_into("<Q", header, 16, 2**18)  # bits; count 0 keeps the layout valid
    struct.pack_into("<Q", header, 120, _checksum64(bytes(header[:120])))
    path.write_bytes(bytes(header))
    with pytest.raises(ValueError, match="code length 262144"):
        deephash.load(path)


def test_set_num_threads_bounds():
    previous = deephash.get_num_threads()
    try:
        with pytest.raises(TypeError):
            deephash.set_num_threads(True)
        with pytest.raises(TypeError):
            deephash.set_num_threads(2.0)
        with pytest.raises(ValueError, match="1024"):
            deephash.set_num_threads(10**6)
        deephash.set_num_threads(_core.MAX_THREADS)
        assert deephash.get_num_threads() == _core.MAX_THREADS
        _core.set_num_threads(10**6)  # the core caps it too
        assert deephash.get_num_threads() == _core.MAX_THREADS
    finally:
        deephash.set_num_threads(previous)


@pytest.mark.parametrize("kind", ["flat", "multi"])
def test_output_size_limit(kind, tmp_path):
    index = make_index(kind, random_codes(np.random.default_rng(6), 1000, 64), tmp_path)
    q = index.codes[:3].copy()
    with pytest.raises(ValueError, match="at most 268435456"):
        index.search(q, 2**31 - 1)
    with pytest.raises(ValueError, match="at most 268435456"):
        index.search(q, 2**31 - 1, weights=np.ones(64, np.float32))


@pytest.mark.parametrize("kind", ["flat", "multi"])
def test_large_k_is_padded(kind, tmp_path):
    rng = np.random.default_rng(7)
    codes = random_codes(rng, 50, 64)
    index = make_index(kind, codes, tmp_path)
    q = random_codes(rng, 3, 64)
    k = 200_000
    d, i = index.search(q, k)
    ed, ei = knn_oracle(q, codes, np.arange(50), 50)
    assert d.shape == (3, k) and i.shape == (3, k)
    np.testing.assert_array_equal(d[:, :50], ed)
    np.testing.assert_array_equal(i[:, :50], ei)
    assert (d[:, 50:] == 2**31 - 1).all() and (i[:, 50:] == -1).all()
    wd, wi = index.search(q, k, weights=np.ones(64, np.float32))
    np.testing.assert_array_equal(wd[:, :50], ed.astype(np.float32))
    np.testing.assert_array_equal(wi[:, :50], ei)
    assert np.isinf(wd[:, 50:]).all() and (wi[:, 50:] == -1).all()
    empty = type(index)(64)
    d, i = empty.search(q, 5, weights=np.ones(64, np.float32))
    assert np.isinf(d).all() and (i == -1).all()
