"""Hashing methods end to end on sklearn's digits: quality, persistence, determinism, errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

import deephash  # noqa: E402
import deephash.methods as M  # noqa: E402


def hamming_map(q_codes, q_labels, db_codes, db_labels):
    """mAP over the whole ranking, ranking by (Hamming distance, database position)."""
    qb = np.unpackbits(q_codes, axis=1).astype(np.int16)
    db = np.unpackbits(db_codes, axis=1).astype(np.int16)
    dist = qb.sum(1)[:, None] + db.sum(1)[None, :] - 2 * qb @ db.T
    aps = []
    for i in range(len(q_codes)):
        order = np.argsort(dist[i], kind="stable")
        rel = (db_labels[order] == q_labels[i]).astype(np.float64)
        if rel.sum() == 0:
            aps.append(0.0)
            continue
        hits = np.cumsum(rel)
        aps.append(float((hits / np.arange(1, rel.size + 1) * rel).sum() / rel.sum()))
    return float(np.mean(aps))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny networks: one thread avoids oversubscription on a shared CI machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits():
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm].astype(np.float32), y[perm]
    return x[300:], y[300:], x[:300], y[:300]


FAST = dict(epochs=15, progress=False)


def test_map_helper_on_a_known_case():
    codes = deephash.pack_bits(np.array([[1] * 8, [0] * 8, [1] * 7 + [0]], dtype=np.uint8))
    q = codes[:1]
    # ranking: id 0 (d=0, relevant), id 2 (d=1, irrelevant), id 1 (d=8, relevant) -> AP = (1 + 2/3) / 2
    assert hamming_map(q, np.array([0]), codes, np.array([0, 0, 1])) == pytest.approx(5 / 6)


def test_dpsh_beats_lsh_on_digits(digits):
    xt, yt, xq, yq = digits
    for bits in (16, 32):
        lsh = M.LSH(bits=bits, seed=0).fit(xt)
        dpsh = M.DPSH(bits=bits, seed=0, progress=False).fit(xt, yt)  # default 50 epochs
        m_lsh = hamming_map(lsh.encode(xq), yq, lsh.encode(xt), yt)
        m_dpsh = hamming_map(dpsh.encode(xq), yq, dpsh.encode(xt), yt)
        assert m_dpsh > m_lsh + 0.25, (bits, m_dpsh, m_lsh)
        assert m_dpsh > 0.8


@pytest.mark.parametrize("cls", [M.DSH, M.DHN])
def test_dsh_dhn_learn_on_digits(digits, cls):
    xt, yt, xq, yq = digits
    m = cls(bits=32, seed=0, **FAST).fit(xt, yt)
    lsh = M.LSH(bits=32, seed=0).fit(xt)
    assert hamming_map(m.encode(xq), yq, m.encode(xt), yt) > \
        hamming_map(lsh.encode(xq), yq, lsh.encode(xt), yt) + 0.2


def test_encode_returns_packed_codes(digits):
    xt, yt, xq, _ = digits
    m = M.DPSH(bits=24, seed=0, epochs=2, progress=False).fit(xt, yt)
    codes = m.encode(xq)
    assert codes.dtype == np.uint8 and codes.shape == (len(xq), 3) and codes.flags.c_contiguous
    np.testing.assert_array_equal(
        codes, np.packbits(m.transform(xq) > 0, axis=1, bitorder="little"))
    assert m.fit(xt, yt) is m


def test_lengths_off_whole_bytes_are_zero_padded(digits):
    xt, yt, xq, _ = digits
    for m in (M.DPSH(bits=12, seed=0, epochs=2, progress=False).fit(xt, yt),
              M.LSH(bits=12, seed=0).fit(xt)):
        u = m.transform(xq)
        codes = m.encode(xq)
        assert u.shape == (len(xq), 12) and m.code_bits == 16 and codes.shape == (len(xq), 2)
        bits = np.unpackbits(codes, axis=1, bitorder="little")
        np.testing.assert_array_equal(bits[:, :12], u > 0)
        assert not bits[:, 12:].any()


@pytest.mark.parametrize("make", [
    lambda: M.DPSH(bits=16, seed=3, **FAST),
    lambda: M.DHN(bits=16, seed=3, backbone="features", **FAST),
    lambda: M.DSH(bits=16, seed=3, backbone={"name": "mlp", "hidden": [32, 16]}, **FAST),
    lambda: M.LSH(bits=16, seed=3),
])
def test_save_load_gives_identical_codes(digits, tmp_path, make):
    xt, yt, xq, _ = digits
    m = make().fit(xt, yt)
    path = tmp_path / "model.dh"
    m.save(path)
    loaded = M.load(path)
    assert type(loaded) is type(m) and loaded.bits == m.bits and loaded.params == m.params
    np.testing.assert_array_equal(loaded.encode(xq), m.encode(xq))


def test_small_cnn_on_images_and_save_load(digits, tmp_path):
    xt, yt, xq, yq = digits
    img_t = (xt.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    img_q = (xq.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    m = M.DSH(bits=32, backbone="small_cnn", seed=0, epochs=8, batch_size=64,
              progress=False).fit(img_t, yt)
    codes = m.encode(img_q)
    assert codes.shape == (len(img_q), 4)
    m.save(tmp_path / "cnn.dh")
    np.testing.assert_array_equal(M.load(tmp_path / "cnn.dh").encode(img_q), codes)
    lsh = M.LSH(bits=32, seed=0).fit(xt)
    # a few epochs from scratch beat random hyperplanes on the pixels clearly
    assert hamming_map(codes, yq, m.encode(img_t), yt) > \
        hamming_map(lsh.encode(xq), yq, lsh.encode(xt), yt) + 0.15


def test_same_seed_same_codes_other_seed_other_codes(digits):
    xt, yt, xq, _ = digits
    state = torch.get_rng_state()
    a = M.DPSH(bits=32, seed=7, epochs=3, progress=False).fit(xt, yt).encode(xq)
    b = M.DPSH(bits=32, seed=7, epochs=3, progress=False).fit(xt, yt).encode(xq)
    c = M.DPSH(bits=32, seed=8, epochs=3, progress=False).fit(xt, yt).encode(xq)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # training leaves the global torch RNG alone
    assert torch.equal(state, torch.get_rng_state())
    la = M.LSH(bits=32, seed=7).fit(xt).encode(xq)
    np.testing.assert_array_equal(la, M.LSH(bits=32, seed=7).fit(xt).encode(xq))
    assert not np.array_equal(la, M.LSH(bits=32, seed=8).fit(xt).encode(xq))


def test_multi_hot_labels_equal_class_ids(digits):
    xt, yt, xq, _ = digits
    onehot = np.eye(10, dtype=np.uint8)[yt]
    a = M.DPSH(bits=16, seed=1, epochs=3, progress=False).fit(xt, yt).encode(xq)
    b = M.DPSH(bits=16, seed=1, epochs=3, progress=False).fit(xt, onehot).encode(xq)
    np.testing.assert_array_equal(a, b)


def test_lsh_ignores_labels_and_works_without_training(digits):
    xt, yt, xq, _ = digits
    a = M.LSH(bits=64, seed=0).fit(xt, yt).encode(xq)
    b = M.LSH(bits=64, seed=0).fit(xt).encode(xq)
    np.testing.assert_array_equal(a, b)
    # centring balances the bits of non-negative pixels
    assert 0.3 < np.unpackbits(a).mean() < 0.7


def test_bad_inputs_give_clear_errors(digits, tmp_path):
    xt, yt, xq, _ = digits
    with pytest.raises(ValueError, match="between 1 and 4096"):
        M.DPSH(bits=0)
    with pytest.raises(TypeError, match="bits must be an int"):
        M.DPSH(bits=16.0)
    with pytest.raises(TypeError, match="unknown argument 'lamda'"):
        M.DPSH(bits=16, lamda=0.1)
    with pytest.raises(ValueError, match="epochs"):
        M.DPSH(bits=16, epochs=0)
    with pytest.raises(ValueError, match="seed"):
        M.DPSH(bits=16, seed=-1)
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        M.DPSH(bits=16, backbone="resnet", **FAST).fit(xt, yt)
    with pytest.raises(ValueError, match="one entry per input"):
        M.DPSH(bits=16, **FAST).fit(xt, yt[:-1])
    with pytest.raises(ValueError, match="required"):
        M.DPSH(bits=16, **FAST).fit(xt)
    with pytest.raises(TypeError, match="class ids"):
        M.DPSH(bits=16, **FAST).fit(xt, yt + 0.5)
    with pytest.raises(ValueError, match="only 0 and 1"):
        M.DPSH(bits=16, **FAST).fit(xt, np.full((len(xt), 3), 2))
    bad = xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.DPSH(bits=16, **FAST).fit(bad, yt)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        M.DPSH(bits=16, **FAST).fit(xt.reshape(-1, 8, 8), yt)
    with pytest.raises(RuntimeError, match="not fitted"):
        M.DPSH(bits=16).encode(xq)
    m = M.DPSH(bits=16, seed=0, epochs=1, progress=False).fit(xt, yt)
    with pytest.raises(ValueError, match="per-item shape"):
        m.encode(xq[:, :32])
    with pytest.raises(ValueError, match="per-item shape"):
        M.LSH(bits=16).fit(xt).encode(xq[:, :32])
    with pytest.raises(FileNotFoundError):
        M.load(tmp_path / "missing.dh")
    junk = tmp_path / "junk.dh"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a deephash model"):
        M.load(junk)
    with pytest.raises(ValueError, match="unknown method"):
        M.method_class("NoSuchMethod")
    with pytest.raises(ValueError, match="random weights"):
        M.LSH(bits=16, backbone="mlp").fit(xt)
