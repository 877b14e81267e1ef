"""DRSCH and DSRH end to end on the bundled digits: quality, bit-scalable codes, persistence,
determinism and input errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import deephash
import deephash.data
import deephash.methods as M
from deephash.metrics import mean_average_precision, ndcg_at_k

pytestmark = pytest.mark.usefixtures("torch_one_thread")

FAST = {"epochs": 12, "progress": False}


@pytest.fixture(scope="module")
def digits():
    return deephash.data.digits()


@pytest.fixture(scope="module")
def trained(digits):
    """One 32-bit model of each method (shared by the tests that only read them)."""
    return {cls: cls(bits=32, seed=0, **FAST).fit(digits.train_x, digits.train_y) for cls in (M.DRSCH, M.DSRH)}


def map_of(m, d, **kw):
    return float(mean_average_precision(m.encode(d.query_x, **kw), d.query_y, m.encode(d.db_x, **kw), d.db_y))


def test_registered_by_name():
    assert M.method_class("drsch") is M.DRSCH and M.method_class("DSRH") is M.DSRH
    assert M.DRSCH.supervised and M.DSRH.supervised


@pytest.mark.parametrize("cls", [M.DRSCH, M.DSRH])
def test_learns_on_digits_well_beyond_lsh(digits, trained, cls):
    lsh = M.LSH(bits=32, seed=0).fit(digits.train_x)
    got, base = map_of(trained[cls], digits), map_of(lsh, digits)
    assert got >= 0.70 and got >= base + 0.20, (got, base)


def test_drsch_weighted_retrieval_uses_the_engine(digits, trained):
    m = trained[M.DRSCH]
    w = m.bit_weights
    assert w.dtype == np.float32 and w.shape == (32,) and (w >= 0).all()
    assert w.sum() == pytest.approx(32, rel=1e-5) and w.max() > w.min()  # learned, not uniform
    q, db = m.encode(digits.query_x), m.encode(digits.db_x)
    index = deephash.FlatIndex(32)
    index.add(db)
    dist, ids = index.search(q, 5, weights=w)
    # the engine's weighted distance: the sum of the weights of the differing bits
    qb = np.unpackbits(q, axis=1, bitorder="little")[:, :32].astype(bool)
    dbb = np.unpackbits(db[ids[:, 0]], axis=1, bitorder="little")[:, :32].astype(bool)
    np.testing.assert_allclose(dist[:, 0], ((qb != dbb) * w).sum(1), rtol=1e-3, atol=1e-3)
    weighted = float(mean_average_precision(q, digits.query_y, db, digits.db_y, weights=w))
    assert weighted >= 0.70


def test_drsch_bit_scalable_codes(digits, trained):
    m = trained[M.DRSCH]
    x = digits.query_x[:50]
    w, order = m.bit_weights, m.bit_order
    assert order.dtype == np.int64 and sorted(order.tolist()) == list(range(32))
    assert (np.diff(w[order]) <= 0).all()  # heaviest first
    u = m.transform(x)
    for b in (1, 12, 24, 32):
        codes = m.encode(x, bits=b)
        assert codes.dtype == np.uint8 and codes.shape == (50, -(-b // 8))
        bits = np.unpackbits(codes, axis=1, bitorder="little")
        np.testing.assert_array_equal(bits[:, :b], u[:, order[:b]] > 0)
        assert not bits[:, b:].any()  # zero padding to whole bytes
        sw = m.search_weights(b)
        assert sw.dtype == np.float32 and sw.shape == (codes.shape[1] * 8,)
        np.testing.assert_array_equal(sw[:b], w[order[:b]])
        assert not sw[b:].any()
    np.testing.assert_array_equal(m.search_weights(), w)
    # all 32 bits reordered rank exactly like the original order
    full, perm = m.encode(x), m.encode(x, bits=32)
    a, b = deephash.FlatIndex(32), deephash.FlatIndex(32)
    a.add(full)
    b.add(perm)
    da, ia = a.search(full[:10], 50, weights=w)
    db, ib = b.search(perm[:10], 50, weights=m.search_weights(32))
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(da, db)


def test_drsch_bit_order_breaks_ties_by_bit_index(digits):
    m = M.DRSCH(bits=16, seed=0, epochs=1, progress=False).fit(digits.train_x, digits.train_y)
    with torch.no_grad():
        m._loss.logits.zero_()
        m._loss.logits[[3, 9]] = 1.0  # two heaviest, tied
    np.testing.assert_array_equal(m.bit_order, [3, 9, 0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15])


def test_drsch_encode_bits_errors(digits, trained):
    m = trained[M.DRSCH]
    x = digits.query_x[:3]
    for bad in (33, 48, 0, -1):
        with pytest.raises(ValueError, match="trained length 32"):
            m.encode(x, bits=bad)
        with pytest.raises(ValueError, match="trained length 32"):
            m.search_weights(bad)
    for bad in (12.0, "12", True):
        with pytest.raises(TypeError, match="bits must be an int"):
            m.encode(x, bits=bad)
    with pytest.raises(RuntimeError, match="not fitted"):
        _ = M.DRSCH(bits=8).bit_weights


@pytest.mark.parametrize("cls", [M.DRSCH, M.DSRH])
def test_save_load_gives_identical_codes(digits, trained, tmp_path, cls):
    m = trained[cls]
    path = tmp_path / "model.dh"
    m.save(path)
    loaded = M.load(path)
    assert type(loaded) is cls and loaded.params == m.params
    np.testing.assert_array_equal(loaded.encode(digits.query_x), m.encode(digits.query_x))
    if cls is M.DRSCH:
        np.testing.assert_array_equal(loaded.bit_weights, m.bit_weights)
        np.testing.assert_array_equal(loaded.encode(digits.query_x, bits=12), m.encode(digits.query_x, bits=12))


@pytest.mark.parametrize("cls", [M.DRSCH, M.DSRH])
def test_same_seed_same_codes_other_seed_other_codes(digits, cls):
    state = torch.get_rng_state()
    x, y, q = digits.train_x, digits.train_y, digits.query_x

    def run(seed):
        m = cls(bits=16, seed=seed, epochs=2, progress=False).fit(x, y)
        return m.encode(q), getattr(m, "bit_weights", None)

    (a, wa), (b, wb), (c, _) = run(5), run(5), run(6)
    np.testing.assert_array_equal(a, b)
    if wa is not None:
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a, c)
    assert torch.equal(state, torch.get_rng_state())  # the global torch RNG is left alone


def test_dsrh_ranks_multi_label_mosaics(digits):
    mo = deephash.data.digits_mosaics()
    m = M.DSRH(bits=32, seed=0, **FAST).fit(mo.train_x, mo.train_y)
    lsh = M.LSH(bits=32, seed=0).fit(mo.train_x)

    def ndcg(model):
        return float(ndcg_at_k(model.encode(mo.query_x), mo.query_y, model.encode(mo.db_x), mo.db_y, k=100))

    assert ndcg(m) > ndcg(lsh) + 0.1, (ndcg(m), ndcg(lsh))


@pytest.mark.parametrize("cls", [M.DRSCH, M.DSRH])
def test_bad_labels_raise(digits, cls):
    x, y = digits.train_x[:40], digits.train_y[:40]
    m = cls(bits=8, seed=0, epochs=1, progress=False)
    with pytest.raises(ValueError, match="one entry per input"):
        m.fit(x, y[:30])
    with pytest.raises(ValueError, match=r"class ids \(n,\) or multi-hot"):
        m.fit(x, y[:, None, None])
    with pytest.raises(ValueError, match="required"):
        m.fit(x)
    with pytest.raises(TypeError, match="integer class ids"):
        m.fit(x, y + 0.5)
    # nothing to rank: one class; multi-hot rows all identical
    with pytest.raises(ValueError, match="nothing to rank"):
        m.fit(x, np.zeros(40, dtype=np.int64))
    with pytest.raises(ValueError, match="nothing to rank"):
        m.fit(x, np.tile(np.array([[1, 1, 0]], dtype=np.uint8), (40, 1)))
