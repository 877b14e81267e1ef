"""GpuFlatIndex: results identical to FlatIndex (and to NumPy oracles) on a CUDA device.

Tests marked ``cuda`` need a device and skip without one. The tests at the top of the file run
everywhere: they check what happens on machines without CUDA (clear errors, import works) and the
weight quantisation shared with the CPU weighted search (deephash/weighted.hpp).
"""

from __future__ import annotations

import numpy as np
import pytest

import deephash
from conftest import clustered_codes, knn_oracle, random_codes, range_oracle
from deephash import gpu_index

HAVE_CUDA = deephash.cuda_available()

WIDTHS = [8, 16, 24, 32, 40, 64, 72, 96, 128, 256, 512, 1024]


# --------------------------------------------------------------------------------------------
# Without a GPU (these run on every machine)
# --------------------------------------------------------------------------------------------
def test_cuda_available_is_a_bool_and_consistent():
    avail = deephash.cuda_available()
    assert isinstance(avail, bool)
    reason = gpu_index.cuda_unavailable_reason()
    assert (reason is None) == avail
    if not avail:
        assert "CUDA" in reason


def test_gpu_index_without_device_raises_clear_error():
    if HAVE_CUDA:
        index = deephash.GpuFlatIndex(64)
        assert len(index) == 0 and index.bits == 64
        return
    with pytest.raises(RuntimeError, match="GpuFlatIndex needs a CUDA GPU"):
        deephash.GpuFlatIndex(64)
    cpu = deephash.FlatIndex(64)
    cpu.add(np.zeros((3, 8), np.uint8))
    with pytest.raises(RuntimeError, match="CUDA"):
        cpu.to_gpu()


def test_build_without_cuda_extension(monkeypatch):
    # A package built without nvcc has no deephash._cuda: everything else works, the GPU index
    # says why it cannot exist.
    monkeypatch.setattr(gpu_index, "_cuda_module", lambda: None)
    assert deephash.cuda_available() is False
    assert "built without CUDA" in gpu_index.cuda_unavailable_reason()
    with pytest.raises(RuntimeError, match="built without CUDA"):
        deephash.GpuFlatIndex(64)
    index = deephash.FlatIndex(64)
    index.add(np.zeros((2, 8), np.uint8))
    assert index.search(np.zeros((1, 8), np.uint8), 1)[1].tolist() == [[0]]


def test_weights_validation():
    w = gpu_index._as_weights(np.ones(64, np.float32), 64, 5)
    assert w.shape == (1, 64) and w.dtype == np.float32
    assert gpu_index._as_weights(np.ones((5, 64)), 64, 5).shape == (5, 64)
    with pytest.raises(ValueError, match=">= 0"):
        gpu_index._as_weights(-np.ones(64, np.float32), 64, 1)
    with pytest.raises(ValueError, match="finite"):
        gpu_index._as_weights(np.full(64, np.nan, np.float32), 64, 1)
    with pytest.raises(ValueError, match="shape"):
        gpu_index._as_weights(np.ones(63, np.float32), 64, 1)
    with pytest.raises(ValueError, match="shape"):
        gpu_index._as_weights(np.ones((3, 64), np.float32), 64, 2)
    with pytest.raises(TypeError, match="float"):
        gpu_index._as_weights(np.ones(64, np.int32), 64, 1)


def quantize_oracle(w: np.ndarray, bits: int):
    """The CPU weighted search's quantisation in NumPy: (units, scale 2**e) per row."""
    w = np.atleast_2d(np.asarray(w, np.float32)).astype(np.float64)
    p = 22 - int(np.ceil(np.log2(bits)))
    q = np.zeros(w.shape, np.int64)
    scale = np.ones(w.shape[0])
    for r in range(w.shape[0]):
        mx = w[r].max()
        if mx > 0:
            e = max(int(np.frexp(mx)[1]) - p, -149)
            q[r] = np.rint(np.ldexp(w[r], -e)).astype(np.int64)
            scale[r] = np.ldexp(1.0, e)
    return q, scale


def test_weight_quantisation_matches_cpu_formula():
    cuda = pytest.importorskip("deephash._cuda", reason="built without CUDA")
    rng = np.random.default_rng(3)
    for bits in (8, 64, 72, 1024, 4096):
        w = rng.random((3, bits)).astype(np.float32) * np.array([[1.0], [1e-20], [1e20]], np.float32)
        w[0, :3] = 0
        w[0, 3] = 0.5  # a tie at half a unit for some widths: round half to even
        q, e = cuda.quantize_weights(w, bits)
        eq, escale = quantize_oracle(w, bits)
        np.testing.assert_array_equal(q, eq)
        np.testing.assert_array_equal(np.ldexp(1.0, e), escale)
        assert (q.sum(axis=1) <= 2**22).all()
    q, e = cuda.quantize_weights(np.zeros((1, 16), np.float32), 16)
    assert q.sum() == 0
    with pytest.raises(ValueError, match="too large"):
        cuda.quantize_weights(np.full((1, 64), 3e38, np.float32), 64)
    # The integer threshold is the largest total whose reported distance is <= radius.
    for e in (-30, -3, 0, 4):
        for r in (0.0, 0.5, 10.0, 1234.5678):
            s = cuda.weighted_threshold(r, e)
            r32 = float(np.float32(r))
            assert np.ldexp(float(s), e) <= r32
            assert s == 2**31 - 1 or r32 < np.ldexp(float(s + 1), e)  # capped at the int32 maximum
    assert cuda.weighted_threshold(float("inf"), 0) == 2**31 - 1


# --------------------------------------------------------------------------------------------
# On a GPU
# --------------------------------------------------------------------------------------------
def both(bits, db, ids=None):
    cpu = deephash.FlatIndex(bits)
    g = deephash.GpuFlatIndex(bits)
    cpu.add(db, ids)
    g.add(db, ids)
    return cpu, g


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.cuda
@pytest.mark.parametrize("bits", WIDTHS)
def test_knn_equals_flat_random(bits):
    rng = np.random.default_rng(bits)
    db = random_codes(rng, 3001, bits)
    q = random_codes(rng, 19, bits)
    cpu, g = both(bits, db)
    for k in (1, 7, 100, 129, 1000):
        assert_same(g.search(q, k), cpu.search(q, k))
    ed, ei = knn_oracle(q, db, np.arange(len(db)), 10)
    assert_same(g.search(q, 10), (ed, ei))


@pytest.mark.cuda
@pytest.mark.parametrize("k", [1, 2, 31, 128, 129, 512, 2048, 4096])
def test_knn_large_k(k):
    rng = np.random.default_rng(k)
    db = clustered_codes(rng, 20_000, 64, centres=20, flip=0.1)
    q = clustered_codes(rng, 5, 64, centres=20, flip=0.1)
    cpu, g = both(64, db, rng.permutation(len(db)).astype(np.int64))
    assert_same(g.search(q, k), cpu.search(q, k))


@pytest.mark.cuda
@pytest.mark.parametrize("bits", [32, 64, 128, 256, 512, 1024])
def test_knn_many_slices_and_queries(bits):
    # Enough codes and queries for many slices per query and several query tiles.
    rng = np.random.default_rng(11 + bits)
    db = clustered_codes(rng, 200_000, bits, centres=100, flip=0.15)
    q = clustered_codes(rng, 37, bits, centres=100, flip=0.15)
    cpu, g = both(bits, db)
    for k in (1, 10, 100):
        assert_same(g.search(q, k), cpu.search(q, k))


@pytest.mark.cuda
def test_single_query_large_index():
    rng = np.random.default_rng(5)
    db = random_codes(rng, 2_000_000, 64)
    cpu, g = both(64, db)
    q = random_codes(rng, 1, 64)
    for k in (1, 100, 4096):
        assert_same(g.search(q, k), cpu.search(q, k))


@pytest.mark.cuda
@pytest.mark.parametrize("bits", [8, 64, 200])
def test_knn_adversarial(bits):
    rng = np.random.default_rng(99)
    nb = bits // 8
    # All codes equal: every distance ties, order is by id then insertion.
    db = np.tile(random_codes(rng, 1, bits), (30_000, 1))
    ids = rng.integers(0, 5_000, size=len(db)).astype(np.int64)  # duplicate ids, random order
    cpu, g = both(bits, db, ids)
    q = np.concatenate([db[:1], random_codes(rng, 3, bits)])
    for k in (1, 100, 4096):
        assert_same(g.search(q, k), cpu.search(q, k))
    # k > n: padding.
    small_cpu, small_g = both(bits, random_codes(rng, 5, bits))
    d, i = small_g.search(q, 9)
    assert_same((d, i), small_cpu.search(q, 9))
    assert (i[:, 5:] == -1).all() and (d[:, 5:] == 2**31 - 1).all()
    # Empty index.
    empty = deephash.GpuFlatIndex(bits)
    d, i = empty.search(q, 3)
    assert (i == -1).all() and (d == 2**31 - 1).all()
    lims, d, i = empty.range_search(q, bits)
    assert lims.tolist() == [0] * (len(q) + 1) and len(d) == len(i) == 0
    # Zero queries.
    d, i = g.search(np.zeros((0, nb), np.uint8), 4)
    assert d.shape == (0, 4) and i.shape == (0, 4)


@pytest.mark.cuda
def test_add_remove_sequence_equals_flat():
    rng = np.random.default_rng(17)
    bits = 72
    cpu, g = deephash.FlatIndex(bits), deephash.GpuFlatIndex(bits)
    for step in range(6):
        db = clustered_codes(rng, 3000, bits, centres=8, flip=0.1)
        ids = None
        if step % 3:
            # negative ids too, but never -1: it pads missing results, and add refuses it
            ids = rng.integers(-50, 20_000, size=len(db)).astype(np.int64)
            ids[ids == -1] = -51
        cpu.add(db, ids)
        g.add(db, ids)
        rm = rng.integers(-50, 20_000, size=500)
        assert g.remove(rm) == cpu.remove(rm)
        assert len(g) == len(cpu)
        q = clustered_codes(rng, 8, bits, centres=8, flip=0.1)
        assert_same(g.search(q, 50), cpu.search(q, 50))
        assert_same(g.range_search(q, 10), cpu.range_search(q, 10))
    # Storage is in id order: a sorted, stable copy of the CPU contents.
    order = np.argsort(cpu.ids, kind="stable")
    np.testing.assert_array_equal(g.ids, cpu.ids[order])
    np.testing.assert_array_equal(g.codes, cpu.codes[order])
    assert g.remove(g.ids) == len(cpu) and len(g) == 0


@pytest.mark.cuda
@pytest.mark.parametrize("bits", WIDTHS)
def test_range_equals_flat(bits):
    rng = np.random.default_rng(100 + bits)
    db = clustered_codes(rng, 5000, bits, centres=5, flip=0.05)
    q = clustered_codes(rng, 11, bits, centres=5, flip=0.05)
    ids = rng.permutation(100_000)[:5000].astype(np.int64)
    cpu, g = both(bits, db, ids)
    for radius in (0, 1, bits // 8, bits // 2, bits):
        assert_same(g.range_search(q, radius), cpu.range_search(q, radius))
    el = range_oracle(q, db, ids, bits // 8)
    assert_same(g.range_search(q, bits // 8), el)


@pytest.mark.cuda
def test_range_all_equal_no_cap():
    db = np.full((100_000, 8), 7, np.uint8)
    cpu, g = both(64, db)
    q = db[:3]
    lims, d, i = g.range_search(q, 0)
    assert lims[-1] == 300_000
    assert_same((lims, d, i), cpu.range_search(q, 0))


def weighted_oracle(q, db, ids, w, k):
    """Expected weighted (float32 distances, ids), sorted by (integer sum, id, position)."""
    bits = db.shape[1] * 8
    qw, scale = quantize_oracle(w, bits)
    xb = np.unpackbits(db, axis=1, bitorder="little").astype(np.int64)
    xq = np.unpackbits(q, axis=1, bitorder="little").astype(np.int64)
    out_d = np.full((len(q), k), np.inf, np.float32)
    out_i = np.full((len(q), k), -1, np.int64)
    pos = np.arange(len(db))
    sums = []
    for r in range(len(q)):
        row = 0 if qw.shape[0] == 1 else r
        s = (xb ^ xq[r]) @ qw[row]
        order = np.lexsort((pos, ids, s))[:k]
        out_d[r, : len(order)] = (s[order] * scale[row]).astype(np.float32)
        out_i[r, : len(order)] = ids[order]
        sums.append((s, scale[row]))
    return out_d, out_i, sums


@pytest.mark.cuda
@pytest.mark.parametrize("bits", [8, 64, 72, 256, 1024])
def test_weighted_search(bits):
    rng = np.random.default_rng(7 + bits)
    db = clustered_codes(rng, 4000, bits, centres=10, flip=0.1)
    q = clustered_codes(rng, 9, bits, centres=10, flip=0.1)
    ids = rng.integers(0, 1000, size=len(db)).astype(np.int64)
    g = deephash.GpuFlatIndex(bits)
    g.add(db, ids)
    shared = rng.random(bits).astype(np.float32)
    per_query = rng.random((len(q), bits)).astype(np.float32)
    mask = (rng.random(bits) < 0.5).astype(np.float32)
    zeros = np.zeros(bits, np.float32)
    for w in (shared, per_query, mask, zeros):
        for k in (1, 10, 300):
            d, i = g.search(q, k, weights=w)
            ed, ei, _ = weighted_oracle(q, db, ids, w, k)
            assert d.dtype == np.float32
            np.testing.assert_array_equal(i, ei)
            np.testing.assert_array_equal(d, ed)
    # The 0/1 mask gives the Hamming distance on the kept bits, times the mask value.
    d, i = g.search(q, 5, weights=np.ones(bits, np.float32))
    cpu = deephash.FlatIndex(bits)
    cpu.add(db, ids)
    ed, ei = cpu.search(q, 5)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(d, ed.astype(np.float32))
    # Same semantics as the CPU weighted search, when this build's FlatIndex has one.
    try:
        cd, ci = cpu.search(q, 10, weights=per_query)
    except TypeError:
        return
    gd, gi = g.search(q, 10, weights=per_query)
    np.testing.assert_array_equal(gi, ci)
    np.testing.assert_array_equal(gd, cd)


@pytest.mark.cuda
def test_weighted_range_search():
    bits = 64
    rng = np.random.default_rng(23)
    db = clustered_codes(rng, 5000, bits, centres=4, flip=0.1)
    q = clustered_codes(rng, 6, bits, centres=4, flip=0.1)
    ids = np.arange(len(db), dtype=np.int64)[::-1].copy()
    g = deephash.GpuFlatIndex(bits)
    g.add(db, ids)
    for w in (rng.random(bits).astype(np.float32), rng.random((len(q), bits)).astype(np.float32)):
        for radius in (0.0, 1.5, 4.0):
            lims, d, i = g.range_search(q, radius, weights=w)
            _, _, sums = weighted_oracle(q, db, ids, w, 1)
            assert lims[0] == 0
            for r, (s, scale) in enumerate(sums):
                dist = (s * scale).astype(np.float32)
                sel = np.nonzero(dist <= np.float32(radius))[0]
                order = sel[np.lexsort((sel, ids[sel], s[sel]))]
                np.testing.assert_array_equal(i[lims[r] : lims[r + 1]], ids[order])
                np.testing.assert_array_equal(d[lims[r] : lims[r + 1]], dist[order])


@pytest.mark.cuda
def test_torch_cuda_in_torch_cuda_out():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch build has no CUDA")
    rng = np.random.default_rng(2)
    db = random_codes(rng, 10_000, 128)
    q = random_codes(rng, 7, 128)
    cpu, g = both(128, db)
    tq = torch.from_numpy(q).cuda()
    d, i = g.search(tq, 20)
    assert isinstance(d, torch.Tensor) and d.is_cuda and d.dtype == torch.int32 and i.dtype == torch.int64
    assert_same((d.cpu().numpy(), i.cpu().numpy()), cpu.search(q, 20))
    lims, rd, ri = g.range_search(tq, 50)
    assert lims.is_cuda and rd.is_cuda and ri.is_cuda
    assert_same((lims.cpu().numpy(), rd.cpu().numpy(), ri.cpu().numpy()), cpu.range_search(q, 50))
    # Codes added from the GPU without a copy to the host.
    g2 = deephash.GpuFlatIndex(128)
    g2.add(torch.from_numpy(db).cuda())
    assert_same(g2.search(q, 20), cpu.search(q, 20))
    with pytest.raises(TypeError):
        g.search(tq.to(torch.int32), 3)
    with pytest.raises(ValueError, match="contiguous"):
        g.search(torch.from_numpy(random_codes(rng, 4, 256)).cuda()[:, ::2], 3)


@pytest.mark.cuda
def test_to_gpu_to_cpu_save_load(tmp_path):
    rng = np.random.default_rng(4)
    db = random_codes(rng, 5000, 256)
    cpu = deephash.FlatIndex(256)
    cpu.add(db, rng.permutation(5000).astype(np.int64))
    g = cpu.to_gpu(0)
    q = random_codes(rng, 6, 256)
    assert_same(g.search(q, 30), cpu.search(q, 30))
    back = g.to_cpu()
    assert isinstance(back, deephash.FlatIndex)
    assert_same(back.search(q, 30), cpu.search(q, 30))
    path = tmp_path / "g.dhx"
    g.save(path)
    assert_same(deephash.load(path).search(q, 30), cpu.search(q, 30))
    g2 = deephash.GpuFlatIndex.load(path, device=0)
    assert_same(g2.search(q, 30), cpu.search(q, 30))


@pytest.mark.cuda
def test_gpu_validation():
    g = deephash.GpuFlatIndex(64)
    g.add(np.zeros((4, 8), np.uint8))
    q = np.zeros((2, 8), np.uint8)
    with pytest.raises(ValueError):
        g.search(q, 0)
    with pytest.raises(ValueError, match="<="):
        g.search(q, g.max_k + 1)
    assert g.max_k >= 4096
    with pytest.raises(TypeError):
        g.search(q.astype(np.int8), 1)
    with pytest.raises(ValueError):
        g.search(np.zeros((2, 7), np.uint8), 1)
    with pytest.raises(ValueError):
        g.search(q, 1, weights=-np.ones(64, np.float32))
    with pytest.raises(ValueError):
        g.range_search(q, -1)
    with pytest.raises(ValueError):
        deephash.GpuFlatIndex(64, device=10_000)
    with pytest.raises(ValueError):
        deephash.GpuFlatIndex(12)
